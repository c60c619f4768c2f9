"""WorkspaceRetriever over a real DuckDB workspace, a real faiss index and the real MiniLM."""

from __future__ import annotations

import pytest

from rag_agent.errors import IndexError_
from rag_agent.protocols import Retriever
from rag_agent.retrieval.reranker import NoReranker
from rag_agent.retrieval.searcher import WorkspaceRetriever
from rag_agent.workspace import Workspace

pytestmark = pytest.mark.slow  # every test searches an index built by the real MiniLM


@pytest.fixture(scope="module")
def retriever(retrieval_workspace, embedder):
    return WorkspaceRetriever.open(retrieval_workspace, embedder=embedder)


class ReverseReranker:
    """Scripted: prefers later candidates (so a rerank visibly changes the order)."""

    version = "reverse"

    def score(self, query, texts):
        return [float(i) for i in range(len(texts))]


def test_implements_protocol_and_reports_versions(retriever, embedder):
    assert isinstance(retriever, Retriever)
    assert retriever.embedder_version == embedder.version
    assert retriever.reranker_version == "none"


def test_retrieve_finds_the_paraphrase_with_text_and_offsets(retriever, retrieval_workspace):
    chunks = retriever.retrieve("Which state's law governs the contract?", 3)
    assert len(chunks) == 3
    assert chunks[0].chunk_id.startswith("nda:") and "Delaware" in chunks[0].text
    scores = [c.retrieval_score for c in chunks]
    assert scores == sorted(scores, reverse=True)
    with retrieval_workspace.db() as con:
        for c in chunks:
            doc_text = con.execute("SELECT text FROM documents WHERE doc_id = ?", [c.doc_id]).fetchone()[0]
            assert doc_text[c.extra["start"] : c.extra["end"]] == c.text
            assert c.chunk_id == f"{c.doc_id}:{c.extra['start']}-{c.extra['end']}"


def test_scope_restricts_to_those_documents(retriever):
    query = "Which state's law governs the contract?"
    scoped = retriever.retrieve(query, 10, scope={"supply"})
    assert {c.doc_id for c in scoped} == {"supply"} and len(scoped) == 3
    assert retriever.retrieve(query, 5, scope={"unknown-doc"}) == []


def test_rerank_identity_and_reordering(retriever, retrieval_workspace, embedder):
    query = "How can the agreement be terminated?"
    candidates = retriever.retrieve(query, 6)
    same = retriever.rerank(query, [*candidates], 6)
    assert [c.chunk_id for c in same] == [c.chunk_id for c in candidates]
    assert all(c.rerank_score is not None for c in same)

    reversed_retriever = WorkspaceRetriever.open(retrieval_workspace, embedder=embedder, reranker=ReverseReranker())
    top = reversed_retriever.rerank(query, reversed_retriever.retrieve(query, 6), 2)
    assert [c.chunk_id for c in top] == [c.chunk_id for c in candidates][::-1][:2]
    assert reversed_retriever.reranker_version == "reverse"


def test_works_while_the_same_process_holds_a_writer(retrieval_workspace, embedder):
    """The agent's trace writer keeps a read-write connection open; retrieval must not clash."""
    writer = retrieval_workspace.connect()
    try:
        fresh = WorkspaceRetriever.open(retrieval_workspace, embedder=embedder)  # empty text cache
        assert fresh.retrieve("arbitration of disputes", 1)[0].chunk_id.startswith("supply:")
        writer.execute("CREATE TEMP TABLE scratch AS SELECT 1 AS x")  # the writer still works
        through_con = WorkspaceRetriever.open(retrieval_workspace, embedder=embedder, con=writer)
        assert through_con.retrieve("arbitration of disputes", 1)[0].chunk_id.startswith("supply:")
    finally:
        writer.close()


def test_missing_index_and_stale_index_are_clear_errors(tmp_path, embedder, write_corpus):
    ws = Workspace.open(tmp_path / "ws")
    with pytest.raises(IndexError_, match="ingest"):
        WorkspaceRetriever.open(ws, embedder=embedder)
    write_corpus(ws, embedder, {"only": ["A single clause about payment terms."]})
    with ws.db() as con:
        con.execute("DELETE FROM chunks")
    retriever = WorkspaceRetriever.open(ws, embedder=embedder, reranker=NoReranker())
    with pytest.raises(IndexError_, match="missing from the chunks table"):
        retriever.retrieve("payment", 1)


def test_index_of_another_embedder_is_refused(retrieval_workspace, embedder):
    from rag_agent.retrieval.factory import open_index

    index = open_index(retrieval_workspace, embedder.version, embedder.dim, create=False)

    class OtherEmbedder:
        version = "other@123456789abc"
        dim = embedder.dim

        def encode(self, texts, **kw):
            return embedder.encode(texts)

    with pytest.raises(IndexError_, match="re-ingest"):
        WorkspaceRetriever(OtherEmbedder(), index, NoReranker(), None)
    with pytest.raises(IndexError_, match="ingest"):
        WorkspaceRetriever.open(retrieval_workspace, embedder=OtherEmbedder())
