"""Hyper-parameters of one embedder fine-tune, built from `TrainingConfig` (rag_agent/config.py)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from rag_agent.config import TrainingConfig
from rag_agent.errors import ConfigError
from training.common import optimizer_steps


@dataclass
class EmbedderTrainConfig:
    lr: float = 2e-5
    epochs: int = 1
    batch_size: int = 16
    max_steps: int = 0  # 0 = run the epochs
    min_steps: int = 0  # epochs repeat until at least this many optimizer steps
    warmup_ratio: float = 0.1
    temperature: float = 0.05  # InfoNCE temperature = 1 / MNRL scale
    max_seq_length: int = 256
    max_negatives: int = 4
    cached_mini_batch: int = 0
    merge_alpha: float = 0.5  # 1.0 = keep the fine-tuned weights; 0.5 = halfway back to the parent
    replay_weight: float = 0.5
    loss_probe_examples: int = 64
    seed: int = 0
    distill_weight: float = 0.0  # weight of the listwise KL to the judge's scores (0 = InfoNCE only)
    distill_teacher_temperature: float = 0.1
    distill_queries_per_step: int = 4

    @classmethod
    def from_training(cls, cfg: TrainingConfig, **overrides) -> EmbedderTrainConfig:
        built = cls(
            lr=cfg.embedder_lr,
            epochs=cfg.embedder_epochs,
            batch_size=cfg.embedder_batch_size,
            max_steps=cfg.embedder_max_steps,
            min_steps=cfg.embedder_min_steps,
            warmup_ratio=cfg.embedder_warmup_ratio,
            temperature=cfg.temperature,
            max_seq_length=cfg.embedder_max_seq_length,
            max_negatives=cfg.embedder_max_negatives,
            cached_mini_batch=cfg.embedder_cached_mini_batch,
            merge_alpha=cfg.merge_alpha,
            replay_weight=cfg.replay_weight,
            loss_probe_examples=cfg.loss_probe_examples,
            seed=cfg.seed,
            distill_weight=cfg.embedder_distill_weight,
            distill_teacher_temperature=cfg.distill_teacher_temperature,
            distill_queries_per_step=cfg.distill_queries_per_step,
        )
        for key, value in overrides.items():
            setattr(built, key, value)
        built.validate()
        return built

    def validate(self) -> None:
        if not 0.0 <= self.merge_alpha <= 1.0:
            raise ConfigError(f"training.merge_alpha={self.merge_alpha}", "a weight in [0, 1]", "set e.g. training.merge_alpha=0.5")
        if self.temperature <= 0:
            raise ConfigError(f"training.temperature={self.temperature}", "a positive temperature", "set e.g. training.temperature=0.05")
        if self.distill_weight < 0 or self.distill_teacher_temperature <= 0 or self.distill_queries_per_step < 1:
            raise ConfigError(
                f"embedder distill_weight={self.distill_weight} teacher_temperature={self.distill_teacher_temperature}",
                "weight >= 0, temperature > 0, queries per step >= 1",
                "fix training.embedder_distill_weight / training.distill_*",
            )
        if self.batch_size < 2:
            raise ConfigError(
                f"training.embedder_batch_size={self.batch_size}", "at least 2 (in-batch negatives)", "set e.g. 16"
            )

    def n_steps(self, n_examples: int) -> int:
        """Optimizer steps for `n_examples`: max_steps if set, else the epochs, at least min_steps."""
        return optimizer_steps(n_examples, self.batch_size, self.epochs, self.max_steps, self.min_steps)

    def to_dict(self) -> dict:
        return asdict(self)
