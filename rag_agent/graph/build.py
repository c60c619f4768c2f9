"""Assemble the agent graph from nodes, routers and injected dependencies.

    retrieve → rerank → grade ─relevant→ answer → ground ─grounded/budget spent→ END
                          │                 ▲        └─not grounded→ answer (≤ max_regenerations)
                          ├─none, budget left→ rewrite → retrieve   (≤ max_rewrites)
                          └─none, budget spent→ web_search ─┘
"""

from __future__ import annotations

import functools
import time
from typing import Callable

from rag_agent.graph import nodes, routing
from rag_agent.graph.state import AgentDeps, AgentState, recursion_limit

NODES: dict[str, Callable[[AgentState, AgentDeps], dict]] = {
    "retrieve": nodes.retrieve,
    "rerank": nodes.rerank,
    "grade": nodes.grade,
    "rewrite": nodes.rewrite,
    "web_search": nodes.web_search,
    "answer": nodes.answer,
    "ground": nodes.ground,
}


def instrument(name: str, node: Callable[[AgentState, AgentDeps], dict], deps: AgentDeps) -> Callable[[AgentState], dict]:
    """Bind `deps` into a node and time it: each run of a node appends one step record."""
    clock = deps.clock or time.perf_counter

    @functools.wraps(node)
    def run(state: AgentState) -> dict:
        started = clock()
        update = dict(node(state, deps))
        usage = update.pop("llm_usage", None) or []
        step = {
            "node": name,
            "seconds": clock() - started,
            "llm_seconds": sum(u["seconds"] for u in usage),
            "tokens_in": sum(u["tokens_in"] for u in usage),
            "tokens_out": sum(u["tokens_out"] for u in usage),
        }
        update["steps"] = [step]
        return update

    return run


def build_graph(deps: AgentDeps):
    """A compiled LangGraph for these dependencies; invoke with `config=run_config(deps)`."""
    from langgraph.graph import END, START, StateGraph

    graph = StateGraph(AgentState)
    for name, node in NODES.items():
        graph.add_node(name, instrument(name, node, deps))
    graph.add_edge(START, "retrieve")
    graph.add_edge("retrieve", "rerank")
    graph.add_edge("rerank", "grade")
    graph.add_conditional_edges(
        "grade", functools.partial(routing.after_grade, cfg=deps.cfg),
        {"answer": "answer", "rewrite": "rewrite", "web_search": "web_search"},
    )
    graph.add_edge("rewrite", "retrieve")
    graph.add_edge("web_search", "answer")
    graph.add_edge("answer", "ground")
    graph.add_conditional_edges("ground", functools.partial(routing.after_ground, cfg=deps.cfg), {"answer": "answer", "__end__": END})
    return graph.compile()


def run_config(deps: AgentDeps) -> dict:
    return {"recursion_limit": recursion_limit(deps.cfg)}
