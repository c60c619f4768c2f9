"""Reranker objective `lexical`: fit the weight of a BM25 correction to the LLM judge's soft scores.

`train_reranker_lexical(parent_path or None, lists, cfg, out_dir, embedder, objective=, models=, corpus=, distill=) -> TrainResult`
(cfg: `training.reranker`, objective: `training.lexical`, distill: `training.distill`, whose
teacher temperature only the reported KL uses, corpus: the texts BM25's statistics are counted over, the workspace's chunks).

The reranker is score(q, c) = base_scale * cos_E(q, c) + weight * bm25(q, c)
(rag_agent.retrieval.lexical), E the embedder it is bound to; weight = 0 is the retriever exactly.
Loss: training/losses/ranknet_pairwise.py on that full score, over `weight` alone, full batch:
the embedder term keeps its own logit scale (base_scale = 20 for MiniLM), so the weight is
identified against it. One scalar fits from a few dozen lists (a cross-encoder g from as many
did not: docs/training.md, "Reranker objectives").

Why not the listwise KL of distill: its optimum depends on the teacher temperature, and with a
free student scale (needed to match softmax(P / 0.1) to softmax(20 * cos)) the ratio w / scale
was unstable: 0.56 from a run's first 11 lists, 1.81 from its 19 (2026-12-07), where the tuning
half of dev put the best weight near 0.4 and 1.81 gained a fifth as much. The pairwise fit gave
0.62 and 0.80 on the same lists (docs/training.md). The KL before and after is still reported.
`merge_alpha` < 1 shrinks weight toward 0, the retriever (the merge with its starting point,
as for the cross-encoder).
"""

from __future__ import annotations

import logging
from pathlib import Path

from rag_agent.errors import DataError
from training.common import TrainResult, atomic_output, top1_agreement
from training.data import ScoredList
from training.lexical_config import LexicalConfig
from training.reranker_config import DistillConfig, RerankerTrainConfig

log = logging.getLogger(__name__)


def train_reranker_lexical(
    parent_path: Path | str | None, lists: list[ScoredList], cfg: RerankerTrainConfig, out_dir: Path | str, embedder: str | None = None,
    *, objective: LexicalConfig | None = None, models, corpus: list[str], distill: DistillConfig | None = None,
) -> TrainResult:
    import torch

    from rag_agent.retrieval.lexical import Bm25Stats
    from training.losses.listwise_kl import listwise_kl, pad_lists
    from training.losses.ranknet_pairwise import ranknet_pairwise
    from training.progress import step_bar
    from training.reranker_model import ResidualBase

    lexical, distill = objective or LexicalConfig(), distill or DistillConfig()
    lists = [g for g in lists if len(g.texts) >= 2 and max(g.scores) - min(g.scores) >= lexical.pair_margin]
    if not lists:
        raise DataError(f"0 judged queries with >= 2 chunks scored >= {lexical.pair_margin} apart", "soft judge scores to fit",
                        "harvest with the pointwise judge first")
    if embedder is None:
        raise DataError("no embedder for the lexical reranker", "the embedder it is trained over", "pass embedder= (the champion embedder's path)")
    stats = Bm25Stats.build(corpus, lexical.k1, lexical.b)
    base = ResidualBase(embedder, cfg.base_temperature, models=models)
    base_terms, mask = pad_lists([base.terms([g.query] * len(g.texts), g.texts) for g in lists])
    bm25, _ = pad_lists([stats.scores(g.query, g.texts) for g in lists])
    teacher, _ = pad_lists([g.scores for g in lists])
    weights = torch.tensor([g.weight for g in lists])

    def loss_at(w):
        return ranknet_pairwise(base_terms + w * bm25, teacher, mask, lexical.pair_margin)

    def kl_at(w: float) -> float:
        return float(listwise_kl(base_terms + w * bm25, teacher, mask, distill.teacher_temperature, weights))

    w = torch.zeros((), requires_grad=True)
    optimizer = torch.optim.Adam([w], lr=lexical.lr)
    loss_retriever = float(loss_at(torch.zeros(())))
    losses = []
    with step_bar("fitting lexical reranker", lexical.steps) as advance:
        for _ in range(lexical.steps):
            loss = loss_at(w)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
            advance(losses[-1])
    fitted = float(w.detach())
    weight = fitted * cfg.merge_alpha
    with torch.no_grad():
        loss_after = float(loss_at(torch.tensor(weight)))
    top1 = {name: top1_agreement([row[: len(g.texts)].tolist() for row, g in zip(base_terms + weight_ * bm25, lists)], [g.scores for g in lists])
            for name, weight_ in (("before", 0.0), ("after", weight))}
    card = {"objective": "lexical", "correction": "lexical", "parent": str(parent_path) if parent_path else None,
            "n_lists": len(lists), "n_pairs": sum(len(g.texts) for g in lists), "pair_margin": lexical.pair_margin,
            "weight": weight, "corpus_docs": stats.n_docs, "k1": stats.k1, "b": stats.b, **base.card(),
            "base_temperature": 1.0 / base.scale, **({"merge_alpha": cfg.merge_alpha} if cfg.merge_alpha < 1.0 else {})}
    save_lexical_reranker(out_dir, card, stats, weight)
    metrics = {"losses": losses, "objective": "lexical", "weight": weight, "loss_retriever": loss_retriever, "loss_after": loss_after,
               "kl_retriever": kl_at(0.0), "kl_after": kl_at(weight),
               "top1_agreement_before": top1["before"], "top1_agreement_after": top1["after"]}
    log.info("lexical reranker: %d lists, weight %.4f, pairwise loss %.4f -> %.4f", len(lists), weight, loss_retriever, loss_after)
    return TrainResult(Path(out_dir), metrics, len(lists))


def save_lexical_reranker(out_dir: Path | str, card: dict, stats, weight: float) -> Path:
    """residual.json (`"correction": "lexical"`), lexical.json and README.md, written atomically."""
    from rag_agent.retrieval.lexical import write_lexical
    from training.reranker_model import LEXICAL_CARD_TEXT, write_card

    with atomic_output(out_dir) as tmp:
        write_lexical(Path(tmp), stats, weight)
        write_card(Path(tmp), card, LEXICAL_CARD_TEXT)
    return Path(out_dir)
