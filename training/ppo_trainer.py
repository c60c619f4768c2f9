"""Reranker objective 3: PPO-style updates of the reranker as a Plackett–Luce ranking policy.

`train_reranker_ppo(parent_path or None, lists, cfg, out_dir, embedder=None, objective=, models=) -> TrainResult`
(cfg: the `training.reranker` section, objective: `training.ppo`, models: `models`) trains
a CrossEncoder (residual base + g with an `embedder` or a residual parent: training/reranker_model.py);
`ppo_loop(...)` is the scorer-agnostic core (a test drives it with a linear scorer
over fixed features, where the ideal ranking is known). Loss: training/losses/ppo_plackett_luce.py.

Per step, for a few queries: score the candidate list with the current policy, sample `samples`
top-k rankings (Gumbel top-k), reward each with NDCG@k against the judge grades (plus
`task_reward_weight` x the task reward when known), subtract the group mean, then take
`epochs` (training.ppo.epochs) clipped gradient steps with a KL penalty to the frozen reference. Dropout stays off
throughout, so the importance ratio compares the same function before and after each update.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

from rag_agent.errors import DataError
from training.common import TrainResult, mean, seed_everything, shuffled_batches
from training.data import GradedList
from training.progress import step_bar
from training.losses.ppo_plackett_luce import (
    greedy_ranking,
    group_advantages,
    gumbel_top_k,
    ndcg_at_k,
    plackett_luce_log_prob,
    ppo_plackett_luce_loss,
)
from training.reranker_config import PPOConfig, RerankerTrainConfig

log = logging.getLogger(__name__)


def ppo_loop(
    score_group: Callable[[int], "object"],
    ref_scores: list,
    grades: list,
    task_rewards: list[float | None],
    cfg: RerankerTrainConfig,
    ppo: PPOConfig,
    optimizer_step: Callable[["object"], None],
) -> dict:
    """Run `cfg.n_steps(len(grades), ppo.queries_per_step)` PPO steps. `score_group(g)` returns group g's scores (with
    gradient); `optimizer_step(loss)` does backward + step. Returns per-step diagnostics."""
    import torch

    generator = torch.Generator().manual_seed(cfg.seed)
    history: dict[str, list[float]] = {"losses": [], "mean_reward": [], "kl": [], "clip_fraction": []}
    n_steps = cfg.n_steps(len(grades), ppo.queries_per_step)
    with step_bar("training reranker (ppo)", n_steps) as advance:
        for batch in shuffled_batches(len(grades), ppo.queries_per_step, n_steps, cfg.seed):
            rollouts = []
            with torch.no_grad():
                for g in batch:
                    old = score_group(g).detach().double().cpu()
                    rankings = gumbel_top_k(old, ppo.top_k, ppo.samples, generator)
                    rewards = ndcg_at_k(rankings, grades[g], ppo.top_k)
                    if ppo.task_reward_weight and task_rewards[g] is not None:
                        rewards = rewards + ppo.task_reward_weight * float(task_rewards[g])
                    old_lp = plackett_luce_log_prob(old, rankings)
                    ref_lp = plackett_luce_log_prob(ref_scores[g].double().cpu(), rankings)
                    rollouts.append((g, rankings, old_lp, ref_lp, group_advantages(rewards)))
                    history["mean_reward"].append(float(rewards.mean()))
            for _ in range(ppo.epochs):
                losses, diagnostics = [], []
                for g, rankings, old_lp, ref_lp, advantages in rollouts:
                    new_lp = plackett_luce_log_prob(score_group(g).double().cpu(), rankings)
                    loss, diag = ppo_plackett_luce_loss(new_lp, old_lp, ref_lp, advantages, ppo.clip, ppo.kl_coef)
                    losses.append(loss)
                    diagnostics.append(diag)
                total = torch.stack(losses).mean()
                optimizer_step(total)
                history["losses"].append(float(total.detach()))
                history["kl"].append(mean([d["kl"] for d in diagnostics]))
                history["clip_fraction"].append(mean([d["clip_fraction"] for d in diagnostics]))
            advance(history["losses"][-1] if history["losses"] else None)
    return history


def greedy_ndcg(score_group: Callable[[int], "object"], grades: list, k: int) -> float:
    """Mean NDCG@k of the policy's mode (candidates sorted by score) over all groups."""
    import torch

    with torch.no_grad():
        return mean([float(ndcg_at_k(greedy_ranking(score_group(g).double().cpu(), k), grades[g], k)) for g in range(len(grades))])


def train_reranker_ppo(
    parent_path: Path | str | None, lists: list[GradedList], cfg: RerankerTrainConfig, out_dir: Path | str, embedder: str | None = None,
    *, objective: PPOConfig | None = None, models,
) -> TrainResult:
    import torch

    from training.common import make_accelerator
    from training.reranker_model import batched_scores, finish, frozen_copy, full_score, make_optimizer, start, train_mode

    lists = [g for g in lists if len(g.texts) >= 2 and len(set(g.grades)) > 1]
    if not lists:
        raise DataError("0 graded candidate lists", "queries with >= 2 judged chunks of different grades", "harvest more feedback")
    ppo = objective or PPOConfig()
    seed_everything(cfg.seed)
    model, base, start_state = start(parent_path, cfg, embedder, models=models)
    reference = frozen_copy(model)
    ref_scores = [torch.tensor(batched_scores(reference, [g.query] * len(g.texts), g.texts, base=base)) for g in lists]
    del reference
    accelerator, optimizer = make_accelerator(models.device), make_optimizer(model, cfg, residual=base is not None)
    forward, optimizer = accelerator.prepare(model, optimizer)
    grades = [torch.tensor(g.grades, dtype=torch.float64) for g in lists]
    train_mode(model, False)

    def score_group(index: int):
        group = lists[index]
        return full_score(model, [group.query] * len(group.texts), group.texts, base, forward)

    def optimizer_step(loss) -> None:
        optimizer.zero_grad()
        accelerator.backward(loss)
        accelerator.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
        optimizer.step()

    before = greedy_ndcg(score_group, grades, ppo.top_k)
    history = ppo_loop(score_group, ref_scores, grades, [g.task_reward for g in lists], cfg, ppo, optimizer_step)
    after = greedy_ndcg(score_group, grades, ppo.top_k)
    metrics = {**history, "greedy_ndcg_before": before, "greedy_ndcg_after": after, "objective": "ppo"}
    card = {"objective": "ppo", "parent": str(parent_path) if parent_path else None, "n_lists": len(lists), "kl_coef": ppo.kl_coef}
    metrics.update(finish(model, base, start_state, cfg, out_dir, card))
    log.info("ppo reranker: %d lists, %d updates, greedy NDCG@%d %.4f -> %.4f", len(lists), len(history["losses"]), ppo.top_k, before, after)
    return TrainResult(Path(out_dir), metrics, len(lists))
