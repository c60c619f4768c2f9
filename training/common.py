"""What every trainer shares: the result record, seeding, the accelerator, atomic model output."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from rag_agent.files import atomic_dir


@dataclass
class TrainResult:
    """What a trainer leaves behind: a loadable model directory and how training went."""

    path: Path
    metrics: dict = field(default_factory=dict)  # "losses": per optimizer step, plus before/after figures
    n_examples: int = 0


def seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def make_accelerator(device: str):
    """An `accelerate.Accelerator` on the GPU when `device` (`models.device`, the model's) is one,
    else CPU; under `accelerate launch` the same code runs data-parallel on several GPUs."""
    from accelerate import Accelerator

    return Accelerator(cpu=not device.startswith("cuda"))


# A crash mid-training leaves only a hidden temp folder, never a half-written model under the final
# name (the registry only ever registers complete folders).
atomic_output = atomic_dir


def optimizer_steps(n_items: int, per_step: int, epochs: int, max_steps: int, min_steps: int) -> int:
    """`max_steps` if set; else the epochs' steps, at least `min_steps` (small feedback sets would
    otherwise be one step, spent inside the LR warm-up)."""
    if max_steps > 0:
        return max_steps
    return max(min_steps, max(1, -(-n_items // per_step)) * epochs)


def shuffled_batches(n_items: int, batch_size: int, n_steps: int, seed: int) -> Iterator[list[int]]:
    """`n_steps` batches of item indices: epochs of a seeded shuffle, cut into `batch_size` slices;
    a new shuffled epoch is appended when fewer than a full batch remain (so small sets still fill
    every batch, and no index repeats within one while n_items >= batch_size)."""
    rng = random.Random(seed)
    order: list[int] = []
    for _ in range(n_steps):
        if len(order) < min(batch_size, n_items):
            fresh = list(range(n_items))
            rng.shuffle(fresh)
            order += fresh
        batch, order = order[:batch_size], order[batch_size:]
        yield batch


def mean(values: list[float]) -> float:
    return float(sum(values) / len(values)) if values else float("nan")


def top1_agreement(student_lists, teacher_lists) -> float:
    """How often a list's top-scored candidate (first on ties) is the judge's top candidate."""
    def top(scores) -> int:
        return max(range(len(scores)), key=scores.__getitem__)

    return mean([float(top(s) == top(t)) for s, t in zip(student_lists, teacher_lists)])
