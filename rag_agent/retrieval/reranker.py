"""Rerankers: the identity (`none`), a residual reranker, and any sentence-transformers CrossEncoder.

`load_reranker(cfg.models)` (or `load_reranker(cfg.models, spec)`) is the one way a reranker is
built, on `models.device`. "none" keeps the index order; a directory loads a residual reranker
(embedder score + a cross-encoder or BM25 correction, what training produces; a folder with residual.json)
or a plain CrossEncoder (any compatible directory). Versions follow the
embedder's rule, "<dirname>@<content hash>", so traces and eval results name the exact weights.
"""

from __future__ import annotations

import logging
from functools import cached_property
from pathlib import Path
from typing import Sequence

from rag_agent.errors import ModelError
from rag_agent.retrieval.lexical import LexicalCorrection
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


def load_reranker(models, spec: str | None = None, embedder=None):
    """`spec` (default `models.reranker`) with the `models` section's batch size and device:
    "none" -> NoReranker; a residual folder (has residual.json) -> ResidualReranker (`embedder`: an
    already loaded embedder to reuse when it is the bound one); another directory -> CrossEncoderReranker."""
    spec = str(spec if spec is not None else models.reranker)
    if not spec or spec == NO_RERANKER:
        return NoReranker()
    if is_residual(spec):
        return ResidualReranker(spec, models, embedder=embedder)
    return CrossEncoderReranker(spec, batch_size=models.batch_size, device=models.device)


# ---- residual reranker: embedder score + a cross-encoder correction ---------------------------------
RESIDUAL_CARD = "residual.json"  # marks a residual reranker folder (the rest is a standard CrossEncoder)
# The embedder term is rounded to this cosine step before scaling. The index's scores and the ones
# re-encoded here differ by float noise (~1e-7, other batch shapes); without rounding that noise
# could swap two near-tied candidates, and an untrained reranker would not reproduce the index
# order exactly. Rounded near-ties score equal and keep the incoming (index) order: every caller
# sorts stably.
BASE_STEP = 1e-4


def residual_score(cosine: float, correction: float, base_scale: float) -> float:
    """The full score of a residual reranker (the documented scoring function):

        score(q, c) = base_scale * round(cos_E(q, c) / BASE_STEP) * BASE_STEP + g(q, c)

    cos_E is the cosine of the bound embedder E (in [-1, 1]); base_scale = 1 / temperature turns it
    into the embedder's own contrastive logit (MiniLM was trained with scale 20 = 1 / 0.05); g is
    the correction: a cross-encoder's raw 1-logit output (exactly 0 before training: zero head), or
    weight * BM25 for a lexical reranker (rag_agent.retrieval.lexical; weight 0 before fitting)."""
    return base_scale * quantise_cosine(cosine) + correction


def quantise_cosine(cosine: float) -> float:
    return round(float(cosine) / BASE_STEP) * BASE_STEP


TEXT_VECTOR_MEMO = 20_000  # passage vectors kept (384 floats each: ~30 MB), then started afresh


