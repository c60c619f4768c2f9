"""Plain data shared by every stage. No behaviour, no heavy imports."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Document:
    doc_id: str
    text: str
    source: str = ""
    title: str = ""


@dataclass(frozen=True)
class Chunk:
    """A span of a document: `document.text[start:end] == text`."""

    doc_id: str
    start: int
    end: int
    text: str
    ordinal: int = 0

    @property
    def chunk_id(self) -> str:
        return f"{self.doc_id}:{self.start}-{self.end}"

    @classmethod
    def from_id(cls, chunk_id: str, text: str = "") -> Chunk:
        """The span a chunk id names (the inverse of `chunk_id`; doc ids may themselves contain ':')."""
        doc_id, _, span = chunk_id.rpartition(":")
        start, _, end = span.partition("-")
        return cls(doc_id, int(start), int(end), text)


@dataclass(frozen=True)
class Hit:
    """One search result: a chunk id, its doc, and the score that ranked it (higher is better)."""

    chunk_id: str
    doc_id: str
    score: float


@dataclass
class RankedChunk:
    """A chunk as the agent sees it: text plus the scores of each retrieval stage."""

    chunk_id: str
    doc_id: str
    text: str
    retrieval_score: float
    rerank_score: float | None = None
    extra: dict = field(default_factory=dict)
