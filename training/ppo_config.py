"""Hyper-parameters of the PPO-style Plackett–Luce ranking policy update."""

from __future__ import annotations

from dataclasses import dataclass

from rag_agent.config import TrainingConfig
from rag_agent.errors import ConfigError
from training.reranker_model import RerankerTrainConfig


@dataclass
class PPOConfig(RerankerTrainConfig):
    clip: float = 0.2  # ε of the clipped importance ratio
    kl_coef: float = 0.05  # λ of the KL penalty to the reference
    samples: int = 8  # rankings sampled per query (the group the baseline averages over)
    top_k: int = 10  # sampled ranking length = NDCG cut-off
    ppo_epochs: int = 2  # gradient steps on each batch of samples
    queries_per_step: int = 4
    task_reward_weight: float = 0.0

    @classmethod
    def _extra_from_training(cls, cfg: TrainingConfig) -> dict:
        return {
            "clip": cfg.ppo_clip,
            "kl_coef": cfg.ppo_kl,
            "samples": cfg.ppo_samples,
            "top_k": cfg.ppo_top_k,
            "ppo_epochs": cfg.ppo_epochs,
            "queries_per_step": cfg.ppo_queries_per_step,
            "task_reward_weight": cfg.ppo_task_reward_weight,
        }

    def validate(self) -> None:
        super().validate()
        if not 0 < self.clip < 1 or self.samples < 2 or self.top_k < 1 or self.kl_coef < 0:
            raise ConfigError(
                f"ppo clip={self.clip} samples={self.samples} top_k={self.top_k} kl={self.kl_coef}",
                "0 < clip < 1, samples >= 2, top_k >= 1, kl >= 0",
                "fix training.ppo_*",
            )

    def items_per_step(self) -> int:
        return self.queries_per_step
