"""Hard negatives mined from the workspace index with the current embedder.

For a harvested query with at least one positive (cited in a successful task, or labelled >= 2),
search the index (scoped to the task's document when it has one), drop everything a citation or
a label marks relevant, and drop candidates scoring within `cfg.feedback.negative_margin` of the
primary positive's score or above it: a chunk the embedder likes as much as a known answer is
more likely an unlabelled positive than a negative (false-negative filter).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from rag_agent.errors import IndexError_

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Negative:
    chunk_id: str
    positive: str | None
    score: float | None
    positive_score: float | None
    rank: int
    weight: float
    signal: str


class NegativeMiner:
    """Holds the embedder and the index for a whole harvest (loaded once, lazily)."""

    def __init__(self, ws, embedder=None, index=None):
        self.ws = ws
        self._embedder, self._index = embedder, index
        self.unavailable: str | None = None

    @property
    def embedder(self):
        if self._embedder is None:
            from rag_agent.retrieval.embedder import load_embedder

            models = self.ws.config.models
            self._embedder = load_embedder(models)
        return self._embedder

    @property
    def embedder_version(self) -> str:
        return self.embedder.version

    def index(self):
        if self._index is None and self.unavailable is None:
            from rag_agent.retrieval.factory import open_index

            try:
                self._index = open_index(self.ws, self.embedder.version, self.embedder.dim, create=False)
            except IndexError_ as exc:
                self.unavailable = str(exc)
                log.warning("no hard negatives mined: %s", exc)
        return self._index

    def mine(self, query: str, doc_id: str | None, positive: tuple[str, str], exclude: set[str]) -> list[Negative]:
        """positive: (chunk_id, text) of the primary positive; exclude: every known-relevant chunk."""
        cfg = self.ws.config.feedback
        index = self.index()
        if index is None or cfg.negatives_per_query <= 0:
            return []
        query_vector = self.embedder.encode([query], is_query=True)
        positive_vector = self.embedder.encode([positive[1]])
        positive_score = float(query_vector[0] @ positive_vector[0])
        ceiling = positive_score - cfg.negative_margin
        k = cfg.negatives_per_query * 3 + len(exclude) + 1
        hits = index.search(query_vector, k, scope={doc_id} if doc_id else None)[0]
        out: list[Negative] = []
        for hit in hits:
            if hit.chunk_id in exclude or hit.chunk_id == positive[0] or hit.score > ceiling:
                continue
            out.append(Negative(hit.chunk_id, positive[0], float(hit.score), positive_score, len(out) + 1, 1.0, "mined"))
            if len(out) >= cfg.negatives_per_query:
                break
        return out
