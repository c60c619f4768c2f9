"""Reranker objective 1 (warm start): pointwise BCE on judge labels (grade / 3 as soft targets).

`train_reranker_bce(parent_path or None, labels, cfg, out_dir, models=) -> TrainResult` (cfg: the
`training.reranker` section; models: `models`, whose device it trains on); loss in
training/losses/bce.py. Metrics: loss per step, and the BCE of all items (probe, no dropout)
before and after.
"""

from __future__ import annotations

import logging
from pathlib import Path

from rag_agent.errors import DataError
from training.common import TrainResult, seed_everything
from training.data import LabeledText
from training.losses.bce import bce_loss
from training.reranker_config import RerankerTrainConfig
from training.reranker_model import batched_scores, fit, init_reranker, save_reranker, score

log = logging.getLogger(__name__)

PROBE_ITEMS = 256  # items whose loss is measured before/after: enough to see the trend, cheap


def train_reranker_bce(parent_path: Path | str | None, labels: list[LabeledText], cfg: RerankerTrainConfig, out_dir: Path | str, *, models) -> TrainResult:
    import torch

    if not labels:
        raise DataError("0 judge labels", "at least one labeled (query, chunk)", "run `feedback harvest` first")
    seed_everything(cfg.seed)
    model = init_reranker(parent_path, cfg.max_length, models.device)
    probe = labels[:PROBE_ITEMS]
    loss_before = probe_bce(model, probe)

    def batch_loss(indices: list[int], forward):
        items = [labels[i] for i in indices]
        logits = score(model, [x.query for x in items], [x.text for x in items], forward)
        return bce_loss(logits, torch.tensor([x.label for x in items], device=logits.device))

    losses = fit(model, len(labels), cfg, batch_loss)
    metrics = {"losses": losses, "loss_before": loss_before, "loss_after": probe_bce(model, probe), "objective": "bce"}
    save_reranker(model, out_dir)
    log.info("bce reranker: %d labels, %d steps, probe loss %.4f -> %.4f", len(labels), len(losses), loss_before, metrics["loss_after"])
    return TrainResult(Path(out_dir), metrics, len(labels))


def probe_bce(model, items: list[LabeledText]) -> float:
    import torch

    logits = torch.tensor(batched_scores(model, [x.query for x in items], [x.text for x in items]))
    return float(bce_loss(logits, torch.tensor([x.label for x in items])))
