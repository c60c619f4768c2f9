"""Rewards for the reranker's RL: one per served ranking, one per task.

* ranking (task, attempt, stage): NDCG@10 of the served order against the task's judge labels
  (grades 0..3 as gains; the ideal ranking is over every labelled chunk of the task, so a ranking
  that misses a relevant chunk another attempt found is penalised). Unlabelled chunks count as 0;
  `coverage` says what share of the top 10 had a label. No row when the task has no label at all.
* task: reward = success - min(cap, a * rewrites + b * web fallbacks + c * tokens / 1000)
  (cfg.feedback.reward_*): a success always outranks a failure, and among equal outcomes the
  cheaper trajectory wins. NULL when the task file had no answer to check.
"""

from __future__ import annotations

from dataclasses import dataclass

from evals.metrics import ndcg_at_k

from feedback.traces import TaskTrace

K = 10  # NDCG@10: the metric the promotion gate uses


@dataclass(frozen=True)
class Reward:
    kind: str
    attempt: int
    stage: str
    query: str | None
    value: float | None
    coverage: float | None
    ranking_model: str | None = None


def ranking_rewards(trace: TaskTrace, labels: dict[str, int]) -> list[Reward]:
    if not labels:
        return []
    out = []
    for attempt, stage in trace.served_rankings():
        rows = trace.ranking(attempt, stage)[:K]
        served = {row.chunk_id: float(-row.rank) for row in rows}  # served order, best first
        coverage = sum(1 for row in rows if row.chunk_id in labels) / len(rows) if rows else 0.0
        value = ndcg_at_k(labels, served, K)
        out.append(Reward("ranking", attempt, stage, rows[0].query if rows else None, value, coverage, rows[0].model_version if rows else None))
    return out


def task_reward(trace: TaskTrace, fb) -> Reward:
    if trace.success is None:
        value = None
    else:
        penalty = (
            fb.reward_rewrite_penalty * len(trace.rewrites)
            + fb.reward_fallback_penalty * trace.n_fallbacks
            + fb.reward_token_penalty * trace.tokens / 1000.0
        )
        value = (1.0 if trace.success else 0.0) - min(fb.reward_penalty_cap, penalty)
    return Reward("task", -1, "", trace.question, value, None)
