"""Evaluation caches: reranker scores per (version, query, chunk) and query vectors per embedder
version are computed once; results are identical with and without them."""

from __future__ import annotations

import numpy as np

from evals.runner import EmbeddingCache, rerank_run
from evals.score_cache import RerankScoreCache


class CountingReranker:
    """Deterministic scores (control flow only); counts the pairs it is asked to score."""

    version = "counting@1"

    def __init__(self):
        self.pairs = 0

    def score(self, query, texts):
        self.pairs += len(texts)
        return [float(len(set(query.split()) & set(t.split())) - 0.001 * len(t)) for t in texts]


class CountingEmbedder:
    version = "toy@1"
    dim = 3

    def __init__(self):
        self.calls = []

    def encode(self, texts, is_query=False):
        self.calls.append((len(texts), is_query))
        return np.array([[len(t), t.count(" "), 1.0 if is_query else 0.0] for t in texts], dtype=np.float32)


RUN = {"q1": {"a": 0.9, "b": 0.8, "c": 0.7}, "q2": {"a": 0.5, "c": 0.6, "d": 0.1}}
QUERIES = {"q1": "notice of termination", "q2": "governing law"}
TEXTS = {"a": "governing law of Delaware", "b": "termination with notice", "c": "notice period of termination", "d": "fees"}


def test_reranker_scores_are_computed_once_and_survive_a_torn_line(tmp_path):
    plain = rerank_run(RUN, QUERIES, TEXTS, CountingReranker(), rerank_k=3)
    reranker = CountingReranker()
    first = rerank_run(RUN, QUERIES, TEXTS, reranker, 3, RerankScoreCache(tmp_path))
    assert first == plain and reranker.pairs == 6
    again = rerank_run(RUN, QUERIES, TEXTS, reranker, 3, RerankScoreCache(tmp_path))  # a new process: from disk
    assert again == plain and reranker.pairs == 6
    deeper_run = {**RUN, "q1": {**RUN["q1"], "d": 0.65}}  # another embedder's ranking: one new pair
    rerank_run(deeper_run, QUERIES, TEXTS, reranker, 4, RerankScoreCache(tmp_path))
    assert reranker.pairs == 7
    (path,) = tmp_path.glob("*.jsonl")
    path.write_text(path.read_text() + '{"k": "half a li')  # kill -9 mid-append
    cache = RerankScoreCache(tmp_path)
    assert rerank_run(RUN, QUERIES, TEXTS, reranker, 3, cache) == plain and reranker.pairs == 7 and cache.hits == 6


def test_query_vectors_are_cached_apart_from_document_vectors(tmp_path):
    embedder, cache = CountingEmbedder(), EmbeddingCache(tmp_path)
    texts = ["governing law", "notice of termination"]
    as_docs = cache.encode(embedder, texts)
    as_queries = cache.encode(embedder, texts, is_query=True)
    assert not np.array_equal(as_docs, as_queries)  # same texts, other key
    assert np.array_equal(cache.encode(embedder, texts, is_query=True), as_queries)
    assert embedder.calls == [(2, False), (2, True)]  # the third call came from disk
