"""Rerankers: the identity (`none`) and any sentence-transformers CrossEncoder directory.

`load_reranker("none")` keeps the index order; `load_reranker(<dir>)` loads a CrossEncoder (a
trained one from the model registry, or any compatible directory). Versions follow the
embedder's rule, "<dirname>@<content hash>", so traces and eval results name the exact weights.
"""

from __future__ import annotations

import logging
from functools import cached_property
from pathlib import Path
from typing import Sequence

from rag_agent.errors import ModelError
from rag_agent.models import fingerprint_dir

log = logging.getLogger(__name__)

NO_RERANKER = "none"


class NoReranker:
    """Identity reranker: strictly decreasing scores in the incoming order."""

    version = NO_RERANKER

    def score(self, query: str, texts: Sequence[str]) -> list[float]:
        n = len(texts)
        return [float(n - i) for i in range(n)]


class CrossEncoderReranker:
    """A sentence-transformers CrossEncoder scoring (query, text) pairs in batches.

    Scores are the model's raw logits (no sigmoid): sigmoid saturates near 0/1 and would turn
    confident, distinct scores into float ties. Pairs longer than the model's max length are
    truncated by the tokenizer (the query is kept; the passage tail is cut).
    """

    def __init__(self, path: Path | str, batch_size: int = 32, device: str = "cpu", max_length: int | None = None):
        self.path = Path(path)
        if not self.path.is_dir():
            raise ModelError(str(path), "a CrossEncoder directory or 'none'", "set models.reranker to 'none' or a trained reranker directory")
        self.batch_size = batch_size
        self.device = device
        self.max_length = max_length

    @cached_property
    def model(self):
        from sentence_transformers import CrossEncoder

        try:
            model = CrossEncoder(str(self.path), device=self.device, local_files_only=True, max_length=self.max_length)
        except (OSError, ValueError) as exc:
            raise ModelError(str(self.path), f"a loadable CrossEncoder directory ({exc})", "point models.reranker at a saved CrossEncoder or 'none'") from exc
        if getattr(model, "num_labels", 1) != 1:
            raise ModelError(str(self.path), f"a 1-label CrossEncoder (found {model.num_labels} labels)", "train/save the reranker with num_labels=1")
        return model

    @cached_property
    def version(self) -> str:
        return f"{self.path.name}@{fingerprint_dir(self.path)}"

    def score(self, query: str, texts: Sequence[str]) -> list[float]:
        if len(texts) == 0:
            return []
        import torch

        scores = self.model.predict(
            [(query, text) for text in texts],
            batch_size=self.batch_size,
            activation_fn=torch.nn.Identity(),
            show_progress_bar=False,
            convert_to_numpy=True,
        )
        return [float(s) for s in scores.reshape(-1)]


def load_reranker(spec: str, batch_size: int = 32, device: str = "cpu"):
    """`"none"` -> NoReranker; a directory -> CrossEncoderReranker."""
    if not spec or spec == NO_RERANKER:
        return NoReranker()
    return CrossEncoderReranker(spec, batch_size=batch_size, device=device)
