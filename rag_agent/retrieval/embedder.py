"""Sentence-transformers embedder: batched, L2-normalised, versioned by content hash."""

from __future__ import annotations

import logging
from functools import cached_property
from pathlib import Path
from typing import Sequence

import numpy as np

from rag_agent.models import embedder_path, fingerprint_dir

log = logging.getLogger(__name__)


def load_embedder(models, spec: str | None = None) -> SentenceTransformerEmbedder:
    """The one way an embedder is built: `spec` (default `models.embedder`; "bundled:NAME" or a
    directory) with the `models` section's batch size and device."""
    return SentenceTransformerEmbedder(embedder_path(spec or models.embedder), batch_size=models.batch_size, device=models.device)


class SentenceTransformerEmbedder:
    """Wraps a sentence-transformers directory. `version` = "<dirname>@<content hash>".
    Built by `load_embedder(cfg.models)`, so batch size and device follow the config."""

    def __init__(self, path: Path | str, batch_size: int = 32, device: str = "cpu"):
        self.path = Path(path)
        self.batch_size = batch_size
        self.device = device

    @classmethod
    def from_spec(cls, spec: str, batch_size: int = 32, device: str = "cpu") -> SentenceTransformerEmbedder:
        return cls(embedder_path(spec), batch_size=batch_size, device=device)

    @cached_property
    def model(self):
        from sentence_transformers import SentenceTransformer

        return SentenceTransformer(str(self.path), device=self.device, local_files_only=True)

    @cached_property
    def version(self) -> str:
        name = self.path.name if self.path.name != "model" else self.path.parent.name
        return f"{name}@{fingerprint_dir(self.path)}"

    @property
    def dim(self) -> int:
        return int(self.model.get_embedding_dimension())

    def encode(self, texts: Sequence[str], *, is_query: bool = False, show_progress: bool = False) -> np.ndarray:
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=show_progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)
