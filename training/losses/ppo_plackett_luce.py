"""PPO-style clipped policy loss for a reranker seen as a Plackett–Luce ranking policy.

Inputs, per query: the policy's scores s ∈ R^n over the query's n candidates (with gradient), the
scores of the policy that sampled (s_old, detached) and of a frozen reference (s_ref), M sampled
top-k rankings σ_1..σ_M (each a list of k candidate positions), their rewards R_m (NDCG@k against
the judge grades, optionally plus a task reward), the clip ε and the KL coefficient λ.

Policy. Plackett–Luce: a ranking is drawn by picking, position by position, a not-yet-placed
candidate with probability softmax over the remaining scores. The log-probability of a top-k
ranking σ is
    log π(σ) = Σ_{t=1..k} [ s_{σ_t} - log Σ_{j ∉ σ_1..σ_{t-1}} exp(s_j) ]
Sampling uses the Gumbel top-k trick: argsort(s + Gumbel noise)[:k] is an exact PL sample.

Objective (per query, averaged over queries):
    A_m   = R_m - mean_m R_m                       (group baseline: the mean reward of the samples)
    ρ_m   = exp(log π(σ_m) - log π_old(σ_m))       (importance ratio, new vs sampling policy)
    L_clip = -mean_m min(ρ_m A_m, clip(ρ_m, 1-ε, 1+ε) A_m)
    KL    ≈ mean_m [ exp(Δ_m) - Δ_m - 1 ],  Δ_m = log π_ref(σ_m) - log π(σ_m)   (k3 estimator, ≥ 0)
    loss  = L_clip + λ KL

Why this and not trl: trl removed its PPOTrainer (1.13), and a reranker's "action" is a whole
ranking, not tokens; this is the project's own small loss.

Source: Plackett 1975 / Luce 1959 (ranking model); Schulman et al. 2017, "Proximal Policy
Optimization Algorithms" (clipped surrogate); Shao et al. 2024, DeepSeekMath (GRPO: group-mean
baseline, k3 KL estimator from Schulman 2020 "Approximating KL Divergence"); Kool et al. 2019,
"Stochastic Beams and Where to Find Them" (Gumbel top-k); Oosterhuis 2021, "Computationally
Efficient Optimization of Plackett-Luce Ranking Models" (PL policy gradients for ranking).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def gumbel_top_k(scores: Tensor, k: int, n_samples: int, generator: torch.Generator | None = None) -> Tensor:
    """(n_samples, k) candidate positions, each row an exact Plackett–Luce sample of a top-k ranking."""
    k = min(k, scores.numel())
    uniform = torch.rand((n_samples, scores.numel()), generator=generator, device=scores.device, dtype=torch.float64)
    gumbel = -torch.log(-torch.log(uniform.clamp(1e-12, 1 - 1e-12)))
    perturbed = scores.detach().double().unsqueeze(0) + gumbel
    return torch.topk(perturbed, k, dim=1).indices


def plackett_luce_log_prob(scores: Tensor, rankings: Tensor) -> Tensor:
    """log π(σ) for each row σ of `rankings` (n_samples, k) under scores (n,); differentiable."""
    n_samples, k = rankings.shape
    expanded = scores.unsqueeze(0).expand(n_samples, -1)
    picked = torch.gather(expanded, 1, rankings)  # (n_samples, k)
    placed = torch.zeros_like(expanded, dtype=torch.bool)
    log_prob = torch.zeros(n_samples, dtype=scores.dtype, device=scores.device)
    for t in range(k):
        remaining = expanded.masked_fill(placed, float("-inf"))
        log_prob = log_prob + picked[:, t] - torch.logsumexp(remaining, dim=1)
        placed = placed.scatter(1, rankings[:, t : t + 1], True)
    return log_prob


def ndcg_at_k(rankings: Tensor, grades: Tensor, k: int) -> Tensor:
    """NDCG@k of each ranking row with linear gains (as trec_eval's ndcg_cut); 0 when no grade > 0."""
    k = min(k, rankings.shape[1])
    discounts = 1.0 / torch.log2(torch.arange(k, dtype=torch.float64, device=rankings.device) + 2.0)
    gains = grades.double()[rankings[:, :k]]
    dcg = (gains * discounts).sum(dim=1)
    ideal = (torch.sort(grades.double(), descending=True).values[:k] * discounts[: min(k, grades.numel())]).sum()
    return dcg / ideal if ideal > 0 else torch.zeros_like(dcg)


def group_advantages(rewards: Tensor) -> Tensor:
    """Reward minus the group's mean reward (the per-query baseline)."""
    return rewards - rewards.mean()


def ppo_plackett_luce_loss(
    new_log_prob: Tensor, old_log_prob: Tensor, ref_log_prob: Tensor, advantages: Tensor, clip: float, kl_coef: float
) -> tuple[Tensor, dict[str, float]]:
    """The clipped surrogate + λ·KL for one query's samples; returns (loss, diagnostics)."""
    ratio = torch.exp(new_log_prob - old_log_prob.detach())
    advantages = advantages.detach().to(ratio.dtype)
    surrogate = torch.minimum(ratio * advantages, torch.clamp(ratio, 1.0 - clip, 1.0 + clip) * advantages)
    delta = ref_log_prob.detach() - new_log_prob
    kl = (torch.exp(delta) - delta - 1.0).mean()
    loss = -surrogate.mean() + kl_coef * kl
    clipped = ((ratio - 1.0).abs() > clip).double().mean()
    return loss, {"kl": float(kl.detach()), "clip_fraction": float(clipped), "ratio_mean": float(ratio.detach().mean())}


def greedy_ranking(scores: Tensor, k: int) -> Tensor:
    """The policy's mode: candidates by descending score (1, k)."""
    return torch.topk(scores.detach(), min(k, scores.numel())).indices.unsqueeze(0)


def log_uniform_ranking_prob(n: int, k: int) -> float:
    """log-probability of any top-k ranking under equal scores (a sanity reference for tests)."""
    return -sum(math.log(n - t) for t in range(min(k, n)))
