"""Where a workspace's vector indexes live and how they are opened, saved and (re)built.

One index folder per (backend, embedder version): `indexes/<backend>-<embedder slug>`. A new
embedder therefore builds its shadow index beside the champion's, and rollback is just opening
the old folder again.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Iterable, Sequence

from rag_agent.errors import IndexError_
from rag_agent.protocols import TextEmbedder, VectorIndex
from rag_agent.files import recover_dir
from rag_agent.retrieval.index_meta import META_FILE, IndexMeta, check_embedder

log = logging.getLogger(__name__)

# Rows embedded per encode call while building: large enough to keep the model busy, small
# enough that a progress bar moves and memory stays flat on big corpora.
BUILD_BATCH_ROWS = 256


def slug(text: str) -> str:
    """A folder/collection-safe rendering of an embedder version ("name@hash" -> "name-hash")."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-._")
    return cleaned or "unnamed"


def index_dir(ws, embedder_version: str) -> Path:
    return ws.indexes_dir / f"{ws.config.index.backend}-{slug(embedder_version)}"


def new_index(ws, embedder_version: str, dim: int, path: Path | None = None, fresh: bool = False) -> VectorIndex:
    """An index of the configured backend/kind (chroma needs its folder up front and writes in
    place: `fresh` drops an existing collection there)."""
    cfg = ws.config.index
    if cfg.backend == "faiss":
        from rag_agent.retrieval.index_faiss import FaissIndex

        return FaissIndex.from_config(cfg, dim, embedder_version)
    if cfg.backend == "chroma":
        from rag_agent.retrieval.index_chroma import ChromaIndex

        return ChromaIndex.create(path or index_dir(ws, embedder_version), dim, embedder_version, cfg, fresh=fresh)
    raise IndexError_(f"index.backend={cfg.backend!r}", "faiss or chroma", "set index.backend in ragloop.toml")


def load_index(path: Path, embedder_version: str | None = None, cfg=None) -> VectorIndex:
    """Open a saved index folder of any backend (read from its meta.json)."""
    path = Path(path)
    recover_dir(path)
    meta = IndexMeta.read(path)
    if meta.backend == "faiss":
        from rag_agent.retrieval.index_faiss import FaissIndex

        ef = cfg.hnsw_ef_search if cfg is not None else None
        return FaissIndex.load(path, embedder_version=embedder_version, ef_search=ef)
    if meta.backend == "chroma":
        from rag_agent.retrieval.index_chroma import ChromaIndex

        return ChromaIndex.load(path, embedder_version=embedder_version, cfg=cfg)
    raise IndexError_(f"{path} backend {meta.backend!r}", "faiss or chroma", "delete the index folder and re-ingest")


def open_index(ws, embedder_version: str, dim: int, create: bool = True) -> VectorIndex:
    """The workspace's index for `embedder_version`; a new empty one when absent and `create`."""
    path = index_dir(ws, embedder_version)
    recover_dir(path)
    if not (path / META_FILE).exists():
        if not create:
            raise IndexError_(
                str(path),
                f"an index built by embedder {embedder_version}",
                "run `python -m rag_agent ingest ...` (or `training rollback` to the embedder that built the existing index)",
            )
        log.info("creating a new %s index at %s", ws.config.index.backend, path)
        return new_index(ws, embedder_version, dim, path)
    index = load_index(path, embedder_version=embedder_version, cfg=ws.config.index)
    check_embedder(index.embedder_version, embedder_version, path)
    if getattr(index, "dim", dim) != dim:
        raise IndexError_(f"{path} dim {index.dim}", f"dim {dim} of the embedder", "re-ingest with this embedder")
    if getattr(index, "kind", ws.config.index.kind) != ws.config.index.kind and ws.config.index.backend == "faiss":
        log.warning("index at %s is %s but index.kind=%s; rebuild it to switch", path, index.kind, ws.config.index.kind)
    return index


def save_index(ws, index: VectorIndex) -> None:
    index.save(index_dir(ws, index.embedder_version))


def build_index(
    ws,
    embedder: TextEmbedder,
    chunk_rows: Iterable[Sequence[str]],
    dir: Path | None = None,
    show_progress: bool = False,
) -> VectorIndex:
    """Embed `(chunk_id, doc_id, text)` rows in batches into a fresh index, saved to `dir`
    (default: the workspace folder for this embedder). Replaces whatever was there."""
    target = Path(dir) if dir is not None else index_dir(ws, embedder.version)
    index = new_index(ws, embedder.version, embedder.dim, target, fresh=True)
    batch: list[Sequence[str]] = []
    total = 0
    for row in chunk_rows:
        batch.append(row)
        if len(batch) >= BUILD_BATCH_ROWS:
            total += _embed_into(index, embedder, batch, show_progress)
            batch = []
    if batch:
        total += _embed_into(index, embedder, batch, show_progress)
    index.save(target)
    log.info("built %s index of %d chunks with %s at %s", ws.config.index.backend, total, embedder.version, target)
    return index


def _embed_into(index: VectorIndex, embedder: TextEmbedder, rows: list[Sequence[str]], show_progress: bool) -> int:
    chunk_ids = [r[0] for r in rows]
    doc_ids = [r[1] for r in rows]
    texts = [r[2] for r in rows]
    if show_progress:  # rich, with ETA; sentence-transformers' own bar is plain tqdm (log noise)
        from rag_agent.progress import encode_with_progress

        vectors = encode_with_progress(embedder, texts, "indexing chunks")
    else:
        vectors = embedder.encode(texts)
    index.add(chunk_ids, doc_ids, vectors)
    return len(rows)
