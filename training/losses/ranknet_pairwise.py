"""Pairwise logistic ranking loss (RankNet) on a judge's soft scores, pairs weighted by their gap.

Inputs, per query q (a batch of B queries padded to n candidates, `mask` marks real ones):
student scores s_qi (the reranker's full score, in the embedder's own logit scale), teacher
scores t_qi (the LLM judge's P(yes)), and a margin m: only pairs the judge separates by at
least m count (closer pairs are judge noise).

Formula, over pairs (i, j) of one query with d_qij = t_qi - t_qj >= m:
    loss = Σ_q Σ_ij d_qij * softplus(-(s_qi - s_qj)) / Σ_q Σ_ij d_qij
softplus(-x) = -log σ(x): the Bradley-Terry likelihood that i ranks above j; weighting by d
counts a clear preference more than a marginal one. Unlike the listwise KL it needs no teacher
temperature: only the order of the judge's scores and the size of each gap enter, so the
student's own scale is fixed (the embedder term keeps its trained logit scale, 20 * cos for
MiniLM) and a correction's weight is identified against it.

Source: Burges et al. 2005, "Learning to Rank using Gradient Descent" (RankNet); gap weighting
as in the margin-weighted pairwise losses of LambdaRank (Burges et al. 2006).
"""

from __future__ import annotations

from torch import Tensor


def ranknet_pairwise(student: Tensor, teacher: Tensor, mask: Tensor, margin: float = 0.1) -> Tensor:
    """`student`, `teacher`, `mask`: (B, n), padded as `listwise_kl.pad_lists` makes them."""
    import torch

    gaps = teacher.unsqueeze(-1) - teacher.unsqueeze(-2)
    pairs = mask.unsqueeze(-1) & mask.unsqueeze(-2) & (gaps >= margin)
    weights = gaps * pairs
    total = weights.sum()
    if float(total) == 0.0:
        return student.sum() * 0.0  # no pair the judge separates: nothing to learn (keeps the graph)
    diffs = student.unsqueeze(-1) - student.unsqueeze(-2)
    return (torch.nn.functional.softplus(-diffs) * weights).sum() / total
