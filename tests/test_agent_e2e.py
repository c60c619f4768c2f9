"""The whole agent with real parts: CUAD contract excerpts ingested with the real MiniLM embedder
and faiss, a real small GGUF model through llama-cpp, traces in a real DuckDB file."""

from __future__ import annotations

import json

import pytest

from rag_agent.errors import RagloopError
from rag_agent.web_search import DuckDuckGoSearch, load_web_search

EXCERPT_CHARS = 3000  # the first ~4 chunks of each contract: the parties and dates are there


@pytest.mark.slow
def test_corpus_fallback_searches_a_second_local_corpus(tmp_path, embedder):
    corpus = tmp_path / "statutes"
    corpus.mkdir()
    (corpus / "ucc.txt").write_text("A contract for the sale of goods for $500 or more must be in writing to be enforceable.")
    (corpus / "privacy.txt").write_text("Personal data may be processed only for specified, explicit and legitimate purposes.")
    web = load_web_search(f"corpus:{corpus}", embedder=embedder)
    hits = web.search("Does a sale of goods contract need to be written?", 1)
    assert web.name == f"corpus:{corpus}" and hits[0].url.startswith("corpus:ucc:") and "in writing" in hits[0].text


def test_unreachable_web_search_is_one_clear_error():
    web = DuckDuckGoSearch(timeout_s=2)
    web.URL = "http://127.0.0.1:9/"  # nothing listens on the discard port
    with pytest.raises(RagloopError, match="agent.web_search=none"):
        web.search("governing law", 3)
    assert load_web_search("none").search("anything", 3) == []


@pytest.mark.llm
@pytest.mark.slow
def test_two_real_tasks_leave_complete_traces(tmp_path, shared_data, embedder, workspace):
    pytest.importorskip("llama_cpp")
    from rag_agent.graph.runner import run_tasks
    from rag_agent.ingest.pipeline import ingest
    from rag_agent.llm.factory import load_llm
    from rag_agent.retrieval.searcher import WorkspaceRetriever
    from rag_agent.tracing import TraceStore

    cuad = shared_data / "cuad"
    contracts = [json.loads(line) for line in (cuad / "contracts_dev.jsonl").read_text().splitlines()[:2]]
    folder = tmp_path / "contracts"
    folder.mkdir()
    for contract in contracts:
        (folder / f"{contract['doc_id']}.txt").write_text((cuad / contract["file"]).read_text()[:EXCERPT_CHARS])
    ingest(workspace, [folder], embedder=embedder, progress=False)

    doc_ids = [c["doc_id"] for c in contracts]
    all_tasks = [json.loads(line) for line in (cuad / "tasks_dev.jsonl").read_text().splitlines()]
    chosen = [next(t for t in all_tasks if t["doc_id"] == doc_ids[0] and t["category"] == "Agreement Date"),
              next(t for t in all_tasks if t["doc_id"] == doc_ids[1] and t["answer_type"] == "yes_no")]
    task_file = tmp_path / "tasks.jsonl"
    task_file.write_text("".join(json.dumps(t) + "\n" for t in chosen))

    cfg = workspace.config
    cfg.llm.backend = "tiny"
    cfg.agent.context_k, cfg.agent.max_rewrites = 3, 1  # keep the test within ~2 minutes on 2 cores
    summary = run_tasks(workspace, task_file, "e2e", llm=load_llm(cfg.llm),
                        retriever=WorkspaceRetriever.open(workspace, embedder=embedder))
    assert summary.tasks == 2 and summary.labelled == 2

    with TraceStore.for_workspace(workspace) as store:
        status = {t["task_id"]: (t["status"], t["error"]) for t in store.tasks("e2e")}
        assert status == {t["id"]: ("done", None) for t in chosen}
        chunk_ids = {r[0] for r in store.query("SELECT chunk_id FROM chunks")}
        for task in chosen:
            tid = task["id"]
            retrieved = store.query("SELECT chunk_id, doc_id, stage, shown FROM retrievals WHERE run_id='e2e' AND task_id=?", [tid])
            assert {r[0] for r in retrieved} <= chunk_ids and {r[1] for r in retrieved} == {task["doc_id"]}
            assert {r[2] for r in retrieved} == {"retrieve", "rerank"} and any(r[3] for r in retrieved)
            grades = store.query("SELECT chunk_id, attempt FROM grades WHERE run_id='e2e' AND task_id=?", [tid])
            assert grades and {g[0] for g in grades} <= chunk_ids
            # one grade reading per attempt: a real P(yes), the threshold, and the decision it implies
            scores = store.query("SELECT attempt, mode, score, threshold, passed FROM grade_scores "
                                 "WHERE run_id='e2e' AND task_id=? ORDER BY attempt", [tid])
            assert [s[0] for s in scores] == sorted({g[1] for g in grades})
            for _, mode, score, threshold, passed in scores:
                assert mode == "score" and 0.0 <= score <= 1.0 and passed == (score >= threshold)
            assert all(not s[4] for s in scores[:-1])  # only a failed grade leads to another attempt
            finals = store.query("SELECT answer FROM answers WHERE run_id='e2e' AND task_id=? AND final", [tid])
            assert len(finals) == 1
            cited = store.query("SELECT chunk_id FROM citations WHERE run_id='e2e' AND task_id=?", [tid])
            ignored = store.query("SELECT chunk_id FROM ignored WHERE run_id='e2e' AND task_id=?", [tid])
            assert {c[0] for c in cited + ignored} <= chunk_ids and cited + ignored
            ((success, checker, predicted, gold),) = store.query(
                "SELECT success, checker, predicted, gold FROM outcomes WHERE run_id='e2e' AND task_id=?", [tid])
            assert success is not None and checker == task["answer_type"] and predicted == finals[0][0] and gold == task["answer"]
            nodes = [r[0] for r in store.query("SELECT node FROM steps WHERE run_id='e2e' AND task_id=? ORDER BY step_no", [tid])]
            assert nodes[:3] == ["retrieve", "rerank", "grade"] and nodes[-2:] == ["answer", "ground"]
            (llm_seconds,) = store.query("SELECT llm_seconds FROM tasks WHERE run_id='e2e' AND task_id=?", [tid])[0]
            assert llm_seconds > 0
