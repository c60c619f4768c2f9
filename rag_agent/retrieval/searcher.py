"""The retriever the agent, evals and web-corpus search use: embed -> index -> chunk text -> rerank.

DuckDB access (why it looks like this): DuckDB lets one process hold a database read-write, and
inside that process every connection must share one configuration, so a long-lived read-only
connection here would make the agent's trace writer (read-write, same process) fail to open.
The retriever therefore holds no connection. Chunk texts are looked up only on a cache miss:
  * through a cursor of a connection the caller passes in (`con=`), sharing its instance, or
  * through a short-lived default (read-write-config) connection closed right after the query:
    within a process that already has the database open this is a cheap cursor on the shared
    instance (~2 ms); otherwise it holds the file lock only for the lookup.
Texts land in a bounded LRU (`index.text_cache_chunks`), so a repeated query costs no DB work.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from pathlib import Path

from rag_agent.errors import IndexError_
from rag_agent.protocols import Reranker, TextEmbedder, VectorIndex
from rag_agent.types import Hit, RankedChunk

log = logging.getLogger(__name__)


class ChunkTexts:
    """chunk_id -> (text, start, end) from the `chunks` table, with an LRU in front."""

    def __init__(self, db_path: Path, con=None, capacity: int = 50_000):
        self.db_path = Path(db_path)
        self._con = con
        self._capacity = max(0, capacity)
        self._cache: OrderedDict[str, tuple[str, int, int]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, chunk_ids: list[str]) -> dict[str, tuple[str, int, int]]:
        found: dict[str, tuple[str, int, int]] = {}
        with self._lock:
            for chunk_id in chunk_ids:
                if chunk_id in self._cache:
                    self._cache.move_to_end(chunk_id)
                    found[chunk_id] = self._cache[chunk_id]
        missing = [c for c in dict.fromkeys(chunk_ids) if c not in found]
        if missing:
            fetched = self._fetch(missing)
            found.update(fetched)
            with self._lock:
                for chunk_id, row in fetched.items():
                    self._cache[chunk_id] = row
                while len(self._cache) > self._capacity:
                    self._cache.popitem(last=False)
        return found

    def _fetch(self, chunk_ids: list[str]) -> dict[str, tuple[str, int, int]]:
        import duckdb

        sql = "SELECT chunk_id, text, start_char, end_char FROM chunks WHERE chunk_id IN (SELECT unnest(?))"
        if self._con is not None:
            cursor = self._con.cursor()
            try:
                rows = cursor.execute(sql, [chunk_ids]).fetchall()
            finally:
                cursor.close()
        else:
            if not self.db_path.exists():
                raise IndexError_(str(self.db_path), "a workspace database with ingested chunks", "run `python -m rag_agent ingest ...` first")
            from rag_agent.db import open_file

            con = open_file(self.db_path)  # waits out another process's transaction (one line if it outlasts)
            try:
                rows = con.execute(sql, [chunk_ids]).fetchall()
            except duckdb.CatalogException as exc:
                raise IndexError_(str(self.db_path), "a workspace database with a chunks table", "run `python -m rag_agent ingest ...` first") from exc
            finally:
                con.close()
        return {chunk_id: (text, start, end) for chunk_id, text, start, end in rows}


class WorkspaceRetriever:
    """Implements `Retriever` over a workspace's embedder, index, chunk table and reranker."""

    def __init__(self, embedder: TextEmbedder, index: VectorIndex, reranker: Reranker, texts: ChunkTexts):
        if index.embedder_version != embedder.version:
            raise IndexError_(
                f"index built by embedder {index.embedder_version}",
                f"an index built by embedder {embedder.version}",
                "re-ingest with this embedder, or `training rollback`",
            )
        self.embedder = embedder
        self.index = index
        self.reranker = reranker
        self.texts = texts

    @classmethod
    def open(cls, ws, embedder: TextEmbedder | None = None, reranker: Reranker | None = None, con=None) -> WorkspaceRetriever:
        """Build the parts from `ws.config` (models.embedder / models.reranker / index) unless given.

        `con`: an open DuckDB connection to this workspace to read chunk texts through (see the
        module docstring); without it the retriever opens short-lived connections on demand.
        """
        from rag_agent.retrieval.factory import open_index
        from rag_agent.retrieval.reranker import load_reranker

        models = ws.config.models
        if embedder is None:
            from rag_agent.retrieval.embedder import load_embedder

            embedder = load_embedder(models)
        if reranker is None:
            reranker = load_reranker(models)
        index = open_index(ws, embedder.version, embedder.dim, create=False)
        return cls(embedder, index, reranker, ChunkTexts(ws.db_path, con=con, capacity=ws.config.index.text_cache_chunks))

    @property
    def embedder_version(self) -> str:
        return self.embedder.version

    @property
    def reranker_version(self) -> str:
        return self.reranker.version

    def retrieve(self, query: str, k: int, scope: set[str] | None = None) -> list[RankedChunk]:
        """Index order, best first, with chunk text (and start/end in `extra`) filled in."""
        if k <= 0:
            return []
        vector = self.embedder.encode([query], is_query=True)
        hits: list[Hit] = self.index.search(vector, k, scope=scope)[0]
        rows = self.texts.get([h.chunk_id for h in hits])
        stale = [h.chunk_id for h in hits if h.chunk_id not in rows]
        if stale:
            raise IndexError_(
                f"{len(stale)} indexed chunks missing from the chunks table (e.g. {stale[0]})",
                "an index in step with the workspace database",
                "run `python -m rag_agent ingest ...` again to reconcile, or rebuild the index",
            )
        out = []
        for hit in hits:
            text, start, end = rows[hit.chunk_id]
            out.append(RankedChunk(hit.chunk_id, hit.doc_id, text, hit.score, extra={"start": start, "end": end}))
        return out

    def rerank(self, query: str, chunks: list[RankedChunk], k: int) -> list[RankedChunk]:
        """Reranker order, best k first; sets `rerank_score` on every chunk passed in."""
        if not chunks or k <= 0:
            return []
        scores = self.reranker.score(query, [c.text for c in chunks])
        for chunk, score in zip(chunks, scores):
            chunk.rerank_score = float(score)
        # Stable sort: equal rerank scores keep index order.
        return sorted(chunks, key=lambda c: -c.rerank_score)[:k]
