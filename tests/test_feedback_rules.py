"""The rule table (feedback/signals.py) on hand-made traces in a real DuckDB workspace."""

from __future__ import annotations

import pytest

from feedback.pairs import resolve
from feedback.signals import RULES, Candidate, agent_grader, candidates, cited_vs_ignored, judge_graded, rewrite_success
from feedback.synthetic import TaskSpec, insert_task
from feedback.traces import MalformedTrace, load_task

Q = "Which state's law governs the agreement?"


@pytest.fixture()
def con(workspace):
    con = workspace.connect()
    yield con
    con.close()


def trace_of(con, **kw):
    spec = TaskSpec(task_id=kw.pop("task_id", "t1"), question=Q, **kw)
    insert_task(con, spec)
    return load_task(con, spec.run_id, spec.task_id)


def as_set(cands):
    return {(c.chosen, c.rejected, round(c.weight, 4)) for c in cands}


def test_cited_beats_ignored_with_position_correction(con):
    trace = trace_of(
        con, rankings={(0, "retrieve"): ["a", "b", "c", "d"]}, shown={0: ["a", "b", "c"]},
        cited={"b": 2}, ignored={"a": 1, "c": 3, "d": 4}, answer="Delaware", success=True,
    )
    # a sat above the cited chunk: full weight; c below: position-bias discount; d never shown: no pair.
    assert as_set(cited_vs_ignored(trace, {}, 25)) == {("b", "a", 0.8), ("b", "c", 0.48)}


def test_cited_vs_ignored_needs_success(con):
    trace = trace_of(con, rankings={(0, "retrieve"): ["a", "b"]}, cited={"b": 2}, ignored={"a": 1}, answer="Texas", success=False)
    assert cited_vs_ignored(trace, {}, 25) == []


def test_rewrite_success_prefers_what_the_rewrite_found(con):
    trace = trace_of(
        con, rankings={(0, "retrieve"): ["a", "b", "x"], (1, "retrieve"): ["c", "a", "y"]}, shown={0: ["a", "b"], 1: ["c", "a"]},
        queries={1: "governing law clause"}, rewrites=[(1, Q, "governing law clause")], cited={"c": 1}, ignored={"a": 2},
        answer="Delaware", success=True,
    )
    assert as_set(rewrite_success(trace, {}, 25)) == {("c", "a", 0.6), ("c", "b", 0.6)}
    failed = trace_of(
        con, task_id="t2", rankings={(0, "retrieve"): ["a"], (1, "retrieve"): ["c"]}, rewrites=[(1, Q, "x")], success=False, answer="no",
    )
    assert rewrite_success(failed, {}, 25) == []


def test_a_verified_absent_clause_gives_no_trace_rule_pairs(con):
    """A passed "No" says the clause is not in the contract: cited or found-after-a-rewrite chunks
    are not it, so only the judge's grades may order them. The same trace answered "Yes" keeps them."""
    def trace(task_id: str, answer: str):
        return trace_of(
            con, task_id=task_id, answer_type="yes_no", rankings={(0, "retrieve"): ["a", "b"], (1, "retrieve"): ["c", "a"]},
            shown={0: ["a", "b"], 1: ["c", "a"]}, queries={1: "non-compete clause"}, rewrites=[(1, Q, "non-compete clause")],
            cited={"c": 1}, ignored={"a": 2}, answer=answer, success=True,
        )

    absent, present = trace("no", "No"), trace("yes", "Yes")
    assert absent.clause_exists() is False and present.clause_exists() is True
    assert candidates(absent, {"a": 1, "c": 1}, 25) == []
    rules = {c.rule for c in candidates(present, {}, 25)}
    assert {"rewrite_success", "cited_vs_ignored"} <= rules


def test_agent_grader_ignores_unseen_chunks(con):
    trace = trace_of(
        con, rankings={(0, "retrieve"): ["a", "b", "d"]}, shown={0: ["a", "b"]}, grades={0: {"a": True, "b": False, "d": False}},
    )
    assert as_set(agent_grader(trace, {}, 25)) == {("a", "b", 0.3)}


def test_judge_graded_weights_by_grade_gap(con):
    trace = trace_of(con, rankings={(0, "retrieve"): ["a", "b", "c", "d"]})
    got = as_set(judge_graded(trace, {"a": 3, "b": 0, "c": 2, "d": 1}, 25))
    assert got == {("a", "b", 1.0), ("a", "c", 0.3333), ("a", "d", 0.6667), ("c", "b", 0.6667), ("c", "d", 0.3333)}
    assert len(judge_graded(trace, {"a": 3, "b": 0, "c": 2, "d": 1}, 2)) == 2  # the cap keeps the strongest


def test_conflicts_higher_precedence_wins_equal_precedence_drops():
    win = Candidate(Q, "a", "b", 2 / 3, "judge_graded")
    lose = Candidate(Q, "b", "a", 0.8, "cited_vs_ignored")
    res = resolve([win, lose])
    assert len(res.pairs) == 1
    pair = res.pairs[0]
    assert (pair.chosen, pair.rejected, pair.signal, pair.overruled) == ("a", "b", "judge_graded", ("cited_vs_ignored",))
    assert pair.weight == pytest.approx(2 / 3 * (1 - 0.8), abs=1e-6)
    assert RULES["judge_graded"].precedence > RULES["cited_vs_ignored"].precedence

    # Same precedence, opposite directions: the pair is dropped and counted.
    res = resolve([Candidate(Q, "a", "b", 0.3, "agent_grader"), Candidate(Q, "b", "a", 0.3, "agent_grader")])
    assert res.pairs == [] and res.dropped_conflicts == 1

    # Agreement combines by noisy-or and records every supporting rule.
    res = resolve([Candidate(Q, "a", "b", 0.5, "rewrite_success"), Candidate(Q, "a", "b", 0.8, "cited_vs_ignored")])
    assert res.pairs[0].weight == pytest.approx(1 - 0.5 * 0.2, abs=1e-6)
    assert res.pairs[0].support == ("cited_vs_ignored", "rewrite_success")

    # A conflict that leaves almost nothing is dropped as too weak.
    res = resolve([Candidate(Q, "a", "b", 0.3, "cited_vs_ignored"), Candidate(Q, "b", "a", 0.99, "agent_grader")])
    assert res.pairs == [] and res.dropped_weak == 1


def test_malformed_traces_are_rejected(con):
    insert_task(con, TaskSpec("bad", Q, {(0, "retrieve"): ["a"]}, cited={"zzz": 1}))
    with pytest.raises(MalformedTrace):
        load_task(con, "run-1", "bad")
    insert_task(con, TaskSpec("bad2", Q, {(0, "retrieve"): ["a", "b"]}, cited={"a": 1}, ignored={"a": 2}))
    with pytest.raises(MalformedTrace):
        load_task(con, "run-1", "bad2")
