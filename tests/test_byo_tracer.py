"""RagloopTracer on LangChain runs (scripted retriever/LLM for control flow, real DuckDB files),
record_outcome, and several processes tracing into one workspace."""

from __future__ import annotations

import multiprocessing

import pytest
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import tool

from rag_agent.errors import DataError
from rag_agent.outcomes import record_outcome
from rag_agent.tracer import RagloopTracer
from rag_agent.tracer_rows import ObservedDoc, ObservedRetrieval, ObservedTask, write_tasks
from tests.servers import duckdb_lock_holder

RENT = "The tenant shall pay the monthly rent of two thousand dollars on the first day of each month."
NOTICE = "Either party may terminate this lease with ninety days written notice to the other party."


class ListRetriever(BaseRetriever):
    """Returns fixed documents (ids in metadata, scores) whatever the query: control flow only."""

    docs: list[Document]

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        return self.docs


def docs():
    return [Document(page_content=NOTICE, metadata={"chunk_id": "ext-notice", "source": "lease.pdf", "score": 0.9}),
            Document(page_content=RENT, id="ext-rent", metadata={"score": 0.7})]


def rows(ws, sql, params=()):
    with ws.db() as con:
        return con.execute(sql, list(params)).fetchall()


def test_a_chain_run_becomes_one_task_with_ingested_documents_and_quoted_citation(workspace):
    tracer = RagloopTracer(workspace, run_id="app")
    retriever = ListRetriever(docs=docs())
    # The "LLM" quotes the rent clause: the quoted-span rule must find that citation.
    chain = RunnableLambda(lambda q: {"question": q, "docs": retriever.invoke(q)}) | RunnableLambda(
        lambda s: {"answer": f'The lease says: "{RENT[:60]}".'})
    out = chain.invoke("When is rent due?", config={"callbacks": [tracer], "metadata": {"task_id": "t1"}})
    assert out["answer"].startswith("The lease says")
    assert tracer.last_task_id == "t1" and tracer.unsaved == []

    assert rows(workspace, "SELECT question, status FROM tasks WHERE run_id = 'app'") == [("When is rent due?", "done")]
    got = rows(workspace, "SELECT attempt, query, stage, rank, chunk_id, doc_id, score, shown FROM retrievals ORDER BY rank")
    assert got == [(0, "When is rent due?", "retrieve", 1, "ext-notice", "ext-notice", 0.9, True),
                   (0, "When is rent due?", "retrieve", 2, "ext-rent", "ext-rent", 0.7, True)]
    assert rows(workspace, "SELECT chunk_id, citation_no, rank FROM citations") == [("ext-rent", 2, 2)]
    assert rows(workspace, "SELECT chunk_id, rank FROM ignored") == [("ext-notice", 1)]
    assert rows(workspace, "SELECT count(*) FROM grades")[0][0] == 0  # the app has no grader: absent
    # Unknown documents were ingested from their content, ids kept.
    assert rows(workspace, "SELECT chunk_id, doc_id, text FROM chunks ORDER BY chunk_id") == [
        ("ext-notice", "ext-notice", NOTICE), ("ext-rent", "ext-rent", RENT)]
    assert rows(workspace, "SELECT source FROM documents WHERE doc_id = 'ext-notice'") == [("lease.pdf",)]


def test_rewrites_web_search_tool_redaction_and_a_failed_run(workspace):
    tracer = RagloopTracer(workspace, redact=lambda text: text.replace("ACME", "[ORG]"), run_id="app")
    retriever = ListRetriever(docs=docs())

    @tool
    def web_search(query: str) -> str:
        """Search the web."""
        return "ACME lease news"

    def app(question):
        retriever.invoke(question)
        retriever.invoke(question + " ACME lease")  # the app's own query rewrite
        web_search.invoke({"query": question})
        return {"answer": "ACME must give ninety days notice [ext-notice]."}

    RunnableLambda(app).invoke("ACME notice period?", config={"callbacks": [tracer]})
    assert rows(workspace, "SELECT attempt, from_query, to_query FROM rewrites") == [(1, "[ORG] notice period?", "[ORG] notice period? [ORG] lease")]
    assert rows(workspace, "SELECT DISTINCT attempt FROM retrievals ORDER BY 1") == [(0,), (1,)]
    web = rows(workspace, "SELECT query, backend, n_results, results_json FROM web_fallbacks")
    assert web[0][:3] == ("[ORG] notice period?", "tool:web_search", 1) and "ACME" not in web[0][3]
    assert rows(workspace, "SELECT answer FROM answers") == [("[ORG] must give ninety days notice [ext-notice].",)]
    assert rows(workspace, "SELECT chunk_id FROM citations") == [("ext-notice",)]  # explicit [id] in the answer
    assert not any("ACME" in str(r) for r in rows(workspace, "SELECT question FROM tasks"))

    def broken(question):
        retriever.invoke(question)
        raise RuntimeError("model server down")

    with pytest.raises(RuntimeError):
        RunnableLambda(broken).invoke("Who pays repairs?", config={"callbacks": [tracer], "metadata": {"task_id": "bad"}})
    assert rows(workspace, "SELECT status, error FROM tasks WHERE task_id = 'bad'") == [("failed", "RuntimeError: model server down")]
    assert rows(workspace, "SELECT count(*) FROM retrievals WHERE task_id = 'bad'")[0][0] == 2  # what it did is kept


