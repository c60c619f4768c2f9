"""Routers: which node runs next. Each asserts the loop counters first, so a routing bug shows up
as a failed assertion naming the counter rather than as LangGraph's recursion limit."""

from __future__ import annotations

from typing import Literal

from rag_agent.config import AgentConfig
from rag_agent.graph.state import AgentState, check_bounds, is_final_answer


def after_grade(state: AgentState, cfg: AgentConfig) -> Literal["answer", "rewrite", "web_search"]:
    """Relevant chunks → answer; none → rewrite the query while the budget lasts, then fall back."""
    check_bounds(state, cfg)
    if state.get("relevant"):
        return "answer"
    if state.get("rewrites", 0) < cfg.max_rewrites:
        return "rewrite"
    return "web_search"


def after_ground(state: AgentState, cfg: AgentConfig) -> Literal["answer", "__end__"]:
    """An ungrounded answer is regenerated at most `max_regenerations` times."""
    check_bounds(state, cfg)
    return "__end__" if is_final_answer(state, cfg) else "answer"
