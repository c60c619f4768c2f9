"""Ingest end to end with the real MiniLM embedder, real DuckDB and a real faiss index."""

from __future__ import annotations

import json

import pytest

from rag_agent.errors import IndexError_
from rag_agent.retrieval.factory import open_index
from rag_agent.workspace import Workspace

pytestmark = pytest.mark.slow  # every test ingests with the real MiniLM

SMALL_CHUNKS = ["chunking.size=400", "chunking.overlap=100", "chunking.slack=60"]


@pytest.fixture()
def three_docs(tmp_path, shared_data):
    """Three short real contract openings as .txt files."""
    folder = tmp_path / "docs"
    folder.mkdir()
    lines = (shared_data / "cuad" / "contracts_dev.jsonl").read_text().splitlines()[:3]
    for i, line in enumerate(lines):
        record = json.loads(line)
        text = (shared_data / "cuad" / record["file"]).read_text(encoding="utf-8")[:1200]
        (folder / f"contract{i}.txt").write_text(text)
    return folder


def counts(ws) -> tuple[int, int]:
    with ws.db() as con:
        return con.execute("SELECT count(*) FROM documents").fetchone()[0], con.execute("SELECT count(*) FROM chunks").fetchone()[0]


def test_ingest_is_searchable_and_idempotent(tmp_path, three_docs, embedder):
    from rag_agent.ingest.pipeline import ingest

    ws = Workspace.open(tmp_path / "ws", overrides=SMALL_CHUNKS)
    first = ingest(ws, [three_docs], embedder=embedder, progress=False)
    assert first.documents_ingested == 3 and first.chunks_added >= 9 and not first.skipped
    assert counts(ws) == (3, first.chunks_added)
    with ws.db() as con:
        rows = con.execute("SELECT d.text, c.start_char, c.end_char, c.text FROM chunks c JOIN documents d USING (doc_id)").fetchall()
    assert all(doc_text[start:end] == text for doc_text, start, end, text in rows)

    # A fresh process would reopen the saved index: do the same.
    index = open_index(ws, embedder.version, embedder.dim, create=False)
    assert len(index) == first.chunks_added
    target = (three_docs / "contract1.txt").read_text()[400:700]
    hits = index.search(embedder.encode([target], is_query=True), k=3)[0]
    assert hits[0].doc_id == "contract1"
    scoped = index.search(embedder.encode([target], is_query=True), k=50, scope={"contract2"})[0]
    assert scoped and {h.doc_id for h in scoped} == {"contract2"}

    second = ingest(ws, [three_docs], embedder=embedder, progress=False)
    assert (second.documents_ingested, second.documents_unchanged, second.chunks_added) == (0, 3, 0)
    assert counts(ws) == (3, first.chunks_added)
    assert len(open_index(ws, embedder.version, embedder.dim, create=False)) == first.chunks_added

    # Same doc_id, different text: refused with the fix, nothing replaced.
    (three_docs / "contract0.txt").write_text("A completely different contract text.")
    third = ingest(ws, [three_docs], embedder=embedder, progress=False)
    assert third.documents_unchanged == 2 and len(third.skipped) == 1
    assert "different content" in third.skipped[0].reason and "rename" in third.skipped[0].reason
    assert counts(ws) == (3, first.chunks_added)


def test_interrupted_ingest_is_completed_by_the_next_run(tmp_path, three_docs, embedder, monkeypatch):
    import rag_agent.retrieval.factory as factory
    from rag_agent.ingest.pipeline import ingest

    ws = Workspace.open(tmp_path / "ws", overrides=SMALL_CHUNKS)

    def crash(ws, index):
        raise KeyboardInterrupt("simulated crash after the rows were committed")

    monkeypatch.setattr(factory, "save_index", crash)
    with pytest.raises(KeyboardInterrupt):
        ingest(ws, [three_docs], embedder=embedder, progress=False)
    monkeypatch.undo()
    _, chunk_rows = counts(ws)
    assert chunk_rows > 0  # rows made it, vectors did not
    with pytest.raises(IndexError_):
        open_index(ws, embedder.version, embedder.dim, create=False)

    rerun = ingest(ws, [three_docs], embedder=embedder, progress=False)
    assert rerun.documents_unchanged == 3 and rerun.chunks_reconciled == chunk_rows
    index = open_index(ws, embedder.version, embedder.dim, create=False)
    with ws.db() as con:
        ids = [row[0] for row in con.execute("SELECT chunk_id FROM chunks").fetchall()]
    assert len(index) == len(ids) and all(chunk_id in index for chunk_id in ids)


def test_cli_reports_skips_and_exits_2_when_nothing_is_readable(tmp_path, three_docs, embedder, monkeypatch, capsys):
    from rag_agent.cli import app
    from rag_agent.cli_common import run_app
    from rag_agent.retrieval import embedder as embedder_module

    monkeypatch.setattr(embedder_module, "load_embedder", lambda models, spec=None: embedder)
    (three_docs / "broken.txt").write_bytes(b"\x00\x01")
    workspace = str(tmp_path / "ws")
    with pytest.raises(SystemExit) as ok:
        run_app(app, ["ingest", "--workspace", workspace, *sum((["--set", s] for s in SMALL_CHUNKS), []), str(three_docs)])
    out = capsys.readouterr().out
    assert ok.value.code == 0
    assert "broken.txt" in out and "binary" in out and "chunks/s" in out

    with pytest.raises(SystemExit) as bad:
        run_app(app, ["ingest", "--workspace", workspace, str(three_docs / "broken.txt")])
    assert bad.value.code == 2
    assert "at least one readable document" in capsys.readouterr().err
