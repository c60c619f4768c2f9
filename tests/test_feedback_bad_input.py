"""A judge behind an OpenAI-compatible HTTP server (a real one on 127.0.0.1, scripted replies):
no log-probabilities at all stops the harvest at once with one line; one malformed reply is
skipped and counted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from rag_agent.config import LLMConfig
from rag_agent.llm.openai_backend import OpenAICompatLLM

from feedback.harvest import Harvester
from feedback.judge import JudgeSettings, LLMJudge
from feedback.synthetic import TaskSpec, insert_task
from tests.test_feedback_harvest import NoMining, build, snapshot

REPO = Path(__file__).resolve().parents[1]


class Script:
    """What the server answers: `logprobs` off -> replies without them; prompts containing
    `malformed_on` get a first token that is neither yes nor no."""

    def __init__(self):
        self.logprobs, self.malformed_on, self.requests = True, None, 0


def _reply(script: Script, prompt: str) -> dict:
    choice = {"index": 0, "message": {"role": "assistant", "content": "yes"}, "finish_reason": "length", "logprobs": None}
    if script.logprobs:
        if script.malformed_on and script.malformed_on in prompt:
            top = [("maybe", -0.1), ("perhaps", -2.0)]
        else:
            p_yes = 0.9 if "governed" in prompt else 0.2
            top = [("yes", _log(p_yes)), ("no", _log(1 - p_yes))]
        alternatives = [{"token": t, "logprob": lp, "bytes": None} for t, lp in top]
        choice["logprobs"] = {"content": [{**alternatives[0], "top_logprobs": alternatives}]}
    return {"id": "x", "object": "chat.completion", "created": 0, "model": "scripted", "choices": [choice],
            "usage": {"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11}}


def _log(p: float) -> float:
    import math

    return math.log(p)


@contextmanager
def server(script: Script):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's naming)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            script.requests += 1
            data = json.dumps(_reply(script, body["messages"][-1]["content"])).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _judge(url: str) -> LLMJudge:
    llm = OpenAICompatLLM(LLMConfig(backend="openai", base_url=url, model="scripted", max_retries=0, backoff_s=0.0))
    return LLMJudge(llm, JudgeSettings(mode="passage-first"))


@pytest.mark.slow
def test_a_server_without_logprobs_stops_the_harvest_with_one_line_and_keeps_earlier_work(tmp_path):
    ws = build(tmp_path / "ws")
    script = Script()
    with server(script) as url:
        with ws.db() as con:
            first = Harvester(ws, con, _judge(url), NoMining(ws)).run()
            insert_task(con, TaskSpec("t9", "Which law governs the agreement?", {(0, "retrieve"): ["c1:0-120", "c1:360-480"]}, doc_id="c1"))
        assert first.tasks_harvested == 4
        kept = snapshot(ws)
        script.logprobs, script.requests = False, 0
        # The real command line, as a user runs it: one line on stderr, exit code 2.
        out = subprocess.run([sys.executable, "-m", "feedback", "harvest", "-w", str(ws.root), "--set", "llm.backend=openai",
                              "--set", f"llm.base_url={url}", "--set", "llm.model=scripted", "--set", "feedback.judge.mode=passage-first"],
                             cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=300)
    assert out.returncode == 2, out.stdout + out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "without logprobs" in errors[0] and "Traceback" not in out.stderr + out.stdout
    assert script.requests == 1, "the first reply without logprobs must stop the harvest"
    assert snapshot(ws) == kept  # the earlier harvest is intact; t9 stays pending for a rerun
    with ws.db() as con:
        assert con.execute("SELECT count(*) FROM harvest_state WHERE task_id = 't9'").fetchone()[0] == 0


@pytest.mark.slow
def test_one_malformed_reply_is_skipped_and_counted(tmp_path):
    ws = build(tmp_path / "ws")
    script = Script()
    script.malformed_on = "invoice"  # one chunk's prompts get a first token that is neither yes nor no
    with server(script) as url, ws.db() as con:
        report = Harvester(ws, con, _judge(url), NoMining(ws)).run()
        unlabeled = con.execute("SELECT count(*) FROM judge_cache").fetchone()[0]
    assert report.tasks_harvested == 4
    assert report.judge_invalid > 0 and report.chunks_unlabeled == report.judge_invalid
    assert unlabeled == report.judge_calls - report.judge_invalid
