"""The small protocols each pipeline stage hides behind.

Every backend of a protocol passes the same conformance suite (tests/test_*_conformance.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, Sequence, runtime_checkable

import numpy as np

from rag_agent.types import Hit, RankedChunk


@runtime_checkable
class TextEmbedder(Protocol):
    version: str  # content hash of the model: indexes are bound to it
    dim: int

    def encode(self, texts: Sequence[str], *, is_query: bool = False, show_progress: bool = False) -> np.ndarray:
        """L2-normalised float32 vectors, one row per text."""


@runtime_checkable
class VectorIndex(Protocol):
    embedder_version: str

    def add(self, chunk_ids: Sequence[str], doc_ids: Sequence[str], vectors: np.ndarray) -> None: ...

    def search(self, vectors: np.ndarray, k: int, scope: set[str] | None = None) -> list[list[Hit]]:
        """Top-k per query vector by inner product; with `scope`, the true top-k among those doc_ids."""

    def save(self, path: Path) -> None: ...

    def __len__(self) -> int: ...


@runtime_checkable
class Reranker(Protocol):
    version: str

    def score(self, query: str, texts: Sequence[str]) -> list[float]:
        """One relevance score per text; higher is more relevant. Equal scores mean "keep the
        incoming order" (callers sort stably). A residual reranker also takes optional
        `base_cosines=` + `embedder_version=` (the caller's index scores, used only when that
        version is the embedder it is bound to; rag_agent/retrieval/reranker.py)."""


# ---- LLM ------------------------------------------------------------------------------------------


@dataclass
class Reply:
    """One chat completion. `parsed` is set when a JSON schema was requested and the reply conformed."""

    text: str
    parsed: Any = None
    tokens_in: int = 0
    tokens_out: int = 0
    seconds: float = 0.0
    model: str = ""
    logprobs: list[dict] | None = None  # per generated token, when the backend provides them


@runtime_checkable
class ChatLLM(Protocol):
    name: str  # e.g. "llama-cpp:qwen2.5-coder-1.5b"

    def complete(self, messages: list[dict], schema: dict | None = None, max_tokens: int | None = None) -> Reply:
        """messages: [{"role": "system"|"user"|"assistant", "content": str}]. With `schema` (a JSON
        schema), the reply must parse as JSON conforming to it, else LLMError after bounded retries."""

    def choice_probabilities(self, messages: list[dict], choices: list[str]) -> dict[str, float]:
        """Probability (renormalised over `choices`) that the next token starts each choice, from the
        backend's token log-probabilities; used for graded pointwise judging (e.g. "yes"/"no")."""


# ---- retrieval as the agent sees it ---------------------------------------------------------------
@runtime_checkable
class Retriever(Protocol):
    embedder_version: str
    reranker_version: str

    def retrieve(self, query: str, k: int, scope: set[str] | None = None) -> list[RankedChunk]:
        """Index order, best first, with chunk text filled in."""

    def rerank(self, query: str, chunks: list[RankedChunk], k: int) -> list[RankedChunk]:
        """Reranker order (identity order for the `none` reranker), best k first."""


@dataclass
class WebHit:
    title: str
    url: str
    text: str


@runtime_checkable
class WebSearch(Protocol):
    name: str

    def search(self, query: str, k: int) -> list[WebHit]: ...


# ---- feedback ------------------------------------------------------------------------------------
@dataclass
class Label:
    """A judge's grade of one (query, chunk): 0 irrelevant .. 3 contains the answer."""

    chunk_id: str
    grade: int
    reason: str = ""
    score: float | None = None  # graded probability when the judge has log-probabilities
    extra: dict = field(default_factory=dict)


@runtime_checkable
class Judge(Protocol):
    name: str  # judge model + prompt version, part of the label cache key

    def grade(self, query: str, chunks: list[tuple[str, str]]) -> list[Label]:
        """chunks: [(chunk_id, text)] -> one Label per chunk, same order."""

