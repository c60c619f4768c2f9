"""Ingest: paths -> documents/chunks rows in DuckDB -> embedded vectors in the workspace index.

Identity and re-ingest: a document is keyed by its doc_id and fingerprinted by the sha256 of its
text. Ingesting the same doc_id with the same text again is a no-op ("unchanged"); the same
doc_id with different text is skipped with a reason rather than silently replacing chunks that
traces, labels and eval results already point at.

Crash safety (the rule): DuckDB is the source of truth and the vector index is derived from it.
New documents are handled in groups of about `chunking.commit_chunks` chunks; for each group the
`documents` and `chunks` rows are committed in ONE transaction first, then the group's chunks
are embedded, added to the index and the index is saved (atomically, by the index). Every ingest
starts (and ends) by reconciling: any chunk row whose chunk_id is missing from the index is
embedded and added. So an interrupted ingest, re-run, ends with DB and index consistent: rows
committed before the crash get their vectors in the reconcile step, and documents whose rows
were not committed are simply new again. Index `add` skips chunk ids it already holds, so a
vector saved twice is harmless too. Within a group (and so within one large document) the index
is saved every `commit_chunks` embedded chunks, so an interrupted ingest of a huge document keeps
the vectors it embedded and the re-run embeds only the rest.

A workspace in use: the DuckDB file is opened for each transaction and closed again, never for
the whole ingest, so other commands can read the workspace while a large ingest embeds.
"""

from __future__ import annotations

import hashlib
import logging
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from rag_agent.db import transaction
from rag_agent.ingest.chunker import chunk_document
from rag_agent.ingest.loaders import Skipped, iter_documents
from rag_agent.protocols import TextEmbedder, VectorIndex
from rag_agent.types import Chunk, Document

log = logging.getLogger(__name__)

# Chunks per `encode` call: keeps the progress bar moving; the embedder batches inside.
ENCODE_SLICE = 256


@dataclass
class IngestReport:
    documents_ingested: int = 0
    documents_unchanged: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    chunks_added: int = 0
    chunks_reconciled: int = 0  # rows from an interrupted earlier ingest that got their vectors now
    seconds: float = 0.0
    embedder_version: str = ""
    index_size: int = 0

    @property
    def documents_skipped(self) -> int:
        return len(self.skipped)

    @property
    def chunks_per_s(self) -> float:
        embedded = self.chunks_added + self.chunks_reconciled
        return embedded / self.seconds if self.seconds > 0 else 0.0

    @property
    def read_nothing(self) -> bool:
        """True when not a single document could be read (all inputs skipped, or none given)."""
        return self.documents_ingested == 0 and self.documents_unchanged == 0


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def ingest(
    ws,
    paths: Iterable[Path | str],
    *,
    embedder: TextEmbedder | None = None,
    progress: bool = True,
) -> IngestReport:
    """Ingest `paths` into workspace `ws`; see the module docstring for the rules."""
    from rag_agent.retrieval.factory import open_index

    started = time.perf_counter()
    cfg = ws.config
    items = iter_documents(paths, max_bytes=cfg.chunking.max_document_bytes)  # DataError for a missing path
    if embedder is None:
        from rag_agent.retrieval.embedder import load_embedder

        embedder = load_embedder(cfg.models)
    report = IngestReport(embedder_version=embedder.version)
    index = open_index(ws, embedder.version, _saved_index_dim(ws, embedder.version) or embedder.dim, create=True)
    with _progress_bar(progress) as bar:
        writer = _GroupWriter(ws, index, embedder, bar, cfg.chunking.commit_chunks)
        report.chunks_reconciled = writer.reconcile()
        with ws.db() as con:
            known = dict(con.execute("SELECT doc_id, sha256 FROM documents").fetchall())
        read_task = bar.add_task("reading documents", total=None) if bar else None
        for item in items:
            if bar:
                bar.advance(read_task)
            if isinstance(item, Skipped):
                report.skipped.append(item)
                continue
            digest = sha256_text(item.text)
            if item.doc_id in known:
                if known[item.doc_id] == digest:
                    report.documents_unchanged += 1
                else:
                    report.skipped.append(
                        Skipped(item.source, f"doc_id {item.doc_id!r} already ingested with different content; rename it or use a new workspace")
                    )
                continue
            chunks = chunk_document(item, cfg.chunking)
            known[item.doc_id] = digest
            writer.add(item, digest, chunks)
            report.documents_ingested += 1
            report.chunks_added += len(chunks)
            if writer.pending_chunks >= cfg.chunking.commit_chunks:
                writer.flush()
        writer.flush()
        report.chunks_reconciled += writer.reconcile()  # normally 0; guards index/DB drift
    report.index_size = len(index)
    report.seconds = time.perf_counter() - started
    log.info(
        "ingested %d documents (%d unchanged, %d skipped), %d chunks in %.1fs",
        report.documents_ingested,
        report.documents_unchanged,
        report.documents_skipped,
        report.chunks_added,
        report.seconds,
    )
    return report


