"""The lexical residual reranker (score = 20 * cos_E + weight * BM25): BM25 against its formula,
the saved folder, equality with the retriever at weight 0 on a real law suite, the fit of the
weight to a judge's soft scores on real CUAD clauses (held out: other contracts), registration
through the workspace, and the refusals. Real MiniLM, real DuckDB; no fakes."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from rag_agent.errors import DataError

EMBEDDER = "bundled:all-MiniLM-L6-v2"
DOCS = ["The tenant shall pay rent monthly.", "Rent rent rent is due.", "Notices must be in writing and signed."]


def test_bm25_matches_its_formula_and_survives_a_round_trip():
    from rag_agent.retrieval.lexical import Bm25Stats, terms

    assert terms("The Tenant shall pay, of the RENT!") == ["tenant", "shall", "pay", "rent"]
    stats = Bm25Stats.build(DOCS)
    assert stats.n_docs == 3 and stats.df["rent"] == 2 and stats.df["notices"] == 1
    n, avgdl, k1, b = 3, (5 + 4 + 4) / 3, 1.2, 0.75  # words left after the stop words
    idf = math.log(1 + (n - 2 + 0.5) / (2 + 0.5))
    expected = [idf * 1 * (k1 + 1) / (1 + k1 * (1 - b + b * 5 / avgdl)), idf * 3 * (k1 + 1) / (3 + k1 * (1 - b + b * 4 / avgdl)), 0.0]
    assert stats.scores("When is rent due?", DOCS)[:1] + stats.scores("rent", DOCS)[1:] == pytest.approx(expected, rel=1e-9)
    assert stats.idf("never-seen") > stats.idf("notices") > stats.idf("rent") > 0
    again = Bm25Stats.from_dict(json.loads(json.dumps(stats.to_dict())))
    assert again.scores("rent notices", DOCS) == stats.scores("rent notices", DOCS)


def test_an_empty_corpus_and_an_unreadable_folder_are_refused_in_one_line(tmp_path):
    from rag_agent.errors import ModelError
    from rag_agent.retrieval.lexical import Bm25Stats, LexicalCorrection

    with pytest.raises(DataError) as error:
        Bm25Stats.build([])
    assert "\n" not in str(error.value) and "ingest" in str(error.value)
    with pytest.raises(ModelError) as error:
        LexicalCorrection(tmp_path)
    assert "lexical.json" in str(error.value) and "--objective lexical" in str(error.value)


def test_auto_picks_lexical_and_a_named_objective_is_kept(workspace):
    from training import registry
    from training.candidates import ALGOS, choose_objective

    none = registry.champion(workspace, "reranker")
    assert choose_objective(none, "auto")[0] == "lexical" and "lexical" in ALGOS
    assert choose_objective(none, "dpo") == ("dpo", "requested dpo")


@pytest.mark.slow
def test_a_cross_encoder_objective_over_a_lexical_champion_starts_from_the_zero_head(tmp_path):
    """The loop's champion reranker is lexical (two numbers, no cross-encoder): distill, dpo and ppo
    trained after it must start where a "none" parent would, not try to load a cross-encoder from it
    (bench/reranker_objectives.py on a 2026-12-07 run: "Unrecognized model ... model_type")."""
    from types import SimpleNamespace

    from training.candidates import _has_cross_encoder

    lexical = _lexical_folder(tmp_path / "lexical", 0.5)
    assert not _has_cross_encoder(SimpleNamespace(is_none=False, path=str(lexical)))
    legacy = tmp_path / "legacy-cross-encoder"  # no residual card: a plain CrossEncoder folder
    legacy.mkdir()
    assert _has_cross_encoder(SimpleNamespace(is_none=False, path=str(legacy)))
    assert not _has_cross_encoder(SimpleNamespace(is_none=True, path="none"))


def _lexical_folder(path, weight: float, embedder_path: str = EMBEDDER, corpus=DOCS):
    """A lexical residual reranker folder with a given weight, written by the trainer's own saver."""
    from rag_agent.config import ModelsConfig
    from rag_agent.retrieval.lexical import Bm25Stats
    from training.lexical_trainer import save_lexical_reranker
    from training.reranker_model import ResidualBase

    base = ResidualBase(embedder_path, 0.05, models=ModelsConfig())
    card = {"objective": "lexical", "correction": "lexical", "parent": None, **base.card()}
    return save_lexical_reranker(path, card, Bm25Stats.build(corpus), weight)


