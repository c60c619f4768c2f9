"""The loop's guard rule: no law task may regress against the champion, nor against the base."""

from __future__ import annotations

import numpy as np

from evals.results import SuiteResult
from rag_agent.config import RagloopConfig
from training.loop_gate import guards_hold


def _result(mean: float, n: int = 300, seed: int = 0) -> SuiteResult:
    rng = np.random.default_rng(seed)
    scores = np.clip(mean + rng.normal(0, 0.02, n), 0, 1)
    scores += mean - scores.mean()  # exact mean, small per-query noise
    per_query = {"ndcg@10": {f"q{i}": float(s) for i, s in enumerate(scores)}}
    return SuiteResult(suite="lobbying", split="test", metrics={"ndcg@10": float(scores.mean())}, per_query=per_query, n_queries=n)


def test_creeping_forgetting_is_caught_by_the_base_anchor():
    cfg = RagloopConfig()
    base, champion, candidate = _result(0.864), _result(0.857), _result(0.850)
    held, note = guards_hold([candidate], [champion], None, cfg)
    assert held  # 0.007 below the champion: within the 0.01 tolerance
    held, note = guards_hold([candidate], [champion], [base], cfg)
    assert not held and "vs base" in note and "REGRESSED" in note  # 0.014 below the base: caught
    assert guards_hold([champion], [champion], [base], cfg)[0]  # 0.007 below the base: allowed
