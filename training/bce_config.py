"""Hyper-parameters of the BCE warm start (pointwise judge labels as soft targets)."""

from __future__ import annotations

from dataclasses import dataclass

from training.reranker_model import RerankerTrainConfig


@dataclass
class BCEConfig(RerankerTrainConfig):
    """Nothing beyond the shared reranker settings: the targets (grade / 3) carry the signal."""
