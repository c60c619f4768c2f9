"""Any ragloop `Retriever` as a LangChain retriever, usable in LCEL chains.

    from rag_agent.retrieval.langchain_retriever import RagloopRetriever
    chain = RagloopRetriever(retriever=WorkspaceRetriever.open(ws), k=5) | format_docs | prompt | llm

`rerank=True` fetches `fetch_k` candidates (default 4 * k) from the index and returns the
reranker's best `k`, as the agent does.

Serving the champion back: `RagloopRetriever.from_workspace(ws)` follows the model registry.
Before a call (at most every `poll_s` seconds) it reads the registry's promotion counter (one
`max(promotion_no)` query on a short-lived connection, ~ms); when a promotion or rollback
happened it opens the champion embedder, its index and the champion reranker and swaps them in,
so an app serving traffic picks up a promoted model without a restart. A call already running
keeps the parts it started with. Documents carry `embedder_version` / `reranker_version` in
their metadata, which is also what RagloopTracer records.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import logging

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from rag_agent.protocols import Retriever
from rag_agent.types import Chunk, RankedChunk


class RagloopRetriever(BaseRetriever):
    """`invoke(query)` -> Documents with metadata chunk_id, doc_id, start, end, score, rerank_score."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    retriever: Any  # a rag_agent.protocols.Retriever (typed Any: pydantic cannot validate Protocols)
    k: int = 5
    scope: set[str] | None = None
    rerank: bool = False
    fetch_k: int | None = None  # index candidates when reranking; default 4 * k
    workspace: Any = None  # set by from_workspace: follow the registry's champion
    poll_s: float = 1.0  # seconds between champion checks (0: before every call)
    _stamp: int | None = None
    _checked_at: float = 0.0
    _swap: Any = None

    def model_post_init(self, __context: Any) -> None:
        self._swap = threading.Lock()
        if self.workspace is not None and self.retriever is None:
            self._follow_champion(force=True)
        if not isinstance(self.retriever, Retriever):
            raise TypeError(f"retriever must implement rag_agent.protocols.Retriever, got {type(self.retriever).__name__}")

    @classmethod
    def from_workspace(cls, ws, **kwargs: Any) -> RagloopRetriever:
        """A retriever serving `ws`'s champion embedder, index and reranker, following promotions."""
        return cls(retriever=None, workspace=ws, **kwargs)

    def _follow_champion(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._checked_at < self.poll_s:
            return
        self._checked_at = now
        stamp = promotion_stamp(self.workspace)
        if (stamp == self._stamp or stamp == _UNKNOWN) and not force:
            return
        with self._swap:
            if stamp == self._stamp and not force:
                return
            from rag_agent.retrieval.searcher import WorkspaceRetriever
            from rag_agent.workspace import Workspace
            from training.registry import use_champions

            try:
                ws = use_champions(Workspace.open(self.workspace.root, create=False))
                self.retriever = WorkspaceRetriever.open(ws)
            except Exception as exc:  # a busy or half-updated workspace: keep serving, retry next poll
                if force:
                    raise
                logging.getLogger(__name__).warning("could not switch to the new champion yet (%s); serving the previous one", exc)
                return
            self._stamp = promotion_stamp(self.workspace) if stamp is None else stamp
            logging.getLogger(__name__).info("retriever now serves embedder %s, reranker %s",
                                             self.retriever.embedder_version, self.retriever.reranker_version)

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        if self.workspace is not None:
            self._follow_champion()
        retriever = self.retriever  # one set of parts for the whole call, even if a swap happens now
        if self.rerank:
            candidates = retriever.retrieve(query, self.fetch_k or 4 * self.k, self.scope)
            chunks = retriever.rerank(query, candidates, self.k)
        else:
            chunks = retriever.retrieve(query, self.k, self.scope)
        versions = {"embedder_version": getattr(retriever, "embedder_version", None),
                    "reranker_version": getattr(retriever, "reranker_version", None)}
        return [to_document(c, versions) for c in chunks]


def promotion_stamp(ws) -> int | None:
    """The registry's promotion counter (changes on every promote/rollback); None before any."""
    import duckdb

    try:
        con = duckdb.connect(str(ws.db_path))  # default config: shares an instance this process may hold
    except duckdb.IOException as exc:  # another process (a training loop) holds the file: check next time
        logging.getLogger(__name__).debug("champion check skipped: %s", exc)
        return _UNKNOWN
    try:
        return con.execute("SELECT max(promotion_no) FROM promotions").fetchone()[0]
    except duckdb.CatalogException:
        return None
    finally:
        con.close()


_UNKNOWN = -1  # the registry could not be read this time: keep serving what is loaded


def to_document(chunk: RankedChunk, versions: dict | None = None) -> Document:
    start, end = chunk.extra.get("start"), chunk.extra.get("end")
    if start is None or end is None:
        named = Chunk.from_id(chunk.chunk_id)
        start, end = named.start, named.end
    return Document(
        page_content=chunk.text,
        id=chunk.chunk_id,
        metadata={
            "chunk_id": chunk.chunk_id,
            "doc_id": chunk.doc_id,
            "start": int(start),
            "end": int(end),
            "score": chunk.retrieval_score,
            "rerank_score": chunk.rerank_score,
            **(versions or {}),
        },
    )