@pytest.mark.slow
def test_weight_zero_is_the_retriever_per_query_and_a_weight_moves_it(shared_data, embedder, tmp_path):
    from evals.runner import evaluate_suite
    from rag_agent.config import RagloopConfig
    from rag_agent.retrieval.reranker import ResidualReranker, load_reranker
    from tests.test_training_residual import _law_suite

    cfg = RagloopConfig()
    cfg.eval.rerank_k = 10
    suite = _law_suite(shared_data, tmp_path / "aila_statutes")
    corpus = [json.loads(line)["text"] for line in (suite / "corpus.jsonl").read_text().splitlines()]
    plain = evaluate_suite(suite, None, embedder, None, cfg=cfg)
    zero = load_reranker(cfg.models, str(_lexical_folder(tmp_path / "zero", 0.0, corpus=corpus)), embedder=embedder)
    assert isinstance(zero, ResidualReranker) and zero.embedder_version == embedder.version
    assert evaluate_suite(suite, None, embedder, zero, cfg=cfg).per_query["ndcg@10"] == plain.per_query["ndcg@10"]
    weighted = load_reranker(cfg.models, str(_lexical_folder(tmp_path / "weighted", 0.5, corpus=corpus)), embedder=embedder)
    assert weighted.version != zero.version  # the weight is part of the version (score caches, traces)
    assert evaluate_suite(suite, None, embedder, weighted, cfg=cfg).per_query["ndcg@10"] != plain.per_query["ndcg@10"]
    # The eval hands the index's own cosines to a reranker bound to the same embedder: equal scores.
    query, texts = "Which law governs?", DOCS
    assert np.allclose(weighted.score(query, texts, base_cosines=weighted.cosines(query, texts), embedder_version=embedder.version),
                       weighted.score(query, texts), atol=1e-9)


@pytest.mark.slow
def test_eval_reuses_the_index_cosines_of_the_bound_embedder(embedder, tmp_path):
    """rerank_run with the retrieving embedder's version: no passage is encoded again."""
    from evals.runner import rerank_run
    from rag_agent.config import ModelsConfig
    from rag_agent.retrieval.reranker import load_reranker
    from tests.test_training_residual import CountingEmbedder

    counting = CountingEmbedder(embedder)
    encoded = counting.encoded
    reranker = load_reranker(ModelsConfig(), str(_lexical_folder(tmp_path / "lex", 0.3)), embedder=counting)
    texts = {f"d{i}": t for i, t in enumerate(DOCS)}
    query = "When is rent due?"
    cosines = [float(x) for x in embedder.encode(DOCS) @ embedder.encode([query], is_query=True)[0]]
    run = {"q": {f"d{i}": c for i, c in enumerate(cosines)}}
    reused = rerank_run(run, {"q": query}, texts, reranker, 10, embedder_version=embedder.version)
    assert encoded == []
    fresh = rerank_run(run, {"q": query}, texts, reranker, 10)
    assert len(encoded) == 4 and reused == fresh  # 3 passages + the query, the same order


@pytest.fixture(scope="module")
def groups(shared_data):
    from tests.test_training_reranker import _groups

    groups = _groups(shared_data, 9)
    return groups[:-10], groups[-10:]  # the last contracts' questions are held out


def _judge_lists(groups, stats, prefer_words: bool):
    """A judge's soft scores on real CUAD clauses that follow (or oppose) their word overlap with
    the question: 0.9 for the clause BM25 ranks first (last), 0.1 for the others."""
    from training.data import ScoredList

    out = []
    for q, c, negs in groups:
        texts = [c, *negs]
        lexical = stats.scores(q, texts)
        chosen = lexical.index(max(lexical) if prefer_words else min(lexical))
        out.append(ScoredList(q, texts, [0.9 if i == chosen else 0.1 for i in range(len(texts))], 0.8))
    return out


def _held_out_loss(reranker, lists) -> float:
    """The fit's own pairwise loss on lists it never saw, with the scores `load_reranker` serves."""
    import torch

    from training.losses.listwise_kl import pad_lists
    from training.losses.ranknet_pairwise import ranknet_pairwise

    student, mask = pad_lists([torch.tensor(reranker.score(g.query, g.texts)) for g in lists])
    teacher, _ = pad_lists([g.scores for g in lists])
    return float(ranknet_pairwise(student, teacher, mask, 0.1))


