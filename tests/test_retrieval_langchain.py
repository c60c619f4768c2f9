"""The LangChain adapter over the real WorkspaceRetriever, alone and inside an LCEL chain."""

from __future__ import annotations

import pytest
from langchain_core.documents import Document
from langchain_core.runnables import RunnableLambda

from rag_agent.retrieval.langchain_retriever import RagloopRetriever
from rag_agent.retrieval.searcher import WorkspaceRetriever


class ReverseReranker:
    version = "reverse"

    def score(self, query, texts):
        return [float(i) for i in range(len(texts))]


@pytest.fixture(scope="module")
def workspace_retriever(retrieval_workspace, embedder):
    return WorkspaceRetriever.open(retrieval_workspace, embedder=embedder)


@pytest.mark.slow
def test_invoke_returns_documents_with_metadata(workspace_retriever):
    docs = RagloopRetriever(retriever=workspace_retriever, k=2).invoke("Which state's law governs the contract?")
    assert len(docs) == 2 and all(isinstance(d, Document) for d in docs)
    top = docs[0]
    assert "Delaware" in top.page_content
    assert set(top.metadata) == {"chunk_id", "doc_id", "start", "end", "score", "rerank_score", "embedder_version", "reranker_version"}
    assert top.metadata["chunk_id"] == f"{top.metadata['doc_id']}:{top.metadata['start']}-{top.metadata['end']}"
    assert top.metadata["rerank_score"] is None and top.metadata["score"] >= docs[1].metadata["score"]


@pytest.mark.slow
def test_scope_and_rerank_fields(workspace_retriever, retrieval_workspace, embedder):
    scoped = RagloopRetriever(retriever=workspace_retriever, k=5, scope={"lease"}).invoke("termination notice")
    assert {d.metadata["doc_id"] for d in scoped} == {"lease"}
    reversed_retriever = WorkspaceRetriever.open(retrieval_workspace, embedder=embedder, reranker=ReverseReranker())
    plain = RagloopRetriever(retriever=reversed_retriever, k=4).invoke("termination notice")
    reranked = RagloopRetriever(retriever=reversed_retriever, k=2, rerank=True, fetch_k=4).invoke("termination notice")
    assert [d.metadata["chunk_id"] for d in reranked] == [d.metadata["chunk_id"] for d in plain][::-1][:2]
    assert all(d.metadata["rerank_score"] is not None for d in reranked)


@pytest.mark.slow
def test_inside_an_lcel_chain(workspace_retriever):
    chain = RagloopRetriever(retriever=workspace_retriever, k=1) | RunnableLambda(lambda docs: [d.metadata["doc_id"] for d in docs])
    assert chain.batch(["binding arbitration of disputes", "rent is due monthly"]) == [["supply"], ["lease"]]


def test_rejects_a_non_retriever():
    with pytest.raises(TypeError):
        RagloopRetriever(retriever=object())