class ResidualReranker:
    """score = base_scale * cos_E(q, c) + g(q, c) (see `residual_score`), read from a folder holding
    `residual.json` (the card: bound embedder path and version, base_scale, parent, objective,
    data counts) and g: a standard CrossEncoder folder, or, when the card says
    `"correction": "lexical"`, lexical.json (g = weight * BM25, rag_agent.retrieval.lexical).

    The embedder term is computed with the bound embedder, so the score never depends on which
    embedder retrieved the candidates. A caller that already has cosines of that same embedder
    may pass them (`base_cosines=`, with `embedder_version=`); any other version is ignored."""

    def __init__(self, path: Path | str, models, embedder=None):
        """`models`: the `models` section (batch size, device) for g and the bound embedder."""
        batch_size, device = models.batch_size, models.device
        self.models = models
        self.path = Path(path)
        self.card = read_residual_card(self.path)
        self.base_scale = float(self.card["base_scale"])
        self.embedder_version = str(self.card["embedder_version"])
        self.correction = (LexicalCorrection(self.path) if _is_lexical(self.card)
                           else CrossEncoderReranker(self.path, batch_size=batch_size, device=device))
        self.batch_size = batch_size
        self.device = device
        self._embedder = embedder if embedder is not None and embedder.version == self.embedder_version else None
        # Passage vectors of the bound embedder, by text. One contract's questions rerank the same
        # few dozen chunks, so re-encoding them per query was 37 % of a reranker's scoring time
        # (bench/reranker_scoring.py: 39.1 s -> 24.6 s on 34 dev queries, 2 cores, 2026-12-06;
        # the cross-encoder pairs are new for every query, these vectors are not).
        self._text_vectors: dict[str, object] = {}

    @property
    def embedder(self):
        if self._embedder is None:
            from rag_agent.retrieval.embedder import load_embedder

            embedder = load_embedder(self.models, self.card["embedder_path"])
            if embedder.version != self.embedder_version:
                raise ModelError(
                    f"embedder {embedder.version} at {self.card['embedder_path']}",
                    f"the embedder this reranker was trained over ({self.embedder_version})",
                    "restore that embedder folder, or train a new reranker over the current embedder",
                )
            self._embedder = embedder
        return self._embedder

    @cached_property
    def version(self) -> str:
        return self.correction.version

    def cosines(self, query: str, texts: Sequence[str]) -> list[float]:
        import numpy as np

        missing = list(dict.fromkeys(t for t in texts if t not in self._text_vectors))
        if missing:
            if len(self._text_vectors) + len(missing) > TEXT_VECTOR_MEMO:
                self._text_vectors.clear()  # full: start afresh, with every text of this call
                missing = list(dict.fromkeys(texts))
            self._text_vectors.update(zip(missing, self.embedder.encode(missing)))
        vectors = np.stack([self._text_vectors[t] for t in texts])
        return [float(x) for x in vectors @ self.embedder.encode([query], is_query=True)[0]]

    def score(self, query: str, texts: Sequence[str], base_cosines: Sequence[float] | None = None, embedder_version: str | None = None) -> list[float]:
        if len(texts) == 0:
            return []
        usable = base_cosines is not None and embedder_version == self.embedder_version and len(base_cosines) == len(texts)
        cosines = list(base_cosines) if usable else self.cosines(query, texts)
        corrections = self.correction.score(query, texts)
        return [residual_score(c, g, self.base_scale) for c, g in zip(cosines, corrections)]


def read_residual_card(path: Path) -> dict:
    import json

    try:
        card = json.loads((Path(path) / RESIDUAL_CARD).read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(str(path), f"a readable {RESIDUAL_CARD} ({exc})", "retrain the reranker or point models.reranker at another folder") from exc
    missing = [key for key in ("base_scale", "embedder_path", "embedder_version") if key not in card]
    if missing:
        raise ModelError(str(path), f"{RESIDUAL_CARD} with {', '.join(missing)}", "retrain the reranker (its card is incomplete)")
    card["embedder_path"] = bound_embedder_path(Path(path), card["embedder_path"])
    return card


def bound_embedder_path(folder: Path, stored: str) -> str:
    """The bound embedder's folder NOW. Cards store it as training was given it, often relative
    to that command's directory ('workspace/models/embedder/...'), which breaks when the workspace
    is opened from elsewhere or copied. The trainer writes both into one models tree
    (<models>/reranker/<id> beside <models>/embedder/<id>), so that sibling wins when it exists;
    the version check in `ResidualReranker.embedder` still refuses a wrong one."""
    if Path(stored).is_absolute():
        return stored
    sibling = folder.parent.parent / "embedder" / Path(stored).name
    return str(sibling) if sibling.is_dir() else stored


def is_residual(path: Path | str) -> bool:
    return (Path(path) / RESIDUAL_CARD).is_file()


def has_cross_encoder(path: Path | str) -> bool:
    """Does scoring with this folder run a cross-encoder (one a trainer can continue from)? A
    legacy CrossEncoder folder, or a residual reranker whose g is one; not the lexical correction,
    whose folder holds fitted numbers only."""
    return not is_residual(path) or not _is_lexical(read_residual_card(Path(path)))


def _is_lexical(card: dict) -> bool:
    return card.get("correction") == "lexical"