@pytest.mark.slow
def test_the_fitted_weight_follows_the_judge_and_generalises_to_other_contracts(groups, embedder, tmp_path):
    from rag_agent.config import ModelsConfig
    from rag_agent.retrieval.lexical import Bm25Stats
    from rag_agent.retrieval.reranker import load_reranker, read_residual_card
    from training.lexical_config import LexicalConfig
    from training.lexical_trainer import train_reranker_lexical
    from training.reranker_config import RerankerTrainConfig

    train, held_out = groups
    corpus = [t for _, c, negs in train + held_out for t in (c, *negs)]
    stats = Bm25Stats.build(corpus)
    fit = {}
    for prefer_words in (True, False):
        fit[prefer_words] = train_reranker_lexical(None, _judge_lists(train, stats, prefer_words), RerankerTrainConfig(), tmp_path / f"lexical-{prefer_words}",
                                                   EMBEDDER, objective=LexicalConfig(steps=200), models=ModelsConfig(), corpus=corpus)
    m = fit[True].metrics
    assert m["weight"] > 0 > fit[False].metrics["weight"]  # the weight follows the judge, both ways
    assert m["loss_after"] < m["loss_retriever"] and m["top1_agreement_after"] >= m["top1_agreement_before"]
    assert len(m["losses"]) == 200 and m["losses"][-1] < m["losses"][0]
    card = read_residual_card(fit[True].path)
    assert card["correction"] == "lexical" and card["embedder_version"] == embedder.version and card["n_lists"] == len(train)
    fitted = load_reranker(ModelsConfig(), str(fit[True].path), embedder=embedder)
    zero = load_reranker(ModelsConfig(), str(_lexical_folder(tmp_path / "zero", 0.0, corpus=corpus)), embedder=embedder)
    judged = _judge_lists(held_out, stats, True)  # other contracts, the same judge
    assert _held_out_loss(fitted, judged) < _held_out_loss(zero, judged)


@pytest.mark.slow
def test_the_workspace_trains_registers_and_refuses_through_train_reranker_candidate(workspace, embedder, write_corpus):
    from rag_agent.retrieval.reranker import load_reranker
    from tests.conftest import RETRIEVAL_DOCS
    from training import registry
    from training.candidates import train_reranker_candidate

    rows = write_corpus(workspace, embedder)
    with pytest.raises(DataError) as error:  # no judged lists yet: refused, nothing registered
        train_reranker_candidate(workspace, "lexical")
    assert "\n" not in str(error.value) and "judge.mode=pointwise" in str(error.value)
    assert [v.version_id for v in registry.list_versions(workspace) if v.kind == "reranker"] == ["reranker-none"]
    by_text = {text: chunk_id for chunk_id, _, text in rows}
    questions = {"When is rent paid?": RETRIEVAL_DOCS["lease"][0], "Which law governs the agreement?": RETRIEVAL_DOCS["nda"][1],
                 "How are disputes resolved?": RETRIEVAL_DOCS["supply"][1]}
    with workspace.db() as con:
        for t, (question, answer) in enumerate(questions.items()):
            for text, chunk_id in by_text.items():
                con.execute("INSERT INTO judge_labels (run_id, task_id, query, chunk_id, grade, score, signal) VALUES ('r1', ?, ?, ?, 1, ?, 'llm_judge')",
                            [f"t{t}", question, chunk_id, 0.9 if text == answer else 0.1])
    version = train_reranker_candidate(workspace, "auto")
    assert version.status == "candidate" and version.config["algo"] == "lexical"
    reranker = load_reranker(workspace.config.models, str(version.path), embedder=embedder)
    scores = reranker.score("When is rent paid?", list(questions.values()))
    assert scores[0] == max(scores) and version.metrics["weight"] != 0


def test_ranknet_pairwise_matches_its_formula_and_ignores_close_pairs_and_padding():
    import torch

    from training.losses.listwise_kl import pad_lists
    from training.losses.ranknet_pairwise import ranknet_pairwise

    student, mask = pad_lists([torch.tensor([2.0, 0.0, 1.0]), torch.tensor([0.5, 0.1])])
    teacher, _ = pad_lists([[0.9, 0.2, 0.85], [0.3, 0.6]])

    def softplus(x):
        return math.log1p(math.exp(x))

    # Pairs at least 0.1 apart: (0 over 1, gap 0.7), (2 over 1, gap 0.65), (b: 1 over 0, gap 0.3); 0 vs 2 is too close.
    terms = [(0.7, softplus(-(2.0 - 0.0))), (0.65, softplus(-(1.0 - 0.0))), (0.3, softplus(-(0.1 - 0.5)))]
    expected = sum(g * t for g, t in terms) / sum(g for g, _ in terms)
    assert float(ranknet_pairwise(student, teacher, mask, 0.1)) == pytest.approx(expected, rel=1e-6)
    flat = torch.zeros_like(teacher)
    assert float(ranknet_pairwise(student, flat, mask, 0.1)) == 0.0  # nothing the judge separates
