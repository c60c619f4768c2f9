"""LLM outages: a run stops after `agent.max_consecutive_failures` tasks in a row found the LLM
unreachable, those tasks stay pending and run when the same run id is resumed, while tasks that
failed for their own reasons are kept and not retried. Control flow with a scripted LLM, then the
real thing: a local llama_cpp.server stopped mid-run and restarted."""

from __future__ import annotations

import pytest

from tests.fakes import FakeRetriever, FakeWeb, ScriptedLLM, add_fake_documents
from tests.servers import free_port, start_llama_server, stop
from rag_agent.errors import LLMUnavailableError
from rag_agent.graph.runner import run_tasks
from rag_agent.tasks import Task
from rag_agent.tracing import TraceStore

DOCS = {f"doc{i}": [f"Clause {i}.{j}: the tenant pays rent monthly." for j in range(3)] for i in range(3)}


class FlakyLLM(ScriptedLLM):
    """Raises what the transport layer raises after its retries while `down` is set."""

    down = False

    def complete(self, messages, schema=None, max_tokens=None):
        if self.down:
            raise LLMUnavailableError("http://127.0.0.1:9/v1 unreachable (connection refused)", "a reachable endpoint", "start the server")
        return super().complete(messages, schema, max_tokens)


@pytest.fixture()
def ws_with_docs(workspace):
    return add_fake_documents(workspace, DOCS)


def task_rows(ws, run_id):
    return TraceStore.for_workspace(ws).query("SELECT task_id, status, error FROM tasks WHERE run_id = ? ORDER BY task_id", [run_id])


@pytest.mark.slow
def test_an_outage_stops_the_run_and_a_resume_retries_only_transport_failures(ws_with_docs):
    ws = ws_with_docs
    ws.config.agent.max_consecutive_failures = 2
    tasks = [Task("t1", "Who pays rent?", doc_id="no-such-doc")]  # fails for its own reason
    tasks += [Task(f"t{i}", "Who pays rent?", doc_id=f"doc{i % 3}") for i in range(2, 7)]
    llm = FlakyLLM()
    seen = []

    def progress(result):
        seen.append(result.task_id)
        if result.task_id == "t2":
            llm.down = True  # the endpoint goes away after the second task

    summary = run_tasks(ws, tasks, "outage", llm=llm, retriever=FakeRetriever(DOCS), web=FakeWeb(), progress=progress)
    assert summary.outage and "2 tasks in a row" in summary.outage
    assert (summary.done, summary.failed, summary.unreachable, summary.not_started) == (1, 1, 2, 2)
    assert seen == ["t1", "t2", "t3", "t4"]  # t5, t6 never paid their retries
    assert [r[0] for r in task_rows(ws, "outage")] == ["t1", "t2"]  # transport failures are not committed

    llm.down = False
    calls_before = sum(llm.calls.values())
    resumed = run_tasks(ws, tasks, "outage", llm=llm, retriever=FakeRetriever(DOCS), web=FakeWeb())
    assert resumed.outage is None and resumed.pending == 0
    assert (resumed.tasks, resumed.done, resumed.failed, resumed.skipped_now) == (6, 5, 1, 2)
    rows = task_rows(ws, "outage")
    assert [r[0] for r in rows] == [f"t{i}" for i in range(1, 7)]  # each task exactly once
    assert rows[0][1] == "failed" and "unknown doc_id" in rows[0][2]  # not retried
    assert sum(llm.calls.values()) > calls_before


def test_a_short_outage_below_the_limit_still_leaves_its_tasks_pending(ws_with_docs):
    ws = ws_with_docs
    llm = FlakyLLM()
    llm.down = True
    summary = run_tasks(ws, [Task("a", "Who pays rent?", doc_id="doc0")], "short", llm=llm, retriever=FakeRetriever(DOCS), web=FakeWeb())
    assert summary.outage is None and summary.unreachable == 1 and summary.pending == 1 and summary.tasks == 0


# ---- the real thing ---------------------------------------------------------------------------
READY_WAIT_S = 120


@pytest.mark.slow
@pytest.mark.llm
def test_a_real_server_stopped_mid_run_and_restarted(ws_with_docs, tmp_path):
    pytest.importorskip("llama_cpp")
    pytest.importorskip("uvicorn")
    from rag_agent.config import LLMConfig
    from rag_agent.llm import load_llm

    ws = ws_with_docs
    ws.config.agent.max_consecutive_failures = 2
    ws.config.llm.max_tokens = 40
    ws.config.agent.answer_max_tokens = 24
    port, log_path = free_port(), tmp_path / "server.log"
    llm = load_llm(LLMConfig(backend="openai", base_url=f"http://127.0.0.1:{port}/v1", model="smol", timeout_s=60,
                             max_retries=1, backoff_s=0.2, max_tokens=40))
    tasks = [Task(f"t{i}", "Who pays the rent?", doc_id=f"doc{i % 3}") for i in range(1, 6)]
    server = start_llama_server(port, 2048, log_path, READY_WAIT_S, pytest.fail)
    try:
        def progress(result):
            if result.task_id == "t2":
                stop(server)  # the endpoint dies mid-run

        first = run_tasks(ws, tasks, "real-outage", llm=llm, retriever=FakeRetriever(DOCS), web=FakeWeb(), progress=progress)
    finally:
        stop(server)
    assert first.outage is not None and first.unreachable == 2 and first.not_started == 1
    assert [r[0] for r in task_rows(ws, "real-outage")] == ["t1", "t2"]

    server = start_llama_server(port, 2048, log_path, READY_WAIT_S, pytest.fail)  # the endpoint comes back on the same address
    try:
        resumed = run_tasks(ws, tasks, "real-outage", llm=llm, retriever=FakeRetriever(DOCS), web=FakeWeb())
    finally:
        stop(server)
    rows = task_rows(ws, "real-outage")
    assert [r[0] for r in rows] == [f"t{i}" for i in range(1, 6)]  # all tasks, none duplicated
    assert resumed.pending == 0 and resumed.outage is None and resumed.skipped_now == 2
    assert not any(r[2] and "unreachable" in r[2].lower() for r in rows)
