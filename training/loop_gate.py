"""The retrieval half of the loop's gate: evaluate champion vs candidates on every suite, decide.

Suites: the in-domain dev suite (CUAD dev: contracts the loop never trains on) must rise
significantly; every other suite (the MTEB law tasks) must not drop by more than
`gate.tolerance` with significance (evals.gate, paired bootstrap over queries), against the
current champion and, with `training.loop.guard_against_base`, also against the base models: each
cycle may lose a little within the tolerance, so without the anchor forgetting could creep.
Those conditions, and the verdict, are the promotion policy's (evals/promotion.py): this module
scores suites and hands the policy the comparisons, embedder and reranker alike (`evaluate_cycle`).

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
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from evals.gate import gate
from evals.promotion import KINDS, Candidate, CycleEvaluation, GuardCheck, KindEvaluation, PromotionPolicy, ProposedPipeline, guard_note
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


# ---- comparisons the promotion policy reads (evals/promotion.py decides) -------------------------
def guard_check(candidate: SuiteResult, current: SuiteResult, anchor: SuiteResult | None, policy: PromotionPolicy) -> GuardCheck:
    vs_base = gate(candidate, anchor, policy).suites[0] if anchor is not None else None
    return GuardCheck(name=candidate.suite, vs_current=gate(candidate, current, policy).suites[0], vs_base=vs_base)


def guards_hold(candidates: list, current: list, anchor: list | None, cfg) -> tuple[bool, str]:
    """No guard suite regresses against the current pipeline, nor (when given) against the anchor."""
    policy = PromotionPolicy.from_config(cfg)
    checks = [guard_check(c, cur, a, policy) for c, cur, a in zip(candidates, current, anchor or [None] * len(candidates))]
    return all(policy.guard_holds(c) for c in checks), guard_note(checks, anchored=anchor is not None)


# ---- one candidate's verdict, scoring lazily ------------------------------------------------------
Lazy = Callable[[], SuiteResult]


@dataclass
class Guard:
    """One law task: the candidate's, the current pipeline's and (optionally) the base's result."""

    candidate: Lazy
    current: Lazy
    anchor: Lazy | None = None


def judge_candidate(dev_candidate: Lazy, dev_baseline: Lazy, guards: list[Guard], cfg, names: list[str] | None = None) -> KindEvaluation:
    """Dev must rise significantly, then each law task must hold; stop scoring once decided."""
    policy = PromotionPolicy.from_config(cfg)
    dev = dev_candidate()
    dev_gate = gate(dev, dev_baseline(), policy, tolerance=0.0).suites[0]
    names = names or [f"law task {i + 1}" for i in range(len(guards))]
    anchored = all(g.anchor is not None for g in guards)
    scored, checks = [dev], []
    if policy.dev_rose(dev_gate):
        for guard in guards:
            scored.append(guard.candidate())
            checks.append(guard_check(scored[-1], guard.current(), guard.anchor() if anchored else None, policy))
            if not policy.guard_holds(checks[-1]):
                break
    return policy.retrieval_verdict(dev_gate, checks, names if guards else [], anchored, _scores(*scored))


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


def evaluate_cycle(ws, train: dict) -> CycleEvaluation:
    """Champion vs each candidate (the `evaluate` step; `train`: the train step's payload)."""
    policy = PromotionPolicy.from_config(ws.config)
    dev_path, guard_paths = suites(ws)
    results = PipelineResults(ws)
    split = ws.config.training.loop.dev_split
    candidates = {kind: Candidate.from_train(kind, train) for kind in KINDS}
    champ_emb = registry.champion(ws, "embedder").path
    # The reranker the champions actually serve: none when the champion reranker is bound to
    # another embedder than the champion's (registry.champion_specs).
    _, served_rr = registry.champion_specs(ws)
    champ_rr = None if served_rr == registry.NO_RERANKER else served_rr
    names = [p.name for p in guard_paths]

    champion_dev = results.get(champ_emb, champ_rr, dev_path, split)
    champion_guards = [results.get(champ_emb, champ_rr, p, None) for p in guard_paths]
    base_path = registry.get_version(ws, "embedder-base").path
    use_anchor = policy.guard_against_base and any(c.version_id for c in candidates.values()) and (champ_emb != base_path or champ_rr is not None)

    # What each kind is in the proposed pipeline: the champion's, replaced by a candidate that passes.
    proposed = {"embedder": champ_emb, "reranker": served_rr}
    verdicts = {}
    for kind in KINDS:
        candidate = candidates[kind]
        if not candidate.version_id:
            verdicts[kind] = KindEvaluation(kind=kind, no_candidate_reason=candidate.reason)
            continue
        path = registry.get_version(ws, candidate.version_id).path
        # The embedder is judged alone against the champion embedder alone; the reranker on top
        # of the embedder that will be champion, against the current pipeline.
        trial, current = ((path, None), (champ_emb, None)) if kind == "embedder" else ((proposed["embedder"], path), (proposed["embedder"], champ_rr))
        guards = [Guard(lambda p=p: results.get(*trial, p, None), lambda p=p: results.get(*current, p, None),
                        (lambda p=p: results.get(base_path, None, p, None)) if use_anchor else None) for p in guard_paths]
        verdict = judge_candidate(lambda: results.get(*trial, dev_path, split), lambda: results.get(*current, dev_path, split), guards, policy, names)
        verdicts[kind] = verdict.model_copy(update=dict(kind=kind, version_id=candidate.version_id))
        if verdict.passed:
            proposed[kind] = path
    base = None
    if use_anchor:
        scored = [p for p in guard_paths if (results.dir / f"{results.key(base_path, None, p, None)}.json").exists()]
        base = _scores(*[results.get(base_path, None, p, None) for p in scored])
    return CycleEvaluation(dev_suite=champion_dev.suite, rerank_depth=rerank_depth(ws.config), champion=_scores(champion_dev, *champion_guards),
                           base=base, proposed=ProposedPipeline(embedder_path=proposed["embedder"], reranker_path=proposed["reranker"]),
                           evaluated_now=results.computed, **verdicts)


def _scores(*results: SuiteResult) -> dict[str, float]:
    return {r.suite: round(r.metrics[PRIMARY_METRIC], 5) for r in results}
