"""A harvest with no connection handed in (what the CLI and the loop do) holds the workspace
DuckDB only while it reads or writes, never across a judge call: another PROCESS can open the
file read-only while the judge thinks (DuckDB refuses that while any connection of this process
holds the file), and the products equal those of a harvest on one connection."""

from __future__ import annotations

import subprocess
import sys

import pytest

from feedback.harvest import Harvester
from feedback.judge import JudgeSettings, LLMJudge
from tests.test_feedback_harvest import NoMining, build, snapshot

PROBE = "import duckdb, sys; duckdb.connect(sys.argv[1], read_only=True).execute('SELECT count(*) FROM tasks').fetchone()"


class ProbingLLM:
    """Scores passages like a judge and, on its first calls, checks from another process that
    the workspace file is free while it is being asked."""

    name = "scripted:probing"

    def __init__(self, db_path, probes: int = 2):
        self.db_path, self.probes, self.free = str(db_path), probes, []

    def choice_probabilities(self, messages, choices):
        if len(self.free) < self.probes:
            done = subprocess.run([sys.executable, "-c", PROBE, self.db_path], capture_output=True, text=True, timeout=120)
            self.free.append(done.returncode == 0)
        hit = "governed" in messages[-1]["content"] or "terminate" in messages[-1]["content"]
        return {"yes": 0.9 if hit else 0.2, "no": 0.1 if hit else 0.8}


@pytest.mark.slow
def test_judge_calls_hold_no_connection_and_products_match(tmp_path):
    short_ws = build(tmp_path / "short")
    llm = ProbingLLM(short_ws.db_path)
    report = Harvester(short_ws, None, LLMJudge(llm, JudgeSettings(mode="passage-first")), NoMining(short_ws)).run()
    assert report.tasks_harvested == 4 and report.judge_calls > 0
    assert llm.free == [True, True], "another process could not open the workspace during a judge call"

    held_ws = build(tmp_path / "held")
    held_llm = ProbingLLM(held_ws.db_path, probes=1)
    with held_ws.db() as con:  # one connection for the whole harvest: the probe must see the file taken
        Harvester(held_ws, con, LLMJudge(held_llm, JudgeSettings(mode="passage-first")), NoMining(held_ws)).run()
    assert held_llm.free == [False]
    assert snapshot(short_ws) == snapshot(held_ws)
