"""Control flow of the agent graph with scripted fakes: loop bounds, fallback, failures."""

from __future__ import annotations

import pytest

from agent_fakes import FakeRetriever, FakeWeb, ScriptedLLM, invalid_json_error
from rag_agent.config import AgentConfig
from rag_agent.graph import routing
from rag_agent.graph.build import build_graph
from rag_agent.graph.runner import run_graph
from rag_agent.graph.state import AgentDeps, initial_state, recursion_limit
from rag_agent.tasks import Task

DOCS = {"d1": ["The governing law is Delaware.", "Payment is due in 30 days.", "Either party may terminate."], "d2": ["Other."]}


def run_one(llm, cfg=None, web=None, question="Which law governs?", doc_id="d1"):
    deps = AgentDeps(llm=llm, retriever=FakeRetriever(DOCS), web=web or FakeWeb(), cfg=cfg or AgentConfig(context_k=3))
    state, error = run_graph(build_graph(deps), deps, Task(id="t", question=question, doc_id=doc_id))
    return state, error, deps


def tables(state, name):
    return [e for e in state["events"] if e["table"] == name]


@pytest.mark.parametrize("max_rewrites", [0, 2, 3])
def test_always_irrelevant_grader_rewrites_exactly_max_then_falls_back_then_answers(max_rewrites):
    llm = ScriptedLLM(relevant={"relevant": []})
    web = FakeWeb()
    state, error, deps = run_one(llm, AgentConfig(context_k=3, max_rewrites=max_rewrites), web)
    assert error is None
    assert llm.calls["query"] == max_rewrites == state["rewrites"] == len(tables(state, "rewrites"))
    assert llm.calls["relevant"] == max_rewrites + 1
    assert web.calls == 1
    assert [s["node"] for s in state["steps"]][-3:] == ["web_search", "answer", "ground"]
    assert {e["attempt"] for e in tables(state, "grades")} == set(range(max_rewrites + 1))
    # each attempt after a rewrite retrieved with the rewritten query
    assert deps.retriever.queries == ["Which law governs?"] + ["rewritten query"] * max_rewrites
    # with nothing relevant and nothing from the web, the answer sees the last attempt's chunks, flagged weak
    assert [c["ref"] for c in state["context"]] == [c.chunk_id for c in state["shown"]]
    assert "may not contain the answer" in llm.messages[-2][-1]["content"]


def test_fallback_is_recorded_and_its_hits_are_answer_context():
    llm = ScriptedLLM(relevant={"relevant": []}, answer={"answer": "Delaware", "citations": [1]})
    state, error, _ = run_one(llm, web=FakeWeb(hits=["Delaware law applies."]))
    (fallback,) = tables(state, "web_fallbacks")
    assert fallback["backend"] == "fake-web" and fallback["n_results"] == 1 and "Delaware law" in fallback["results_json"]
    assert state["context"][0]["source"] == "web"
    assert tables(state, "citations")[0]["chunk_id"] == "https://example.org/0"


def test_relevant_chunks_skip_rewrites_and_fallback_and_are_cited():
    llm = ScriptedLLM(relevant={"relevant": [2, 9, "x"]}, answer={"answer": "Delaware", "citations": [1, 5]})
    state, error, _ = run_one(llm)
    assert error is None and llm.calls["query"] == 0 and not tables(state, "web_fallbacks")
    grades = tables(state, "grades")
    assert [g["relevant"] for g in grades] == [False, True, False]  # out-of-range ids ignored
    # the answerer sees the grader's passages (shared prompt prefix) and is told which were relevant
    assert [c["ref"] for c in state["context"]] == [g["chunk_id"] for g in grades]
    answer_prompt = llm.messages[1][-1]["content"]
    assert "Documents judged relevant: 2." in answer_prompt
    assert answer_prompt.split("Question:")[0] == llm.messages[0][-1]["content"].split("Question:")[0]
    assert [c["citation_no"] for c in tables(state, "citations")] == [1]  # citation [5] did not exist
    assert [i["rank"] for i in tables(state, "ignored")] == [2, 3]


def test_grader_and_answerer_only_see_the_scoped_document():
    llm = ScriptedLLM()
    state, _, _ = run_one(llm, doc_id="d2")
    assert {e["doc_id"] for e in tables(state, "retrievals")} == {"d2"}


def test_never_grounded_answer_is_regenerated_exactly_once():
    llm = ScriptedLLM(grounded={"grounded": False})
    state, error, _ = run_one(llm)
    assert error is None
    assert llm.calls["answer"] == 2 and llm.calls["grounded"] == 2 and state["regenerations"] == 1
    answers = tables(state, "answers")
    assert [(a["generation"], a["grounded"], a["final"]) for a in answers] == [(0, False, False), (1, False, True)]
    # the regeneration prompt names the rejected answer
    assert 'The answer "Yes" was not supported' in llm.messages[-2][-1]["content"]


def test_grounded_answer_is_not_regenerated():
    llm = ScriptedLLM()
    state, _, _ = run_one(llm)
    assert llm.calls["answer"] == 1 and [a["final"] for a in tables(state, "answers")] == [True]


def test_invalid_json_fails_the_task_with_the_reason_and_keeps_the_partial_trace():
    llm = ScriptedLLM(answer=invalid_json_error())
    state, error, _ = run_one(llm)
    assert error is not None and "JSON" in str(error)
    assert tables(state, "grades") and not tables(state, "answers")


def test_worst_case_path_stays_under_the_recursion_limit():
    cfg = AgentConfig(context_k=3, max_rewrites=6, max_regenerations=4)
    llm = ScriptedLLM(relevant={"relevant": []}, grounded={"grounded": False})
    state, error, _ = run_one(llm, cfg)
    assert error is None  # a GraphRecursionError would have propagated
    assert state["rewrites"] == 6 and state["regenerations"] == 4
    assert len(state["steps"]) < recursion_limit(cfg)


def test_routers_refuse_counters_past_their_bounds():
    cfg = AgentConfig(max_rewrites=1)
    state = initial_state("t", "q") | {"rewrites": 2}
    with pytest.raises(AssertionError, match="rewrites"):
        routing.after_grade(state, cfg)
    assert routing.after_grade(initial_state("t", "q") | {"rewrites": 1}, cfg) == "web_search"
    assert routing.after_ground(initial_state("t", "q") | {"grounded": False, "regenerations": 0}, cfg) == "answer"


def test_excerpt_centres_on_the_question_words_and_compacts_layout():
    from rag_agent.graph.prompts import excerpt

    filler = "The parties agree to cooperate in good faith.   " * 20
    text = filler + "This Agreement shall be governed by the laws of the State of Delaware. " + filler
    cut = excerpt(text, "Which state's law governs this contract?", 200)
    assert "governed by the laws of the State of Delaware" in cut and len(cut) <= 202
    assert "   " not in cut
    assert excerpt("short   text", "q", 200) == "short text"
