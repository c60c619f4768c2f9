"""The residual reranker with the real MiniLM: equal to the retriever before training (per-query
NDCG@10 on a cut of a real law suite; the full suites are measured by the bench), then distillation, DPO/PPO against the distilled reference, and
weight merging, each checked on held-out CUAD train contracts.

Held-out margin = mean over queries of score(q, its clause) - score(q, another clause of the same
contract), with the full residual score as `load_reranker` serves it.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.test_training_reranker import _groups  # the same CUAD question/clause groups
from training.data import GradedList, PreferencePair, ScoredList

pytestmark = pytest.mark.slow

EMBEDDER = "bundled:all-MiniLM-L6-v2"
MAX_LENGTH = 128


@pytest.fixture(scope="module")
def data(shared_data):
    groups = _groups(shared_data, 7)
    return groups[:-8], groups[-8:]


class CountingEmbedder:
    """The real embedder, recording every text it is asked to encode (`encoded`)."""

    def __init__(self, embedder):
        self.inner, self.version, self.encoded = embedder, embedder.version, []

    def encode(self, texts, **kwargs):
        self.encoded.extend(texts)
        return self.inner.encode(texts, **kwargs)


def _untrained(tmp_path):
    from rag_agent.config import ModelsConfig
    from training.reranker_model import RerankerTrainConfig, finish, start

    cfg = RerankerTrainConfig(max_length=MAX_LENGTH)
    model, base, start_state = start(None, cfg, EMBEDDER, models=ModelsConfig())
    finish(model, base, start_state, cfg, tmp_path, {"objective": "untrained"})
    return tmp_path


def _margin(path, groups, embedder) -> float:
    from rag_agent.config import ModelsConfig
    from rag_agent.retrieval.reranker import load_reranker

    reranker = load_reranker(ModelsConfig(), str(path), embedder=embedder)
    return float(np.mean([np.subtract(*reranker.score(q, [c, negs[0]])) for q, c, negs in groups]))


def _changed(a, b) -> int:
    from training.merge import load_model

    sa, sb = load_model(a, "reranker").state_dict(), load_model(b, "reranker").state_dict()
    return sum(1 for k in sa if sa[k].is_floating_point() and not np.allclose(sa[k].numpy(), sb[k].numpy()))


def _law_suite(shared_data, root, n_queries: int = 25):
    """AILAStatutes in BEIR format, cut to its first queries and texts' heads (CPU time): every
    statute stays in the corpus, so the retriever still ranks 82 documents per query."""
    source = shared_data / "mteb_law" / "aila_statutes"
    (root / "qrels").mkdir(parents=True)
    queries = [json.loads(line) for line in (source / "queries.jsonl").read_text().splitlines()][:n_queries]
    keep = {q["_id"] for q in queries}
    (root / "queries.jsonl").write_text("\n".join(json.dumps(q | {"text": q["text"][:400]}) for q in queries) + "\n")
    corpus = [json.loads(line) for line in (source / "corpus.jsonl").read_text().splitlines()]
    (root / "corpus.jsonl").write_text("\n".join(json.dumps(d | {"text": d["text"][:600]}) for d in corpus) + "\n")
    lines = (source / "qrels" / "test.tsv").read_text().splitlines()
    (root / "qrels" / "test.tsv").write_text("\n".join([lines[0]] + [l for l in lines[1:] if l.split("\t")[0] in keep]) + "\n")
    return root


def test_untrained_residual_reranker_equals_the_retriever_per_query(shared_data, embedder, tmp_path):
    import torch
    from safetensors.torch import load_file, save_file

    from evals.runner import evaluate_suite
    from rag_agent.config import RagloopConfig
    from rag_agent.retrieval.reranker import ResidualReranker, load_reranker

    path = _untrained(tmp_path / "untrained")
    reranker = load_reranker(RagloopConfig().models, str(path), embedder=embedder)
    assert isinstance(reranker, ResidualReranker) and reranker.embedder_version == embedder.version
    cfg = RagloopConfig()
    cfg.eval.rerank_k = 10
    suite = _law_suite(shared_data, tmp_path / "aila_statutes")
    plain = evaluate_suite(suite, None, embedder, None, cfg=cfg)
    reranked = evaluate_suite(suite, None, embedder, reranker, cfg=cfg)
    assert len(plain.per_query["ndcg@10"]) == 25 and 0 < plain.metrics["ndcg@10"] < 1
    assert reranked.per_query["ndcg@10"] == plain.per_query["ndcg@10"]  # every query, exactly
    scores = reranker.score("Which law governs?", ["Governed by Delaware law.", "Rent is due monthly.", "Notices in writing."])
    assert len(set(scores)) == 3  # real embedder scores, not a constant

    # The same check fails as soon as g is not zero: perturb the output layer's weights.
    weights = load_file(str(path / "model.safetensors"))
    name = next(k for k in weights if "classifier" in k and k.endswith("weight"))
    weights[name] = torch.randn(weights[name].shape, generator=torch.Generator().manual_seed(0)) * 0.5
    save_file(weights, str(path / "model.safetensors"), metadata={"format": "pt"})
    moved = evaluate_suite(suite, None, embedder, load_reranker(cfg.models, str(path), embedder=embedder), cfg=cfg)
    assert moved.per_query["ndcg@10"] != plain.per_query["ndcg@10"]


def test_residual_reranker_encodes_each_passage_once_across_queries(embedder, tmp_path, monkeypatch):
    """One contract's questions rerank the same chunks: the bound embedder's passage vectors are
    kept by text, so a second query re-encodes nothing but itself, with the same scores."""
    from rag_agent.config import ModelsConfig
    from rag_agent.retrieval.reranker import load_reranker

    counting = CountingEmbedder(embedder)
    encoded = counting.encoded
    path = _untrained(tmp_path / "untrained")
    passages = ["Governed by Delaware law.", "Rent is due monthly.", "Notices in writing."]
    memo = load_reranker(ModelsConfig(), str(path), embedder=counting)
    first = memo.score("Which law governs?", passages)
    second = memo.score("When is rent due?", passages[::-1])
    assert encoded.count("Rent is due monthly.") == 1 and len(encoded) == 3 + 2  # 3 passages, 2 queries
    fresh = load_reranker(ModelsConfig(), str(path), embedder=embedder)
    assert np.allclose(second, fresh.score("When is rent due?", passages[::-1]), atol=1e-4)
    assert np.allclose(first, fresh.score("Which law governs?", passages), atol=1e-4)
    # A full memo starts afresh without losing the texts the call needs (it raised KeyError).
    import rag_agent.retrieval.reranker as reranker_module

    monkeypatch.setattr(reranker_module, "TEXT_VECTOR_MEMO", 2)
    more = [*passages, "Payment is due within thirty days."]  # three known, one new: the memo overflows
    assert np.allclose(memo.score("Which law governs?", more), fresh.score("Which law governs?", more), atol=1e-4)


@pytest.fixture(scope="module")
def distilled(data, tmp_path_factory):
    from rag_agent.config import ModelsConfig
    from training.distill_trainer import train_reranker_distill
    from training.reranker_config import DistillConfig, RerankerTrainConfig

    train, _ = data
    # A judge's soft scores: the question's clause well above the contract's other clauses.
    lists = [ScoredList(q, [c, *negs], [0.8] + [0.2 + 0.05 * i for i in range(len(negs))], 0.6) for q, c, negs in train]
    cfg = RerankerTrainConfig(lr=1e-4, max_steps=20, max_length=MAX_LENGTH, head_lr_scale=30.0)
    return train_reranker_distill(None, lists, cfg, tmp_path_factory.mktemp("rr") / "reranker-distill", embedder=EMBEDDER,
                                  objective=DistillConfig(queries_per_step=4, teacher_temperature=0.1), models=ModelsConfig())


def test_distillation_learns_the_judges_order_and_generalises(distilled, data, embedder, tmp_path):
    from rag_agent.retrieval.reranker import read_residual_card

    _, held_out = data
    untrained = _untrained(tmp_path / "untrained")
    m = distilled.metrics
    assert len(m["losses"]) == 20 and m["kl_after"] < m["kl_before"] and m["top1_agreement_after"] >= m["top1_agreement_before"]
    assert _changed(untrained, distilled.path) > 10  # the body moved, not only the head
    assert _margin(distilled.path, held_out, embedder) > _margin(untrained, held_out, embedder)
    card = read_residual_card(distilled.path)
    assert card["objective"] == "distill" and card["embedder_version"] == embedder.version and card["base_scale"] == pytest.approx(20.0)
    assert "score(q, c)" in (distilled.path / "README.md").read_text()


def test_dpo_against_the_distilled_reference(distilled, data, embedder, tmp_path):
    from rag_agent.config import ModelsConfig
    from training.dpo_trainer import train_reranker_dpo
    from training.reranker_config import DPOConfig, RerankerTrainConfig

    train, held_out = data
    pairs = [PreferencePair(q, c, negs[0], 1.0) for q, c, negs in train] + [PreferencePair(q, c, negs[-1], 0.5) for q, c, negs in train]
    cfg = RerankerTrainConfig(lr=5e-5, batch_size=8, max_steps=6, max_length=MAX_LENGTH, head_lr_scale=30.0)
    result = train_reranker_dpo(distilled.path, pairs, cfg, tmp_path / "reranker-dpo",  # embedder: the parent's card
                                objective=DPOConfig(beta=0.5), models=ModelsConfig())
    assert result.metrics["loss_before"] == pytest.approx(np.log(2), abs=1e-6)  # policy == distilled reference
    assert result.metrics["loss_after"] < result.metrics["loss_before"]
    assert _changed(distilled.path, result.path) > 10
    assert _margin(result.path, held_out, embedder) > _margin(distilled.path, held_out, embedder)


def test_ppo_against_the_distilled_reference(distilled, data, embedder, tmp_path):
    from rag_agent.config import ModelsConfig
    from training.ppo_trainer import train_reranker_ppo
    from training.reranker_config import PPOConfig, RerankerTrainConfig

    train, _ = data
    lists = [GradedList(q, [c, *negs], [3.0] + [0.0] * len(negs)) for q, c, negs in train]
    cfg = RerankerTrainConfig(lr=5e-5, max_steps=3, max_length=MAX_LENGTH, head_lr_scale=1.0)  # 1.0: as before the config tree
    ppo = PPOConfig(queries_per_step=4, samples=8, epochs=2, top_k=10, kl_coef=0.01)
    result = train_reranker_ppo(distilled.path, lists, cfg, tmp_path / "reranker-ppo", objective=ppo, models=ModelsConfig())
    assert len(result.metrics["losses"]) == 6 and all(kl >= 0 for kl in result.metrics["kl"])
    assert _changed(distilled.path, result.path) > 10
    assert result.metrics["greedy_ndcg_after"] >= result.metrics["greedy_ndcg_before"]


def test_merging_pulls_g_back_towards_its_start(distilled, embedder, tmp_path):
    import torch

    from training.merge import load_model
    from training.reranker_model import RerankerTrainConfig, ResidualBase, finish, init_residual, output_layer

    trained = load_model(distilled.path, "reranker")
    start_state = init_residual(None, MAX_LENGTH, "cpu").state_dict()  # zero head, MiniLM body
    cfg = RerankerTrainConfig(max_length=MAX_LENGTH, merge_alpha=0.5)
    head_before = output_layer(trained).weight.detach().clone()
    extra = finish(trained, ResidualBase(EMBEDDER, cfg.base_temperature, embedder), start_state, cfg, tmp_path / "merged", {"objective": "distill"})
    merged = load_model(tmp_path / "merged", "reranker")
    assert extra == {"merge_alpha": 0.5}
    assert torch.allclose(output_layer(merged).weight, 0.5 * head_before, atol=1e-6)  # halfway back to the zero head
