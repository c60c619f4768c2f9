"""Run suites: embed, search, (optionally) rerank, score with `evals.metrics`.

BEIR suites search the whole corpus exactly (numpy inner product over normalised vectors, i.e.
cosine, as MTEB does) and keep the top `eval.retrieve_k`. CUAD-style suites chunk each contract
with the project chunker (`ws.config.chunking`), put the chunks in the project's faiss index (flat:
exact) and search each task only inside its own contract (`scope={doc_id}`), the path the agent
uses. Document and query embeddings are cached under `<workspace>/cache/embeddings`, keyed by
the embedder version and a hash of the texts, and reranker scores under
`<workspace>/cache/rerank_scores` (evals.score_cache), keyed by the reranker version, the query
and the chunk text: re-evaluating a model, or the same reranker over another embedder's ranking,
only scores what was never scored.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from evals.metrics import mean_scores, score_run
from evals.results import SuiteResult
from evals.score_cache import RerankScoreCache
from evals.suites import BeirSuite, CuadSuite, SuiteRef, discover, load_beir, load_cuad, relevant_chunks
from rag_agent.config import RagloopConfig
from rag_agent.errors import DataError
from rag_agent.progress import encode_with_progress, stderr_console
from rag_agent.protocols import Reranker, TextEmbedder

log = logging.getLogger(__name__)

RECALL_KS = (10, 100)
# Texts per encode call: big enough to keep the model busy, small enough for a moving progress bar.


def evaluate_suite(
    suite_path: Path | str,
    split: str | None,
    embedder: TextEmbedder | str,
    reranker: Reranker | str | None = None,
    ws=None,
    cfg: RagloopConfig | None = None,
) -> SuiteResult:
    """Evaluate the one suite at `suite_path`."""
    return evaluate_ref(single_suite(suite_path, split), embedder, reranker, ws=ws, cfg=cfg)


def single_suite(suite_path: Path | str, split: str | None) -> SuiteRef:
    """The one suite at `suite_path` (the training loop's dev and law-task folders)."""
    refs = discover(suite_path, split)
    if len(refs) != 1:
        raise DataError(str(suite_path), "a folder holding exactly one suite", "pass one suite folder (or use evaluate_path)")
    return refs[0]


def evaluate_path(
    suite_path: Path | str,
    split: str | None,
    embedder: TextEmbedder | str,
    reranker: Reranker | str | None = None,
    ws=None,
    cfg: RagloopConfig | None = None,
) -> list[SuiteResult]:
    """Evaluate every suite at or under `suite_path`; the model is loaded once for all of them."""
    embedder, reranker, cfg = _resolve(embedder, reranker, ws, cfg)
    return [evaluate_ref(ref, embedder, reranker, ws=ws, cfg=cfg) for ref in discover(suite_path, split)]


def evaluate_ref(ref: SuiteRef, embedder, reranker=None, ws=None, cfg: RagloopConfig | None = None) -> SuiteResult:
    embedder, reranker, cfg = _resolve(embedder, reranker, ws, cfg)
    cache = EmbeddingCache(ws.cache_dir / "embeddings" if ws is not None else None)
    score_cache = RerankScoreCache(ws.cache_dir / "rerank_scores" if ws is not None else None)
    started = time.perf_counter()
    if ref.kind == "beir":
        qrels, run, texts, queries, chunking, details = _beir_run(load_beir(ref), embedder, cfg, cache)
    else:
        suite = load_cuad(ref, cfg.eval.evidence_join_gap, cfg.eval.omitted_evidence)
        if not suite.tasks:  # checked before embedding anything (the check below needs the chunks)
            raise DataError(str(ref.path), f"a suite with at least one evaluable query in split {ref.split!r} (0 evaluable queries)", "check its tasks and evidence")
        qrels, run, texts, queries, chunking, details = _cuad_run(suite, embedder, cfg, cache)
    if not qrels:  # a score over 0 queries is not a result: never return (or store) one
        raise DataError(str(ref.path), f"a suite with at least one evaluable query in split {ref.split!r} (0 evaluable queries)", "check its qrels / tasks and evidence")
    if reranker is not None:
        run = rerank_run(run, queries, texts, reranker, cfg.eval.rerank_k, score_cache, embedder.version)
    per_query = score_run(qrels, run, k=cfg.eval.k, recall_ks=RECALL_KS)
    seconds = time.perf_counter() - started
    metrics = mean_scores(per_query)
    log.info("%s/%s: %s over %d queries in %.1fs", ref.name, ref.split, _fmt(metrics), len(next(iter(per_query.values()))), seconds)
    return SuiteResult(
        suite=ref.name,
        split=ref.split,
        metrics=metrics,
        per_query=per_query,
        n_queries=len(next(iter(per_query.values()), {})),
        seconds=round(seconds, 2),
        embedder_version=embedder.version,
        reranker_version=reranker.version if reranker is not None else None,
        chunking=chunking,
        suite_path=str(ref.path),
        details=details,
    )


def _resolve(embedder, reranker, ws, cfg):
    cfg = cfg or (ws.config if ws is not None else RagloopConfig())
    if isinstance(embedder, (str, Path)):
        from rag_agent.retrieval.embedder import load_embedder

        embedder = load_embedder(cfg.models, str(embedder))
    if isinstance(reranker, (str, Path)):
        reranker = load_reranker_spec(str(reranker), cfg.models)
    return embedder, reranker, cfg


def load_reranker_spec(spec: str, models) -> Reranker | None:
    """None for no reranker, else `load_reranker(models, spec)` (the `models` section's device)."""
    if spec in ("", "none"):
        return None
    from rag_agent.retrieval.reranker import load_reranker

    return load_reranker(models, spec)


def _fmt(metrics: dict[str, float]) -> str:
    return " ".join(f"{name}={value:.5f}" for name, value in metrics.items())


# ---- BEIR -----------------------------------------------------------------------------------------
def _beir_run(suite: BeirSuite, embedder: TextEmbedder, cfg: RagloopConfig, cache: EmbeddingCache):
    from rag_agent.retrieval.index_meta import exact_top_k

    doc_ids = list(suite.corpus)
    doc_texts = [suite.corpus[d] for d in doc_ids]
    query_ids = list(suite.queries)
    query_texts = [suite.queries[q] for q in query_ids]
    doc_vectors = cache.encode(embedder, doc_texts, label=f"{suite.name}: corpus")
    query_vectors = cache.encode(embedder, query_texts, label=f"{suite.name}: queries", is_query=True)
    positions, scores = exact_top_k(query_vectors, doc_vectors, cfg.eval.retrieve_k)
    run = {
        qid: {doc_ids[p]: float(s) for p, s in zip(row_positions, row_scores)}
        for qid, row_positions, row_scores in zip(query_ids, positions, scores)
    }
    details = {"corpus_size": len(doc_ids)}
    return suite.qrels, run, suite.corpus, suite.queries, None, details


# ---- CUAD -----------------------------------------------------------------------------------------
def _cuad_run(suite: CuadSuite, embedder: TextEmbedder, cfg: RagloopConfig, cache: EmbeddingCache):
    from rag_agent.ingest.chunker import chunk_document
    from rag_agent.retrieval.index_faiss import FaissIndex

    in_scope = sorted(suite.evidence_doc_ids)
    chunks_of = {doc_id: chunk_document(suite.contracts[doc_id], cfg.chunking) for doc_id in in_scope}
    chunks = [chunk for doc_id in in_scope for chunk in chunks_of[doc_id]]
    vectors = cache.encode(embedder, [c.text for c in chunks], label=f"{suite.name}/{suite.split}: chunks")
    # Flat, whatever the workspace's index.kind: the evaluator must be exact to be reproducible.
    index = FaissIndex(vectors.shape[1], embedder.version, kind="flat")
    index.add([c.chunk_id for c in chunks], [c.doc_id for c in chunks], vectors)

    qrels: dict[str, dict[str, int]] = {}
    tasks = []
    for task in suite.tasks:
        relevant = relevant_chunks(chunks_of[task.doc_id], task.spans, cfg.eval.overlap_fraction)
        if relevant:
            qrels[task.task_id] = {chunk_id: 1 for chunk_id in relevant}
            tasks.append(task)
    query_vectors = cache.encode(embedder, [t.question for t in tasks], label=f"{suite.name}/{suite.split}: queries", is_query=True)
    run: dict[str, dict[str, float]] = {}
    rows_of_doc: dict[str, list[int]] = {}
    for row, task in enumerate(tasks):
        rows_of_doc.setdefault(task.doc_id, []).append(row)
    for doc_id, rows in rows_of_doc.items():
        hits = index.search(query_vectors[rows], cfg.eval.retrieve_k, scope={doc_id})
        for row, row_hits in zip(rows, hits):
            run[tasks[row].task_id] = {hit.chunk_id: hit.score for hit in row_hits}
    texts = {c.chunk_id: c.text for c in chunks}
    queries = {t.task_id: t.question for t in tasks}
    details = suite.details() | {
        "chunks": len(chunks),
        "contracts": len(in_scope),
        "tasks_with_evidence": len(suite.tasks) + suite.tasks_without_span,
        "tasks_without_relevant_chunk": len(suite.tasks) - len(tasks),
        "relevant_chunks_per_task": round(sum(len(q) for q in qrels.values()) / max(len(qrels), 1), 3),
    }
    return qrels, run, texts, queries, cfg.chunking.model_dump(), details


# ---- reranking ------------------------------------------------------------------------------------
def rerank_run(run: dict, queries: dict[str, str], texts: dict[str, str], reranker: Reranker, rerank_k: int, cache=None,
               embedder_version: str | None = None) -> dict:
    """Re-order each query's top `rerank_k` by the reranker; the rest keep index order below them.

    Scores become rank-derived (n, n-1, ...) so the final order is exactly the one shown to a user.
    With a `RerankScoreCache`, (query, chunk) pairs this reranker version scored before are not
    scored again. When `embedder_version` (the embedder whose cosines `run` holds) is the one a
    residual reranker is bound to, those cosines are its embedder term: its texts are not encoded again.
    """
    if cache is None:
        cache = RerankScoreCache(None)
    from rich.progress import track

    bound = embedder_version is not None and getattr(reranker, "embedder_version", None) == embedder_version
    reranked = {}
    for qid in track(list(run), description="reranking", console=stderr_console(), transient=True):
        order = sorted(run[qid].items(), key=lambda item: (item[1], item[0]), reverse=True)
        head, tail = order[:rerank_k], order[rerank_k:]
        base = [score for _, score in head] if bound else None
        rerank_scores = cache.score(reranker, queries[qid], [texts[doc] for doc, _ in head], base) if head else []
        head_order = [doc for _, doc in sorted(zip(rerank_scores, [d for d, _ in head]), key=lambda pair: pair[0], reverse=True)]
        final = head_order + [doc for doc, _ in tail]
        reranked[qid] = {doc: float(len(final) - rank) for rank, doc in enumerate(final)}
    return reranked


# ---- embedding cache ------------------------------------------------------------------------------
class EmbeddingCache:
    """Document vectors on disk, one .npy per (embedder version, sha256 of the text list)."""

    def __init__(self, root: Path | None):
        self.root = root

    def encode(self, embedder: TextEmbedder, texts: Sequence[str], label: str = "encoding", is_query: bool = False) -> np.ndarray:
        # Queries get their own key: an embedder may prefix or pool queries differently.
        path = self._path(embedder.version, texts, "query-" if is_query else "") if self.root is not None else None
        if path is not None and path.exists():
            vectors = np.load(path)
            if vectors.shape[0] == len(texts):
                log.debug("embedding cache hit %s", path)
                return vectors
        vectors = encode_with_progress(embedder, texts, label, is_query)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npy.tmp")
            with os.fdopen(fd, "wb") as fh:
                np.save(fh, vectors)
            os.chmod(tmp, 0o644)  # mkstemp creates 0600; the cache is as shareable as the workspace
            os.replace(tmp, path)  # atomic: a concurrent reader never sees half a file
        return vectors

    def _path(self, version: str, texts: Sequence[str], prefix: str = "") -> Path:
        digest = hashlib.sha256()
        for text in texts:
            encoded = text.encode("utf-8")
            digest.update(len(encoded).to_bytes(8, "little"))  # length prefix: no ambiguous joins
            digest.update(encoded)
        from rag_agent.retrieval.factory import slug

        return self.root / slug(version) / f"{prefix}{digest.hexdigest()}.npy"
