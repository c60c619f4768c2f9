"""Pointwise binary cross-entropy with soft targets: the reranker's warm start on judge labels.

Inputs: raw scores s_i = f(q_i, d_i) (logits of the cross-encoder's 1-logit head), soft targets
y_i = grade_i / 3 in [0, 1], optional weights w_i >= 0.

Formula: l_i = -[ y_i log σ(s_i) + (1 - y_i) log(1 - σ(s_i)) ], loss = Σ w_i l_i / Σ w_i.
With soft targets the minimum is at σ(s_i) = y_i, so a grade-2 chunk learns to score between a
grade-1 and a grade-3 one instead of being forced to 0 or 1.

Source: standard logistic loss for cross-encoder rerankers (Nogueira & Cho 2019, "Passage
Re-ranking with BERT"); sentence-transformers docs, cross_encoder.losses.BinaryCrossEntropyLoss.
"""

from __future__ import annotations

from torch import Tensor, nn


def bce_loss(scores: Tensor, targets: Tensor, weights: Tensor | None = None) -> Tensor:
    per_item = nn.functional.binary_cross_entropy_with_logits(scores.view(-1), targets.view(-1).to(scores.dtype), reduction="none")
    if weights is None:
        return per_item.mean()
    weights = weights.view(-1).to(per_item.dtype)
    return (weights * per_item).sum() / weights.sum().clamp_min(1e-12)
