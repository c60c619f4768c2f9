"""The rule table: which trace evidence says "chunk A is better than chunk B for this query".

Every pair of a task is stated for the task's question (the intent every attempt served), so
rules can agree or conflict on the same (query, A, B). The table is mirrored in docs/feedback.md.

| rule              | prec. | base weight | chosen > rejected                                                        |
|-------------------|-------|-------------|--------------------------------------------------------------------------|
| judge_graded      | 3     | 1.0         | label grade >= 2 > a lower grade; x (g_chosen - g_rejected) / 3          |
| cited_vs_ignored  | 2     | 0.8         | successful task: cited > shown-but-not-cited; x 1.0 when the ignored     |
|                   |       |             | chunk sat ABOVE the cited one, x 0.6 below (position bias)               |
| rewrite_success   | 1     | 0.6         | successful task after a rewrite: a chunk the final attempt found (cited, |
|                   |       |             | else shown) that attempt 0 did not show > attempt 0's shown chunks       |
| agent_grader      | 0     | 0.3         | the agent's own grader: relevant > not relevant, same attempt            |

A task whose verified answer says the clause is absent gets no trace-rule pairs (`candidates`).

Weak negatives (negatives table, not pairs): the shown chunks of a task that fell back to web
search (`cfg.feedback.fallback_negative_weight`), unless cited or labelled relevant.

Position correction: a chunk the LLM never saw (`shown = false`) is never "ignored" and never a
grader negative: not citing what you did not read says nothing about it.

Conflicts (pairs.resolve): rules that agree combine by noisy-or (1 - prod(1 - w)). When rules
disagree on direction, the direction whose best rule has the higher precedence wins with weight
w_win * (1 - w_lose); equal precedence drops the pair. Pairs under MIN_PAIR_WEIGHT are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

from feedback.traces import TaskTrace

RELEVANT_GRADE = 2  # labels at or above this count as "relevant" everywhere in feedback
MIN_PAIR_WEIGHT = 0.05  # below this a pair is noise, not supervision


@dataclass(frozen=True)
class Rule:
    name: str
    precedence: int
    weight: float
    description: str


RULES: dict[str, Rule] = {
    r.name: r
    for r in (
        Rule("judge_graded", 3, 1.0, "judge label >= 2 > lower label, weight x grade gap / 3"),
        Rule("cited_vs_ignored", 2, 0.8, "successful task: cited > shown but not cited (x0.6 if the ignored chunk ranked below)"),
        Rule("rewrite_success", 1, 0.6, "successful rewrite: chunk found by the final attempt > attempt 0's shown chunks"),
        Rule("agent_grader", 0, 0.3, "agent grader: relevant > not relevant in the same attempt"),
    )
}
WEB_FALLBACK = "web_fallback"


@dataclass(frozen=True)
class Candidate:
    query: str
    chosen: str
    rejected: str
    weight: float
    rule: str


def judge_graded(trace: TaskTrace, labels: dict[str, int], cap: int) -> list[Candidate]:
    rule = RULES["judge_graded"]
    out = [
        Candidate(trace.question, a, b, rule.weight * (ga - gb) / 3, rule.name)
        for a, ga in labels.items()
        if ga >= RELEVANT_GRADE
        for b, gb in labels.items()
        if gb < ga and b != a
    ]
    return _strongest(out, cap)


def cited_vs_ignored(trace: TaskTrace, labels: dict[str, int], cap: int) -> list[Candidate]:
    if not trace.succeeded or not trace.cited:
        return []
    rule = RULES["cited_vs_ignored"]
    seen = trace.shown()
    out = []
    for ignored, ignored_rank in trace.ignored.items():
        if trace.retrievals and ignored not in seen:
            continue  # position correction: never shown, so never "ignored"
        for cited, cited_rank in trace.cited.items():
            factor = 1.0 if ignored_rank < cited_rank else 0.6
            out.append(Candidate(trace.question, cited, ignored, rule.weight * factor, rule.name))
    return _strongest(out, cap)


def rewrite_success(trace: TaskTrace, labels: dict[str, int], cap: int) -> list[Candidate]:
    attempts = trace.attempts()
    if not trace.succeeded or not trace.rewrites or not attempts or attempts[-1] == 0:
        return []
    rule = RULES["rewrite_success"]
    first_shown, last = trace.shown(0), attempts[-1]
    last_shown = trace.shown(last)
    found = ({c for c in trace.cited if c in last_shown} or last_shown) - first_shown
    rejected = first_shown - set(trace.cited) - found
    out = [Candidate(trace.question, a, b, rule.weight, rule.name) for a in sorted(found) for b in sorted(rejected)]
    return _strongest(out, cap)


def agent_grader(trace: TaskTrace, labels: dict[str, int], cap: int) -> list[Candidate]:
    rule = RULES["agent_grader"]
    out = []
    for attempt, grades in trace.grades.items():
        seen = trace.shown(attempt)
        graded = {c: rel for c, rel in grades.items() if not trace.retrievals or c in seen}
        out += [
            Candidate(trace.question, a, b, rule.weight, rule.name)
            for a, rel_a in graded.items()
            if rel_a
            for b, rel_b in graded.items()
            if not rel_b
        ]
    return _strongest(out, cap)


RULE_FUNCTIONS = {"judge_graded": judge_graded, "cited_vs_ignored": cited_vs_ignored, "rewrite_success": rewrite_success, "agent_grader": agent_grader}


def candidates(trace: TaskTrace, labels: dict[str, int], cap: int) -> list[Candidate]:
    """Every rule's raw candidate pairs for one task (before conflict resolution). When the
    verified answer says the clause is absent (`TaskTrace.clause_exists() is False`) no chunk of
    the task is the one asked for, so "cited / found after a rewrite / graded relevant > the
    rest" orders irrelevant chunks among themselves: only the judge's own grades may speak (and
    those are capped below relevant there, see feedback.positive_needs_clause). In the 2026-12-07
    fresh-clone loop run, 21 of the 25 tasks that gave rewrite_success pairs were such tasks; of its
    426 pairs one had a gold-relevant side (bench/loop_labels.py, TRAIN gold read only to measure)."""
    trace_rules_apply = trace.clause_exists() is not False
    out: list[Candidate] = []
    for name, function in RULE_FUNCTIONS.items():
        if trace_rules_apply or name == "judge_graded":
            out += function(trace, labels, cap)
    return out


def _strongest(items: list[Candidate], cap: int) -> list[Candidate]:
    # Deduplicate (a rule may see the same pair twice across attempts), keep the strongest `cap`.
    best: dict[tuple[str, str], Candidate] = {}
    for c in items:
        key = (c.chosen, c.rejected)
        if key not in best or c.weight > best[key].weight:
            best[key] = c
    return sorted(best.values(), key=lambda c: (-c.weight, c.chosen, c.rejected))[:cap]
