"""Reranker objectives (BCE warm start, then DPO and PPO from it) on tiny real CUAD clauses.

Train on a few TRAIN contracts, measure on other TRAIN contracts with the same question types:
held-out margin = mean over queries of s(q, its clause) - s(q, another clause of the contract).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from rag_agent.config import ModelsConfig
from training.bce_trainer import train_reranker_bce
from training.data import GradedList, LabeledText, PreferencePair
from training.dpo_trainer import train_reranker_dpo
from training.ppo_trainer import train_reranker_ppo
from training.reranker_config import DPOConfig, PPOConfig, RerankerTrainConfig

pytestmark = pytest.mark.slow

CATEGORIES = ("Governing Law", "Agreement Date", "Parties", "Expiration Date", "Document Name", "Effective Date")
MAX_LENGTH = 128


def _groups(shared_data, n_contracts: int) -> list[tuple[str, str, list[str]]]:
    """(question, its clause, other clauses of the same contract) for a few categories."""
    by_doc: dict[str, dict[str, tuple[str, str]]] = {}
    with open(shared_data / "cuad" / "tasks_train.jsonl") as fh:
        for line in fh:
            row = json.loads(line)
            if row["category"] in CATEGORIES and row["evidence"] and 20 < len(row["evidence"][0]) < 350:
                by_doc.setdefault(row["doc_id"], {})[row["category"]] = (row["question"], row["evidence"][0])
    docs = [d for d in by_doc.values() if len(d) >= 4][:n_contracts]
    groups = []
    for doc in docs:
        clauses = [clause for _, clause in doc.values()]
        for question, clause in doc.values():
            groups.append((question, clause, [c for c in clauses if c != clause][:3]))
    return groups


@pytest.fixture(scope="module")
def data(shared_data):
    groups = _groups(shared_data, 7)
    train, held_out = groups[:-8], groups[-8:]
    assert len(train) >= 12 and len(held_out) == 8
    return train, held_out


def _margin(model_or_path, groups) -> float:
    from sentence_transformers import CrossEncoder

    model = model_or_path
    if not isinstance(model, CrossEncoder):
        model = CrossEncoder(str(model_or_path), device="cpu", local_files_only=True, max_length=MAX_LENGTH)
    pos = np.asarray(model.predict([(q, c) for q, c, _ in groups], show_progress_bar=False), dtype=float)
    neg = np.asarray(model.predict([(q, negs[0]) for q, _, negs in groups], show_progress_bar=False), dtype=float)
    return float(np.mean(pos - neg))


def _state(model_or_path) -> dict:
    from training.merge import load_model

    model = load_model(model_or_path, "reranker") if not hasattr(model_or_path, "state_dict") else model_or_path
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _changed(a, b) -> int:
    a, b = _state(a), _state(b)
    return sum(1 for k in a if a[k].is_floating_point() and not np.allclose(a[k].numpy(), b[k].numpy()))


@pytest.fixture(scope="module")
def bce_model(data, tmp_path_factory):
    train, held_out = data
    labels = [LabeledText(q, c, 1.0) for q, c, _ in train] + [LabeledText(q, negs[0], 0.0) for q, _, negs in train]
    cfg = RerankerTrainConfig(lr=1e-4, batch_size=8, max_steps=8, max_length=MAX_LENGTH)
    return train_reranker_bce(None, labels, cfg, tmp_path_factory.mktemp("rr") / "reranker-bce", models=ModelsConfig())


def test_bce_warm_start_learns_and_generalises(bce_model, data):
    from training.common import seed_everything
    from training.reranker_model import init_reranker

    train, held_out = data
    seed_everything(0)  # the trainer's seed: the same fresh 1-logit head it started from
    fresh = init_reranker(None, MAX_LENGTH, ModelsConfig().device)
    assert bce_model.metrics["loss_after"] < bce_model.metrics["loss_before"]
    assert len(bce_model.metrics["losses"]) == 8
    assert _changed(fresh, bce_model.path) > 10
    assert _margin(bce_model.path, held_out) > _margin(fresh, held_out)


def test_dpo_from_the_warm_start_widens_the_held_out_margin(bce_model, data, tmp_path):
    train, held_out = data
    pairs = [PreferencePair(q, c, negs[0], 1.0) for q, c, negs in train] + [PreferencePair(q, c, negs[-1], 0.5) for q, c, negs in train]
    cfg = RerankerTrainConfig(lr=5e-5, batch_size=8, max_steps=6, max_length=MAX_LENGTH)
    result = train_reranker_dpo(bce_model.path, pairs, cfg, tmp_path / "reranker-dpo", objective=DPOConfig(beta=0.5), models=ModelsConfig())
    assert result.metrics["loss_before"] == pytest.approx(np.log(2), abs=1e-6)  # policy == reference
    assert result.metrics["loss_after"] < result.metrics["loss_before"]
    assert result.metrics["pair_accuracy_after"] >= result.metrics["pair_accuracy_before"]
    assert _changed(bce_model.path, result.path) > 10
    assert _margin(result.path, held_out) > _margin(bce_model.path, held_out)


def test_ppo_from_the_warm_start_improves_ranking_reward(bce_model, data, tmp_path):
    train, held_out = data
    lists = [GradedList(q, [c, *negs], [3.0] + [0.0] * len(negs)) for q, c, negs in train]
    cfg = RerankerTrainConfig(lr=5e-5, max_steps=3, max_length=MAX_LENGTH)
    ppo = PPOConfig(queries_per_step=4, samples=8, epochs=2, top_k=10, kl_coef=0.01)
    result = train_reranker_ppo(bce_model.path, lists, cfg, tmp_path / "reranker-ppo", objective=ppo, models=ModelsConfig())
    assert len(result.metrics["losses"]) == 6 and all(kl >= 0 for kl in result.metrics["kl"])
    assert _changed(bce_model.path, result.path) > 10
    assert result.metrics["greedy_ndcg_after"] >= result.metrics["greedy_ndcg_before"]
    assert _margin(result.path, held_out) > _margin(bce_model.path, held_out)
