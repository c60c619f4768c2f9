"""Pairwise DPO loss for a reranker against a frozen reference reranker.

Inputs: for each preference pair i (query q, chosen chunk c, rejected chunk r, weight w_i):
policy scores s(q,c), s(q,r) and frozen reference scores s_ref(q,c), s_ref(q,r) (the reranker's
logits play the role of log-probabilities), temperature β > 0.

Formula:
    m_i = β [ (s(q,c) - s(q,r)) - (s_ref(q,c) - s_ref(q,r)) ]
    loss = Σ w_i · (-log σ(m_i)) / Σ w_i
The reference term makes the loss measure how much the policy's margin moved past the
reference's, so β controls how far the reranker may drift from where it started (an implicit KL
constraint) instead of pushing every margin to infinity.

Source: Rafailov et al. 2023, "Direct Preference Optimization: Your Language Model is Secretly a
Reward Model" (eq. 7), applied to a scoring model as in pairwise learning-to-rank (with the
reference margins set to 0 and β = 1 it is RankNet's loss, Burges et al. 2005).
"""

from __future__ import annotations

from torch import Tensor, nn


def dpo_margins(chosen: Tensor, rejected: Tensor, ref_chosen: Tensor, ref_rejected: Tensor, beta: float) -> Tensor:
    return beta * ((chosen - rejected) - (ref_chosen - ref_rejected))


def dpo_loss(
    chosen: Tensor, rejected: Tensor, ref_chosen: Tensor, ref_rejected: Tensor, beta: float, weights: Tensor | None = None
) -> Tensor:
    per_pair = -nn.functional.logsigmoid(dpo_margins(chosen, rejected, ref_chosen, ref_rejected, beta))
    if weights is None:
        return per_pair.mean()
    weights = weights.view(-1).to(per_pair.dtype)
    return (weights * per_pair).sum() / weights.sum().clamp_min(1e-12)
