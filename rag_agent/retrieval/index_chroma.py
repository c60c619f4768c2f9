"""Chroma as a vector index: a persistent folder, or a `chroma run` server (`index.chroma_url`).

Folder layout:

    meta.json   backend "chroma", dim, embedder_version, count, params {collection, url, hnsw}
    chroma/     chroma's own persistent store (absent when the data lives on a server)

Embeddings are always passed explicitly and the collection is created with
`embedding_function=None`: chroma's default function downloads a model, which fails offline and
would silently embed with the wrong model. The collection uses the inner-product space, so its
distance is `1 - cosine` for our normalised vectors and `score = 1 - distance`.

Scoped search fetches the scope's stored vectors (`get(where=doc_id $in ...)`) and scores them
exactly, so the true top-k inside the scope is returned even when the global top-k has none.
Chroma writes are transactional in place; `save` only rewrites `meta.json` atomically (or copies
the whole folder atomically when saving elsewhere).
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Sequence
from urllib.parse import urlparse

import numpy as np

from rag_agent.errors import IndexError_
from rag_agent.files import atomic_dir, recover_dir
from rag_agent.retrieval.index_meta import IndexMeta, check_embedder, check_vectors, exact_top_k
from rag_agent.types import Hit

log = logging.getLogger(__name__)

STORE_DIR = "chroma"


def _client(path: Path, url: str):
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    import chromadb
    from chromadb.config import Settings

    settings = Settings(anonymized_telemetry=False)
    if url:
        parsed = urlparse(url if "://" in url else f"http://{url}")
        if not parsed.hostname:
            raise IndexError_(f"index.chroma_url={url!r}", "http://host:port of a `chroma run` server", "fix index.chroma_url or leave it empty")
        ssl = parsed.scheme == "https"
        return chromadb.HttpClient(host=parsed.hostname, port=parsed.port or (443 if ssl else 8000), ssl=ssl, settings=settings)
    return chromadb.PersistentClient(path=str(path / STORE_DIR), settings=settings)


def collection_name(embedder_version: str) -> str:
    from rag_agent.retrieval.factory import slug

    # Chroma names: 3-512 chars of [A-Za-z0-9._-], starting and ending alphanumeric.
    return f"ragloop-{slug(embedder_version)}"[:500].rstrip("-._")


class ChromaIndex:
    backend = "chroma"
    kind = "hnsw"

    def __init__(self, path: Path, dim: int, embedder_version: str, collection, url: str, params: dict):
        self.path = Path(path)
        self.dim = int(dim)
        self.embedder_version = embedder_version
        self.url = url
        self.params = params
        self._collection = collection

    @classmethod
    def create(cls, path: Path, dim: int, embedder_version: str, cfg, fresh: bool = False) -> ChromaIndex:
        """A collection for `embedder_version` (`cfg` is an `IndexConfig`); `fresh` drops old data."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        client = _client(path, cfg.chroma_url)
        name = collection_name(embedder_version)
        if fresh:
            try:
                client.delete_collection(name)
            except Exception:  # chroma raises NotFoundError/ValueError by version; absent is fine
                pass
        hnsw = {"space": "ip", "ef_construction": cfg.hnsw_ef_construction, "ef_search": cfg.hnsw_ef_search, "max_neighbors": cfg.hnsw_m}
        collection = client.get_or_create_collection(
            name,
            configuration={"hnsw": hnsw},
            metadata={"embedder_version": embedder_version, "dim": dim},
            embedding_function=None,
        )
        params = {"collection": name, "url": cfg.chroma_url, "hnsw": hnsw}
        return cls(path, dim, embedder_version, collection, cfg.chroma_url, params)

    @classmethod
    def load(cls, path: Path, embedder_version: str | None = None, cfg=None) -> ChromaIndex:
        path = Path(path)
        recover_dir(path)
        meta = IndexMeta.read(path)
        if meta.backend != cls.backend:
            raise IndexError_(f"{path} ({meta.backend})", "a chroma index folder", "set index.backend to match, or re-ingest")
        check_embedder(meta.embedder_version, embedder_version or "", path)
        url = meta.params.get("url", "")
        client = _client(path, url)
        try:
            collection = client.get_collection(meta.params["collection"], embedding_function=None)
        except Exception as exc:  # NotFoundError / connection errors differ across chroma versions
            where = url or str(path / STORE_DIR)
            raise IndexError_(f"collection {meta.params.get('collection')} at {where}", f"an existing chroma collection ({exc})", "re-ingest to rebuild the index") from exc
        return cls(path, meta.dim, meta.embedder_version, collection, url, dict(meta.params))

    # ---- contents -----------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self._collection.count())

    @property
    def doc_ids(self) -> set[str]:
        return {m["doc_id"] for m in self._collection.get(include=["metadatas"])["metadatas"]}

    def __contains__(self, chunk_id: object) -> bool:
        return bool(self._collection.get(ids=[str(chunk_id)], include=[])["ids"])

    def missing(self, chunk_ids: Sequence[str]) -> list[str]:
        """The ids not in the index, in one round trip per batch (cheaper than `in` per id)."""
        present: set[str] = set()
        step = self._max_batch()
        for lo in range(0, len(chunk_ids), step):
            present.update(self._collection.get(ids=list(chunk_ids[lo : lo + step]), include=[])["ids"])
        return [c for c in chunk_ids if c not in present]

    def add(self, chunk_ids: Sequence[str], doc_ids: Sequence[str], vectors: np.ndarray) -> None:
        """Add chunks; ids already present are left as they are (chroma ignores duplicate adds)."""
        vectors = check_vectors(vectors, self.dim, "vectors to add")
        if not (len(chunk_ids) == len(doc_ids) == vectors.shape[0]):
            raise IndexError_(
                f"{len(chunk_ids)} chunk ids, {len(doc_ids)} doc ids, {vectors.shape[0]} vectors", "equal lengths", "pass one id pair per vector"
            )
        # Drop duplicates within the call too: chroma rejects an add whose ids repeat.
        first: dict[str, int] = {}
        for i, chunk_id in enumerate(chunk_ids):
            first.setdefault(chunk_id, i)
        keep = list(first.values())
        step = self._max_batch()
        for lo in range(0, len(keep), step):
            rows = keep[lo : lo + step]
            self._collection.add(
                ids=[chunk_ids[i] for i in rows],
                embeddings=vectors[rows],
                metadatas=[{"doc_id": doc_ids[i]} for i in rows],
            )

    def _max_batch(self) -> int:
        try:
            return max(1, int(self._collection._client.get_max_batch_size()))
        except Exception:  # older/remote clients may not expose it; chroma's documented floor
            return 1000

    def remove_docs(self, doc_ids: set[str]) -> int:
        if not doc_ids:
            return 0
        where = {"doc_id": {"$in": sorted(doc_ids)}}
        count = len(self._collection.get(where=where, include=[])["ids"])
        if count:
            self._collection.delete(where=where)
        return count

    # ---- search -------------------------------------------------------------------------------
    def search(self, vectors: np.ndarray, k: int, scope: set[str] | None = None) -> list[list[Hit]]:
        queries = check_vectors(vectors, self.dim, "query vectors")
        if scope is not None:
            return self._search_scope(queries, k, scope)
        n = len(self)
        if k <= 0 or n == 0 or queries.shape[0] == 0:
            return [[] for _ in range(queries.shape[0])]
        if k >= n:
            # "All of them, ranked": a graph walk may not reach every node, a full scan does.
            return self._search_exact(queries, k, where=None)
        result = self._collection.query(query_embeddings=queries, n_results=min(k, n), include=["metadatas", "distances"])
        return [
            [Hit(cid, meta["doc_id"], 1.0 - float(dist)) for cid, meta, dist in zip(ids, metas, dists)]
            for ids, metas, dists in zip(result["ids"], result["metadatas"], result["distances"])
        ]

    def _search_scope(self, queries: np.ndarray, k: int, scope: set[str]) -> list[list[Hit]]:
        if k <= 0 or not scope:
            return [[] for _ in range(queries.shape[0])]
        return self._search_exact(queries, k, where={"doc_id": {"$in": sorted(scope)}})

    def _search_exact(self, queries: np.ndarray, k: int, where: dict | None) -> list[list[Hit]]:
        """Exact inner products over the stored vectors matching `where` (all when None)."""
        got = self._collection.get(where=where, include=["embeddings", "metadatas"])
        if not got["ids"]:
            return [[] for _ in range(queries.shape[0])]
        # Sort by chunk id so ties break the same way on every call.
        order = sorted(range(len(got["ids"])), key=lambda i: got["ids"][i])
        ids = [got["ids"][i] for i in order]
        docs = [got["metadatas"][i]["doc_id"] for i in order]
        candidates = np.asarray(got["embeddings"], dtype=np.float32)[order]
        positions, scores = exact_top_k(queries, candidates, k)
        return [[Hit(ids[p], docs[p], float(s)) for p, s in zip(ps, ss)] for ps, ss in zip(positions, scores)]

    # ---- persistence --------------------------------------------------------------------------
    @property
    def meta(self) -> IndexMeta:
        return IndexMeta(backend=self.backend, kind=self.kind, dim=self.dim, embedder_version=self.embedder_version, count=len(self), params=self.params)

    def save(self, path: Path) -> None:
        path = Path(path)
        if path.resolve() == self.path.resolve():
            self.meta.write(path)
            return
        # Another folder: copy the persistent store (a server-backed index only needs its meta).
        with atomic_dir(path) as tmp:
            if not self.url and (self.path / STORE_DIR).exists():
                shutil.copytree(self.path / STORE_DIR, tmp / STORE_DIR)
            self.meta.write(tmp)
        log.info("copied chroma index (%d chunks) to %s", len(self), path)
