"""The retrieval half of the loop's gate: evaluate champion vs candidates on every suite, decide.

Suites: the in-domain dev suite (CUAD dev: contracts the loop never trains on) must rise
significantly; every other suite (the MTEB law tasks) must not drop by more than
`gate.tolerance` with significance (evals.gate, paired bootstrap over queries), against the
current champion and, with `training.guard_against_base`, also against the base models: each
cycle may lose a little within the tolerance, so without the anchor forgetting could creep.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path

from evals.gate import gate
from rag_agent.config import comma_list
from evals.results import PRIMARY_METRIC
from evals.runner import evaluate_suite
from training import registry

log = logging.getLogger(__name__)


def suites(ws) -> tuple[Path, list[Path]]:
    """(dev suite, guard suites) from `training.dev_suite` / `training.guard_suites` under data_dir."""
    t, root = ws.config.training, Path(ws.config.data_dir)
    return root / t.dev_suite, [root / s for s in comma_list(t.guard_suites)]


def _eval(ws, path: Path, split: str | None, embedder, reranker, rerank_k: int | None = None):
    cfg = copy.deepcopy(ws.config)
    if rerank_k is not None:
        cfg.eval.rerank_k = rerank_k
    return evaluate_suite(path, split, embedder, reranker, ws=ws, cfg=cfg)


def _load(ws, embedder: str, reranker: str | None):
    """Load the models once for all suites of a pipeline (a spec string would be reloaded per suite)."""
    from evals.runner import load_reranker_spec
    from rag_agent.retrieval.embedder import SentenceTransformerEmbedder

    models = ws.config.models
    return SentenceTransformerEmbedder.from_spec(embedder, batch_size=models.batch_size, device=models.device), load_reranker_spec(reranker or "none")


def _significant_rise(candidate, baseline, cfg) -> tuple[bool, str]:
    decision = gate(candidate, baseline, cfg, tolerance=0.0)
    s = decision.suites[0]
    rose = s.ci_low > 0
    return rose, f"dev {PRIMARY_METRIC} {s.baseline:.4f} -> {s.candidate:.4f} (delta {s.delta:+.4f}, 95% CI [{s.ci_low:+.4f}, {s.ci_high:+.4f}])"


def _guards_hold(candidates: list, baselines: list, cfg) -> tuple[bool, str]:
    notes, ok = [], True
    for cand, base in zip(candidates, baselines):
        decision = gate(cand, base, cfg)
        s = decision.suites[0]
        ok &= decision.passed
        notes.append(f"{cand.suite} {s.baseline:.4f} -> {s.candidate:.4f}{' REGRESSED' if s.regressed else ''}")
    return ok, "; ".join(notes)


def guards_hold(candidates: list, current: list, anchor: list | None, cfg) -> tuple[bool, str]:
    """No guard suite regresses against the current pipeline, nor (when given) against the anchor."""
    held, note = _guards_hold(candidates, current, cfg)
    if anchor is None:
        return held, note
    held_anchor, note_anchor = _guards_hold(candidates, anchor, cfg)
    return held and held_anchor, f"{note}; vs base: {note_anchor}"


def evaluate_cycle(ws, train: dict) -> dict:
    t = ws.config.training
    dev_path, guard_paths = suites(ws)
    champ_emb, champ_rr = registry.champion(ws, "embedder"), registry.champion(ws, "reranker")
    emb_candidate = train["embedder"].get("version_id")
    rr_candidate = train["reranker"].get("version_id")
    split = t.dev_split

    def run_all(embedder_spec: str, reranker_spec: str | None, rerank_k: int | None = None):
        embedder, reranker = _load(ws, embedder_spec, reranker_spec)
        dev = _eval(ws, dev_path, split, embedder, reranker, rerank_k)
        return dev, [_eval(ws, p, None, embedder, reranker, rerank_k) for p in guard_paths]

    champion_dev, champion_guards = run_all(champ_emb.path, champ_rr.path, t.loop_rerank_k)
    out = {"dev_suite": champion_dev.suite, "champion": _scores(champion_dev, champion_guards)}
    base_path = registry.get_version(ws, "embedder-base").path
    anchor_guards = None
    if t.guard_against_base and (emb_candidate or rr_candidate) and (champ_emb.path != base_path or not champ_rr.is_none):
        embedder, _ = _load(ws, base_path, None)
        anchor_guards = [_eval(ws, p, None, embedder, None) for p in guard_paths]
        out["base"] = _scores(None, anchor_guards)

    embedder_pass, embedder_reason, base_emb = False, "no candidate", champ_emb.path
    if emb_candidate:
        emb_path = registry.get_version(ws, emb_candidate).path
        # The embedder is judged alone against the champion embedder alone.
        champ_alone = (champion_dev, champion_guards) if champ_rr.is_none else run_all(champ_emb.path, None)
        cand_dev, cand_guards = run_all(emb_path, None)
        out["candidate"] = _scores(cand_dev, cand_guards)
        rose, dev_note = _significant_rise(cand_dev, champ_alone[0], ws.config)
        held, guard_note = guards_hold(cand_guards, champ_alone[1], anchor_guards, ws.config)
        embedder_pass = rose and held
        embedder_reason = f"{dev_note}; {guard_note}" + ("" if rose else "; dev did not rise significantly") + ("" if held else "; a law task regressed")
        if embedder_pass:
            base_emb = emb_path

    reranker_pass, reranker_reason, proposed_rr = False, "no candidate", champ_rr.path
    if rr_candidate:
        rr_path = registry.get_version(ws, rr_candidate).path
        # The reranker is judged on top of the embedder that will be champion, against the current pipeline.
        current_dev, current_guards = run_all(base_emb, champ_rr.path, t.loop_rerank_k) if base_emb != champ_emb.path else (champion_dev, champion_guards)
        rr_dev, rr_guards = run_all(base_emb, rr_path, t.loop_rerank_k)
        out["reranked"] = _scores(rr_dev, rr_guards)
        rose, dev_note = _significant_rise(rr_dev, current_dev, ws.config)
        held, guard_note = guards_hold(rr_guards, current_guards, anchor_guards, ws.config)
        reranker_pass = rose and held
        reranker_reason = f"{dev_note}; {guard_note}" + ("" if rose else "; dev did not rise significantly") + ("" if held else "; a law task regressed")
        if reranker_pass:
            proposed_rr = rr_path

    out.update(
        embedder_pass=embedder_pass,
        embedder_reason=embedder_reason,
        reranker_pass=reranker_pass,
        reranker_reason=reranker_reason,
        proposed={"embedder_path": base_emb, "reranker_path": proposed_rr},
        metrics={"embedder": {"eval": out.get("candidate", {})}, "reranker": {"eval": out.get("reranked", {})}},
    )
    return out


def _scores(dev, guards) -> dict[str, float]:
    return {r.suite: round(r.metrics[PRIMARY_METRIC], 5) for r in [dev, *guards] if r is not None}
