"""The loop's guard rule: no law task may regress against the champion, nor against the base."""

from __future__ import annotations

import numpy as np

from evals.results import SuiteResult
from rag_agent.config import RagloopConfig
from evals.promotion import Candidate, PromotionPolicy
from training.loop_gate import choose_candidates, guards_hold, pipeline_judge


def _result(mean: float, n: int = 300, seed: int = 0, suite: str = "lobbying") -> SuiteResult:
    rng = np.random.default_rng(seed)
    scores = np.clip(mean + rng.normal(0, 0.02, n), 0, 1)
    scores += mean - scores.mean()  # exact mean, small per-query noise
    per_query = {"ndcg@10": {f"q{i}": float(s) for i, s in enumerate(scores)}}
    return SuiteResult(suite=suite, split="test", metrics={"ndcg@10": float(scores.mean())}, per_query=per_query, n_queries=n)


def test_creeping_forgetting_is_caught_by_the_base_anchor():
    cfg = RagloopConfig()
    base, champion, candidate = _result(0.864), _result(0.857), _result(0.850)
    held, note = guards_hold([candidate], [champion], None, cfg)
    assert held  # 0.007 below the champion: within the 0.01 tolerance
    held, note = guards_hold([candidate], [champion], [base], cfg)
    assert not held and "vs base" in note and "REGRESSED" in note  # 0.014 below the base: caught
    assert guards_hold([champion], [champion], [base], cfg)[0]  # 0.007 below the base: allowed


# ---- an embedder gated together with the reranker fitted over it ---------------------------------
CANDIDATES = {"embedder": Candidate(kind="embedder", version_id="embedder-0002-e2"), "reranker": Candidate(kind="reranker", version_id="reranker-0001-r1")}
PAIR = Candidate(kind="reranker", version_id="reranker-0002-r2")
PATHS = {"embedder-0002-e2": "E2", "reranker-0001-r1": "R1", "reranker-0002-r2": "R2"}


def _choose(means: dict, pair: Candidate = PAIR):
    """choose_candidates over pipelines with these (dev, law) means; returns (verdicts, unused, scored pipelines)."""
    scored = []

    def get(embedder, reranker, suite):
        scored.append((embedder, reranker))
        dev, law = means[(embedder, reranker)]
        return _result(dev, suite="cuad") if suite == "cuad" else _result(law)

    policy = PromotionPolicy.from_config(RagloopConfig())
    judge = pipeline_judge(get, "cuad", ["lobbying"], "BASE", policy)
    verdicts, unused = choose_candidates(judge, CANDIDATES, pair, PATHS, "E1", None, policy)
    return verdicts, unused, scored


# E1 is the champion (served alone); E2 rises on dev but costs Lobbying 0.017 against the base alone.
MEANS = {("E1", None): (0.53, 0.857), ("BASE", None): (0.50, 0.864), ("E2", None): (0.57, 0.847),
         ("E2", "R2"): (0.60, 0.877), ("E1", "R1"): (0.56, 0.880)}


def test_an_embedder_that_costs_a_law_task_alone_passes_with_the_reranker_fitted_over_it():
    verdicts, unused, _ = _choose(MEANS)
    embedder, reranker = verdicts["embedder"], verdicts["reranker"]
    assert embedder.passed and embedder.paired_with == "reranker-0002-r2"
    assert "alone:" in embedder.reason and "REGRESSED" in embedder.reason  # the alone verdict stays on record
    assert embedder.scores["cuad"] == 0.57  # its own dev figure, not the pair's
    assert reranker.passed and reranker.version_id == "reranker-0002-r2" and reranker.scores["cuad"] == 0.60
    assert list(unused) == ["reranker-0001-r1"]  # fitted over the replaced embedder: rejected unjudged


def test_a_pair_that_also_regresses_leaves_the_champion_embedder_and_judges_its_own_reranker():
    verdicts, unused, _ = _choose(MEANS | {("E2", "R2"): (0.60, 0.840)})
    assert not verdicts["embedder"].passed and verdicts["embedder"].paired_with is None
    assert verdicts["reranker"].version_id == "reranker-0001-r1" and verdicts["reranker"].passed  # over E1, against E1 alone
    assert list(unused) == ["reranker-0002-r2"]


def test_an_embedder_that_passes_alone_gets_the_reranker_bound_to_it_judged_on_top_of_it():
    verdicts, unused, scored = _choose(MEANS | {("E2", None): (0.57, 0.862)})
    assert verdicts["embedder"].passed and verdicts["embedder"].paired_with is None
    assert verdicts["reranker"].version_id == "reranker-0002-r2" and verdicts["reranker"].passed
    assert verdicts["reranker"].dev.baseline == 0.57  # compared with its embedder alone
    assert ("E1", "R1") not in scored and list(unused) == ["reranker-0001-r1"]


def test_without_a_dev_rise_the_pair_is_never_scored():
    verdicts, unused, scored = _choose(MEANS | {("E2", None): (0.53, 0.847)})
    assert not verdicts["embedder"].passed and ("E2", "R2") not in scored
    assert verdicts["reranker"].version_id == "reranker-0001-r1"
    verdicts, _, _ = _choose(MEANS, pair=Candidate(kind="reranker", reason="no lists"))  # no pair: the old rule
    assert not verdicts["embedder"].passed and verdicts["reranker"].version_id == "reranker-0001-r1"
