"""Per-query retrieval metrics, computed exactly as MTEB computes them.

NDCG@k and Recall@k come from `pytrec_eval` (trec_eval's `ndcg_cut` and `recall`), MRR@k from
MTEB's own definition (`mteb._evaluators.retrieval_metrics.mrr`): rank by score, ties broken by
document id descending (trec_eval's order), reciprocal rank of the first relevant document
(relevance > 0) in the top k, else 0.

`ndcg_at_k` is a pure-Python NDCG with trec_eval's conventions (linear gains, log2(rank + 1)
discount, ideal ranking over every judged document with relevance > 0); a test proves it equal
to pytrec_eval, so readers can see what the number means without reading C.

Only queries present in both the qrels and the run are scored (as pytrec_eval and MTEB do).
"""

from __future__ import annotations

import math
from typing import Mapping

Qrels = Mapping[str, Mapping[str, int]]  # query id -> doc id -> relevance
Run = Mapping[str, Mapping[str, float]]  # query id -> doc id -> score (higher is better)

NDCG = "ndcg@{k}"
RECALL = "recall@{k}"
MRR = "mrr@{k}"


def metric_names(k: int, recall_ks: tuple[int, ...]) -> list[str]:
    return [NDCG.format(k=k), *(RECALL.format(k=r) for r in recall_ks), MRR.format(k=k)]


def score_run(qrels: Qrels, run: Run, k: int = 10, recall_ks: tuple[int, ...] = (10, 100)) -> dict[str, dict[str, float]]:
    """Per-query scores: {metric name: {query id: value}} for NDCG@k, Recall@r (each r), MRR@k."""
    import pytrec_eval

    qrels_plain = {qid: {doc: int(rel) for doc, rel in docs.items()} for qid, docs in qrels.items()}
    run_plain = {qid: {doc: float(s) for doc, s in docs.items()} for qid, docs in run.items() if qid in qrels_plain and docs}
    measures = {f"ndcg_cut.{k}", "recall." + ",".join(str(r) for r in recall_ks)}
    evaluated = pytrec_eval.RelevanceEvaluator(qrels_plain, measures).evaluate(run_plain)
    out: dict[str, dict[str, float]] = {name: {} for name in metric_names(k, recall_ks)}
    for qid, values in evaluated.items():
        out[NDCG.format(k=k)][qid] = float(values[f"ndcg_cut_{k}"])
        for r in recall_ks:
            out[RECALL.format(k=r)][qid] = float(values[f"recall_{r}"])
        out[MRR.format(k=k)][qid] = mrr_at_k(qrels_plain[qid], run_plain[qid], k)
    return out


def mean_scores(per_query: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """Unrounded means (MTEB rounds to 5 decimals only when it reports)."""
    return {name: (sum(values.values()) / len(values) if values else 0.0) for name, values in per_query.items()}


def ranked(doc_scores: Mapping[str, float]) -> list[str]:
    """trec_eval's order: score descending, ties by doc id descending."""
    return [doc for doc, _ in sorted(doc_scores.items(), key=lambda item: (item[1], item[0]), reverse=True)]


def mrr_at_k(relevance: Mapping[str, int], doc_scores: Mapping[str, float], k: int) -> float:
    """MTEB's MRR@k for one query."""
    for rank, doc in enumerate(ranked(doc_scores)[:k], start=1):
        if relevance.get(doc, 0) > 0:
            return 1.0 / rank
    return 0.0


def ndcg_at_k(relevance: Mapping[str, int], doc_scores: Mapping[str, float], k: int) -> float:
    """trec_eval's ndcg_cut.k for one query, in plain Python."""
    dcg = sum(max(relevance.get(doc, 0), 0) / math.log2(rank + 1) for rank, doc in enumerate(ranked(doc_scores)[:k], start=1))
    ideal_gains = sorted((rel for rel in relevance.values() if rel > 0), reverse=True)[:k]
    idcg = sum(gain / math.log2(rank + 1) for rank, gain in enumerate(ideal_gains, start=1))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at_k(relevance: Mapping[str, int], doc_scores: Mapping[str, float], k: int) -> float:
    """trec_eval's recall.k for one query: relevant retrieved in the top k / all relevant."""
    relevant = {doc for doc, rel in relevance.items() if rel > 0}
    if not relevant:
        return 0.0
    return len(relevant.intersection(ranked(doc_scores)[:k])) / len(relevant)
