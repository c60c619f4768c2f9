"""A workspace in use: read commands work while another process writes traces, and a holder that
outlasts `workspace.lock_wait_s` ends as one line naming its PID (real DuckDB files, real
subprocesses, the real CLIs)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# An agent-like writer: one short transaction per task (as `run` writes traces), and now and then a
# transaction held for 1.5 s (as a large ingest group or a harvest batch), so readers must wait.
WRITER = textwrap.dedent("""
    import sys, time
    from rag_agent.db import connect
    from rag_agent.tracing import TraceStore

    db, seconds = sys.argv[1], float(sys.argv[2])
    store = TraceStore.open(db)
    print("ready", flush=True)
    deadline, i = time.time() + seconds, 0
    while time.time() < deadline:
        trace = store.begin_task("writer", f"t{i}", question="q?")
        store.record(trace, "steps", step_no=1, node="retrieve", seconds=0.1, llm_seconds=0.0, tokens_in=1, tokens_out=1)
        store.commit_task(trace, "done", seconds=0.1)
        i += 1
        if i % 20 == 0:
            con = connect(db)
            con.execute("BEGIN")
            con.execute("INSERT INTO runs (run_id) VALUES (?)", [f"held-{i}"])
            time.sleep(1.5)
            con.execute("COMMIT")
            con.close()
        time.sleep(0.02)
    print(f"wrote {i}", flush=True)
""")

HOLDER = textwrap.dedent("""
    import sys, time
    from rag_agent.db import connect

    con = connect(sys.argv[1])
    con.execute("BEGIN")
    print("holding", flush=True)
    time.sleep(float(sys.argv[2]))
""")


def env() -> dict:
    return dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", COLUMNS="200")


def start(script: str, *args: str) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-c", script, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env(), cwd=REPO)
    first = process.stdout.readline()
    assert first.strip() in ("ready", "holding"), process.stderr.read()
    return process


def cli(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env(), cwd=REPO)


@pytest.fixture()
def ws(tmp_path):
    from rag_agent.workspace import Workspace

    workspace = Workspace.open(tmp_path / "ws")
    workspace.connect().close()  # tables exist before the processes start
    return workspace


@pytest.mark.slow
def test_read_commands_work_while_a_run_writes(ws):
    writer = start(WRITER, str(ws.db_path), "40")
    try:
        time.sleep(1.0)
        root = str(ws.root)
        # Two read commands started together, and a third, while the writer keeps writing.
        readers = [cli("feedback", "stats", "-w", root), cli("training", "models", "-w", root), cli("evals", "list", "-w", root)]
        outcomes = [(r.args[3], *r.communicate(timeout=120), r.returncode) for r in readers]
        again = cli("feedback", "stats", "-w", root)
        outcomes.append(("stats again", *again.communicate(timeout=120), again.returncode))
        assert writer.poll() is None, "the writer must still be writing while the readers ran"
    finally:
        writer.terminate()
        writer.wait(timeout=30)
    for name, out, err, code in outcomes:
        assert "Traceback" not in err and "Traceback" not in out, (name, err[-2000:])
        assert code == 0, (name, out[-1000:], err[-1000:])
    from rag_agent.tracing import TraceStore

    written = TraceStore.open(ws.db_path).query("SELECT count(*) FROM tasks WHERE run_id = 'writer'")[0][0]
    assert written > 10  # the writer was not starved by the readers


@pytest.mark.slow
def test_a_holder_that_outlasts_the_wait_is_one_line_naming_its_pid(ws):
    holder = start(HOLDER, str(ws.db_path), "60")
    try:
        reader = cli("feedback", "stats", "-w", str(ws.root), "--set", "workspace.lock_wait_s=1.5")
        out, err = reader.communicate(timeout=120)
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert reader.returncode == 2
    assert "Traceback" not in err and "Traceback" not in out
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and f"PID {holder.pid}" in errors[0] and "workspace.lock_wait_s" in errors[0]
    assert f"waiting for PID {holder.pid}" in " ".join((out + err).split())


@pytest.mark.slow
def test_a_waiting_open_succeeds_once_the_holder_lets_go(ws):
    from rag_agent.db import connect

    holder = start(HOLDER, str(ws.db_path), "2")
    started = time.monotonic()
    con = connect(ws.db_path, read_only=True, lock_wait_s=60)
    waited = time.monotonic() - started
    con.close()
    holder.wait(timeout=30)
    assert waited > 0.5  # it really waited for the holder, then got in
