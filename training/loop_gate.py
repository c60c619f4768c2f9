"""The retrieval half of the loop's gate: evaluate champion vs candidates on every suite, decide.

Suites: the in-domain dev suite (CUAD dev: contracts the loop never trains on) must rise
significantly; every other suite (the MTEB law tasks) must not drop by more than
`gate.tolerance` with significance (evals.gate, paired bootstrap over queries), against the
current champion and, with `training.loop.guard_against_base`, also against the base models: each
cycle may lose a little within the tolerance, so without the anchor forgetting could creep.

Evaluation is the dearest part of a cycle, so it does only what a decision needs:
  - a pipeline (embedder, reranker) is scored at most once per suite: `PipelineResults` keeps each
    suite result on disk, keyed by the two model paths (unique per registered version) and the
    evaluation settings, so the champion is never re-scored, a candidate is scored once for all
    its comparisons, and a resumed `evaluate` step reuses the suites it had finished;
  - a candidate's verdict stops the scoring as soon as it is decided: dev first (no significant
    rise: the law tasks are not scored), then one law task at a time (one regresses: the rest
    are not scored). The statistics of a decided candidate are exactly those of scoring all.
The reranker re-scores the top `agent.retrieve_k` candidates, the depth the agent reranks
(`rerank_depth`), so the gate measures the pipeline the agent runs.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from evals.gate import gate
from evals.results import PRIMARY_METRIC, SuiteResult
from rag_agent.config import comma_list
from training import registry

log = logging.getLogger(__name__)


def suites(ws) -> tuple[Path, list[Path]]:
    """(dev suite, guard suites) from `training.loop.dev_suite` / `training.loop.guard_suites` under data_dir."""
    t, root = ws.config.training.loop, Path(ws.config.data_dir)
    return root / t.dev_suite, [root / s for s in comma_list(t.guard_suites)]


def rerank_depth(cfg) -> int:
    """Candidates the reranker re-scores: what the agent reranks (`agent.retrieve_k`). The older
    `training.loop.rerank_k` is ignored (deprecated): the gate must measure the agent's pipeline."""
    return cfg.agent.retrieve_k


# ---- statistics (unchanged: tests/test_loop_gate_replay.py replays a recorded cycle) -------------
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


# ---- one candidate's verdict, scoring lazily ------------------------------------------------------
Lazy = Callable[[], SuiteResult]


@dataclass
class Guard:
    """One law task: the candidate's, the current pipeline's and (optionally) the base's result."""

    candidate: Lazy
    current: Lazy
    anchor: Lazy | None = None


@dataclass
class Verdict:
    passed: bool
    reason: str
    rose: bool
    held: bool | None  # None: the law tasks were not scored (dev decided)
    dev: SuiteResult
    guards: list[SuiteResult] = field(default_factory=list)  # the candidate's scored law tasks
    skipped: list[str] = field(default_factory=list)  # law tasks left unscored, verdict decided


def judge_candidate(dev_candidate: Lazy, dev_baseline: Lazy, guards: list[Guard], cfg, names: list[str] | None = None) -> Verdict:
    """Dev must rise significantly, then each law task must hold; stop scoring once decided."""
    dev = dev_candidate()
    rose, dev_note = _significant_rise(dev, dev_baseline(), cfg)
    names = names or [f"law task {i + 1}" for i in range(len(guards))]
    if not rose:
        skipped = names if guards else []
        tail = f"; law tasks not scored ({', '.join(skipped)}): dev decided" if skipped else ""
        return Verdict(False, f"{dev_note}; dev did not rise significantly{tail}", rose, None, dev, [], skipped)
    cands, currents, anchors = [], [], []
    use_anchor = all(g.anchor is not None for g in guards)
    held = True
    for i, guard in enumerate(guards):
        cands.append(guard.candidate())
        currents.append(guard.current())
        if use_anchor:
            anchors.append(guard.anchor())
        held, _ = guards_hold(cands[-1:], currents[-1:], anchors[-1:] if use_anchor else None, cfg)
        if not held:
            break
    _, guard_note = guards_hold(cands, currents, anchors if use_anchor else None, cfg)
    skipped = names[len(cands):]
    reason = f"{dev_note}; {guard_note}" + ("" if held else "; a law task regressed")
    if skipped:
        reason += f"; not scored: {', '.join(skipped)} (decided)"
    return Verdict(rose and held, reason, rose, held, dev, cands, skipped)


