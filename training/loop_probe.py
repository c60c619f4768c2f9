"""The agent half of the loop's gate: does the proposed pipeline solve fewer probe tasks?

Champion and proposed pipeline answer the same probe tasks (held-back train contracts, never
trained on). Per task the pair of outcomes is one of: both solve, neither, only the champion
(b), only the proposed (c). The paired difference in success rate is (c - b) / n, with a
bootstrap 95% interval over tasks (seeded). The probe vetoes only a significant drop: exact
one-sided McNemar test, p = P(X >= b | X ~ Binomial(b + c, 1/2)) < `training.loop.probe_alpha`
(the condition is the promotion policy's, evals/promotion.py).
Source: McNemar (1947), exact (binomial) form, as in e.g. Fagerland et al., BMC Med Res Methodol
13:91 (2013).

What it can detect: a veto needs p < alpha, i.e. at least k discordant tasks all lost with
0.5^k < alpha (alpha 0.05: 5 tasks, e.g. 5 lost and none won, or 8 lost of 9). With 4 probe
tasks no result can veto; the probe then only measures. It cannot detect small drops: on 8 tasks
a true drop of 10 points gives about one lost task on average.
"""

from __future__ import annotations

from math import comb

import numpy as np

from evals.promotion import ProbeStats, probe_vetoes

__all__ = ["ProbeStats", "mcnemar_p_drop", "paired_probe"]  # ProbeStats: a promotion record (evals/promotion_records.py)


def paired_probe(champion: dict[str, bool], proposed: dict[str, bool], alpha: float, samples: int = 2000, seed: int = 0) -> ProbeStats:
    """Per-task success of both pipelines (task id -> solved) -> the paired difference and verdict."""
    shared = sorted(set(champion) & set(proposed))
    champ = np.array([champion[t] for t in shared], dtype=float)
    prop = np.array([proposed[t] for t in shared], dtype=float)
    b = int(((champ == 1) & (prop == 0)).sum())
    c = int(((champ == 0) & (prop == 1)).sum())
    n = len(shared)
    if n == 0:
        return ProbeStats(tasks=0, champion_successes=0, proposed_successes=0, only_champion=0, only_proposed=0, difference=0.0,
                          ci_low=0.0, ci_high=0.0, p_drop=1.0, veto=False)
    deltas = prop - champ
    rng = np.random.default_rng(seed)
    means = deltas[rng.integers(0, n, size=(samples, n))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    p = mcnemar_p_drop(b, c)
    return ProbeStats(tasks=n, champion_successes=int(champ.sum()), proposed_successes=int(prop.sum()), only_champion=b, only_proposed=c,
                      difference=float(deltas.mean()), ci_low=float(low), ci_high=float(high), p_drop=p, veto=probe_vetoes(b, c, p, alpha))


def mcnemar_p_drop(only_champion: int, only_proposed: int) -> float:
    """P(X >= b) for X ~ Binomial(b + c, 1/2): how likely so many losses are if neither is better."""
    n = only_champion + only_proposed
    if n == 0:
        return 1.0
    return sum(comb(n, k) for k in range(only_champion, n + 1)) / 2**n
