"""The agent's state, its injected dependencies, and the loop bounds.

Nodes are pure functions of (state, deps) returning partial updates. Everything a trace needs is
carried in the state (`events` and `steps` accumulate through `operator.add`), so the runner turns
the final state into trace rows without nodes ever touching the database.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Annotated, Any, Callable, TypedDict

from rag_agent.config import AgentConfig
from rag_agent.protocols import ChatLLM, Retriever, WebHit, WebSearch
from rag_agent.types import RankedChunk


@dataclass(frozen=True)
class AgentDeps:
    """Everything nodes use, built once per run and bound into the nodes at graph build time."""

    llm: ChatLLM
    retriever: Retriever
    web: WebSearch
    cfg: AgentConfig
    max_tokens: int = 384  # cap for grade/rewrite/groundedness replies (LLMConfig.max_tokens)
    clock: Callable[[], float] | None = None  # time source; None = time.perf_counter


class ContextItem(TypedDict):
    """One passage in the answer context: a workspace chunk or a fallback (web/corpus) hit."""

    ref: str  # chunk_id, or the hit's url for fallback hits
    doc_id: str | None
    text: str
    source: str  # 'chunk' | 'web'


class AgentState(TypedDict, total=False):
    # the task (input)
    task_id: str
    question: str
    doc_id: str | None
    answer_type: str | None
    # retrieval loop
    query: str
    attempt: int  # 0 = original question, n = after the n-th rewrite
    rewrites: int
    candidates: list[RankedChunk]  # index order, this attempt
    ranked: list[RankedChunk]  # reranker order, this attempt (all candidates)
    shown: list[RankedChunk]  # the top context_k after reranking: what grader and answerer see
    relevant: list[int]  # 1-based positions in `shown` the grader passed (score mode: all of them, or none)
    grade_score: float | None  # this attempt's P(yes) (score mode); None in list mode
    best_score: float | None  # the highest grade score over the attempts so far
    best_shown: list[RankedChunk]  # the shown chunks of that attempt: the weak context when none passes
    seen: list[str]  # chunk ids shown by any attempt so far (agent.rewrite_shows_new: never shown twice)
    web_hits: list[WebHit]
    web_tried: bool
    # answer loop
    context: list[ContextItem]
    weak: bool  # answered from chunks no attempt passed (score mode): nothing to check the answer against
    answer: str
    cited: list[int]  # 1-based positions in `context`
    generation: int  # 0 = first answer
    regenerations: int
    grounded: bool | None
    llm_usage: list[dict]  # the last node's LLM calls, turned into a timed step by build.instrument
    # accumulated trace material
    events: Annotated[list[dict], operator.add]  # {"table": ..., **row}
    steps: Annotated[list[dict], operator.add]  # {"node", "seconds", "llm_seconds", "tokens_in", "tokens_out"}


def initial_state(task_id: str, question: str, doc_id: str | None = None, answer_type: str | None = None) -> AgentState:
    return AgentState(
        task_id=task_id, question=question, doc_id=doc_id, answer_type=answer_type, query=question, attempt=0,
        rewrites=0, candidates=[], ranked=[], shown=[], relevant=[], grade_score=None, best_score=None, best_shown=[], seen=[],
        web_hits=[], web_tried=False, context=[], weak=False, answer="", cited=[], generation=0, regenerations=0,
        grounded=None, events=[], steps=[],
    )


def recursion_limit(cfg: AgentConfig) -> int:
    """Super-steps the longest legal path takes, plus slack, so the loop bounds (not LangGraph's
    recursion limit) always end a task.

    Longest path: (retrieve, rerank, grade) for each of 1 + max_rewrites attempts, max_rewrites
    rewrites, one web fallback, then (answer, ground) for each of 1 + max_regenerations generations.
    """
    attempts = 1 + cfg.max_rewrites
    generations = 1 + cfg.max_regenerations
    longest = 3 * attempts + cfg.max_rewrites + 1 + 2 * generations
    return longest + 5


def check_bounds(state: AgentState, cfg: AgentConfig) -> None:
    """Loop counters can never pass their bounds; a violation is a bug in routing, not bad input."""
    assert 0 <= state.get("rewrites", 0) <= cfg.max_rewrites, f"rewrites {state.get('rewrites')} > {cfg.max_rewrites}"
    assert 0 <= state.get("regenerations", 0) <= cfg.max_regenerations, (
        f"regenerations {state.get('regenerations')} > {cfg.max_regenerations}"
    )


def is_final_answer(state: AgentState, cfg: AgentConfig) -> bool:
    """The answer stands when it is grounded, rests on weak context (nothing to be grounded in), or
    the regeneration budget is spent."""
    return bool(state.get("weak")) or bool(state.get("grounded")) or state.get("regenerations", 0) >= cfg.max_regenerations


def event(table: str, **row: Any) -> dict:
    return {"table": table, **row}
