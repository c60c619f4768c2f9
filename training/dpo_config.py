"""Hyper-parameters of pairwise DPO against a frozen reference reranker."""

from __future__ import annotations

from dataclasses import dataclass

from rag_agent.config import TrainingConfig
from rag_agent.errors import ConfigError
from training.reranker_model import RerankerTrainConfig


@dataclass
class DPOConfig(RerankerTrainConfig):
    beta: float = 0.1  # margin temperature: small β lets scores move far from the reference

    @classmethod
    def _extra_from_training(cls, cfg: TrainingConfig) -> dict:
        return {"beta": cfg.dpo_beta}

    def validate(self) -> None:
        super().validate()
        if self.beta <= 0:
            raise ConfigError(f"training.dpo_beta={self.beta}", "a positive β", "set e.g. training.dpo_beta=0.1")
