"""Listwise soft-label distillation: KL(teacher || student) over one query's judged candidates.

Inputs, per query q (a batch of B queries padded to n candidates, `mask` marks real ones):
student scores s_qi (the model's logits: the residual reranker's full score, or the embedder's
cos / temperature), teacher scores t_qi (the LLM judge's P(yes) for the chunk, in [0, 1]), the
teacher temperature τ, and a per-query weight w_q (how sure the judge was; see
`teacher_confidence`).

Formula:
    p_q = softmax_i(t_qi / τ)            (teacher distribution over q's candidates)
    log r_q = log_softmax_i(s_qi)        (student distribution)
    KL_q = Σ_i p_qi (log p_qi - log r_qi)
    loss = Σ_q w_q KL_q / Σ_q w_q
A small τ sharpens the judge's often narrow P(yes) range (0.12-0.36 for the 1.5B on train
chunks) into a usable ranking target; equal teacher scores give a uniform target that carries no
ranking information (such queries are dropped before training, training/data.py).

Source: Hinton et al. 2015, "Distilling the Knowledge in a Neural Network" (soft targets, KL,
temperature); listwise ranking distillation as in RankDistil (Reddi et al. 2021), InRanker
(Laitz et al. 2024: distilling an LLM reranker's soft relevance into a small cross-encoder) and
BGE reranker / FlagEmbedding's KL distillation from teacher scores (Chen et al. 2024, BGE M3).
"""

from __future__ import annotations

import torch
from torch import Tensor


def teacher_confidence(teacher_scores: list[float]) -> float:
    """w_q = max - min of the judge's P(yes) over the query's candidates (in [0, 1]): a judge that
    puts one chunk at 0.9 and another at 0.1 is sure of the order; 0.31 vs 0.33 is a near coin flip
    and should move the model little. 0 for all-equal scores (no ranking information)."""
    return float(max(teacher_scores) - min(teacher_scores)) if teacher_scores else 0.0


def listwise_kl(student: Tensor, teacher: Tensor, mask: Tensor, teacher_temperature: float, weights: Tensor | None = None) -> Tensor:
    """The formula above; `student`, `teacher`, `mask` are (B, n); returns a scalar."""
    mask = mask.to(torch.bool)
    neg_inf = torch.finfo(student.dtype).min
    log_student = torch.log_softmax(student.masked_fill(~mask, neg_inf), dim=-1)
    log_teacher = torch.log_softmax((teacher.to(student.dtype) / teacher_temperature).masked_fill(~mask, neg_inf), dim=-1)
    p_teacher = log_teacher.exp() * mask
    per_query = torch.where(mask, p_teacher * (log_teacher - log_student), torch.zeros_like(student)).sum(dim=-1)
    if weights is None:
        return per_query.mean()
    weights = weights.to(per_query.dtype).view(-1)
    return (weights * per_query).sum() / weights.sum().clamp_min(1e-12)


def pad_lists(values: list[list[float]] | list[Tensor], device=None, dtype=torch.float32) -> tuple[Tensor, Tensor]:
    """Ragged per-query lists -> (B, n) values and mask (padding is 0 and masked out)."""
    width = max(len(v) for v in values)
    out = torch.zeros((len(values), width), dtype=dtype, device=device)
    mask = torch.zeros((len(values), width), dtype=torch.bool, device=device)
    for row, v in enumerate(values):
        v = v if isinstance(v, Tensor) else torch.tensor(v, dtype=dtype)
        out[row, : len(v)] = v.to(device=device, dtype=dtype) if device is not None else v.to(dtype=dtype)
        mask[row, : len(v)] = True
    return out, mask
