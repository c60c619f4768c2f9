"""`feedback harvest --regrade`: already-harvested tasks re-derived from the judge cache under new
rules, with zero LLM calls; and the soft-label loader a listwise trainer reads."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from feedback.cli import app
from feedback.harvest import Harvester
from feedback.judge import calibrated_grades
from feedback.soft_labels import load_soft_targets
from tests.test_feedback_chunk_major import RecordingLLM, harvest, passage_first
from tests.test_feedback_harvest import NoMining, build, snapshot

CALIBRATED = {"pointwise_grading": "calibrated", "passage_first_threshold": 0.5, "passage_first_relative": 0.8}  # the tests' judge is passage-first


def _configure(ws, **values):
    for key, value in values.items():
        setattr(ws.config.feedback, key, value)
    return ws


def test_calibrated_grades_can_name_several_positives_and_none():
    assert calibrated_grades({"a": 0.9, "b": 0.85, "c": 0.2, "d": 0.1}, threshold=0.5, relative=0.8) == {"a": 2, "b": 2, "c": 0, "d": 0}
    assert calibrated_grades({"a": 0.4, "b": 0.3, "c": 0.1}, threshold=0.5, relative=0.8) == {"a": 1, "b": 0, "c": 0}
    assert calibrated_grades({"a": 0.9, "b": 0.6, "c": 0.1}, threshold=0.5, relative=0.8) == {"a": 2, "b": 0, "c": 0}


def test_each_pointwise_judge_mode_has_its_own_calibrated_rule():
    """P(yes) of the two formulations sits on different scales, so the harvest takes the bar of the
    judge it was given: the passage-first bar for "passage-first", the question-first one for the rest."""
    from feedback.settings import FeedbackConfig

    fb = FeedbackConfig(positive_threshold=0.3, positive_relative=0.7, passage_first_threshold=0.65, passage_first_relative=0.95)
    assert fb.calibrated_rule("pointwise") == (0.3, 0.7)
    assert fb.calibrated_rule("passage-first") == (0.65, 0.95)
    assert FeedbackConfig().calibrated_rule("passage-first") == (0.6, 1.0)


@pytest.mark.slow
def test_regrade_rewrites_products_like_a_fresh_harvest_without_calling_the_llm(tmp_path):
    ws = _configure(build(tmp_path / "ws"), pointwise_grading="consensus")  # harvested under the consensus rule
    llm = RecordingLLM()
    harvest(ws, llm)
    before = snapshot(ws)
    calls = llm.calls
    _configure(ws, **CALIBRATED)
    with ws.db() as con:
        report = Harvester(ws, con, passage_first(llm), NoMining(ws)).regrade()
    assert llm.calls == calls, "regrading must not call the LLM"
    assert report.tasks_harvested == 4 and report.chunks_unlabeled == 0
    fresh = _configure(build(tmp_path / "fresh"), **CALIBRATED)
    harvest(fresh, RecordingLLM())
    after = snapshot(ws)
    assert after == snapshot(fresh)
    assert after["judge_labels"] != before["judge_labels"], "the new rule must change something for this test to mean anything"
    with ws.db() as con:  # both the governing-law and termination clauses score 0.9: two positives per question now
        assert con.execute("SELECT count(*) FROM judge_labels WHERE task_id = 't0' AND judge_grade = 2").fetchone()[0] == 2


@pytest.mark.slow  # the CLI's negative miner loads the real MiniLM
def test_cli_regrade_finds_the_cache_of_the_configured_model_and_loads_no_model(tmp_path):
    ws = _configure(build(tmp_path / "ws"), pointwise_grading="consensus")
    llm = RecordingLLM()
    llm.name = "llama-cpp:qwen2.5-coder-0.5b"  # the name load_llm gives llm.backend=tiny
    harvest(ws, llm)
    before = snapshot(ws)
    args = ["harvest", "--regrade", "-w", str(ws.root), "--set", "llm.backend=tiny", "--set", "feedback.judge.mode=passage-first"]
    out = CliRunner().invoke(app, args + ["--set", "feedback.pointwise_grading=calibrated"])
    assert out.exit_code == 0, out.output
    after = snapshot(ws)
    assert after["judge_labels"] != before["judge_labels"]
    with ws.db() as con:
        assert con.execute("SELECT count(*) FROM judge_labels WHERE signal = 'llm_judge' AND score IS NULL").fetchone()[0] == 0
    # Back to the old rule: the original products exactly.
    out = CliRunner().invoke(app, args + ["--set", "feedback.pointwise_grading=consensus"])
    assert out.exit_code == 0, out.output
    assert snapshot(ws) == before


def test_soft_targets_list_each_querys_judged_chunks_best_first(tmp_path):
    ws = build(tmp_path / "ws")
    harvest(ws, RecordingLLM())
    with ws.db() as con:
        targets = load_soft_targets(con)
        assert load_soft_targets(con, ["no-such-run"]) == []
        assert load_soft_targets(con, ["run-1"]) == targets
        judged = con.execute("SELECT count(DISTINCT query) FROM judge_labels WHERE score IS NOT NULL").fetchone()[0]
    assert len(targets) == judged == 4
    governing = []
    for query, chunks in targets:
        scores = [score for _, _, score in chunks]
        assert scores == sorted(scores, reverse=True) and len({c for c, _, _ in chunks}) == len(chunks)
        governing += [score for _, text, score in chunks if "governed" in text]
    assert len(governing) >= 3 and set(governing) == {0.9}
