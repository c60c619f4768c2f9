"""The embedder's loss with graded feedback: InfoNCE on hard positives + λ · listwise KL to the judge.

Inputs: the InfoNCE batch (anchor, positive, hard negatives, weights: see
mnrl_with_hard_negatives.py) and, per step, `queries_per_step` judged lists drawn in a seeded
shuffled order: a query q, its judged chunks c_1..c_n and the judge's P(yes) scores t_1..t_n with
a confidence weight w_q (listwise_kl.teacher_confidence).

Formula:
    s_qi = cos(E(q), E(c_i)) / temperature            (the embedder's own retrieval logits)
    loss = InfoNCE(batch) + λ · Σ_q w_q KL( softmax(t_q / τ) || softmax(s_q) ) / Σ_q w_q
with λ = training.embedder.distill_weight, τ = training.distill.teacher_temperature and the same
temperature as InfoNCE, so both terms speak about the same similarity scale.

Source: InfoNCE / multiple-negatives ranking (see mnrl_with_hard_negatives.py) plus soft-label
listwise distillation (see listwise_kl.py); mixing a contrastive loss with a KL to teacher scores is
how BGE M3 (Chen et al. 2024) and RocketQAv2 (Ren et al. 2021) train dense retrievers.
"""

from __future__ import annotations

import random
from typing import Iterable

import torch
from torch import Tensor, nn

from training.losses.listwise_kl import listwise_kl, pad_lists


class InfoNCEPlusListwiseKL(nn.Module):
    """A sentence-transformers loss module: `forward(sentence_features, labels)` -> scalar."""

    def __init__(self, info_nce: nn.Module, model, lists: list, weight: float, temperature: float,
                 teacher_temperature: float, queries_per_step: int, seed: int = 0):
        super().__init__()
        self.info_nce = info_nce
        self.model = model
        self.lists = lists
        self.weight = weight
        self.scale = 1.0 / temperature
        self.teacher_temperature = teacher_temperature
        self.queries_per_step = queries_per_step
        self._rng = random.Random(seed)
        self._order: list[int] = []
        self.last_kl = float("nan")  # the most recent distillation term (diagnostics)

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None) -> Tensor:
        loss = self.info_nce(sentence_features, labels)
        kl = self.distillation(self._next_lists())
        self.last_kl = float(kl.detach())
        return loss + self.weight * kl

    def _next_lists(self) -> list:
        if len(self._order) < self.queries_per_step:
            fresh = list(range(len(self.lists)))
            self._rng.shuffle(fresh)
            self._order += fresh
        picked, self._order = self._order[: self.queries_per_step], self._order[self.queries_per_step :]
        return [self.lists[i] for i in picked]

    def distillation(self, lists: list) -> Tensor:
        queries = self._embed([g.query for g in lists])
        students = []
        for row, group in enumerate(lists):
            chunks = self._embed(group.texts)
            students.append(self.scale * (chunks @ queries[row]))
        student, mask = pad_lists(students, device=queries.device, dtype=queries.dtype)
        teacher, _ = pad_lists([g.scores for g in lists], device=queries.device, dtype=queries.dtype)
        weights = torch.tensor([g.weight for g in lists], device=queries.device)
        return listwise_kl(student, teacher, mask, self.teacher_temperature, weights)

    def _embed(self, texts: list[str]) -> Tensor:
        from sentence_transformers.util import batch_to_device

        features = batch_to_device(self.model.tokenize(texts), self.model.device)
        return nn.functional.normalize(self.model(features)["sentence_embedding"], dim=-1)

    def get_config_dict(self) -> dict:
        return {"distill_weight": self.weight, "teacher_temperature": self.teacher_temperature, "scale": self.scale}
