"""Passage-first judging, chunk-major across all pending tasks, in a real DuckDB workspace: order,
one judgment per (question, chunk), the mode read from the judge, and resume after SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rag_agent.config import FeedbackConfig
from rag_agent.workspace import Workspace

from feedback.harvest import Harvester
from feedback.judge import PROMPT_VERSIONS, JudgeSettings, LLMJudge, fence
from feedback.judge_order import Judgment, chunk_major
from tests.test_feedback_harvest import NoMining, build, snapshot

REPO = Path(__file__).resolve().parents[1]


class RecordingLLM:
    """P(yes) high on the governing-law and termination clauses; records every prompt it scores."""

    name = "scripted:passage-first"

    def __init__(self, marker: Path | None = None, delay_s: float = 0.0):
        self.calls, self.prompts, self.marker, self.delay_s = 0, [], marker, delay_s

    def choice_probabilities(self, messages, choices):
        self.calls += 1
        prompt = messages[-1]["content"]
        self.prompts.append(prompt)
        if self.marker is not None:
            with open(self.marker, "a") as fh:
                fh.write("judged\n")
            time.sleep(self.delay_s)
        hit = "governed" in prompt or "terminate" in prompt
        return {"yes": 0.9 if hit else 0.1, "no": 0.1 if hit else 0.9}


def passage_first(llm) -> LLMJudge:
    return LLMJudge(llm, JudgeSettings(mode="passage-first"))


def harvest(ws, llm, **kw):
    with ws.db() as con:
        return Harvester(ws, con, passage_first(llm), NoMining(ws)).run(**kw)


def test_one_default_mode_for_settings_and_config():
    assert JudgeSettings().mode == FeedbackConfig().judge.mode and type(FeedbackConfig().judge) is JudgeSettings
    assert PROMPT_VERSIONS["passage-first"] not in {v for k, v in PROMPT_VERSIONS.items() if k != "passage-first"}


def test_chunk_major_keeps_each_chunks_questions_together():
    j = lambda q, h: Judgment(q, h, h, "")  # noqa: E731
    ordered = chunk_major([j("q1", "a"), j("q1", "b"), j("q2", "b"), j("q2", "a"), j("q3", "c"), j("q3", "a")])
    assert [(x.content_hash, x.query) for x in ordered] == [("a", "q1"), ("a", "q2"), ("a", "q3"), ("b", "q1"), ("b", "q2"), ("c", "q3")]


def test_passage_first_prompt_puts_the_fenced_chunk_before_the_question(tmp_path):
    llm = RecordingLLM()
    passage_first(llm).grade("Which law governs?", [("c:0-5", "Text about the State of Delaware.")])
    prompt = llm.prompts[0]
    assert prompt.startswith(fence(1, "Text about the State of Delaware.")) and prompt.index("Question: Which law governs?") > 0


def test_harvest_judges_every_pair_once_chunk_major_across_tasks(tmp_path):
    ws = build(tmp_path / "ws")
    llm = RecordingLLM()
    report = harvest(ws, llm)
    assert report.tasks_harvested == 4 and report.judge_invalid == 0
    # The prompt starts with the fenced chunk: its passage text identifies the chunk.
    chunks = [p.split("\n<<<END PASSAGE", 1)[0] for p in llm.prompts]
    runs = [c for i, c in enumerate(chunks) if i == 0 or chunks[i - 1] != c]
    assert len(runs) == len(set(chunks)), "each chunk's questions must be judged consecutively"
    assert len(set(chunks)) < len(chunks), "the fixture must share chunks between questions"
    with ws.db() as con:
        cached = con.execute("SELECT count(*), count(DISTINCT (query_hash, content_hash)) FROM judge_cache").fetchone()
        assert cached == (llm.calls, llm.calls) == (report.judge_calls, report.judge_calls)
        assert con.execute("SELECT DISTINCT prompt_version FROM judge_labels WHERE signal = 'llm_judge'").fetchall() == [("passage-first-v1",)]
    again = harvest(ws, llm)
    assert again.tasks_harvested == 0 and llm.calls == report.judge_calls


def test_grading_follows_the_judge_it_was_given_not_the_workspace_config(tmp_path):
    ws = build(tmp_path / "ws")
    ws.config.feedback.judge.mode = "quote"  # the config says quote; the judge given is passage-first
    harvest(ws, RecordingLLM())
    with ws.db() as con:
        reasons = [r for (r,) in con.execute("SELECT reason FROM judge_labels WHERE signal = 'llm_judge'").fetchall()]
    assert reasons and all(r.endswith(f"({ws.config.feedback.pointwise_grading})") for r in reasons)


def child(ws_dir: str, marker: str) -> None:
    """Run in a subprocess: a slow harvest that the test kills with SIGKILL."""
    ws = Workspace.open(Path(ws_dir), create=False)
    harvest(ws, RecordingLLM(Path(marker), delay_s=0.3))


@pytest.mark.slow
def test_a_harvest_killed_with_sigkill_resumes_without_duplicates_or_rejudging(tmp_path):
    clean = build(tmp_path / "clean")
    clean_llm = RecordingLLM()
    harvest(clean, clean_llm)
    killed = build(tmp_path / "killed")
    marker = tmp_path / "judged.txt"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    code = f"from tests.test_feedback_chunk_major import child; child({str(killed.root)!r}, {str(marker)!r})"
    process = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not (marker.exists() and marker.read_text().count("judged") >= 5):
        if process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"child ended or stalled before 5 judgments: {process.stderr.read().decode()[-1500:]}")
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    judged_before_kill = marker.read_text().count("judged")
    assert judged_before_kill < clean_llm.calls, "killed too late to test anything"
    with killed.db() as con:
        stored = con.execute("SELECT count(*) FROM judge_cache").fetchone()[0]
        assert con.execute("SELECT count(*) FROM harvest_state WHERE status = 'harvested'").fetchone()[0] == 0
    assert judged_before_kill - 1 <= stored <= judged_before_kill  # at most the judgment in flight is lost
    resumed_llm = RecordingLLM()
    harvest(killed, resumed_llm)
    assert resumed_llm.calls == clean_llm.calls - stored  # nothing stored is judged again
    assert snapshot(killed) == snapshot(clean)
    with killed.db() as con:
        assert con.execute("SELECT count(*) FROM judge_cache").fetchone()[0] == clean_llm.calls
