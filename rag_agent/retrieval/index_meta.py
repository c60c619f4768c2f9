"""What every vector index shares: its `meta.json`, the embedder-version guard, atomic writes.

An index is only meaningful with the embedder that produced its vectors, so each index folder
records that embedder's version; opening it with another embedder is refused instead of
returning silently wrong neighbours.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from rag_agent.errors import IndexError_
from rag_agent.files import write_text_atomic

META_FILE = "meta.json"
FORMAT_VERSION = 1


@dataclass
class IndexMeta:
    backend: str  # "faiss" | "chroma"
    kind: str  # "flat" | "hnsw" (chroma is always hnsw)
    dim: int
    embedder_version: str
    count: int = 0
    format: int = FORMAT_VERSION
    params: dict = field(default_factory=dict)  # backend-specific: hnsw M/ef, chroma collection/url

    def write(self, directory: Path) -> None:
        write_text_atomic(directory / META_FILE, json.dumps(asdict(self), indent=2, sort_keys=True))

    @classmethod
    def read(cls, directory: Path) -> IndexMeta:
        path = Path(directory) / META_FILE
        if not path.exists():
            raise IndexError_(str(directory), f"an index folder with {META_FILE}", "run `python -m rag_agent ingest ...` to build the index")
        try:
            data = json.loads(path.read_text())
            meta = cls(**data)
        except (ValueError, TypeError) as exc:
            raise IndexError_(str(path), f"a valid index {META_FILE} ({exc})", "delete the index folder and re-ingest") from exc
        if meta.format != FORMAT_VERSION:
            raise IndexError_(f"{path} format {meta.format}", f"index format {FORMAT_VERSION}", "delete the index folder and re-ingest")
        return meta


def check_embedder(index_version: str, embedder_version: str, where: object) -> None:
    """Refuse to use an index with vectors from another embedder."""
    if embedder_version and index_version != embedder_version:
        raise IndexError_(
            f"index {where} built by embedder {index_version}",
            f"an index built by embedder {embedder_version}",
            "re-ingest with this embedder, or `training rollback` to the embedder that built it",
        )


def check_vectors(vectors: np.ndarray, dim: int, what: str) -> np.ndarray:
    """`vectors` as a C-contiguous float32 (n, dim) matrix, or a clear error."""
    array = np.asarray(vectors, dtype=np.float32)
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2 or array.shape[1] != dim:
        raise IndexError_(f"{what} of shape {tuple(np.shape(vectors))}", f"shape (n, {dim})", "encode with the embedder that built this index")
    return np.ascontiguousarray(array)


def exact_top_k(queries: np.ndarray, candidates: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact inner-product top-k of each query over `candidates`: (positions, scores), best first.

    Ties keep candidate order, so results are deterministic across backends.
    """
    n = candidates.shape[0]
    k = min(k, n)
    if k <= 0 or queries.shape[0] == 0:
        return np.zeros((queries.shape[0], 0), dtype=np.int64), np.zeros((queries.shape[0], 0), dtype=np.float32)
    scores = queries @ candidates.T
    if k < n:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    else:
        part = np.tile(np.arange(n), (queries.shape[0], 1))
    part_scores = np.take_along_axis(scores, part, axis=1)
    # lexsort: primary key descending score, secondary ascending position
    order = np.lexsort((part, -part_scores), axis=-1)
    positions = np.take_along_axis(part, order, axis=1)
    return positions, np.take_along_axis(part_scores, order, axis=1)