class _GroupWriter:
    """Buffers new documents; `flush` commits their rows, then embeds and saves the index."""

    def __init__(self, ws, index: VectorIndex, embedder: TextEmbedder, bar, save_every: int):
        self.ws, self.index, self.embedder, self.bar = ws, index, embedder, bar
        self.save_every = max(1, save_every)
        self.documents: list[tuple[Document, str]] = []
        self.chunks: list[Chunk] = []
        self.embed_task = bar.add_task("embedding chunks", total=0) if bar else None

    @property
    def pending_chunks(self) -> int:
        return len(self.chunks)

    def add(self, doc: Document, digest: str, chunks: list[Chunk]) -> None:
        self.documents.append((doc, digest))
        self.chunks.extend(chunks)

    def flush(self) -> None:
        if not self.documents:
            return
        self._commit_rows()
        rows = [(c.chunk_id, c.doc_id, c.text) for c in self.chunks]
        self.documents, self.chunks = [], []
        self._embed_and_save(rows)

    def reconcile(self) -> int:
        """Embed chunk rows the index lacks (left by an interrupted ingest); returns how many."""
        with self.ws.db() as con:
            ids = con.execute("SELECT chunk_id FROM chunks ORDER BY doc_id, ordinal").fetchall()
            missing = _missing_from_index(self.index, [row[0] for row in ids])
            if not missing:
                return 0
            log.warning("%d chunks in the database lack vectors (interrupted ingest?); embedding them now", len(missing))
            con.execute("CREATE TEMP TABLE IF NOT EXISTS missing_chunks (chunk_id TEXT)")
            con.execute("DELETE FROM missing_chunks")
            con.executemany("INSERT INTO missing_chunks VALUES (?)", [[c] for c in missing])
            rows = con.execute(
                "SELECT c.chunk_id, c.doc_id, c.text FROM chunks c JOIN missing_chunks m USING (chunk_id) ORDER BY c.doc_id, c.ordinal"
            ).fetchall()
        self._embed_and_save(rows)
        return len(rows)

    def _commit_rows(self) -> None:
        doc_rows = [[d.doc_id, d.source, d.title, digest, len(d.text), d.text] for d, digest in self.documents]
        chunk_rows = [[c.chunk_id, c.doc_id, c.ordinal, c.start, c.end, c.text, sha256_text(c.text)] for c in self.chunks]
        with self.ws.db() as con, transaction(con):
            con.executemany(
                "INSERT INTO documents (doc_id, source, title, sha256, n_chars, text) VALUES (?, ?, ?, ?, ?, ?)", doc_rows
            )
            if chunk_rows:
                con.executemany(
                    "INSERT INTO chunks (chunk_id, doc_id, ordinal, start_char, end_char, text, content_hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    chunk_rows,
                )

    def _embed_and_save(self, rows: Sequence[tuple[str, str, str]]) -> None:
        from rag_agent.retrieval.factory import save_index

        if not rows:
            return
        if self.bar:
            task = self.bar.tasks[self.embed_task]
            self.bar.update(self.embed_task, total=(task.total or 0) + len(rows))
        unsaved = 0
        for offset in range(0, len(rows), ENCODE_SLICE):
            part = rows[offset : offset + ENCODE_SLICE]
            if self.bar:  # names the document, so a huge one shows its progress chunk by chunk
                self.bar.update(self.embed_task, description=f"embedding chunks ({part[0][1]})")
            vectors = self.embedder.encode([r[2] for r in part])
            self.index.add([r[0] for r in part], [r[1] for r in part], vectors)
            unsaved += len(part)
            if self.bar:
                self.bar.advance(self.embed_task, len(part))
            if unsaved >= self.save_every and offset + len(part) < len(rows):
                save_index(self.ws, self.index)  # checkpoint inside a large group/document
                unsaved = 0
        save_index(self.ws, self.index)


def _saved_index_dim(ws, embedder_version: str) -> int | None:
    """The dim recorded by an existing index, so a no-op re-ingest need not load the model."""
    from rag_agent.retrieval.factory import index_dir
    from rag_agent.retrieval.index_meta import META_FILE, IndexMeta

    path = index_dir(ws, embedder_version)
    return IndexMeta.read(path).dim if (path / META_FILE).exists() else None


def _missing_from_index(index: VectorIndex, chunk_ids: list[str]) -> list[str]:
    if not chunk_ids:
        return []
    try:
        return [c for c in chunk_ids if c not in index]  # type: ignore[operator]
    except TypeError:
        # A backend without membership tests: trust the count (add is idempotent, so a
        # full re-add on mismatch is safe, only slower).
        return [] if len(index) >= len(chunk_ids) else chunk_ids


def _progress_bar(enabled: bool):
    if not enabled:
        return nullcontext(None)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), transient=False)
