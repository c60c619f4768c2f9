"""Any ragloop `Retriever` as a LangChain retriever, usable in LCEL chains.

    from rag_agent.retrieval.langchain_retriever import RagloopRetriever
    chain = RagloopRetriever(retriever=WorkspaceRetriever.open(ws), k=5) | format_docs | prompt | llm

`rerank=True` fetches `fetch_k` candidates (default 4 * k) from the index and returns the
reranker's best `k`, as the agent does.
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from rag_agent.protocols import Retriever
from rag_agent.types import RankedChunk


class RagloopRetriever(BaseRetriever):
    """`invoke(query)` -> Documents with metadata chunk_id, doc_id, start, end, score, rerank_score."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    retriever: Any  # a rag_agent.protocols.Retriever (typed Any: pydantic cannot validate Protocols)
    k: int = 5
    scope: set[str] | None = None
    rerank: bool = False
    fetch_k: int | None = None  # index candidates when reranking; default 4 * k

    def model_post_init(self, __context: Any) -> None:
        if not isinstance(self.retriever, Retriever):
            raise TypeError(f"retriever must implement rag_agent.protocols.Retriever, got {type(self.retriever).__name__}")

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        if self.rerank:
            candidates = self.retriever.retrieve(query, self.fetch_k or 4 * self.k, self.scope)
            chunks = self.retriever.rerank(query, candidates, self.k)
        else:
            chunks = self.retriever.retrieve(query, self.k, self.scope)
        return [to_document(c) for c in chunks]


def to_document(chunk: RankedChunk) -> Document:
    start, end = chunk.extra.get("start"), chunk.extra.get("end")
    if start is None or end is None:
        # Chunk ids are "<doc_id>:<start>-<end>"; doc ids may themselves contain ':'.
        span = chunk.chunk_id.rsplit(":", 1)[-1]
        start, _, end = span.partition("-")
        start, end = int(start), int(end)
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
        },
    )
