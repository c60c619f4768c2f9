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
An embedder that raises dev but costs a law task alone may pass together with the reranker fitted
over it (`choose_candidates`): the gate then judges the pipeline that would be served.
The reranker re-scores the top `agent.retrieve_k` candidates, the depth the agent reranks
(`rerank_depth`), so the gate measures the pipeline the agent runs.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import time
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
def pipeline_id(embedder, reranker) -> tuple[str, str]:
    """(embedder, reranker or "none") as strings: one pipeline however its paths were passed."""
    return str(embedder), str(reranker or "none")


class PipelineResults:
    """`get(embedder, reranker, suite, split)`: a SuiteResult from disk, else evaluated and kept."""

    def __init__(self, ws):
        self.ws = ws
        self.cfg = copy.deepcopy(ws.config)
        self.cfg.eval.rerank_k = rerank_depth(ws.config)
        self.dir = ws.cache_dir / "loop_evals"
        self._loaded: tuple | None = None  # (embedder spec, reranker spec, embedder, reranker)
        self.computed: list[str] = []  # what this instance had to evaluate (the rest came from disk)
        self.seconds: dict[tuple, float] = {}  # (embedder, reranker) -> seconds spent evaluating it here

    def key(self, embedder: str, reranker: str | None, suite: Path, split: str | None) -> str:
        from evals.committed import eval_settings

        emb, rr = pipeline_id(embedder, reranker)
        settings = {"embedder": emb, "reranker": rr, "suite": str(suite), "split": split,
                    "chunking": self.cfg.chunking.model_dump()} | eval_settings(self.cfg, rr != "none")
        return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:24]

    def get(self, embedder: str, reranker: str | None, suite: Path, split: str | None) -> SuiteResult:
        path = self.dir / f"{self.key(embedder, reranker, suite, split)}.json"
        if path.exists():
            try:
                return SuiteResult.from_dict(json.loads(path.read_text()))
            except (ValueError, TypeError):
                log.warning("unreadable cached result %s: re-evaluating", path)
        from evals.committed import committed_result
        from evals.runner import evaluate_ref, single_suite

        started = time.perf_counter()
        emb, rr = self._models(embedder, reranker)
        ref = single_suite(suite, split)
        pipeline = pipeline_id(embedder, reranker)
        result = committed_result(ref, emb.version, self.cfg) if rr is None else None  # the base model: scored in the repository
        if result is None:
            result = evaluate_ref(ref, emb, rr, ws=self.ws, cfg=self.cfg)
            self.computed.append(f"{Path(str(suite)).name}:{Path(pipeline[0]).name}+{Path(pipeline[1]).name}")
        self.seconds[pipeline] = self.seconds.get(pipeline, 0.0) + time.perf_counter() - started
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


PAIR = "reranker_pair"  # train payload key: the reranker fitted over this cycle's embedder candidate

Pipeline = tuple  # (embedder path, reranker path or None)
Judge = Callable[[Pipeline, Pipeline], KindEvaluation]  # judge(trial, current): trial's verdict against current


def evaluate_cycle(ws, train: dict) -> CycleEvaluation:
    """Champion vs each candidate (the `evaluate` step; `train`: the train step's payload)."""
    policy = PromotionPolicy.from_config(ws.config)
    dev_path, guard_paths = suites(ws)
    results = PipelineResults(ws)
    split = ws.config.training.loop.dev_split
    candidates = {kind: Candidate.from_train(kind, train) for kind in KINDS}
    pair = Candidate.from_train(PAIR, train).model_copy(update=dict(kind="reranker"))
    champ_emb = registry.champion(ws, "embedder").path
    # The reranker the champions actually serve: none when the champion reranker is bound to
    # another embedder than the champion's (registry.champion_specs).
    _, served_rr = registry.champion_specs(ws)
    champ_rr = None if served_rr == registry.NO_RERANKER else served_rr
    champion_dev = results.get(champ_emb, champ_rr, dev_path, split)
    champion_guards = [results.get(champ_emb, champ_rr, p, None) for p in guard_paths]
    base_path = registry.get_version(ws, "embedder-base").path
    use_anchor = policy.guard_against_base and any(c.version_id for c in candidates.values()) and (champ_emb != base_path or champ_rr is not None)

    def get(embedder, reranker, suite: Path) -> SuiteResult:
        return results.get(embedder, reranker, suite, split if suite == dev_path else None)

    judge = pipeline_judge(get, dev_path, guard_paths, base_path if use_anchor else None, policy)
    paths = {c.version_id: registry.get_version(ws, c.version_id).path for c in (*candidates.values(), pair) if c.version_id}
    verdicts, unused = choose_candidates(judge, candidates, pair, paths, champ_emb, champ_rr, policy)
    proposed = {"embedder": paths[verdicts["embedder"].version_id] if verdicts["embedder"].passed else champ_emb,
                "reranker": paths[verdicts["reranker"].version_id] if verdicts["reranker"].passed else served_rr}
    base = None
    if use_anchor:
        scored = [p for p in guard_paths if (results.dir / f"{results.key(base_path, None, p, None)}.json").exists()]
        base = _scores(*[results.get(base_path, None, p, None) for p in scored])
    # The champion's and the base's suites are scored here only once (a later champion was scored
    # as a candidate): the planner leaves these seconds out of later cycles' fixed part.
    once = {pipeline_id(champ_emb, champ_rr), pipeline_id(base_path, None)}
    one_off_s = sum(s for pipeline, s in results.seconds.items() if pipeline in once)
    return CycleEvaluation(dev_suite=champion_dev.suite, rerank_depth=rerank_depth(ws.config), champion=_scores(champion_dev, *champion_guards),
                           base=base, proposed=ProposedPipeline(embedder_path=proposed["embedder"], reranker_path=proposed["reranker"]),
                           evaluated_now=results.computed, unused=unused, one_off_s=round(one_off_s, 2), **verdicts)


