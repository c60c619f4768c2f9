"""Serving the champion back: a LangChain retriever in use follows a promotion without restart,
and `training export --champion` writes folders sentence-transformers loads on its own."""

from __future__ import annotations

import shutil

import pytest
from typer.testing import CliRunner

from tests.servers import duckdb_lock_holder


def register_copy_of_base(ws, embedder, write_corpus):
    """A second embedder version (a copy of the base MiniLM under a new version folder, so its
    version string differs), with its own index built over the same corpus."""
    from rag_agent.retrieval.embedder import SentenceTransformerEmbedder
    from rag_agent.retrieval.factory import build_index
    from training import registry

    vid = registry.new_version_id(ws, "embedder")
    folder = registry.version_dir(ws, "embedder", vid)
    shutil.copytree(embedder.path, folder)
    new = SentenceTransformerEmbedder(folder)
    with ws.db() as con:
        rows = con.execute("SELECT chunk_id, doc_id, text FROM chunks ORDER BY chunk_id").fetchall()
    build_index(ws, new, rows)
    registry.register_candidate(ws, "embedder", vid, "embedder-base", {"epochs": 1}, {"source": "feedback", "n": 12},
                                {"train_loss": 0.1})
    return vid, new.version


@pytest.mark.slow
def test_promotion_while_in_use_is_served_on_the_next_call(workspace, embedder, write_corpus):
    from rag_agent.retrieval.langchain_retriever import RagloopRetriever
    from training import registry

    write_corpus(workspace, embedder)
    served = RagloopRetriever.from_workspace(workspace, k=2, poll_s=0)
    before = served.invoke("Which law governs the agreement?")
    assert before[0].metadata["embedder_version"] == embedder.version and "Delaware" in before[0].page_content

    vid, new_version = register_copy_of_base(workspace, embedder, write_corpus)
    assert served.invoke("Which law governs the agreement?")[0].metadata["embedder_version"] == embedder.version  # not promoted yet
    registry.promote(workspace, vid, reason="test", metrics={"gate": {"ndcg@10": 0.71}})
    after = served.invoke("Which law governs the agreement?")
    assert after[0].metadata["embedder_version"] == new_version != embedder.version
    assert after[0].metadata["chunk_id"] == before[0].metadata["chunk_id"]  # same weights, same answer

    registry.rollback(workspace, "embedder")
    assert served.invoke("rent")[0].metadata["embedder_version"] == embedder.version


@pytest.mark.slow
def test_export_champion_writes_a_self_contained_model_with_a_card(workspace, embedder, write_corpus, tmp_path, capsys):
    from sentence_transformers import SentenceTransformer

    from rag_agent.cli_common import run_app
    from training import registry
    from training.cli import app

    write_corpus(workspace, embedder)
    vid, _ = register_copy_of_base(workspace, embedder, write_corpus)
    registry.promote(workspace, vid, reason="passed the gate", metrics={"gate": {"ndcg@10": 0.71}})
    out = tmp_path / "served"
    result = CliRunner().invoke(app, ["export", "--champion", str(out), "--workspace", str(workspace.root)])
    assert result.exit_code == 0, result.output
    card = (out / "embedder" / "README.md").read_text()
    assert vid in card and "parent: embedder-base" in card and '"n": 12' in card and "0.71" in card
    assert not (out / "reranker").exists()  # no reranker was promoted: nothing to serve
    vectors = SentenceTransformer(str(out / "embedder"), local_files_only=True).encode(["rent is due monthly"])
    assert vectors.shape == (1, embedder.dim)

    with pytest.raises(SystemExit) as again:
        run_app(app, ["export", "--champion", str(out), "--workspace", str(workspace.root)])
    assert again.value.code == 2 and "empty folder" in capsys.readouterr().err


@pytest.mark.slow
def test_a_workspace_locked_by_another_process_does_not_break_serving(workspace, embedder, write_corpus, tmp_path):
    from rag_agent.retrieval.langchain_retriever import RagloopRetriever

    write_corpus(workspace, embedder)
    served = RagloopRetriever.from_workspace(workspace, k=2, poll_s=0)
    first = [d.id for d in served.invoke("Which law governs the agreement?")]
    with duckdb_lock_holder(workspace.db_path, tmp_path):
        # The champion check cannot read the registry now; the loaded parts keep serving.
        assert [d.id for d in served.invoke("Which law governs the agreement?")] == first
