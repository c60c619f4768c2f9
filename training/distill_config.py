"""Hyper-parameters of listwise soft-label distillation of the judge into the residual reranker."""

from __future__ import annotations

from dataclasses import dataclass

from rag_agent.config import TrainingConfig
from rag_agent.errors import ConfigError
from training.reranker_model import RerankerTrainConfig


@dataclass
class DistillConfig(RerankerTrainConfig):
    teacher_temperature: float = 0.1  # τ of softmax(P(yes) / τ): sharpens the judge's narrow P(yes) range
    queries_per_step: int = 4  # judged lists per optimizer step (each list is ~judge_depth pairs)

    @classmethod
    def _extra_from_training(cls, cfg: TrainingConfig) -> dict:
        return {"teacher_temperature": cfg.distill_teacher_temperature, "queries_per_step": cfg.distill_queries_per_step}

    def validate(self) -> None:
        super().validate()
        if self.teacher_temperature <= 0 or self.queries_per_step < 1:
            raise ConfigError(
                f"distill teacher_temperature={self.teacher_temperature} queries_per_step={self.queries_per_step}",
                "a positive temperature and at least 1 query per step",
                "fix training.distill_teacher_temperature / training.distill_queries_per_step",
            )

    def items_per_step(self) -> int:
        return self.queries_per_step
