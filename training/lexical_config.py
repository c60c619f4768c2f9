"""`training.lexical`: the lexical residual reranker (g = weight * BM25, rag_agent.retrieval.lexical),
fitted by training/lexical_trainer.py. This class IS the config section."""

from __future__ import annotations

from rag_agent.config_section import Section


class LexicalConfig(Section):
    section_path = "training.lexical"

    k1: float = 1.2
    """BM25 term-frequency saturation (Robertson & Zaragoza's usual 1.2; not tuned here)."""
    b: float = 0.75
    """BM25 length normalisation (the usual 0.75; not tuned here)."""
    steps: int = 300
    """Full-batch Adam steps of the fit (one scalar, the weight: flat well before 300 on the
    weights seen, 0.6-0.8; each step takes microseconds)."""
    lr: float = 0.05
    """Adam learning rate of the weight."""
    pair_margin: float = 0.1
    """Only chunk pairs the judge's P(yes) separates by at least this count (closer is judge
    noise); a list with no such pair is left out (training/losses/ranknet_pairwise.py)."""
