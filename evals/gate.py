"""The promotion gate: is a candidate significantly worse than the baseline on any suite?

Per suite, over the queries both results scored: the per-query delta (candidate - baseline) of
one metric (NDCG@10 by default), its mean, and a paired bootstrap (queries resampled with
replacement, `gate.bootstrap_samples` times, seeded) giving a 95% interval and
p = P*(mean delta >= -tolerance), the bootstrap probability that the candidate is NOT worse by
more than the tolerance. A suite regresses when its mean delta is below -tolerance AND that
p-value is below `gate.alpha`; the gate fails when any suite regresses. Noise (deltas that
average out) and improvements pass. These conditions are the promotion policy's
(evals/promotion.py); this module computes the statistics they read.
"""

from __future__ import annotations

import numpy as np

from evals.promotion import GateDecision, PromotionPolicy, SuiteGate
from evals.results import PRIMARY_METRIC, SuiteResult
from rag_agent.config import GateConfig, RagloopConfig
from rag_agent.errors import DataError

__all__ = ["GateDecision", "SuiteGate", "bootstrap_means", "compare_suite", "gate", "gate_many"]  # the records live in evals.promotion

Settings = RagloopConfig | GateConfig | PromotionPolicy | None


def gate(
    candidate: SuiteResult,
    baseline: SuiteResult,
    cfg: Settings = None,
    tolerance: float | None = None,
    metric: str = PRIMARY_METRIC,
) -> GateDecision:
    """Gate one suite's candidate result against its baseline (the training loop's entry point)."""
    return gate_many([candidate], [baseline], cfg, tolerance=tolerance, metric=metric)


def gate_many(
    candidates: list[SuiteResult],
    baselines: list[SuiteResult],
    cfg: Settings = None,
    tolerance: float | None = None,
    metric: str = PRIMARY_METRIC,
) -> GateDecision:
    policy = PromotionPolicy.from_config(cfg)
    tolerance = policy.tolerance if tolerance is None else tolerance
    by_key = {b.key: b for b in baselines}
    cand_keys = {c.key for c in candidates}
    suites = [compare_suite(cand, by_key[cand.key], policy, tolerance, metric) for cand in candidates if cand.key in by_key]
    if not suites:
        raise DataError(
            f"candidate suites {sorted(cand_keys)} vs baseline suites {sorted(by_key)}",
            "at least one suite/split present in both",
            "evaluate the candidate on the baseline's suites",
        )
    return policy.gate_decision(suites, tolerance, unpaired=sorted(set(by_key) ^ cand_keys))


def compare_suite(candidate: SuiteResult, baseline: SuiteResult, policy: PromotionPolicy, tolerance: float, metric: str) -> SuiteGate:
    """The paired bootstrap of one suite; whether it regressed is the policy's call."""
    cand_scores = candidate.per_query.get(metric)
    base_scores = baseline.per_query.get(metric)
    if not cand_scores or not base_scores:
        raise DataError(f"{candidate.key} metric {metric}", "per-query scores on both sides", "re-run both evaluations with `evals run`")
    shared = sorted(set(cand_scores) & set(base_scores))
    if not shared:
        raise DataError(candidate.key, "query ids shared by candidate and baseline", "evaluate both on the same suite and split")
    cand = np.array([cand_scores[q] for q in shared], dtype=np.float64)
    base = np.array([base_scores[q] for q in shared], dtype=np.float64)
    deltas = cand - base
    means = bootstrap_means(deltas, policy.bootstrap_samples, policy.seed)
    mean_delta = float(deltas.mean())
    p_not_worse = float(np.mean(means >= -tolerance))
    low, high = np.percentile(means, [100 * policy.alpha / 2, 100 * (1 - policy.alpha / 2)])
    return SuiteGate(
        suite=candidate.key,
        metric=metric,
        n_queries=len(shared),
        baseline=float(base.mean()),
        candidate=float(cand.mean()),
        delta=mean_delta,
        ci_low=float(low),
        ci_high=float(high),
        p_not_worse=p_not_worse,
        regressed=policy.suite_regressed(mean_delta, p_not_worse, tolerance),
    )


def bootstrap_means(deltas: np.ndarray, samples: int, seed: int) -> np.ndarray:
    """Means of `samples` resamples (with replacement) of `deltas`, in blocks to bound memory."""
    rng = np.random.default_rng(seed)
    n = len(deltas)
    out = np.empty(samples, dtype=np.float64)
    block = max(1, 2_000_000 // max(n, 1))
    for start in range(0, samples, block):
        size = min(block, samples - start)
        out[start : start + size] = deltas[rng.integers(0, n, size=(size, n))].mean(axis=1)
    return out
