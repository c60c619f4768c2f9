"""Embedder fine-tune on tiny real CUAD text with the real MiniLM: it learns, and merging is exact."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from rag_agent.config import ModelsConfig
from rag_agent.errors import ConfigError
from training.data import EmbedderExample
from training.embedder_config import EmbedderTrainConfig
from training.embedder_trainer import padded_negatives, to_dataset, train_embedder


def _cuad_examples(shared_data, n: int = 12, per_contract: int = 2) -> list[EmbedderExample]:
    """Question -> its gold clause; hard negatives = clauses of the same contract that are no
    example's positive (TRAIN split). Few examples per contract, so batches can mix contracts."""
    by_doc: dict[str, list[dict]] = {}
    with open(shared_data / "cuad" / "tasks_train.jsonl") as fh:
        for line in fh:
            row = json.loads(line)
            if row["evidence"] and 40 < len(row["evidence"][0]) < 400:
                by_doc.setdefault(row["doc_id"], []).append(row)
            if len(by_doc) > n:
                break
    examples = []
    for rows in by_doc.values():
        chosen, rest = rows[:per_contract], rows[per_contract:]
        negatives = sorted({r["evidence"][0] for r in rest} - {r["evidence"][0] for r in chosen})[:2]
        for row in chosen:
            if negatives and len(examples) < n:
                examples.append(EmbedderExample(row["question"], row["evidence"][0], negatives, 1.0, row["id"]))
    assert len(examples) == n
    return examples


@pytest.fixture(scope="module")
def trained(shared_data, tmp_path_factory):
    from rag_agent.models import embedder_path

    parent = embedder_path("bundled:all-MiniLM-L6-v2")
    examples = _cuad_examples(shared_data)
    cfg = EmbedderTrainConfig(lr=1e-4, batch_size=4, max_steps=3, warmup_ratio=0.0, max_seq_length=64, max_negatives=2, merge_alpha=1.0)
    out = tmp_path_factory.mktemp("emb") / "embedder-0001"
    result = train_embedder(parent, examples, cfg, out, models=ModelsConfig())
    return parent, examples, result


def _margin(path, examples) -> float:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
    model.max_seq_length = 64
    q = model.encode([e.query for e in examples], normalize_embeddings=True)
    p = model.encode([e.positive for e in examples], normalize_embeddings=True)
    n = model.encode([e.negatives[0] for e in examples], normalize_embeddings=True)
    return float(np.mean((q * p).sum(1) - (q * n).sum(1)))


@pytest.mark.slow
def test_training_changes_weights_lowers_loss_and_separates_pairs(trained):
    from training.merge import load_model

    parent, examples, result = trained
    assert result.n_examples == len(examples) and len(result.metrics["losses"]) == 3
    assert result.metrics["loss_after"] < result.metrics["loss_before"]
    before, after = load_model(parent).state_dict(), load_model(result.path).state_dict()
    changed = [k for k in before if before[k].is_floating_point() and not np.allclose(before[k].numpy(), after[k].numpy())]
    assert len(changed) > 10
    assert _margin(result.path, examples) > _margin(parent, examples)


@pytest.mark.slow
def test_merge_is_exactly_the_interpolation(trained, tmp_path):
    from training.merge import load_model, merge_dirs

    parent, examples, result = trained
    merged_path = merge_dirs(parent, result.path, 0.25, tmp_path / "merged")
    p, c, m = (load_model(path).state_dict() for path in (parent, result.path, merged_path))
    name = next(k for k in c if k.endswith("attention.self.query.weight"))
    assert np.array_equal(m[name].numpy(), (0.25 * c[name] + 0.75 * p[name]).numpy())
    assert not np.array_equal(m[name].numpy(), c[name].numpy())
    # merging moves the model back towards the parent: its margin sits between the two
    margins = _margin(parent, examples), _margin(merged_path, examples), _margin(result.path, examples)
    assert margins[0] < margins[1] < margins[2]


def test_dataset_has_fixed_negative_columns_and_weights():
    examples = [
        EmbedderExample("q1", "p1", ["n1"], 2.0),
        EmbedderExample("q2", "p2", [], 1.0),
        EmbedderExample("q3", "p3", ["n3a", "n3b", "n3c"], 0.5),
    ]
    data = to_dataset(examples, 2, seed=0)
    assert data.column_names == ["anchor", "positive", "negative_1", "negative_2", "label"]
    assert data["negative_1"][0] == data["negative_2"][0] == "n1"  # own negative repeated
    assert {data["negative_1"][1], data["negative_2"][1]} <= {"p1", "p3"}  # borrowed positives
    assert data["label"] == [2.0, 1.0, 0.5]
    assert padded_negatives(examples[2], examples, 2, 2, random.Random(0)) == ["n3a", "n3b"]
    with pytest.raises(ConfigError, match="training.embedder.merge_alpha"):
        EmbedderTrainConfig(merge_alpha=1.5)


def test_small_feedback_sets_still_get_min_steps():
    # 7 examples in batches of 16 would be one step, spent in LR warm-up: nothing learned.
    assert EmbedderTrainConfig(batch_size=16, min_steps=20).n_steps(7) == 20
    assert EmbedderTrainConfig(batch_size=16, min_steps=20).n_steps(1000) == 63  # one epoch is more
    assert EmbedderTrainConfig(batch_size=16, min_steps=20, max_steps=3).n_steps(7) == 3  # an explicit cap wins


def test_reranker_min_steps():
    from training.reranker_config import RerankerTrainConfig

    assert RerankerTrainConfig(batch_size=16, min_steps=20).n_steps(7) == 20
    assert RerankerTrainConfig(batch_size=16, min_steps=20, max_steps=2).n_steps(7) == 2
    assert RerankerTrainConfig(min_steps=10).n_steps(8, per_step=4) == 10  # listwise: lists per step