def pipeline_judge(get: Callable[..., SuiteResult], dev: Path, guards: list[Path], base, policy: PromotionPolicy) -> Judge:
    """judge(trial, current) over `get(embedder, reranker, suite)`: dev first, then each law task,
    also against the `base` embedder alone when given (`judge_candidate` scores lazily)."""
    names = [Path(str(g)).name for g in guards]

    def judge(trial: Pipeline, current: Pipeline) -> KindEvaluation:
        checks = [Guard(lambda g=g: get(*trial, g), lambda g=g: get(*current, g), (lambda g=g: get(base, None, g)) if base is not None else None)
                  for g in guards]
        return judge_candidate(lambda: get(*trial, dev), lambda: get(*current, dev), checks, policy, names)

    return judge


def choose_candidates(judge: Judge, candidates: dict[str, Candidate], pair: Candidate, paths: dict, champ_emb, champ_rr,
                      policy: PromotionPolicy) -> tuple[dict[str, KindEvaluation], dict[str, str]]:
    """The verdict per kind, and the reranker candidates left unjudged (version id -> why).

    The embedder is judged alone against the champion embedder alone: dev must rise on its own.
    When it rises but a law task regresses, and `pair` (a reranker fitted over it) exists, the
    pipeline that would be served, embedder + that reranker, is judged against the current
    pipeline and the base: the law tasks guard what users get. Passing so promotes the two together
    (`paired_with`). A reranker is judged on top of the embedder that will be champion: the pair's
    reranker when the embedder passes (it is bound to that embedder), else the one fitted over the
    champion embedder."""
    emb_c, rr_c = candidates["embedder"], candidates["reranker"]
    verdicts: dict[str, KindEvaluation] = {}
    emb_passed = False
    if not emb_c.version_id:
        verdicts["embedder"] = KindEvaluation(kind="embedder", no_candidate_reason=emb_c.reason)
    else:
        emb = paths[emb_c.version_id]
        alone = judge((emb, None), (champ_emb, None)).model_copy(update=dict(kind="embedder", version_id=emb_c.version_id))
        verdicts["embedder"] = alone
        if pair.version_id and policy.pair_needed(alone):
            paired = policy.paired_verdicts(alone, judge((emb, paths[pair.version_id]), (champ_emb, champ_rr)), pair)
            if paired is not None:
                verdicts["embedder"], verdicts["reranker"] = paired
        emb_passed = verdicts["embedder"].passed
    on = paths[emb_c.version_id] if emb_passed else champ_emb
    chosen = pair if emb_passed and pair.version_id else rr_c
    if "reranker" not in verdicts:
        if not chosen.version_id:
            verdicts["reranker"] = KindEvaluation(kind="reranker", no_candidate_reason=chosen.reason)
        else:
            # the pair's reranker is compared with its embedder alone (the old champion reranker
            # is bound to the replaced embedder); the champion's, with the current pipeline
            current = (on, None) if chosen is pair else (on, champ_rr)
            verdicts["reranker"] = judge((on, paths[chosen.version_id]), current).model_copy(update=dict(kind="reranker", version_id=chosen.version_id))
    unused = {}
    if pair.version_id and verdicts["reranker"].version_id != pair.version_id:
        unused[pair.version_id] = f"fitted over embedder candidate {emb_c.short}, which did not pass: not judged"
    if rr_c.version_id and verdicts["reranker"].version_id != rr_c.version_id:
        unused[rr_c.version_id] = f"fitted over the replaced champion embedder (reranker {pair.short}, fitted over embedder {emb_c.short}, was judged instead): not judged"
    return verdicts, unused


def _scores(*results: SuiteResult) -> dict[str, float]:
    return {r.suite: round(r.metrics[PRIMARY_METRIC], 5) for r in results}
