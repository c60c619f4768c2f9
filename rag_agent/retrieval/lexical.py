"""BM25 term statistics and the lexical correction of a residual reranker.

A lexical residual reranker scores
    score(q, c) = base_scale * cos_E(q, c) + weight * bm25(q, c)
(rag_agent.retrieval.reranker.residual_score, with g = weight * bm25). Its folder holds
residual.json (the card, `"correction": "lexical"`), lexical.json (the BM25 statistics it was
fitted with and `weight`) and README.md. Why a lexical g at all: contract clauses are found by
their words ("governed by the laws of", "non-compete"), which a 6-layer MiniLM bi-encoder blurs;
one fitted weight on an exact-match score is learnable from the few dozen judged lists a loop
cycle yields, where a 22M-parameter cross-encoder g is not (docs/training.md, "Reranker
objectives"). weight = 0 is exactly the retriever.

BM25 (Robertson & Zaragoza 2009, "The Probabilistic Relevance Framework: BM25 and Beyond"):
    bm25(q, c) = sum over distinct query terms t in c of
                 idf(t) * tf(t, c) * (k1 + 1) / (tf(t, c) + k1 * (1 - b + b * |c| / avgdl))
    idf(t) = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))
with N, df and avgdl counted over the corpus the reranker was fitted on (the workspace's indexed
chunks: train contracts only), stored in lexical.json, so a score never depends on which
candidates happen to be reranked together. A term the corpus never saw has df 0 (the largest idf).
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Iterable, Sequence

LEXICAL_FILE = "lexical.json"
TOKEN = re.compile(r"[a-z0-9]+")
# Function words only: anything domain-specific is left to idf (a word in every chunk scores ~0).
STOPWORDS = frozenset(
    "a an and are as at be by for from has have if in into is it its of on or such that the their them then there these "
    "this to was were which will with any all".split()
)


def terms(text: str) -> list[str]:
    """Lower-cased alphanumeric words without STOPWORDS (the one tokenizer of corpus and query)."""
    return [word for word in TOKEN.findall(text.lower()) if word not in STOPWORDS]


@dataclass
class Bm25Stats:
    """Corpus statistics of BM25 (module docstring), saved as JSON."""

    n_docs: int
    avgdl: float
    df: dict[str, int] = field(default_factory=dict)
    k1: float = 1.2
    b: float = 0.75

    @classmethod
    def build(cls, texts: Iterable[str], k1: float = 1.2, b: float = 0.75) -> "Bm25Stats":
        df: Counter = Counter()
        n_docs = total = 0
        for text in texts:
            words = terms(text)
            df.update(set(words))
            n_docs += 1
            total += len(words)
        if n_docs == 0:
            from rag_agent.errors import DataError

            raise DataError("0 corpus texts", "the chunks BM25's statistics are counted over", "ingest documents first (`python -m rag_agent ingest`)")
        return cls(n_docs=n_docs, avgdl=max(total / n_docs, 1.0), df=dict(df), k1=k1, b=b)

    def idf(self, term: str) -> float:
        df = self.df.get(term, 0)
        return math.log(1.0 + (self.n_docs - df + 0.5) / (df + 0.5))

    def scores(self, query: str, texts: Sequence[str]) -> list[float]:
        query_terms = set(terms(query))
        idf = {t: self.idf(t) for t in query_terms}
        out = []
        for text in texts:
            words = terms(text)
            tf = Counter(w for w in words if w in idf)
            norm = self.k1 * (1.0 - self.b + self.b * len(words) / self.avgdl)
            out.append(sum(idf[t] * n * (self.k1 + 1.0) / (n + norm) for t, n in tf.items()))
        return out

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Bm25Stats":
        return cls(n_docs=int(data["n_docs"]), avgdl=float(data["avgdl"]), df={str(k): int(v) for k, v in data["df"].items()},
                   k1=float(data["k1"]), b=float(data["b"]))


def write_lexical(folder: Path, stats: Bm25Stats, weight: float) -> None:
    """lexical.json: the statistics and the fitted weight (sorted keys: identical fits hash alike)."""
    (Path(folder) / LEXICAL_FILE).write_text(json.dumps({"weight": weight, "bm25": stats.to_dict()}, sort_keys=True))


class LexicalCorrection:
    """g(q, c) = weight * bm25(q, c), read from a lexical residual folder (the Reranker protocol's
    `score` and `version`; ResidualReranker adds the embedder term)."""

    def __init__(self, path: Path | str):
        from rag_agent.errors import ModelError

        self.path = Path(path)
        try:
            data = json.loads((self.path / LEXICAL_FILE).read_text())
            self.weight = float(data["weight"])
            self.stats = Bm25Stats.from_dict(data["bm25"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelError(str(self.path), f"a readable {LEXICAL_FILE} with weight and bm25 ({exc!r})", "retrain the reranker (training reranker --objective lexical)") from exc

    @cached_property
    def version(self) -> str:
        from rag_agent.models import fingerprint_dir

        return f"{self.path.name}@{fingerprint_dir(self.path)}"

    def score(self, query: str, texts: Sequence[str]) -> list[float]:
        return [self.weight * s for s in self.stats.scores(query, texts)]
