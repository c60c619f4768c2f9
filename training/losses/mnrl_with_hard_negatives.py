"""Weighted InfoNCE with in-batch and hard negatives (MultipleNegativesRankingLoss).

Inputs: a batch of B examples, each (anchor q_i, positive p_i, hard negatives n_i1..n_iN) as
sentence-transformers feature columns, and one non-negative weight w_i per example (passed in
the dataset's `label` column, which the trainer hands to the loss as `labels`).

Formula: with unit-normalised embeddings, s(a, b) = cos(a, b) and scale = 1 / temperature, the
candidates of every query are all B positives and all B*N hard negatives of the batch
(C = {p_1..p_B} ∪ {n_jk}). For query i

    l_i = -log( exp(scale * s(q_i, p_i)) / Σ_{c ∈ C} exp(scale * s(q_i, c)) )

and the batch loss is Σ_i w_i l_i / Σ_i w_i. With all weights 1 it equals
`sentence_transformers.losses.MultipleNegativesRankingLoss(scale=1/temperature)` in its default
"query_to_doc" direction; the weights let confident feedback count more than doubtful feedback.

Source: Henderson et al. 2017, "Efficient Natural Language Response Suggestion for Smart Reply"
(multiple-negatives ranking); van den Oord et al. 2018, "Representation Learning with
Contrastive Predictive Coding" (InfoNCE); sentence-transformers docs, MultipleNegativesRankingLoss
and CachedMultipleNegativesRankingLoss (Gao et al. 2021, GradCache) for the cached variant.
"""

from __future__ import annotations

from typing import Iterable

import torch
from torch import Tensor, nn


def info_nce(
    queries: Tensor, positives: Tensor, negatives: list[Tensor], weights: Tensor, scale: float, ignore: Tensor | None = None
) -> Tensor:
    """The formula above on already-computed embeddings (B x d, B x d, N tensors of B x d).

    `ignore` (B x (B + B*N), bool) drops candidates from a query's denominator: a copy of the
    query's own positive elsewhere in the batch would otherwise count as a negative. Training
    batches avoid copies with sentence-transformers' NO_DUPLICATES sampler instead."""
    queries = nn.functional.normalize(queries, dim=-1)
    candidates = nn.functional.normalize(torch.cat([positives, *negatives], dim=0), dim=-1)
    logits = scale * queries @ candidates.T  # B x (B + B*N); column i is query i's positive
    if ignore is not None:
        logits = logits.masked_fill(ignore.to(logits.device), float("-inf"))
    targets = torch.arange(queries.size(0), device=queries.device)
    per_example = nn.functional.cross_entropy(logits, targets, reduction="none")
    weights = weights.to(per_example.dtype).view(-1)
    return (weights * per_example).sum() / weights.sum().clamp_min(1e-12)


class WeightedMNRLWithHardNegatives(nn.Module):
    """A sentence-transformers loss module: `forward(sentence_features, labels)` -> scalar."""

    def __init__(self, model, temperature: float = 0.05):
        super().__init__()
        self.model = model
        self.scale = 1.0 / temperature

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None) -> Tensor:
        embeddings = [self.model(features)["sentence_embedding"] for features in sentence_features]
        queries, positives, negatives = embeddings[0], embeddings[1], embeddings[2:]
        weights = labels if labels is not None else torch.ones(queries.size(0), device=queries.device)
        return info_nce(queries, positives, negatives, weights, self.scale)

    def get_config_dict(self) -> dict:
        return {"scale": self.scale, "similarity_fct": "cos_sim", "weighted": True}

    @property
    def citation(self) -> str:
        return "Henderson et al. 2017; van den Oord et al. 2018 (InfoNCE)"


def build_loss(model, temperature: float, cached_mini_batch: int = 0) -> nn.Module:
    """The weighted loss, or sentence-transformers' cached MNRL (unweighted) for big batches."""
    if cached_mini_batch > 0:
        from sentence_transformers.losses import CachedMultipleNegativesRankingLoss

        return CachedMultipleNegativesRankingLoss(model, scale=1.0 / temperature, mini_batch_size=cached_mini_batch)
    return WeightedMNRLWithHardNegatives(model, temperature)
