"""`feedback import`: OpenInference spans (attribute names from the spec) and plain JSONL traces
become the same trace rows as the LangChain tracer writes; a malformed file imports nothing."""

from __future__ import annotations

import json

import pytest
from langchain_core.runnables import RunnableLambda
from typer.testing import CliRunner

from feedback.cli import app as feedback_app
from feedback.importer import import_file
from rag_agent.cli_common import run_app
from rag_agent.errors import DataError
from rag_agent.tracer import RagloopTracer
from tests.test_byo_tracer import NOTICE, RENT, ListRetriever, docs, rows

QUESTION = "When is rent due?"
ANSWER = f'The lease says: "{RENT[:60]}".'
COMPARED = {
    "retrievals": "attempt, query, stage, rank, chunk_id, doc_id, score, shown",
    "citations": "chunk_id, citation_no, rank",
    "ignored": "chunk_id, rank",
    "answers": "generation, answer, grounded, final",
    "outcomes": "success, predicted",
    "tasks": "question, status",
}


def spans(trace_id="trace-1", drop_query=False):
    """One root CHAIN span, one RETRIEVER span and one LLM span, flat attributes as Phoenix exports."""
    retriever = {"openinference.span.kind": "RETRIEVER"} | ({} if drop_query else {"input.value": QUESTION})
    for i, (doc_id, text, score, meta) in enumerate([("ext-notice", NOTICE, 0.9, {"source": "lease.pdf"}), ("ext-rent", RENT, 0.7, {})]):
        retriever |= {f"retrieval.documents.{i}.document.id": doc_id, f"retrieval.documents.{i}.document.content": text,
                      f"retrieval.documents.{i}.document.score": score, f"retrieval.documents.{i}.document.metadata": json.dumps(meta)}
    ctx = lambda sid: {"trace_id": trace_id, "span_id": sid}  # noqa: E731
    return [
        {"name": "RAG", "context": ctx("s0"), "parent_id": None, "start_time": "2026-01-01T00:00:00+00:00",
         "end_time": "2026-01-01T00:00:02+00:00", "attributes": {"openinference.span.kind": "CHAIN", "input.value": QUESTION, "output.value": ANSWER}},
        {"name": "retrieve", "context": ctx("s1"), "parent_id": "s0", "start_time": "2026-01-01T00:00:00.100000+00:00",
         "end_time": "2026-01-01T00:00:00.300000+00:00", "attributes": retriever},
        {"name": "llm", "context": ctx("s2"), "parent_id": "s0", "start_time": "2026-01-01T00:00:00.400000+00:00",
         "end_time": "2026-01-01T00:00:01.900000+00:00",
         "attributes": {"openinference.span.kind": "LLM", "llm.token_count.prompt": 120, "llm.token_count.completion": 20, "output.value": ANSWER}},
    ]


def write(path, items):
    path.write_text("\n".join(json.dumps(i) for i in items) + "\n")
    return path


def table(ws, name, run_id):
    return rows(ws, f"SELECT {COMPARED[name]} FROM {name} WHERE run_id = ? ORDER BY ALL", [run_id])


def test_openinference_spans_import_into_the_rows_the_tracer_writes(workspace, tmp_path):
    tracer = RagloopTracer(workspace, run_id="traced")
    retriever = ListRetriever(docs=docs())
    chain = RunnableLambda(lambda q: retriever.invoke(q)) | RunnableLambda(lambda d: {"answer": ANSWER})
    chain.invoke(QUESTION, config={"callbacks": [tracer]})

    run, total, written = import_file(workspace, "openinference", write(tmp_path / "spans.jsonl", spans()), run_id="imported")
    assert (run, total, written) == ("imported", 1, 1)
    for name in COMPARED:
        assert table(workspace, name, "imported") == table(workspace, name, "traced"), name
    assert table(workspace, "citations", "imported") == [("ext-rent", 2, 2)]
    assert rows(workspace, "SELECT tokens_in, tokens_out, seconds FROM tasks WHERE run_id = 'imported'") == [(120, 20, 2.0)]
    # Importing the same file again writes nothing new (resumable, no duplicates).
    assert import_file(workspace, "openinference", tmp_path / "spans.jsonl", run_id="imported")[2] == 0


def test_a_malformed_span_file_names_the_line_and_attribute_and_imports_nothing(workspace, tmp_path, capsys):
    good = spans("trace-ok")
    bad = spans("trace-bad", drop_query=True)
    path = write(tmp_path / "bad.jsonl", good + bad)
    with pytest.raises(DataError) as err:
        import_file(workspace, "openinference", path)
    message = str(err.value)
    assert "line 5" in message and "input.value" in message and "\n" not in message
    assert rows(workspace, "SELECT count(*) FROM tasks")[0][0] == 0
    assert rows(workspace, "SELECT count(*) FROM chunks")[0][0] == 0

    with pytest.raises(SystemExit) as exited:
        run_app(feedback_app, ["import", str(path), "--format", "openinference", "--workspace", str(workspace.root)])
    err = capsys.readouterr().err
    assert exited.value.code == 2 and err.count("\n") == 1 and "line 5" in err and "Traceback" not in err


def test_jsonl_with_a_reranker_and_an_outcome(workspace, tmp_path):
    line = {"task_id": "j1", "question": QUESTION, "answer": ANSWER, "success": True,
            "retrievals": [{"query": QUESTION,
                            "documents": [{"id": "ext-notice", "content": NOTICE, "score": 0.9}, {"id": "ext-rent", "content": RENT, "score": 0.7}],
                            "reranked": [{"id": "ext-rent", "content": RENT, "score": 0.7, "rerank_score": 3.5}]}],
            "llm_calls": [{"seconds": 1.5, "tokens_in": 100, "tokens_out": 10}]}
    path = write(tmp_path / "traces.jsonl", [line])
    result = CliRunner().invoke(feedback_app, ["import", str(path), "--format", "jsonl", "--workspace", str(workspace.root)])
    assert result.exit_code == 0, result.output
    got = rows(workspace, "SELECT stage, rank, chunk_id, score, shown FROM retrievals WHERE run_id = 'import-traces' ORDER BY stage, rank")
    assert got == [("rerank", 1, "ext-rent", 3.5, True), ("retrieve", 1, "ext-notice", 0.9, False), ("retrieve", 2, "ext-rent", 0.7, True)]
    assert rows(workspace, "SELECT success FROM outcomes") == [(True,)]
    assert rows(workspace, "SELECT chunk_id FROM citations") == [("ext-rent",)]

    missing = write(tmp_path / "missing.jsonl", [{"task_id": "j2", "question": "q", "retrievals": [{"query": "q", "documents": [{"id": "unknown-doc"}]}]}])
    with pytest.raises(DataError, match="line 1.*unknown-doc.*content"):
        import_file(workspace, "jsonl", missing)


def test_a_batch_of_traces_skips_tasks_already_imported(workspace, tmp_path):
    first = write(tmp_path / "a.jsonl", spans("t-1") + spans("t-2"))
    assert import_file(workspace, "openinference", first, run_id="r")[1:] == (2, 2)
    both = write(tmp_path / "b.jsonl", spans("t-2") + spans("t-3") + spans("t-1"))
    assert import_file(workspace, "openinference", both, run_id="r")[1:] == (3, 1)
    assert rows(workspace, "SELECT task_id, count(*) FROM retrievals WHERE run_id = 'r' GROUP BY 1 ORDER BY 1") == [
        ("t-1", 2), ("t-2", 2), ("t-3", 2)]
    assert rows(workspace, "SELECT count(*) FROM chunks")[0][0] == 2  # shared documents ingested once
