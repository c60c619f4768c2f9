"""Reranker scores on disk, per (reranker version, query, chunk text).

A cross-encoder pass is the dearest part of an evaluation on a CPU. The loop re-applies the same
reranker to rankings that differ only a little (the champion reranker over a candidate embedder,
a resumed evaluation, the next cycle's champion), so each score is kept once it is computed.

One append-only JSON-lines file per reranker version, `<root>/<slug(version)>.jsonl`, each line
`{"k": sha256(query, text), "s": score}`. Appending makes a kill -9 lose at most the last line,
which the reader skips; a score is a pure function of its key, so duplicates are harmless.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Sequence

log = logging.getLogger(__name__)


class RerankScoreCache:
    """`score(reranker, query, texts)` = `reranker.score(query, texts)`, scoring only unseen pairs."""

    def __init__(self, root: Path | None):
        self.root = root
        self._scores: dict[str, dict[str, float]] = {}  # version -> key -> score
        self.hits = 0
        self.misses = 0

    def score(self, reranker, query: str, texts: Sequence[str], base_cosines: Sequence[float] | None = None) -> list[float]:
        """`base_cosines`: the bound embedder's cosines of `texts`, handed to a residual reranker
        (callers pass them only when the retrieving embedder is the one it is bound to)."""
        version = getattr(reranker, "version", None)
        if self.root is None or not version:
            return list(_score(reranker, query, list(texts), base_cosines))
        known = self._load(version)
        keys = [pair_key(query, text) for text in texts]
        missing = sorted({i for i, key in enumerate(keys) if key not in known})
        if missing:
            scores = _score(reranker, query, [texts[i] for i in missing], None if base_cosines is None else [base_cosines[i] for i in missing])
            fresh = {keys[i]: float(s) for i, s in zip(missing, scores)}
            known.update(fresh)
            self._append(version, fresh)
        self.misses += len(missing)
        self.hits += len(keys) - len(missing)
        return [known[key] for key in keys]

    def _file(self, version: str) -> Path:
        from rag_agent.retrieval.factory import slug

        return self.root / f"{slug(version)}.jsonl"

    def _load(self, version: str) -> dict[str, float]:
        if version in self._scores:
            return self._scores[version]
        scores: dict[str, float] = {}
        path = self._file(version)
        if path.exists():
            for line in path.read_text().splitlines():
                try:
                    item = json.loads(line)
                    scores[item["k"]] = float(item["s"])
                except (ValueError, KeyError, TypeError):
                    continue  # the torn last line of a killed writer
        self._scores[version] = scores
        return scores

    def _append(self, version: str, fresh: dict[str, float]) -> None:
        path = self._file(version)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as fh:
            fh.write("".join(json.dumps({"k": k, "s": s}) + "\n" for k, s in fresh.items()))


def _score(reranker, query: str, texts: list[str], base_cosines):
    if base_cosines is None:
        return reranker.score(query, texts)
    return reranker.score(query, texts, base_cosines=list(base_cosines), embedder_version=reranker.embedder_version)


def pair_key(query: str, text: str) -> str:
    digest = hashlib.sha256()
    for part in (query, text):
        encoded = part.encode("utf-8")
        digest.update(len(encoded).to_bytes(8, "little"))  # length prefix: no ambiguous joins
        digest.update(encoded)
    return digest.hexdigest()[:32]
