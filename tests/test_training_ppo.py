"""PPO Plackett–Luce loss and loop: exact PL probabilities, and a toy problem with a known optimum."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from training.losses.ppo_plackett_luce import (
    gumbel_top_k,
    ndcg_at_k,
    plackett_luce_log_prob,
    ppo_plackett_luce_loss,
)
from training.reranker_config import PPOConfig, RerankerTrainConfig
from training.ppo_trainer import greedy_ndcg, ppo_loop


def test_plackett_luce_probabilities_sum_to_one_and_match_sampling():
    scores = torch.tensor([1.0, 0.0, -0.5, 2.0], dtype=torch.float64)
    rankings = torch.tensor(list(itertools.permutations(range(4), 2)))
    probs = plackett_luce_log_prob(scores, rankings).exp()
    assert math.isclose(float(probs.sum()), 1.0, rel_tol=1e-9)
    # P(first = 3) under PL is softmax(scores)[3]
    first3 = float(probs[rankings[:, 0] == 3].sum())
    assert math.isclose(first3, float(torch.softmax(scores, 0)[3]), rel_tol=1e-9)
    samples = gumbel_top_k(scores, 1, 20000, torch.Generator().manual_seed(0))
    assert abs(float((samples[:, 0] == 3).double().mean()) - first3) < 0.02


def test_ndcg_and_clipped_loss_behave():
    grades = torch.tensor([0.0, 3.0, 1.0])
    assert float(ndcg_at_k(torch.tensor([[1, 2, 0]]), grades, 10)) == pytest.approx(1.0)
    assert float(ndcg_at_k(torch.tensor([[0, 2, 1]]), grades, 10)) < 1.0
    new = torch.tensor([0.0, 0.5], requires_grad=True)
    loss, diag = ppo_plackett_luce_loss(new, torch.zeros(2), torch.zeros(2), torch.tensor([1.0, -1.0]), clip=0.2, kl_coef=0.0)
    loss.backward()
    # sample 2 has ratio e^0.5 > 1.2 and a negative advantage: min(ρA, clip(ρ)A) keeps the
    # unclipped (more pessimistic) term, so it still gets pushed down
    assert new.grad[0] < 0 and new.grad[1] > 0
    assert diag["clip_fraction"] == 0.5
    # a positive advantage beyond the clip gets no gradient (the PPO trust region)
    beyond = torch.tensor([0.5], requires_grad=True)
    loss, _ = ppo_plackett_luce_loss(beyond, torch.zeros(1), torch.zeros(1), torch.tensor([1.0]), clip=0.2, kl_coef=0.0)
    loss.backward()
    assert float(beyond.grad[0]) == 0.0


@pytest.mark.slow
def test_ppo_learns_the_ideal_ranking_of_a_linear_toy_problem():
    generator = torch.Generator().manual_seed(0)
    n_groups, n_candidates, dim = 12, 8, 5
    true_w = torch.tensor([1.5, -1.0, 0.5, 0.0, 2.0])
    # grades 0..3 from the true linear utility, by rank within the group (2 candidates per
    # grade); groups where adjacent grades' utilities nearly tie are redrawn, so the ideal
    # ranking is unambiguous and a linear scorer can reach it exactly
    features, grades = [], []
    while len(features) < n_groups:
        x = torch.randn(n_candidates, dim, generator=generator)
        utility = x @ true_w
        order = torch.argsort(utility, descending=True)
        if min(float(utility[order[i]] - utility[order[i + 1]]) for i in (1, 3, 5)) < 0.4:
            continue
        g = torch.zeros(n_candidates, dtype=torch.float64)
        for position, index in enumerate(order):
            g[index] = 3 - position // 2
        features.append(x)
        grades.append(g)
    policy = torch.nn.Linear(dim, 1, bias=False)
    torch.nn.init.zeros_(policy.weight)  # uniform random rankings at the start
    ref_scores = [torch.zeros(n_candidates) for _ in range(n_groups)]
    optimizer = torch.optim.Adam(policy.parameters(), lr=0.1)

    def score_group(g):
        return policy(features[g]).view(-1)

    def step(loss):
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    ppo = PPOConfig(samples=16, top_k=10, epochs=2, queries_per_step=4, clip=0.2, kl_coef=0.001)
    history = ppo_loop(score_group, ref_scores, grades, [None] * n_groups, RerankerTrainConfig(max_steps=80), ppo, step)
    first, last = history["mean_reward"][:8], history["mean_reward"][-8:]
    assert sum(last) / len(last) > sum(first) / len(first) + 0.1
    assert greedy_ndcg(score_group, grades, 10) == pytest.approx(1.0)
    # the learned direction points the same way as the true one
    assert torch.nn.functional.cosine_similarity(policy.weight.view(-1), true_w, dim=0) > 0.9
