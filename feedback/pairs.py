"""Resolve the rules' candidate pairs into the stored preference pairs (see signals.py's table)."""

from __future__ import annotations

from dataclasses import dataclass

from feedback.signals import MIN_PAIR_WEIGHT, RULES, Candidate


@dataclass(frozen=True)
class Pair:
    query: str
    chosen: str
    rejected: str
    weight: float
    signal: str  # the highest-precedence rule of the winning direction
    support: tuple[str, ...]  # every rule that agreed
    overruled: tuple[str, ...]  # rules that said the opposite and lost


@dataclass
class Resolution:
    pairs: list[Pair]
    dropped_conflicts: int  # equal-precedence disagreements
    dropped_weak: int  # under MIN_PAIR_WEIGHT after combination


def noisy_or(weights: list[float]) -> float:
    product = 1.0
    for w in weights:
        product *= 1.0 - max(0.0, min(1.0, w))
    return 1.0 - product


def _direction(cands: list[Candidate]) -> tuple[float, int, tuple[str, ...]]:
    """(combined weight, best precedence, rules by precedence) of candidates sharing one direction."""
    best_per_rule: dict[str, float] = {}
    for c in cands:
        best_per_rule[c.rule] = max(best_per_rule.get(c.rule, 0.0), c.weight)
    rules = tuple(sorted(best_per_rule, key=lambda r: -RULES[r].precedence))
    return noisy_or(list(best_per_rule.values())), RULES[rules[0]].precedence, rules


def resolve(cands: list[Candidate]) -> Resolution:
    groups: dict[tuple[str, str, str], dict[tuple[str, str], list[Candidate]]] = {}
    for c in cands:
        if c.chosen == c.rejected:
            continue
        a, b = sorted((c.chosen, c.rejected))
        groups.setdefault((c.query, a, b), {}).setdefault((c.chosen, c.rejected), []).append(c)
    pairs, conflicts, weak = [], 0, 0
    for (query, _, _), directions in sorted(groups.items()):
        scored = sorted(((_direction(cs), key) for key, cs in directions.items()), key=lambda item: -item[0][1])
        (weight, precedence, rules), (chosen, rejected) = scored[0]
        overruled: tuple[str, ...] = ()
        if len(scored) == 2:
            (lose_weight, lose_precedence, lose_rules), _ = scored[1]
            if lose_precedence == precedence:
                conflicts += 1
                continue
            weight, overruled = weight * (1.0 - lose_weight), lose_rules
        if weight < MIN_PAIR_WEIGHT:
            weak += 1
            continue
        pairs.append(Pair(query, chosen, rejected, round(weight, 6), rules[0], rules, overruled))
    return Resolution(pairs, conflicts, weak)
