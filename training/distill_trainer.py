"""Reranker objective `distill`: listwise KL from the LLM judge's soft scores into a residual reranker.

`train_reranker_distill(parent_path or None, lists, cfg, out_dir, embedder, objective=, models=) -> TrainResult`
(cfg: the `training.reranker` section, objective: `training.distill`, models: `models`).
The student is score(q, c) = base_scale * cos_E(q, c) + g(q, c) (training/reranker_model.py),
g starting at zero (no parent) or at the residual parent's g; E is the embedder it is bound to
(`embedder`, a path or spec; default the parent's). Loss: training/losses/listwise_kl.py, per
query weighted by the spread of the judge's scores. Metrics: loss per step, and on the same probe
lists before/after (no dropout): the weighted KL and how often the student's top chunk is the
judge's top chunk.
"""

from __future__ import annotations

import logging
from pathlib import Path

from rag_agent.errors import DataError
from training.common import TrainResult, seed_everything, top1_agreement
from training.data import ScoredList
from training.losses.listwise_kl import listwise_kl, pad_lists
from training.reranker_config import DistillConfig, RerankerTrainConfig
from training.reranker_model import batched_scores, finish, fit, full_score, start

log = logging.getLogger(__name__)

PROBE_LISTS = 128  # lists measured before/after: enough to see the trend, cheap


def train_reranker_distill(
    parent_path: Path | str | None, lists: list[ScoredList], cfg: RerankerTrainConfig, out_dir: Path | str, embedder: str | None = None,
    *, objective: DistillConfig | None = None, models,
) -> TrainResult:
    import torch

    lists = [g for g in lists if len(g.texts) >= 2 and max(g.scores) > min(g.scores)]
    if not lists:
        raise DataError("0 judged queries with >= 2 differently scored chunks", "soft judge scores to distill", "harvest with the pointwise judge first")
    if embedder is None and (parent_path is None or str(parent_path) == "none"):
        raise DataError("no embedder for the residual reranker", "the embedder it is trained over", "pass embedder= (the champion embedder's path)")
    distill = objective or DistillConfig()
    seed_everything(cfg.seed)
    model, base, start_state = start(parent_path, cfg, embedder, models=models)
    base.prepare([g.query for g in lists for _ in g.texts], [t for g in lists for t in g.texts])
    probe = lists[:PROBE_LISTS]
    before = probe_distill(model, base, probe, distill)

    def batch_loss(indices: list[int], forward):
        items = [lists[i] for i in indices]
        queries = [g.query for g in items for _ in g.texts]
        flat = full_score(model, queries, [t for g in items for t in g.texts], base, forward)
        sizes = [len(g.texts) for g in items]
        student, mask = pad_lists(list(torch.split(flat, sizes)), device=flat.device)
        teacher, _ = pad_lists([g.scores for g in items], device=flat.device)
        weights = torch.tensor([g.weight for g in items], device=flat.device)
        return listwise_kl(student, teacher, mask, distill.teacher_temperature, weights)

    losses = fit(model, len(lists), cfg, batch_loss, batch_size=distill.queries_per_step, residual=True, per_step=distill.queries_per_step)
    after = probe_distill(model, base, probe, distill)
    card = {"objective": "distill", "parent": str(parent_path) if parent_path else None, "n_lists": len(lists),
            "n_pairs": sum(len(g.texts) for g in lists), "teacher_temperature": distill.teacher_temperature}
    extra = finish(model, base, start_state, cfg, out_dir, card)
    metrics = {"losses": losses, "objective": "distill", "kl_before": before["kl"], "kl_after": after["kl"],
               "top1_agreement_before": before["top1"], "top1_agreement_after": after["top1"], **extra}
    if extra:
        metrics["kl_after_merge"] = probe_distill(model, base, probe, distill)["kl"]
    log.info("distill reranker: %d lists, %d steps, probe KL %.4f -> %.4f", len(lists), len(losses), before["kl"], after["kl"])
    return TrainResult(Path(out_dir), metrics, len(lists))


def probe_distill(model, base, probe: list[ScoredList], distill: DistillConfig) -> dict:
    """Weighted KL and top-1 agreement with the judge on `probe`, without dropout."""
    import torch

    flat = batched_scores(model, [g.query for g in probe for _ in g.texts], [t for g in probe for t in g.texts], base=base)
    scores, at = [], 0
    for g in probe:
        scores.append(flat[at : at + len(g.texts)])
        at += len(g.texts)
    student, mask = pad_lists(scores)
    teacher, _ = pad_lists([g.scores for g in probe])
    kl = float(listwise_kl(student, teacher, mask, distill.teacher_temperature, torch.tensor([g.weight for g in probe])))
    return {"kl": kl, "top1": top1_agreement(scores, [g.scores for g in probe])}
