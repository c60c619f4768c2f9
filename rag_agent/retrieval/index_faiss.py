"""The default vector index: faiss, exact (`IndexFlatIP`) or approximate (`IndexHNSWFlat`).

Vectors are L2-normalised, so inner product is cosine similarity. Folder layout:

    meta.json     backend, kind, dim, embedder_version, count, hnsw params
    index.faiss   the faiss index (it also stores the raw vectors: both kinds are "Flat" storage)
    ids.json      {"chunk_ids": [...], "doc_ids": [...]}, row i of the index is chunk_ids[i]

Scoped search (only some documents) never post-filters a global top-k, which can lose every
in-scope result; it reconstructs the scope's vectors from the index storage and scores them
exactly, which is also cheap because a scope is usually a handful of documents.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Literal, Sequence

import numpy as np

from rag_agent.errors import IndexError_
from rag_agent.files import atomic_dir, recover_dir
from rag_agent.retrieval.index_meta import IndexMeta, check_embedder, check_vectors, exact_top_k
from rag_agent.types import Hit

log = logging.getLogger(__name__)

INDEX_FILE = "index.faiss"
IDS_FILE = "ids.json"


class FaissIndex:
    backend = "faiss"

    def __init__(
        self,
        dim: int,
        embedder_version: str,
        kind: Literal["flat", "hnsw"] = "flat",
        hnsw_m: int = 32,
        hnsw_ef_construction: int = 200,
        hnsw_ef_search: int = 128,
        _faiss_index=None,
    ):
        if kind not in ("flat", "hnsw"):
            raise IndexError_(f"index.kind={kind!r}", "flat or hnsw", "set index.kind to flat (exact) or hnsw (large corpora)")
        self.dim = int(dim)
        self.embedder_version = embedder_version
        self.kind = kind
        self.hnsw_params = {"m": hnsw_m, "ef_construction": hnsw_ef_construction, "ef_search": hnsw_ef_search}
        self._index = _faiss_index if _faiss_index is not None else self._new_faiss_index()
        self._chunk_ids: list[str] = []
        self._doc_ids: list[str] = []
        self._row_of: dict[str, int] = {}
        self._rows_of_doc: dict[str, list[int]] = {}
        self.path: Path | None = None

    @classmethod
    def from_config(cls, cfg, dim: int, embedder_version: str) -> FaissIndex:
        """`cfg` is an `IndexConfig`."""
        return cls(dim, embedder_version, kind=cfg.kind, hnsw_m=cfg.hnsw_m, hnsw_ef_construction=cfg.hnsw_ef_construction, hnsw_ef_search=cfg.hnsw_ef_search)

    def _new_faiss_index(self):
        import faiss

        if self.kind == "flat":
            return faiss.IndexFlatIP(self.dim)
        index = faiss.IndexHNSWFlat(self.dim, self.hnsw_params["m"], faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = self.hnsw_params["ef_construction"]
        index.hnsw.efSearch = self.hnsw_params["ef_search"]
        return index

    # ---- contents -----------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._chunk_ids)

    @property
    def doc_ids(self) -> set[str]:
        return set(self._rows_of_doc)

    def __contains__(self, chunk_id: object) -> bool:
        return chunk_id in self._row_of

    def missing(self, chunk_ids: Sequence[str]) -> list[str]:
        """The ids not in the index (same API as ChromaIndex.missing)."""
        return [c for c in chunk_ids if c not in self._row_of]

    def add(self, chunk_ids: Sequence[str], doc_ids: Sequence[str], vectors: np.ndarray) -> None:
        """Append chunks; chunk ids already present are skipped, so re-adding is idempotent."""
        vectors = check_vectors(vectors, self.dim, "vectors to add")
        if not (len(chunk_ids) == len(doc_ids) == vectors.shape[0]):
            raise IndexError_(
                f"{len(chunk_ids)} chunk ids, {len(doc_ids)} doc ids, {vectors.shape[0]} vectors", "equal lengths", "pass one id pair per vector"
            )
        keep, seen = [], set()
        for i, chunk_id in enumerate(chunk_ids):
            if chunk_id not in self._row_of and chunk_id not in seen:
                keep.append(i)
                seen.add(chunk_id)
        if len(keep) < len(chunk_ids):
            log.debug("skipping %d chunk ids already in the index", len(chunk_ids) - len(keep))
        if not keep:
            return
        self._index.add(vectors[keep])
        for i in keep:
            row = len(self._chunk_ids)
            self._chunk_ids.append(chunk_ids[i])
            self._doc_ids.append(doc_ids[i])
            self._row_of[chunk_ids[i]] = row
            self._rows_of_doc.setdefault(doc_ids[i], []).append(row)

    def remove_docs(self, doc_ids: set[str]) -> int:
        """Drop every chunk of `doc_ids` (e.g. a re-ingested document); returns how many.

        HNSW graphs cannot delete, so the index is rebuilt from the remaining stored vectors.
        """
        drop = {row for doc in doc_ids for row in self._rows_of_doc.get(doc, [])}
        if not drop:
            return 0
        keep = np.array([row for row in range(len(self)) if row not in drop], dtype=np.int64)
        vectors = self._reconstruct(keep)
        chunk_ids = [self._chunk_ids[r] for r in keep]
        docs = [self._doc_ids[r] for r in keep]
        self._index = self._new_faiss_index()
        self._chunk_ids, self._doc_ids, self._row_of, self._rows_of_doc = [], [], {}, {}
        self.add(chunk_ids, docs, vectors)
        return len(drop)

    def _reconstruct(self, rows: np.ndarray) -> np.ndarray:
        if len(rows) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.ascontiguousarray(self._index.reconstruct_batch(np.asarray(rows, dtype=np.int64)), dtype=np.float32)

    # ---- search -------------------------------------------------------------------------------
    def search(self, vectors: np.ndarray, k: int, scope: set[str] | None = None) -> list[list[Hit]]:
        queries = check_vectors(vectors, self.dim, "query vectors")
        if k <= 0 or len(self) == 0:
            return [[] for _ in range(queries.shape[0])]
        if scope is not None:
            rows = sorted(r for doc in scope for r in self._rows_of_doc.get(doc, []))
            return self._search_rows(queries, k, np.array(rows, dtype=np.int64))
        if self.kind == "hnsw" and k >= len(self):
            # "All of them, ranked": a graph walk may not reach every node, a full scan does.
            return self._search_rows(queries, k, np.arange(len(self), dtype=np.int64))
        scores, rows = self._index.search(queries, min(k, len(self)), params=self._search_params(k))
        return [
            [Hit(self._chunk_ids[r], self._doc_ids[r], float(s)) for r, s in zip(row_ids, row_scores) if r >= 0]
            for row_ids, row_scores in zip(rows, scores)
        ]

    def _search_params(self, k: int):
        if self.kind != "hnsw":
            return None
        import faiss

        # efSearch below k cannot return k results; raise it for this call only.
        return faiss.SearchParametersHNSW(efSearch=max(self.hnsw_params["ef_search"], k))

    def _search_rows(self, queries: np.ndarray, k: int, rows: np.ndarray) -> list[list[Hit]]:
        """Exact top-k over the given index rows."""
        if len(rows) == 0:
            return [[] for _ in range(queries.shape[0])]
        positions, scores = exact_top_k(queries, self._reconstruct(rows), k)
        out = []
        for row_positions, row_scores in zip(positions, scores):
            hits = []
            for p, s in zip(row_positions, row_scores):
                r = int(rows[p])
                hits.append(Hit(self._chunk_ids[r], self._doc_ids[r], float(s)))
            out.append(hits)
        return out

    # ---- persistence --------------------------------------------------------------------------
    @property
    def meta(self) -> IndexMeta:
        params = dict(self.hnsw_params) if self.kind == "hnsw" else {}
        return IndexMeta(backend=self.backend, kind=self.kind, dim=self.dim, embedder_version=self.embedder_version, count=len(self), params=params)

    def save(self, path: Path) -> None:
        import faiss

        path = Path(path)
        with atomic_dir(path) as tmp:
            faiss.write_index(self._index, str(tmp / INDEX_FILE))
            (tmp / IDS_FILE).write_text(json.dumps({"chunk_ids": self._chunk_ids, "doc_ids": self._doc_ids}))
            self.meta.write(tmp)
        self.path = path
        log.info("saved %s index (%d chunks) to %s", self.kind, len(self), path)

    @classmethod
    def load(cls, path: Path, embedder_version: str | None = None, ef_search: int | None = None) -> FaissIndex:
        """Open a saved index; with `embedder_version`, refuse one built by another embedder."""
        import faiss

        path = Path(path)
        recover_dir(path)
        meta = IndexMeta.read(path)
        if meta.backend != cls.backend:
            raise IndexError_(f"{path} ({meta.backend})", "a faiss index folder", "set index.backend to match, or re-ingest")
        check_embedder(meta.embedder_version, embedder_version or "", path)
        try:
            raw = faiss.read_index(str(path / INDEX_FILE))
            ids = json.loads((path / IDS_FILE).read_text())
        except (RuntimeError, OSError, ValueError) as exc:
            raise IndexError_(str(path), f"a readable faiss index ({exc})", "delete the index folder and re-ingest") from exc
        chunk_ids, doc_ids = ids["chunk_ids"], ids["doc_ids"]
        if not (raw.ntotal == len(chunk_ids) == len(doc_ids) == meta.count) or raw.d != meta.dim:
            raise IndexError_(
                f"{path}: {raw.ntotal} vectors, {len(chunk_ids)} ids, meta count {meta.count}",
                "matching counts and dim",
                "delete the index folder and re-ingest",
            )
        params = meta.params or {}
        index = cls(
            meta.dim,
            meta.embedder_version,
            kind=meta.kind,  # type: ignore[arg-type]
            hnsw_m=params.get("m", 32),
            hnsw_ef_construction=params.get("ef_construction", 200),
            hnsw_ef_search=ef_search or params.get("ef_search", 128),
            _faiss_index=raw,
        )
        if index.kind == "hnsw":
            raw.hnsw.efSearch = index.hnsw_params["ef_search"]
        index._chunk_ids, index._doc_ids = list(chunk_ids), list(doc_ids)
        index._row_of = {c: i for i, c in enumerate(chunk_ids)}
        for i, doc in enumerate(doc_ids):
            index._rows_of_doc.setdefault(doc, []).append(i)
        index.path = path
        return index