def test_explicit_citations_and_record_outcome(workspace):
    tracer = RagloopTracer(workspace, run_id="app")
    retriever = ListRetriever(docs=docs())
    chain = RunnableLambda(lambda q: retriever.invoke(q)) | RunnableLambda(lambda d: {"answer": "Ninety days.", "citations": [d[0]]})
    chain.invoke("Notice period?", config={"callbacks": [tracer]})
    task_id = tracer.last_task_id
    assert rows(workspace, "SELECT chunk_id, rank FROM citations") == [("ext-notice", 1)]
    assert rows(workspace, "SELECT success, reason FROM outcomes") == [(None, "no outcome reported yet (record_outcome)")]

    done = record_outcome("app", task_id, success=True, score=0.8, answer_check="unit-test", workspace=workspace)
    assert done.success is True and not done.already_harvested
    assert rows(workspace, "SELECT success, checker, predicted, reason FROM outcomes") == [(True, "unit-test", "Ninety days.", "score=0.8")]
    with pytest.raises(DataError, match="app/nope"):
        record_outcome("app", "nope", success=False, workspace=workspace)


def test_outcome_cli(workspace, capsys):
    from rag_agent.cli import app
    from rag_agent.cli_common import run_app

    tracer = RagloopTracer(workspace, run_id="app")
    RunnableLambda(lambda q: {"answer": "No."}).invoke("Is there a non-compete?", config={"callbacks": [tracer], "metadata": {"task_id": "t9"}})
    with pytest.raises(SystemExit) as ok:
        run_app(app, ["outcome", "app", "t9", "--failure", "--score", "0.1", "--check", "reviewer", "--workspace", str(workspace.root)])
    assert ok.value.code == 0 and "success=False" in capsys.readouterr().out
    assert rows(workspace, "SELECT success, checker, predicted, reason FROM outcomes") == [(False, "reviewer", "No.", "score=0.1")]
    with pytest.raises(SystemExit) as bad:
        run_app(app, ["outcome", "app", "missing", "--success", "--workspace", str(workspace.root)])
    assert bad.value.code == 2 and "app/missing" in capsys.readouterr().err


def _writer(db_path: str, worker: int) -> None:
    tasks = [ObservedTask(task_id=f"w{worker}-{i}", question=f"q{i}", answer="a",
                          retrievals=[ObservedRetrieval(f"q{i}", [ObservedDoc(f"d{worker}-{i}", content=f"text {worker} {i}", score=0.5)])])
             for i in range(6)]
    for task in tasks:  # one short transaction per task, as the tracer does
        write_tasks(db_path, "shared", [task], lock_timeout_s=60)


@pytest.mark.slow
def test_two_processes_trace_into_one_workspace(workspace):
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_writer, args=(str(workspace.db_path), w)) for w in range(2)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(180)
    assert [p.exitcode for p in workers] == [0, 0]
    assert rows(workspace, "SELECT count(*), count(DISTINCT task_id) FROM tasks WHERE run_id = 'shared'") == [(12, 12)]
    assert rows(workspace, "SELECT count(*) FROM chunks")[0][0] == 12


def test_harvest_reads_traced_tasks_without_grades_or_rerank(workspace):
    from feedback.harvest import Harvester
    from tests.test_feedback_harvest import NoMining

    tracer = RagloopTracer(workspace, run_id="app")
    retriever = ListRetriever(docs=docs())
    chain = RunnableLambda(lambda q: retriever.invoke(q)) | RunnableLambda(lambda d: {"answer": RENT[:70]})
    chain.invoke("When is rent due?", config={"callbacks": [tracer], "metadata": {"answer_type": "text"}})
    record_outcome("app", tracer.last_task_id, success=True, workspace=workspace)
    with workspace.db() as con:
        report = Harvester(workspace, con, None, miner=NoMining(workspace)).run(run_id="app")
        pairs = con.execute("SELECT chosen_chunk_id, rejected_chunk_id FROM pairs").fetchall() if report.pairs else []
    assert report.tasks_harvested == 1 and report.tasks_skipped == 0 and report.labels == 2
    assert [r[0] for r in rows(workspace, "SELECT chunk_id FROM judge_labels ORDER BY chunk_id")] == ["ext-notice", "ext-rent"]
    assert pairs == [("ext-rent", "ext-notice")]  # cited beats shown-but-ignored


@pytest.mark.slow
def test_a_task_blocked_by_another_process_is_kept_and_written_later(workspace, tmp_path):
    rows(workspace, "SELECT 1")  # the schema exists before the other process takes the lock
    with duckdb_lock_holder(workspace.db_path, tmp_path):
        tracer = RagloopTracer(workspace, run_id="app", lock_timeout_s=0.5)
        out = RunnableLambda(lambda q: {"answer": "Ninety days."}).invoke("Notice?", config={"callbacks": [tracer], "metadata": {"task_id": "t1"}})
        assert out == {"answer": "Ninety days."}  # the app is not disturbed by a busy workspace
        assert [t.task_id for t in tracer.unsaved] == ["t1"] and tracer.last_task_id == "t1"
    assert tracer.flush() == 0
    assert rows(workspace, "SELECT task_id, question FROM tasks") == [("t1", "Notice?")]