# ---- suite results of pipelines, each computed once ----------------------------------------------
class PipelineResults:
    """`get(embedder, reranker, suite, split)`: a SuiteResult from disk, else evaluated and kept."""

    def __init__(self, ws):
        self.ws = ws
        self.cfg = copy.deepcopy(ws.config)
        self.cfg.eval.rerank_k = rerank_depth(ws.config)
        self.dir = ws.cache_dir / "loop_evals"
        self._loaded: tuple | None = None  # (embedder spec, reranker spec, embedder, reranker)
        self.computed: list[str] = []  # what this instance had to evaluate (the rest came from disk)

    def key(self, embedder: str, reranker: str | None, suite: Path, split: str | None) -> str:
        e = self.cfg.eval
        settings = {"embedder": str(embedder), "reranker": str(reranker or "none"), "suite": str(suite), "split": split,
                    "rerank_k": e.rerank_k if reranker not in (None, "none") else None, "k": e.k, "retrieve_k": e.retrieve_k,
                    "overlap": e.overlap_fraction, "omitted": e.omitted_evidence, "join_gap": e.evidence_join_gap,
                    "chunking": self.cfg.chunking.model_dump()}
        return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:24]

    def get(self, embedder: str, reranker: str | None, suite: Path, split: str | None) -> SuiteResult:
        path = self.dir / f"{self.key(embedder, reranker, suite, split)}.json"
        if path.exists():
            try:
                return SuiteResult.from_dict(json.loads(path.read_text()))
            except (ValueError, TypeError):
                log.warning("unreadable cached result %s: re-evaluating", path)
        from evals.runner import evaluate_suite

        emb, rr = self._models(embedder, reranker)
        result = evaluate_suite(suite, split, emb, rr, ws=self.ws, cfg=self.cfg)
        self.computed.append(f"{Path(str(suite)).name}:{Path(str(embedder)).name}+{Path(str(reranker or 'none')).name}")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(result.to_dict()))
        tmp.replace(path)  # atomic: a killed writer leaves no half result
        return result

    def _models(self, embedder: str, reranker: str | None):
        """Load a pipeline's models once for all its suites (a spec string is reloaded per suite)."""
        if self._loaded is None or self._loaded[:2] != (embedder, reranker):
            from evals.runner import load_reranker_spec
            from rag_agent.retrieval.embedder import load_embedder

            models = self.cfg.models
            emb = load_embedder(models, str(embedder))
            self._loaded = (embedder, reranker, emb, load_reranker_spec(str(reranker or "none"), models))
        return self._loaded[2], self._loaded[3]


def evaluate_cycle(ws, train: dict) -> dict:
    t = ws.config.training.loop
    dev_path, guard_paths = suites(ws)
    results = PipelineResults(ws)
    split = t.dev_split
    champ_emb = registry.champion(ws, "embedder")
    # The reranker the champions actually serve: none when the champion reranker is bound to
    # another embedder than the champion's (registry.champion_specs).
    _, served_rr = registry.champion_specs(ws)
    champ_rr_spec = None if served_rr == registry.NO_RERANKER else served_rr
    emb_candidate, rr_candidate = train["embedder"].get("version_id"), train["reranker"].get("version_id")
    names = [p.name for p in guard_paths]

    champion_dev = results.get(champ_emb.path, champ_rr_spec, dev_path, split)
    champion_guards = [results.get(champ_emb.path, champ_rr_spec, p, None) for p in guard_paths]
    out = {"dev_suite": champion_dev.suite, "rerank_depth": rerank_depth(ws.config), "champion": _scores(champion_dev, champion_guards)}
    base_path = registry.get_version(ws, "embedder-base").path
    use_anchor = t.guard_against_base and (emb_candidate or rr_candidate) and (champ_emb.path != base_path or champ_rr_spec is not None)

    def guards_for(embedder: str, reranker: str | None, current: tuple[str, str | None]) -> list[Guard]:
        return [Guard(lambda p=p: results.get(embedder, reranker, p, None), lambda p=p: results.get(*current, p, None),
                      (lambda p=p: results.get(base_path, None, p, None)) if use_anchor else None) for p in guard_paths]

    embedder_pass, embedder_reason, base_emb = False, "no candidate", champ_emb.path
    if emb_candidate:
        emb_path = registry.get_version(ws, emb_candidate).path
        # The embedder is judged alone against the champion embedder alone.
        verdict = judge_candidate(lambda: results.get(emb_path, None, dev_path, split), lambda: results.get(champ_emb.path, None, dev_path, split),
                                  guards_for(emb_path, None, (champ_emb.path, None)), ws.config, names)
        out["candidate"] = _scores(verdict.dev, verdict.guards)
        out["embedder_skipped"] = verdict.skipped
        embedder_pass, embedder_reason = verdict.passed, verdict.reason
        if embedder_pass:
            base_emb = emb_path

    reranker_pass, reranker_reason, proposed_rr = False, "no candidate", served_rr
    if rr_candidate:
        rr_path = registry.get_version(ws, rr_candidate).path
        # The reranker is judged on top of the embedder that will be champion, against the current pipeline.
        current = (base_emb, champ_rr_spec)
        verdict = judge_candidate(lambda: results.get(base_emb, rr_path, dev_path, split), lambda: results.get(*current, dev_path, split),
                                  guards_for(base_emb, rr_path, current), ws.config, names)
        out["reranked"] = _scores(verdict.dev, verdict.guards)
        out["reranker_skipped"] = verdict.skipped
        reranker_pass, reranker_reason = verdict.passed, verdict.reason
        if reranker_pass:
            proposed_rr = rr_path
    if use_anchor:
        scored = [p for p in guard_paths if (results.dir / f"{results.key(base_path, None, p, None)}.json").exists()]
        out["base"] = _scores(None, [results.get(base_path, None, p, None) for p in scored])

    out.update(
        embedder_pass=embedder_pass,
        embedder_reason=embedder_reason,
        reranker_pass=reranker_pass,
        reranker_reason=reranker_reason,
        proposed={"embedder_path": base_emb, "reranker_path": proposed_rr},
        metrics={"embedder": {"eval": out.get("candidate", {})}, "reranker": {"eval": out.get("reranked", {})}},
        evaluated_now=results.computed,
    )
    return out


def _scores(dev, guards) -> dict[str, float]:
    return {r.suite: round(r.metrics[PRIMARY_METRIC], 5) for r in [dev, *guards] if r is not None}
