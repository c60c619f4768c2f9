"""What `training loop` tells a person: a finished workspace says how to continue (instead of
reprinting), and the final table keeps every digit when the output is a pipe."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from training.cli import app
from training.loop import CycleRow


def test_a_finished_workspace_says_its_cycles_are_done_and_how_to_continue(workspace):
    with workspace.db() as con:
        con.execute("INSERT INTO loop_steps VALUES (1, 'decide', ?, 0.1, current_timestamp)", [json.dumps({"summary": "x", "reason": "y"})])
    result = CliRunner().invoke(app, ["loop", "--cycles", "1", "-w", str(workspace.root)])
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "All 1 cycles are done" in result.output and "training loop --cycles 2" in result.output


def test_the_final_table_never_cuts_numbers_in_a_pipe(capsys):
    from training.loop_cli import print_table

    law = {f"a_rather_long_law_task_name_{i}": 0.123456 + i for i in range(6)}
    rows = [CycleRow(cycle=1, tasks=37, success=0.5135, labels=80, pairs=123, dev_champion=0.503112, dev_embedder=0.531377,
                     dev_reranked=0.571299, law=law, decision="embedder promoted, reranker rejected")]
    print_table(rows)  # capsys: not a terminal
    out = capsys.readouterr().out
    for text in ("0.5031", "0.5314", "0.5713", "5.1235", "a_rather_long_law_task_name_5", "embedder promoted, reranker rejected"):
        assert text in out, text


def test_each_cycle_ends_with_one_verdict_line():
    from training.loop_console import verdict_line

    evaluation = {"dev_suite": "cuad", "champion": {"cuad": 0.531, "lobbying": 0.86}, "candidate": {"cuad": 0.571, "lobbying": 0.861},
                  "reranked": {"cuad": 0.565}, "embedder_pass": True, "reranker_pass": False,
                  "reranker_reason": "dev ndcg@10 0.5710 -> 0.5650 (...); dev did not rise significantly; law tasks not scored",
                  "reranker_skipped": ["aila", "lobbying"]}
    train = {"embedder": {"version_id": "embedder-0003-a1b2c3"}, "reranker": {"version_id": "reranker-0002-d4e5f6"}}
    line = verdict_line(2, {"summary": "embedder promoted, reranker rejected"}, evaluation, train)
    assert line == ("cycle 2: embedder 0003 promoted: dev 0.5310 -> 0.5710, law tasks held; "
                    "reranker 0002 rejected: dev 0.5310 -> 0.5650, dev did not rise significantly (2 law task(s) not scored)")
    assert verdict_line(1, {"summary": ""}, {}, {"embedder": {}, "reranker": {}}) == "cycle 1: embedder: no candidate; reranker: no candidate"


def test_the_agent_task_bar_counts_tasks_and_successes():
    from types import SimpleNamespace

    from training.loop_console import task_bar

    with task_bar("agent tasks") as (on_start, on_task):
        on_start(3)
        for ok in (True, False, None):
            on_task(SimpleNamespace(success=ok))
    with task_bar("off", enabled=False) as callbacks:
        assert callbacks == (None, None)


def test_a_reranker_verdict_compares_with_the_pipeline_it_would_join():
    """The reranker is gated on top of this cycle's promoted embedder: its line must show that
    pipeline's dev figure as "before", not the old champion's (a loss read as a gain)."""
    from evals.promotion import CycleEvaluation, KindEvaluation, Outcome, kind_line
    from evals.promotion_records import SuiteGate

    dev = SuiteGate(suite="cuad/dev", metric="ndcg@10", n_queries=510, baseline=0.5308, candidate=0.5166, delta=-0.0142,
                    ci_low=-0.02, ci_high=-0.008, p_not_worse=0.0, regressed=True)
    ev = KindEvaluation(kind="reranker", version_id="reranker-0001-349a53", outcome=Outcome.DEV_NOT_SIGNIFICANT,
                        reason="dev did not rise", scores={"cuad": 0.5166}, dev=dev, skipped=["aila", "lobbying"])
    evaluation = CycleEvaluation(dev_suite="cuad", champion={"cuad": 0.5026})
    line = kind_line(ev, evaluation, promoted=False, outcome=Outcome.DEV_NOT_SIGNIFICANT)
    assert line.startswith("reranker 0001 rejected: dev 0.5308 -> 0.5166"), line


def test_the_report_shows_a_recorded_objectives_table_and_survives_a_broken_one(tmp_path, caplog):
    """bench/reranker_objectives.py --record leaves its table beside report.html; the report shows
    it, escaped, and a truncated file costs a warning line, not the report."""
    from training.report import OBJECTIVES_FILE, _objectives

    path = tmp_path / OBJECTIVES_FILE
    assert _objectives(path) == ""  # never recorded: no section
    rows = [{"pipeline": "embedder alone", "trained_on": "-", "cells": ["0.5833", "0.2025"], "dev_ci": ""},
            {"pipeline": "lexical <w>", "trained_on": "25", "cells": ["0.6152 (+0.0319)", "0.2185 (+0.0160)"], "dev_ci": "[+0.0090, +0.0550]"}]
    path.write_text(json.dumps({"caption": "same feedback", "columns": ["pipeline", "trained on", "cuad dev", "aila", "dev 95% CI"], "rows": rows}))
    page = _objectives(path)
    assert "Reranker objectives from the same feedback" in page and "0.6152 (+0.0319)" in page and "[+0.0090, +0.0550]" in page
    assert "lexical &lt;w&gt;" in page and page.count("<tr>") == 3
    path.write_text('{"columns": ["pipeline"], "rows": [{"pipeline"')
    assert _objectives(path) == "" and "rerun bench/reranker_objectives.py --record" in caplog.text
