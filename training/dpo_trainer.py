"""Reranker objective 2: pairwise DPO on preference pairs against the frozen starting model.

`train_reranker_dpo(parent_path or None, pairs, cfg, out_dir, embedder=None, objective=, models=) -> TrainResult`
(cfg: the `training.reranker` section, objective: `training.dpo`, models: `models`);
loss in training/losses/dpo_pairwise.py. The reference is a frozen copy of the model training
starts from (the parent: the distilled residual reranker in the loop), so β bounds the drift
from it. Residual (an `embedder`, or a residual parent): scores are base + g
(training/reranker_model.py); the base term cancels in every DPO margin, so only g moves.
Metrics: loss per step, probe DPO loss and pairwise accuracy (chosen scored above rejected)
before and after.
"""

from __future__ import annotations

import logging
from pathlib import Path

from rag_agent.errors import DataError
from training.common import TrainResult, seed_everything
from training.data import PreferencePair
from training.losses.dpo_pairwise import dpo_loss
from training.reranker_config import DPOConfig, RerankerTrainConfig
from training.reranker_model import batched_scores, finish, fit, frozen_copy, full_score, start

log = logging.getLogger(__name__)

PROBE_PAIRS = 256


def train_reranker_dpo(
    parent_path: Path | str | None, pairs: list[PreferencePair], cfg: RerankerTrainConfig, out_dir: Path | str, embedder: str | None = None,
    *, objective: DPOConfig | None = None, models,
) -> TrainResult:
    import torch

    if not pairs:
        raise DataError("0 preference pairs", "at least one (chosen, rejected) pair", "run `feedback harvest` first")
    dpo = objective or DPOConfig()
    seed_everything(cfg.seed)
    model, base, start_state = start(parent_path, cfg, embedder, models=models)
    reference = frozen_copy(model)
    # The reference never changes: score every pair once up front.
    ref_chosen = torch.tensor(batched_scores(reference, [p.query for p in pairs], [p.chosen for p in pairs], base=base))
    ref_rejected = torch.tensor(batched_scores(reference, [p.query for p in pairs], [p.rejected for p in pairs], base=base))
    del reference
    probe = list(range(min(PROBE_PAIRS, len(pairs))))
    before = probe_dpo(model, pairs, probe, ref_chosen, ref_rejected, dpo.beta, base)

    def batch_loss(indices: list[int], forward):
        items = [pairs[i] for i in indices]
        queries = [p.query for p in items]
        logits = full_score(model, queries + queries, [p.chosen for p in items] + [p.rejected for p in items], base, forward)
        chosen, rejected = logits[: len(items)], logits[len(items) :]
        index = torch.tensor(indices)
        weights = torch.tensor([p.weight for p in items], device=logits.device)
        return dpo_loss(chosen, rejected, ref_chosen[index].to(logits.device), ref_rejected[index].to(logits.device), dpo.beta, weights)

    # A batch holds cfg.batch_size pairs = 2x that many (query, chunk) forwards.
    losses = fit(model, len(pairs), cfg, batch_loss, batch_size=max(1, cfg.batch_size // 2), residual=base is not None)
    after = probe_dpo(model, pairs, probe, ref_chosen, ref_rejected, dpo.beta, base)
    metrics = {
        "losses": losses,
        "loss_before": before["loss"],
        "loss_after": after["loss"],
        "pair_accuracy_before": before["accuracy"],
        "pair_accuracy_after": after["accuracy"],
        "objective": "dpo",
        "beta": dpo.beta,
    }
    card = {"objective": "dpo", "parent": str(parent_path) if parent_path else None, "n_pairs": len(pairs), "beta": dpo.beta}
    metrics.update(finish(model, base, start_state, cfg, out_dir, card))
    log.info("dpo reranker: %d pairs, %d steps, probe loss %.4f -> %.4f", len(pairs), len(losses), before["loss"], after["loss"])
    return TrainResult(Path(out_dir), metrics, len(pairs))


def probe_dpo(model, pairs: list[PreferencePair], probe: list[int], ref_chosen, ref_rejected, beta: float, base=None) -> dict:
    import torch

    items = [pairs[i] for i in probe]
    chosen = torch.tensor(batched_scores(model, [p.query for p in items], [p.chosen for p in items], base=base))
    rejected = torch.tensor(batched_scores(model, [p.query for p in items], [p.rejected for p in items], base=base))
    index = torch.tensor(probe)
    weights = torch.tensor([p.weight for p in items])
    loss = dpo_loss(chosen, rejected, ref_chosen[index], ref_rejected[index], beta, weights)
    return {"loss": float(loss), "accuracy": float((chosen > rejected).double().mean())}
