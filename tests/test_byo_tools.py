"""bind_tools on the local LLM's LangChain adapter: a stock prebuilt ReAct agent runs on it
(scripted replies for the control flow, then the real tiny model with the real retriever)."""

from __future__ import annotations

import json

import pytest
from langchain_core.messages import HumanMessage
from langchain_core.tools import tool

from rag_agent.errors import LLMError
from rag_agent.llm.langchain_adapter import RagloopChatModel
from rag_agent.llm.tool_calls import tool_call_schema
from rag_agent.protocols import Reply


class SequenceLLM:
    """Returns the given parsed replies in order and records the schema and messages it got."""

    name = "fake:sequence"

    def __init__(self, *replies):
        self.replies, self.sent = list(replies), []

    def complete(self, messages, schema=None, max_tokens=None):
        self.sent.append((messages, schema))
        value = self.replies.pop(0)
        return Reply(text=json.dumps(value), parsed=value, tokens_in=7, tokens_out=3, seconds=0.0, model=self.name)

    def choice_probabilities(self, messages, choices):
        return {c: 1 / len(choices) for c in choices}


@tool
def lookup_clause(topic: str) -> str:
    """Look up a contract clause by topic."""
    return "Either party may terminate with ninety days notice." if "terminat" in topic else "No such clause."


def create_agent(model, tools):
    from langgraph.prebuilt import create_react_agent

    return create_react_agent(model, tools)


def test_schema_allows_each_tool_with_its_arguments_or_a_final_answer():
    specs = [{"name": "lookup_clause", "description": "d", "parameters": {"type": "object", "properties": {"topic": {"type": "string"}}, "required": ["topic"]}}]
    schema = tool_call_schema(specs)
    assert [o["properties"]["tool"]["const"] for o in schema["anyOf"]] == ["lookup_clause", "final_answer"]
    assert schema["anyOf"][0]["properties"]["arguments"]["required"] == ["topic"]
    assert tool_call_schema(specs, "required")["properties"]["tool"]["const"] == "lookup_clause"  # must call it
    with pytest.raises(LLMError, match="tool_choice"):
        tool_call_schema(specs, "unknown_tool")


def test_stock_react_agent_calls_the_tool_then_answers():
    llm = SequenceLLM({"tool": "lookup_clause", "arguments": {"topic": "termination"}},
                      {"tool": "final_answer", "answer": "Ninety days notice."})
    agent = create_agent(RagloopChatModel(llm=llm), [lookup_clause])
    result = agent.invoke({"messages": [HumanMessage("How can the contract be terminated?")]})
    kinds = [m.type for m in result["messages"]]
    assert kinds == ["human", "ai", "tool", "ai"]
    assert result["messages"][1].tool_calls[0]["name"] == "lookup_clause"
    assert result["messages"][1].tool_calls[0]["args"] == {"topic": "termination"}
    assert "ninety days" in result["messages"][2].content and result["messages"][3].content == "Ninety days notice."
    second_prompt = llm.sent[1][0]
    assert "Result of tool lookup_clause" in second_prompt[-1]["content"]  # the tool result reached the model
    assert "anyOf" in llm.sent[0][1]


def test_a_repeated_call_already_answered_is_turned_into_a_final_answer():
    call = {"tool": "lookup_clause", "arguments": {"topic": "termination"}}
    llm = SequenceLLM(call, call, {"tool": "final_answer", "answer": "Ninety days."})
    result = create_agent(RagloopChatModel(llm=llm), [lookup_clause]).invoke({"messages": [HumanMessage("Termination?")]})
    assert [m.type for m in result["messages"]] == ["human", "ai", "tool", "ai"]
    assert result["messages"][-1].content == "Ninety days." and result["messages"][-1].usage_metadata["input_tokens"] == 14
    assert "final_answer" == llm.sent[2][1]["properties"]["tool"]["const"]  # only the answer was allowed


@pytest.mark.llm
@pytest.mark.slow
def test_react_agent_on_the_tiny_model_with_the_real_retriever_is_traced(workspace, embedder, write_corpus):
    pytest.importorskip("llama_cpp")
    from rag_agent.config import LLMConfig
    from rag_agent.llm.factory import load_llm
    from rag_agent.retrieval.langchain_retriever import RagloopRetriever
    from rag_agent.retrieval.searcher import WorkspaceRetriever
    from rag_agent.tracer import RagloopTracer

    write_corpus(workspace, embedder)
    retriever = RagloopRetriever(retriever=WorkspaceRetriever.open(workspace, embedder=embedder), k=2)

    @tool
    def search_contracts(query: str) -> str:
        """Search the contracts for passages about the query."""
        return "\n".join(d.page_content for d in retriever.invoke(query))

    chat = RagloopChatModel(llm=load_llm(LLMConfig(backend="tiny", n_ctx=2048)), max_tokens=64)
    tracer = RagloopTracer(workspace, run_id="react")
    # tool_choice is left to the model; the first turn is forced to search so the test is about the loop.
    agent = create_agent(chat, [search_contracts])
    first = chat.bind_tools([search_contracts], tool_choice="required").invoke([HumanMessage("Which state's law governs the NDA?")])
    assert first.tool_calls and first.tool_calls[0]["name"] == "search_contracts" and isinstance(first.tool_calls[0]["args"].get("query"), str)
    result = agent.invoke({"messages": [HumanMessage("Which state's law governs the NDA? Search the contracts.")]},
                          config={"callbacks": [tracer], "recursion_limit": 8})
    final = result["messages"][-1]
    assert final.type == "ai" and not final.tool_calls and final.content.strip()
    assert any(m.type == "tool" for m in result["messages"])  # the agent used the retriever tool
    with workspace.db() as con:
        tasks = con.execute("SELECT status, question FROM tasks WHERE run_id = 'react'").fetchall()
        retrieved = con.execute("SELECT count(*) FROM retrievals WHERE run_id = 'react' AND attempt = 0").fetchone()[0]
        steps = con.execute("SELECT count(*) FILTER (node = 'llm'), sum(tokens_in) FROM steps WHERE run_id = 'react'").fetchone()
        web = con.execute("SELECT count(*) FROM web_fallbacks WHERE run_id = 'react'").fetchone()[0]
        answers = con.execute("SELECT answer FROM answers WHERE run_id = 'react' AND final").fetchall()
    assert tasks == [("done", "Which state's law governs the NDA? Search the contracts.")]
    assert retrieved == 2 and steps[0] >= 2 and steps[1] > 0 and answers == [(final.content,)]
    assert web == 0  # a tool that calls the retriever is retrieval, not a web search
