"""The reranker model all three objectives train: a MiniLM cross-encoder with a 1-logit head.

Born from feedback: with no parent, it starts from the bundled MiniLM weights with a fresh
1-logit head (`CrossEncoder(embedder_path("bundled:all-MiniLM-L6-v2"), num_labels=1)`); with a
parent it continues from that CrossEncoder folder. Output is standard CrossEncoder format, so
`CrossEncoder(dir).predict(pairs)` (rag_agent.retrieval.reranker) loads it.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from rag_agent.config import TrainingConfig
from rag_agent.errors import ConfigError
from training.common import optimizer_steps

log = logging.getLogger(__name__)

BASE_RERANKER_INIT = "bundled:all-MiniLM-L6-v2"


@dataclass
class RerankerTrainConfig:
    """What every reranker objective shares (built from `TrainingConfig`)."""

    lr: float = 3e-5
    epochs: int = 1
    batch_size: int = 16
    max_steps: int = 0  # 0 = run the epochs
    min_steps: int = 0  # epochs repeat until at least this many steps
    max_length: int = 256
    max_grad_norm: float = 1.0
    seed: int = 0

    @classmethod
    def from_training(cls, cfg: TrainingConfig, **overrides):
        values = {
            "lr": cfg.reranker_lr,
            "epochs": cfg.reranker_epochs,
            "batch_size": cfg.reranker_batch_size,
            "max_steps": cfg.reranker_max_steps,
            "min_steps": cfg.reranker_min_steps,
            "max_length": cfg.reranker_max_length,
            "max_grad_norm": cfg.max_grad_norm,
            "seed": cfg.seed,
        }
        values.update(cls._extra_from_training(cfg))
        values.update(overrides)
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ConfigError(", ".join(unknown), f"fields of {cls.__name__}", "check the override names")
        built = cls(**values)
        built.validate()
        return built

    @classmethod
    def _extra_from_training(cls, cfg: TrainingConfig) -> dict:
        return {}

    def validate(self) -> None:
        if self.lr <= 0 or self.batch_size < 1:
            raise ConfigError(f"reranker lr={self.lr} batch={self.batch_size}", "lr > 0 and batch >= 1", "fix training.reranker_*")

    def to_dict(self) -> dict:
        return asdict(self)

    def n_steps(self, n_items: int) -> int:
        return optimizer_steps(n_items, self.items_per_step(), self.epochs, self.max_steps, self.min_steps)

    def items_per_step(self) -> int:
        return self.batch_size


def init_reranker(parent_path: Path | str | None, max_length: int):
    """A trainable CrossEncoder: the parent's, or MiniLM with a fresh 1-logit head."""
    import torch
    from sentence_transformers import CrossEncoder

    from rag_agent.models import embedder_path

    device = "cuda" if torch.cuda.is_available() else "cpu"
    if parent_path is None or str(parent_path) == "none":
        model = CrossEncoder(str(embedder_path(BASE_RERANKER_INIT)), num_labels=1, max_length=max_length, device=device, local_files_only=True)
    else:
        model = CrossEncoder(str(parent_path), max_length=max_length, device=device, local_files_only=True)
    return model


def frozen_copy(model):
    """The reference model (DPO/PPO): a deep copy that never trains."""
    reference = copy.deepcopy(model)
    reference.eval()
    for parameter in reference.parameters():
        parameter.requires_grad_(False)
    return reference


def score(model, queries: list[str], texts: list[str], forward=None):
    """Raw logits of (query, text) pairs, differentiable; `forward` is the accelerate-prepared
    module when there is one (preprocessing always uses the plain model)."""
    from sentence_transformers.util import batch_to_device

    features = batch_to_device(model.preprocess(list(zip(queries, texts))), model.device)
    return (forward or model)(features)["scores"].view(-1)


def save_reranker(model, out_dir: Path | str) -> Path:
    from training.common import atomic_output

    with atomic_output(out_dir) as tmp:
        model.save(str(tmp))
    return Path(out_dir)


def train_mode(model, on: bool) -> None:
    """Dropout off while sampling/measuring, on while fitting."""
    model.train(on)


def fit(model, n_items: int, cfg: RerankerTrainConfig, batch_loss, batch_size: int | None = None) -> list[float]:
    """The plain PyTorch loop every pointwise/pairwise objective shares, via `accelerate` (so it
    runs unchanged under `accelerate launch`): shuffled batches of item indices, AdamW, gradient
    clipping. `batch_loss(indices, forward)` returns the batch's loss. Returns the loss per step."""
    import random

    from training.common import make_accelerator

    accelerator, optimizer = make_accelerator(), make_optimizer(model, cfg)
    forward, optimizer = accelerator.prepare(model, optimizer)
    rng = random.Random(cfg.seed)
    batch_size = batch_size or cfg.batch_size
    order: list[int] = []
    losses = []
    for _ in range(cfg.n_steps(n_items)):
        if len(order) < min(batch_size, n_items):
            fresh = list(range(n_items))
            rng.shuffle(fresh)
            order += fresh
        batch, order = order[:batch_size], order[batch_size:]
        train_mode(model, True)
        loss = batch_loss(batch, forward)
        optimizer.zero_grad()
        accelerator.backward(loss)
        accelerator.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
        optimizer.step()
        losses.append(float(loss.detach()))
    train_mode(model, False)
    return losses


def make_optimizer(model, cfg: RerankerTrainConfig):
    import torch

    return torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.lr)


def batched_scores(model, queries: list[str], texts: list[str], batch_size: int = 64) -> list[float]:
    """Logits without gradient or dropout (for probes and held-out measurements)."""
    import torch

    train_mode(model, False)
    out: list[float] = []
    with torch.no_grad():
        for start in range(0, len(queries), batch_size):
            out += score(model, queries[start : start + batch_size], texts[start : start + batch_size]).float().cpu().tolist()
    return out
