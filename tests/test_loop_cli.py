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
