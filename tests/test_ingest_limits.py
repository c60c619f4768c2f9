"""Ingest limits: documents over `chunking.max_document_bytes` are skipped by name and size, odd
folder entries are named, and the index is checkpointed inside one large document so a crash
keeps the vectors embedded before it."""

from __future__ import annotations

import os

import pytest

from rag_agent.ingest.loaders import Skipped, iter_documents
from rag_agent.workspace import Workspace


def test_oversized_files_and_odd_folder_entries_are_named(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "ok.txt").write_text("A short contract clause.")
    (folder / "big.txt").write_text("y" * 5001)
    (folder / "sub.txt").mkdir()
    (folder / "sub.txt" / "inner.txt").write_text("Inside a folder named like a file.")
    os.symlink("missing.txt", folder / "dangling.txt")
    os.symlink("loop2.txt", folder / "loop1.txt")
    os.symlink("loop1.txt", folder / "loop2.txt")
    os.symlink("ok.txt", folder / "alias.md")  # a good link is read like a file (same text, own doc_id)
    items = list(iter_documents([folder], max_bytes=5000))
    skipped = {os.path.basename(i.source): i.reason for i in items if isinstance(i, Skipped)}
    read = sorted(i.doc_id for i in items if not isinstance(i, Skipped))
    assert read == ["alias", "ok", "sub.txt/inner"]
    assert set(skipped) == {"big.txt", "sub.txt", "dangling.txt", "loop1.txt", "loop2.txt"}
    assert "5,001 bytes" in skipped["big.txt"] and "max_document_bytes=5,000" in skipped["big.txt"]
    assert "dangling symlink" in skipped["dangling.txt"] and "symlink loop" in skipped["loop1.txt"]
    assert "directory" in skipped["sub.txt"]


def test_beir_texts_over_the_limit_are_skipped_by_line(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text('{"_id": "a", "text": "short"}\n{"_id": "b", "text": "' + "z" * 200 + '"}\n')
    items = list(iter_documents([corpus], max_bytes=100))
    assert [i.doc_id for i in items if not isinstance(i, Skipped)] == ["a"]
    assert [i.source for i in items if isinstance(i, Skipped)] == [f"{corpus}:2"]


class CrashAfter:
    """The real embedder, crashing (like a kill) once `limit` chunks were encoded: control flow only."""

    def __init__(self, embedder, limit: int | None):
        self.inner, self.limit, self.encoded = embedder, limit, 0
        self.version, self.dim = embedder.version, embedder.dim

    def encode(self, texts):
        if self.limit is not None and self.encoded + len(texts) > self.limit:
            raise KeyboardInterrupt("simulated crash")
        self.encoded += len(texts)
        return self.inner.encode(texts)


@pytest.mark.slow
def test_a_crash_inside_a_large_document_keeps_its_checkpointed_vectors(tmp_path, embedder, monkeypatch):
    from rag_agent.ingest import pipeline
    from rag_agent.retrieval.factory import open_index

    monkeypatch.setattr(pipeline, "ENCODE_SLICE", 8)  # small slices so a small document has many
    doc = tmp_path / "long.txt"
    doc.write_text(" ".join(f"Clause {i}: the licensee pays a royalty of {i} percent." for i in range(400)))
    ws = Workspace.open(tmp_path / "ws", overrides=["chunking.size=200", "chunking.overlap=0", "chunking.commit_chunks=16"])
    crashing = CrashAfter(embedder, limit=40)
    with pytest.raises(KeyboardInterrupt):
        pipeline.ingest(ws, [doc], embedder=crashing, progress=False)
    with ws.db(read_only=True) as con:
        chunks = con.execute("SELECT count(*) FROM chunks").fetchone()[0]
    saved = len(open_index(ws, embedder.version, embedder.dim))
    assert chunks > 80 and saved == 32  # checkpoints after 16 and 32 chunks; the 8 after the last one were lost

    rerun = CrashAfter(embedder, limit=None)
    report = pipeline.ingest(ws, [doc], embedder=rerun, progress=False)
    assert report.documents_unchanged == 1 and report.chunks_reconciled == chunks - saved
    assert rerun.encoded == chunks - saved  # nothing embedded twice
    assert len(open_index(ws, embedder.version, embedder.dim)) == chunks
