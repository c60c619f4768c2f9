"""Embedder + listwise distillation with the real MiniLM: the KL term is added to InfoNCE, moves the
embedder towards the judge's order on lists InfoNCE never sees, and weight 0 is InfoNCE alone."""

from __future__ import annotations

import json

import numpy as np
import pytest

from training.data import EmbedderExample, ScoredList
from rag_agent.config import ModelsConfig
from training.embedder_config import EmbedderTrainConfig
from training.reranker_config import DistillConfig
from training.embedder_trainer import train_embedder

pytestmark = pytest.mark.slow


def _data(shared_data):
    """InfoNCE examples from a few contracts; judged lists (question, its clause first at P(yes)
    0.8, other clauses of the same contract lower) from other contracts."""
    by_doc: dict[str, list[dict]] = {}
    with open(shared_data / "cuad" / "tasks_train.jsonl") as fh:
        for line in fh:
            row = json.loads(line)
            if row["evidence"] and 40 < len(row["evidence"][0]) < 400:
                by_doc.setdefault(row["doc_id"], []).append(row)
            if len(by_doc) > 12:
                break
    docs = [rows for rows in by_doc.values() if len({r["evidence"][0] for r in rows}) >= 4]
    examples, lists = [], []
    for rows in docs[:4]:
        clauses = sorted({r["evidence"][0] for r in rows})
        for row in rows[:2]:
            examples.append(EmbedderExample(row["question"], row["evidence"][0], [c for c in clauses if c != row["evidence"][0]][:2]))
    for rows in docs[4:8]:
        clauses = sorted({r["evidence"][0] for r in rows})
        for row in rows[:2]:
            others = [c for c in clauses if c != row["evidence"][0]][:3]
            lists.append(ScoredList(row["question"], [row["evidence"][0], *others], [0.8, 0.3, 0.2, 0.1][: 1 + len(others)], 0.7))
    assert len(examples) >= 6 and len(lists) >= 4
    return examples, lists


def _kl_to_judge(path, lists) -> float:
    import torch
    from sentence_transformers import SentenceTransformer

    from training.losses.listwise_kl import listwise_kl, pad_lists

    model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
    model.max_seq_length = 64
    students = []
    for g in lists:
        q = model.encode([g.query], normalize_embeddings=True, convert_to_tensor=True)
        c = model.encode(g.texts, normalize_embeddings=True, convert_to_tensor=True)
        students.append((c @ q[0]) / 0.05)
    student, mask = pad_lists(students)
    teacher, _ = pad_lists([g.scores for g in lists])
    return float(listwise_kl(student, teacher, mask, 0.1, torch.tensor([g.weight for g in lists])))


def test_distillation_weight_moves_the_embedder_towards_the_judge(shared_data, tmp_path):
    from rag_agent.models import embedder_path
    from training.merge import load_model

    parent = embedder_path("bundled:all-MiniLM-L6-v2")
    examples, lists = _data(shared_data)
    common = dict(lr=1e-4, batch_size=4, max_steps=4, warmup_ratio=0.0, max_seq_length=64, max_negatives=2, merge_alpha=1.0)
    listwise = DistillConfig(teacher_temperature=0.1, queries_per_step=4)
    plain = train_embedder(parent, examples, EmbedderTrainConfig(**common, distill_weight=0.0), tmp_path / "plain", distill=lists,
                           distill_cfg=listwise, models=ModelsConfig())
    mixed = train_embedder(parent, examples, EmbedderTrainConfig(**common, distill_weight=1.0), tmp_path / "mixed", distill=lists,
                           distill_cfg=listwise, models=ModelsConfig())
    assert plain.metrics["n_distill_lists"] == 0 and mixed.metrics["n_distill_lists"] == len(lists)
    assert mixed.metrics["distill_weight"] == 1.0
    # Same seed, same InfoNCE batches: the KL term alone makes the difference.
    a, b = load_model(plain.path).state_dict(), load_model(mixed.path).state_dict()
    assert any(not np.allclose(a[k].numpy(), b[k].numpy()) for k in a if a[k].is_floating_point())
    kl_base, kl_plain, kl_mixed = (_kl_to_judge(p, lists) for p in (parent, plain.path, mixed.path))
    assert kl_mixed < kl_plain and kl_mixed < kl_base
