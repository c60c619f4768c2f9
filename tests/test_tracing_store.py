"""The trace store on real DuckDB files: one transaction per task, one writer, resumable runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from types import SimpleNamespace

import pytest

from tests.fakes import FakeRetriever, FakeWeb, ScriptedLLM, add_fake_documents, invalid_json_error
from rag_agent.graph.runner import run_tasks
from rag_agent.tasks import Task
from rag_agent.tracing import TraceStore
from rag_agent.tracing_schema import TASK_TABLES as TRACE_TABLES
DOCS = {f"doc{i}": [f"Clause {i}.{j} of the contract." for j in range(4)] for i in range(3)}


def exact(answer_type, predicted, gold):
    return SimpleNamespace(success=predicted.strip().lower() == gold.strip().lower(), reason="exact match")


def rows_of(store, run_id, task_id=None):
    where = "run_id = ?" + (" AND task_id = ?" if task_id else "")
    params = [run_id] + ([task_id] if task_id else [])
    return {t: store.query(f"SELECT count(*) FROM {t} WHERE {where}", params)[0][0] for t in TRACE_TABLES}


def fill_trace(store, run_id, task_id):
    trace = store.begin_task(run_id, task_id, doc_id="doc0", question="q?", answer_type="yes_no")
    store.record(trace, "steps", step_no=1, node="retrieve", seconds=0.1, llm_seconds=0.0, tokens_in=0, tokens_out=0)
    store.record(trace, "retrievals", attempt=0, query="q?", stage="retrieve", rank=1, chunk_id="doc0:0-10", doc_id="doc0",
                 score=0.5, shown=True, embedder_version="e", reranker_version="none")
    store.record(trace, "grades", attempt=0, chunk_id="doc0:0-10", rank=1, relevant=True)
    store.record(trace, "answers", generation=0, answer="Yes", grounded=True, final=True)
    store.record(trace, "outcomes", success=True, checker="yes_no", predicted="Yes", gold="Yes", reason="")
    return trace


@pytest.fixture()
def ws_with_docs(workspace):
    return add_fake_documents(workspace, DOCS)


def test_a_failure_inside_the_commit_writes_nothing_of_that_task(workspace, monkeypatch):
    store = TraceStore.for_workspace(workspace)
    original = TraceStore._insert

    def insert_then_fail(con, table, *args):
        original(con, table, *args)
        if table == "answers":  # some tables already inserted inside the transaction
            raise RuntimeError("simulated crash mid-task")

    monkeypatch.setattr(TraceStore, "_insert", staticmethod(insert_then_fail))
    with pytest.raises(RuntimeError):
        store.commit_task(fill_trace(store, "r", "t1"), "done")
    monkeypatch.undo()
    assert set(rows_of(store, "r").values()) == {0}
    assert store.commit_task(fill_trace(store, "r", "t1"), "done")  # the store is still usable
    assert rows_of(store, "r")["grades"] == 1 and store.finished_task_ids("r") == {"t1"}
    assert not store.commit_task(fill_trace(store, "r", "t1"), "done")  # never twice
    assert rows_of(store, "r")["grades"] == 1
    store.close()


@pytest.mark.slow
def test_kill_9_during_a_commit_leaves_no_half_task(workspace, tmp_path):
    marker = tmp_path / "inside-transaction"
    child = textwrap.dedent(f"""
        import sys, time
        sys.path[:0] = [{os.getcwd()!r}, {os.path.dirname(__file__)!r}]
        from rag_agent.tracing import TraceStore
        from test_tracing_store import fill_trace
        store = TraceStore.open({str(workspace.db_path)!r})
        store.commit_task(fill_trace(store, "r", "complete"), "done")
        original = TraceStore._insert
        def slow_insert(con, table, *args):
            original(con, table, *args)
            open({str(marker)!r}, "w").close()
            time.sleep(60)
        TraceStore._insert = staticmethod(slow_insert)
        store.commit_task(fill_trace(store, "r", "killed"), "done")
    """)
    proc = subprocess.Popen([sys.executable, "-c", child], cwd=os.getcwd())
    deadline = time.time() + 60
    while not marker.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.1)
    assert marker.exists(), "the child never reached the middle of its transaction"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    store = TraceStore.for_workspace(workspace)
    assert store.finished_task_ids("r") == {"complete"}
    assert set(rows_of(store, "r", "killed").values()) == {0}
    assert rows_of(store, "r", "complete")["grades"] == 1
    store.close()


@pytest.mark.slow
def test_parallel_workers_write_every_task_once(ws_with_docs):
    tasks = [Task(id=f"t{i}", question=f"Question {i}?", doc_id=f"doc{i % 3}", answer="Yes", answer_type="yes_no") for i in range(9)]
    summary = run_tasks(ws_with_docs, tasks, "par", llm=ScriptedLLM(), retriever=FakeRetriever(DOCS), web=FakeWeb(),
                        workers=3, checker=exact)
    assert summary.tasks == summary.done == 9 and summary.success_rate == 1.0
    store = TraceStore.for_workspace(ws_with_docs)
    assert store.query("SELECT task_id, count(*) FROM tasks WHERE run_id = 'par' GROUP BY 1 HAVING count(*) > 1") == []
    assert store.finished_task_ids("par") == {t.id for t in tasks}
    per_task = store.query("SELECT task_id, count(*) FROM answers WHERE run_id = 'par' GROUP BY 1")
    assert len(per_task) == 9 and {n for _, n in per_task} == {1}
    store.close()


def test_rerun_with_the_same_run_id_continues_without_duplicates(ws_with_docs):
    tasks = [Task(id=f"t{i}", question=f"Question {i}?", doc_id="doc0", answer="No", answer_type="yes_no") for i in range(5)]
    first = ScriptedLLM()
    run_tasks(ws_with_docs, tasks, "resume", llm=first, retriever=FakeRetriever(DOCS), web=FakeWeb(), limit=2, checker=exact)
    assert first.calls["answer"] == 2
    second = ScriptedLLM()
    summary = run_tasks(ws_with_docs, tasks, "resume", llm=second, retriever=FakeRetriever(DOCS), web=FakeWeb(), checker=exact)
    assert second.calls["answer"] == 3 and summary.skipped_now == 2
    assert summary.tasks == 5 and summary.successes == 0 and summary.labelled == 5
    third = ScriptedLLM()
    again = run_tasks(ws_with_docs, tasks, "resume", llm=third, retriever=FakeRetriever(DOCS), web=FakeWeb(), checker=exact)
    assert sum(third.calls.values()) == 0 and again.tasks == 5


def test_invalid_json_fails_that_task_and_the_run_goes_on(ws_with_docs):
    def answer(messages):
        return invalid_json_error() if "poison" in messages[-1]["content"] else {"answer": "Yes", "citations": [1]}

    tasks = [Task(id="a", question="poison question?", doc_id="doc0", answer="Yes", answer_type="yes_no"),
             Task(id="b", question="fine question?", doc_id="doc1", answer="Yes", answer_type="yes_no")]
    summary = run_tasks(ws_with_docs, tasks, "bad", llm=ScriptedLLM(answer=answer), retriever=FakeRetriever(DOCS), web=FakeWeb(), checker=exact)
    store = TraceStore.for_workspace(ws_with_docs)
    status = {t["task_id"]: (t["status"], t["error"]) for t in store.tasks("bad")}
    assert status["a"][0] == "failed" and "JSON" in status["a"][1]
    assert status["b"] == ("done", None)
    assert rows_of(store, "bad", "a")["grades"] > 0  # what it did before failing is kept
    assert summary.failed == 1 and summary.successes == 1 and summary.labelled == 2  # failed counts as unsuccessful
    store.close()


def test_bad_tasks_fail_with_their_reason(ws_with_docs):
    tasks = [Task(id="empty", question="", doc_id="doc0"), Task(id="ghost", question="Q?", doc_id="no-such-contract"),
             Task(id="fine", question="Q?", doc_id="doc2")]
    llm = ScriptedLLM()
    summary = run_tasks(ws_with_docs, tasks, "pre", llm=llm, retriever=FakeRetriever(DOCS), web=FakeWeb())
    store = TraceStore.for_workspace(ws_with_docs)
    errors = {t["task_id"]: t["error"] for t in store.tasks("pre")}
    assert errors["empty"] == "empty question" and "unknown doc_id 'no-such-contract'" in errors["ghost"]
    assert errors["fine"] is None and llm.calls["answer"] == 1
    # a task file without answers runs without success labels
    assert summary.labelled == 0 and summary.success_rate is None
    assert store.query("SELECT success, reason FROM outcomes WHERE run_id = 'pre'")[0] == (None, "no gold answer in the task file")
    store.close()
