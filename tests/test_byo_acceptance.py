"""Acceptance: a user's own LangGraph graph (not ragloop's), on the real tiny LLM through the
LangChain adapter and the real retriever, traced by RagloopTracer, writes the rows ragloop's own
agent writes for the same retrievals, and `feedback harvest` makes labels and pairs from them."""

from __future__ import annotations

from typing import TypedDict

import pytest

from tests.fakes import FakeWeb, ScriptedLLM

QUESTION = "How much notice is needed to terminate the lease?"
K = 3
COLUMNS = "attempt, query, rank, chunk_id, doc_id, round(score, 5), shown, embedder_version, reranker_version"


class AppState(TypedDict, total=False):
    question: str
    query: str
    docs: list
    answer: str
    citations: list


def build_app(chat, retriever):
    """A plain retrieve -> rewrite -> retrieve -> answer graph, as a user might write one."""
    from langchain_core.messages import HumanMessage, SystemMessage
    from langgraph.graph import END, START, StateGraph

    rewrite_schema = {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"], "additionalProperties": False}
    answer_schema = {"type": "object", "properties": {"answer": {"type": "string"}, "source": {"type": "integer", "minimum": 1, "maximum": K}},
                     "required": ["answer", "source"], "additionalProperties": False}

    def first_search(state):
        return {"docs": retriever.invoke(state["question"])}

    def rewrite(state):
        reply = chat.bind(schema=rewrite_schema, max_tokens=32).invoke(
            [SystemMessage("Rewrite the question as a short search query about a contract."), HumanMessage(state["question"])])
        return {"query": reply.additional_kwargs["parsed"]["query"].strip() or state["question"]}

    def second_search(state):
        return {"docs": retriever.invoke(state["query"])}

    def answer(state):
        passages = "\n".join(f"[{i}] {d.page_content}" for i, d in enumerate(state["docs"], start=1))
        reply = chat.bind(schema=answer_schema, max_tokens=64).invoke(
            [SystemMessage("Answer from the passages and give the number of the passage you used."),
             HumanMessage(f"Passages:\n{passages}\n\nQuestion: {state['question']}")])
        parsed = reply.additional_kwargs["parsed"]
        cited = state["docs"][min(max(int(parsed["source"]), 1), len(state["docs"])) - 1]
        return {"answer": parsed["answer"].strip(), "citations": [cited.id]}

    graph = StateGraph(AppState)
    for name, fn in [("first_search", first_search), ("rewrite", rewrite), ("second_search", second_search), ("answer", answer)]:
        graph.add_node(name, fn)
    graph.add_edge(START, "first_search")
    graph.add_edge("first_search", "rewrite")
    graph.add_edge("rewrite", "second_search")
    graph.add_edge("second_search", "answer")
    graph.add_edge("answer", END)
    return graph.compile()


@pytest.mark.llm
@pytest.mark.slow
def test_a_traced_langgraph_app_writes_the_own_agents_rows_and_harvests(workspace, embedder, write_corpus):
    pytest.importorskip("llama_cpp")
    from feedback.harvest import Harvester
    from rag_agent.config import LLMConfig
    from rag_agent.graph.runner import run_tasks
    from rag_agent.llm.factory import load_llm
    from rag_agent.llm.langchain_adapter import RagloopChatModel
    from rag_agent.outcomes import record_outcome
    from rag_agent.retrieval.langchain_retriever import RagloopRetriever
    from rag_agent.retrieval.searcher import WorkspaceRetriever
    from rag_agent.tasks import Task
    from rag_agent.tracer import RagloopTracer

    write_corpus(workspace, embedder)
    searcher = WorkspaceRetriever.open(workspace, embedder=embedder)
    chat = RagloopChatModel(llm=load_llm(LLMConfig(backend="tiny", n_ctx=2048)))
    app = build_app(chat, RagloopRetriever(retriever=searcher, k=K))

    tracer = RagloopTracer(workspace, run_id="app")
    out = app.invoke({"question": QUESTION}, config={"callbacks": [tracer], "metadata": {"task_id": "t1"}})
    assert out["answer"] and tracer.unsaved == []
    record_outcome("app", "t1", success=True, answer_check="thumbs-up", workspace=workspace)

    # ragloop's own agent on the same question, made to take the same path (a rewrite to the same
    # query, the same cited passage) by a scripted LLM; retrieval is the same real retriever.
    with workspace.db() as con:
        (rewritten,) = con.execute("SELECT to_query FROM rewrites WHERE run_id = 'app'").fetchone()
        (cited_id,) = con.execute("SELECT chunk_id FROM citations WHERE run_id = 'app'").fetchone()
    position = [d.id for d in RagloopRetriever(retriever=searcher, k=K).invoke(rewritten)].index(cited_id) + 1
    grade_scores = iter([0.1, 0.95])  # the grade step fails attempt 0 (-> the rewrite) and passes attempt 1
    scripted = ScriptedLLM(grade=lambda m: next(grade_scores), query={"query": rewritten},
                           answer={"answer": out["answer"], "citations": [position]})
    workspace.config.agent.retrieve_k = workspace.config.agent.context_k = K
    workspace.config.agent.max_rewrites = 1
    workspace.config.agent.rewrite_shows_new = False  # the app shows the rewritten query's top K, seen or not
    run_tasks(workspace, [Task("t1", QUESTION)], "own", llm=scripted, retriever=searcher, web=FakeWeb())

    with workspace.db() as con:
        def q(sql, run):
            return con.execute(sql, [run]).fetchall()

        retrieved = f"SELECT {COLUMNS} FROM retrievals WHERE run_id = ? AND stage = 'retrieve' ORDER BY attempt, rank"
        assert q(retrieved, "app") == q(retrieved, "own") and len(q(retrieved, "app")) == 2 * K
        for sql in ("SELECT attempt, from_query, to_query FROM rewrites WHERE run_id = ?",
                    "SELECT chunk_id, citation_no, rank FROM citations WHERE run_id = ?",
                    "SELECT chunk_id, rank FROM ignored WHERE run_id = ? ORDER BY rank",
                    "SELECT answer, final FROM answers WHERE run_id = ? AND final",
                    "SELECT question, status FROM tasks WHERE run_id = ?"):
            assert q(sql, "app") == q(sql, "own"), sql
        assert q("SELECT success, checker FROM outcomes WHERE run_id = ?", "app") == [(True, "thumbs-up")]
        # Stages the app does not have are absent, not invented.
        assert q("SELECT count(*) FROM grades WHERE run_id = ?", "app") == [(0,)]
        assert q("SELECT count(*) FROM retrievals WHERE run_id = ? AND stage = 'rerank'", "app") == [(0,)]

        report = Harvester(workspace, con, None).run(run_id="app")
    assert report.tasks_harvested == 1 and report.tasks_skipped == 0
    assert report.labels > 0 and report.pairs > 0
