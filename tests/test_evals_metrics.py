"""Metrics: the pure-Python NDCG equals pytrec_eval, MRR equals MTEB's, and the numbers are the
ones you can compute by hand."""

from __future__ import annotations

import math
import random

import pytest

from evals.metrics import mean_scores, mrr_at_k, ndcg_at_k, ranked, recall_at_k, score_run


def test_ndcg_matches_a_hand_computed_value():
    # Relevant: a, b. Ranking: a (rel) x b (rel) y -> DCG = 1/log2(2) + 1/log2(4) = 1.5;
    # ideal: two relevant at ranks 1, 2 -> IDCG = 1 + 1/log2(3).
    qrels = {"q": {"a": 1, "b": 1}}
    run = {"q": {"a": 0.9, "x": 0.8, "b": 0.7, "y": 0.6}}
    expected = 1.5 / (1 + 1 / math.log2(3))
    assert expected == pytest.approx(0.9197207891, abs=1e-9)
    assert ndcg_at_k(qrels["q"], run["q"], 10) == pytest.approx(expected, abs=1e-12)
    assert score_run(qrels, run)["ndcg@10"]["q"] == pytest.approx(expected, abs=1e-12)


def test_graded_ndcg_and_cutoff_by_hand():
    # Gains are linear (trec_eval): rel 2 at rank 2, rel 1 at rank 3; ideal 2 then 1.
    qrels = {"q": {"a": 2, "b": 1, "c": 0}}
    run = {"q": {"c": 3.0, "a": 2.0, "b": 1.0}}
    dcg = 2 / math.log2(3) + 1 / math.log2(4)
    idcg = 2 / math.log2(2) + 1 / math.log2(3)
    assert ndcg_at_k(qrels["q"], run["q"], 10) == pytest.approx(dcg / idcg, abs=1e-12)
    assert score_run(qrels, run)["ndcg@10"]["q"] == pytest.approx(dcg / idcg, abs=1e-12)
    # With k=1 only the irrelevant "c" is inside the cut.
    assert ndcg_at_k(qrels["q"], run["q"], 1) == 0.0
    assert score_run(qrels, run, k=1, recall_ks=(1,))["ndcg@1"]["q"] == 0.0


def test_ties_break_by_doc_id_descending_like_trec_eval():
    qrels = {"q": {"a": 1}}
    run = {"q": {"a": 0.5, "b": 0.5}}  # tie: "b" > "a", so "b" ranks first
    assert ranked(run["q"]) == ["b", "a"]
    assert mrr_at_k(qrels["q"], run["q"], 10) == 0.5
    assert score_run(qrels, run)["ndcg@10"]["q"] == pytest.approx(1 / math.log2(3), abs=1e-12)


def _random_case(rng: random.Random, n_queries: int = 40):
    qrels, run = {}, {}
    for q in range(n_queries):
        docs = [f"d{i:03d}" for i in rng.sample(range(60), 30)]
        qrels[f"q{q}"] = {d: rng.choice([0, 1, 1, 2]) for d in rng.sample(docs, rng.randint(1, 6))}
        # Coarse scores so that ties are common: the tie order must agree too.
        run[f"q{q}"] = {d: round(rng.random(), 1) for d in docs}
    return qrels, run


def test_pure_python_metrics_equal_pytrec_eval_on_random_runs_with_ties():
    qrels, run = _random_case(random.Random(7))
    scores = score_run(qrels, run, k=10, recall_ks=(5, 10))
    assert len(scores["ndcg@10"]) == len(qrels)
    for qid in qrels:
        assert ndcg_at_k(qrels[qid], run[qid], 10) == pytest.approx(scores["ndcg@10"][qid], abs=1e-9)
        assert recall_at_k(qrels[qid], run[qid], 5) == pytest.approx(scores["recall@5"][qid], abs=1e-9)
        assert recall_at_k(qrels[qid], run[qid], 10) == pytest.approx(scores["recall@10"][qid], abs=1e-9)


def _mteb_mrr():
    """MTEB's own `mrr` function, compiled from its installed source (importing mteb takes ~30 s)."""
    import ast
    import importlib.util
    from collections import defaultdict
    from pathlib import Path

    package = Path(importlib.util.find_spec("mteb").submodule_search_locations[0])
    tree = ast.parse((package / "_evaluators" / "retrieval_metrics.py").read_text())
    function = next(node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "mrr")
    module = ast.Module(body=[ast.ImportFrom("__future__", [ast.alias("annotations")], 0), function], type_ignores=[])
    namespace = {"defaultdict": defaultdict}
    exec(compile(ast.fix_missing_locations(module), "mteb_mrr", "exec"), namespace)
    return namespace["mrr"]


def test_mrr_equals_mtebs_own_definition():
    mteb_mrr = _mteb_mrr()
    qrels, run = _random_case(random.Random(11))
    ours = score_run(qrels, run, k=10, recall_ks=(10,))["mrr@10"]
    theirs = mteb_mrr(qrels, run, [10])["MRR@10"]
    assert [ours[q] for q in run] == pytest.approx(theirs, abs=1e-12)


def test_queries_missing_from_run_are_not_scored_and_means_are_plain_averages():
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}}
    run = {"q1": {"a": 1.0, "b": 0.5}}
    scores = score_run(qrels, run)
    assert set(scores["ndcg@10"]) == {"q1"}
    assert mean_scores({"m": {"x": 1.0, "y": 0.0}}) == {"m": 0.5}
