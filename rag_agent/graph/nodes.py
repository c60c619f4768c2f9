"""The agent's nodes: pure functions of (state, deps) that return partial state updates.

Dependencies arrive through `deps` (bound at build time); nodes never build models or touch the
database. LLM usage of a node is returned under `llm_usage` and turned into a timed step by the
wrapper in build.py. Trace rows travel as `events`.
"""

from __future__ import annotations

import json
import logging
import time

from rag_agent.errors import LLMError, RagloopError
from rag_agent.graph import prompts
from rag_agent.graph.state import AgentDeps, AgentState, ContextItem, event, is_final_answer

log = logging.getLogger(__name__)


def call_llm(deps: AgentDeps, messages: list[dict], schema: dict, max_tokens: int | None = None) -> tuple[dict, dict]:
    """One JSON-schema completion; returns (parsed object, usage). Wall time is measured here, so
    the LLM share of a run does not depend on what a backend reports."""
    clock = deps.clock or time.perf_counter
    started = clock()
    reply = deps.llm.complete(messages, schema=schema, max_tokens=max_tokens or deps.max_tokens)
    usage = {"seconds": clock() - started, "tokens_in": reply.tokens_in or 0, "tokens_out": reply.tokens_out or 0}
    parsed = reply.parsed
    if parsed is None:  # a backend that returned text only: it must still be the requested JSON
        try:
            parsed = json.loads(reply.text)
        except (TypeError, ValueError) as exc:
            raise LLMError(f"LLM reply {reply.text[:80]!r}", "JSON matching the requested schema", "use a model that follows JSON schemas (llm.backend)") from exc
    if not isinstance(parsed, dict):
        raise LLMError(f"LLM reply {str(parsed)[:80]!r}", "a JSON object", "use a model that follows JSON schemas (llm.backend)")
    return parsed, usage


def p_yes(deps: AgentDeps, messages: list[dict]) -> tuple[float, dict]:
    """P(the reply starts with yes) over {yes, no}, and usage: one prompt evaluation, no generation."""
    clock = deps.clock or time.perf_counter
    counted_before = getattr(deps.llm, "tokens_in", None)
    started = clock()
    probabilities = deps.llm.choice_probabilities(messages, prompts.YES_NO)
    seconds = clock() - started
    # choice_probabilities returns no usage; the LLM's cumulative counter does (exact with one
    # worker; with several, concurrent calls may add theirs).
    counted_after = getattr(deps.llm, "tokens_in", None)
    tokens_in = counted_after - counted_before if isinstance(counted_before, int) and isinstance(counted_after, int) else 0
    usage = {"seconds": seconds, "tokens_in": tokens_in, "tokens_out": 0}
    return float(probabilities["yes"]), usage


def _ids(values, n: int) -> list[int]:
    """Valid 1-based document ids from a model's list, deduplicated, in the model's order."""
    out: list[int] = []
    for value in values if isinstance(values, list) else []:
        try:
            number = int(value)
        except (TypeError, ValueError):
            continue
        if 1 <= number <= n and number not in out:
            out.append(number)
    return out


# ---- retrieval loop ------------------------------------------------------------------------------
def retrieve(state: AgentState, deps: AgentDeps) -> dict:
    scope = {state["doc_id"]} if state.get("doc_id") else None
    # A rewritten query must still find retrieve_k chunks the agent has not been shown yet.
    extra = len(state.get("seen") or []) if deps.cfg.rewrite_shows_new else 0
    candidates = deps.retriever.retrieve(state["query"], deps.cfg.retrieve_k + extra, scope)
    return {"candidates": candidates}


def rerank(state: AgentState, deps: AgentDeps) -> dict:
    candidates = state["candidates"]
    # Rerank every candidate (the reranker scores them all anyway): the full order is trace material.
    ranked = deps.retriever.rerank(state["query"], candidates, len(candidates)) if candidates else []
    seen = list(state.get("seen") or [])
    fresh = [c for c in ranked if c.chunk_id not in seen] if deps.cfg.rewrite_shows_new else ranked
    shown = fresh[: deps.cfg.context_k]
    shown_ids = {c.chunk_id for c in shown}
    common = {"attempt": state["attempt"], "query": state["query"], "embedder_version": deps.retriever.embedder_version,
              "reranker_version": deps.retriever.reranker_version}
    events = [
        event("retrievals", stage="retrieve", rank=i, chunk_id=c.chunk_id, doc_id=c.doc_id, score=c.retrieval_score,
              shown=c.chunk_id in shown_ids, **common)
        for i, c in enumerate(candidates, start=1)
    ] + [
        event("retrievals", stage="rerank", rank=i, chunk_id=c.chunk_id, doc_id=c.doc_id,
              score=c.rerank_score if c.rerank_score is not None else c.retrieval_score, shown=c.chunk_id in shown_ids, **common)
        for i, c in enumerate(ranked, start=1)
    ]
    seen += [c.chunk_id for c in shown if c.chunk_id not in seen]
    return {"ranked": ranked, "shown": shown, "seen": seen, "events": events}


def passages_of(state: AgentState, deps: AgentDeps, texts: list[str]) -> list[str]:
    """Excerpts centred on the original question, identical for every call that shows them (see
    AgentConfig.passage_chars: the shared prompt prefix is what makes later calls cheap)."""
    return [prompts.excerpt(text, state["question"], deps.cfg.passage_chars) for text in texts]


def grade(state: AgentState, deps: AgentDeps) -> dict:
    """Decide whether this attempt's shown chunks answer the question (see AgentConfig.grade_mode)."""
    shown = state["shown"]
    cfg = deps.cfg
    if not shown:
        return {"relevant": [], "grade_score": None,
                "events": [event("grade_scores", attempt=state["attempt"], mode=cfg.grade_mode, score=None,
                                 threshold=None, passed=False)], "llm_usage": []}
    passages = passages_of(state, deps, [c.text for c in shown])
    if cfg.grade_mode == "list":
        parsed, usage = call_llm(deps, prompts.grade_messages(state["question"], passages), prompts.GRADE_SCHEMA)
        relevant, score, threshold = sorted(_ids(parsed.get("relevant"), len(shown))), None, None
    else:
        score, usage = p_yes(deps, prompts.grade_score_messages(state["question"], passages))
        threshold = cfg.grade_threshold
        relevant = list(range(1, len(shown) + 1)) if score >= threshold else []
    events = [
        event("grades", attempt=state["attempt"], chunk_id=c.chunk_id, rank=i, relevant=i in relevant)
        for i, c in enumerate(shown, start=1)
    ] + [event("grade_scores", attempt=state["attempt"], mode=cfg.grade_mode, score=score, threshold=threshold,
               passed=bool(relevant))]
    update = {"relevant": relevant, "grade_score": score, "events": events, "llm_usage": [usage]}
    best = state.get("best_score")
    if score is not None and (best is None or score > best):
        update |= {"best_score": score, "best_shown": shown}  # the weak context if no attempt passes
    return update


def rewrite(state: AgentState, deps: AgentDeps) -> dict:
    parsed, usage = call_llm(deps, prompts.rewrite_messages(state["question"], state["query"]), prompts.REWRITE_SCHEMA)
    new_query = str(parsed.get("query") or "").strip() or state["question"]
    attempt = state["attempt"] + 1
    return {
        "query": new_query,
        "attempt": attempt,
        "rewrites": state["rewrites"] + 1,
        "events": [event("rewrites", attempt=attempt, from_query=state["query"], to_query=new_query)],
        "llm_usage": [usage],
    }


def web_search(state: AgentState, deps: AgentDeps) -> dict:
    query = state["question"]
    try:
        hits = deps.web.search(query, deps.cfg.web_k)
        results = [{"title": h.title, "url": h.url, "text": h.text[:500]} for h in hits]
    except RagloopError as exc:  # an unreachable engine is recorded, and the task answers without it
        log.warning("web search failed: %s", exc)
        hits, results = [], [{"error": str(exc)}]
    return {
        "web_hits": hits,
        "web_tried": True,
        "events": [event("web_fallbacks", query=query, backend=deps.web.name, n_results=len(hits),
                         results_json=json.dumps(results))],
    }


# ---- answer loop ---------------------------------------------------------------------------------
def answer_context(state: AgentState) -> tuple[list[ContextItem], bool]:
    """What the answerer sees, and whether it is weak (nothing was judged relevant).

    An attempt passed: every shown chunk of that attempt (the same passages the grader saw, so the
    prompt prefix is shared). Otherwise the fallback hits; with none, the shown chunks of the
    best-scored attempt (the last one in list mode) flagged weak, so the model can still answer
    e.g. "No" for a clause the contract lacks.
    """
    def as_context(chunks) -> list[ContextItem]:
        return [ContextItem(ref=c.chunk_id, doc_id=c.doc_id, text=c.text, source="chunk") for c in chunks]

    if state.get("relevant"):
        return as_context(state.get("shown", [])), False
    hits = [ContextItem(ref=h.url, doc_id=None, text=h.text, source="web") for h in state.get("web_hits", [])]
    return (hits, False) if hits else (as_context(state.get("best_shown") or state.get("shown", [])), True)


def answer(state: AgentState, deps: AgentDeps) -> dict:
    regenerating = bool(state.get("answer")) and state.get("grounded") is False
    context, weak = answer_context(state)
    passages = passages_of(state, deps, [item["text"] for item in context])
    # Naming relevant ids only says something when the grader picked some (list mode).
    listed = deps.cfg.grade_mode == "list" and context and context[0]["source"] == "chunk"
    relevant = state.get("relevant") if listed else None
    messages = prompts.answer_messages(state["question"], passages, state.get("answer_type"), relevant=relevant,
                                       rejected=state["answer"] if regenerating else None, weak_context=weak)
    parsed, usage = call_llm(deps, messages, prompts.ANSWER_SCHEMA, deps.cfg.answer_max_tokens)
    update = {
        "context": context,
        # ground_mode=json is the pre-v3 agent, which checked (and regenerated) weak answers too
        "weak": weak and deps.cfg.ground_mode != "json",
        "answer": str(parsed.get("answer") or "").strip(),
        "cited": _ids(parsed.get("citations"), len(context)),
        "grounded": None,
        "llm_usage": [usage],
    }
    if regenerating:
        update["generation"] = state["generation"] + 1
        update["regenerations"] = state["regenerations"] + 1
    return update


def ground(state: AgentState, deps: AgentDeps) -> dict:
    context, cited = state["context"], state["cited"]
    # All context passages, not just the cited ones: the prompt then shares the answer call's prefix.
    passages = passages_of(state, deps, [item["text"] for item in context])
    if state.get("weak"):
        # Nothing passed the grade and nothing came from the fallback: an answer such as "No" for a
        # clause the contract lacks cannot be "supported" by these documents, so a check (and the
        # regeneration it would trigger) only costs time. Recorded as not checked (grounded NULL).
        grounded, usage = None, None
    elif deps.cfg.ground_mode == "json":
        messages = prompts.ground_messages(state["question"], passages, state["answer"], cited)
        parsed, usage = call_llm(deps, messages, prompts.GROUND_SCHEMA)
        grounded = parsed.get("grounded") is True
    else:
        score, usage = p_yes(deps, prompts.ground_score_messages(state["question"], passages, state["answer"], cited))
        grounded = score >= deps.cfg.ground_threshold
    final = is_final_answer({**state, "grounded": grounded}, deps.cfg)
    events = [event("answers", generation=state["generation"], answer=state["answer"], grounded=grounded, final=final)]
    if final:
        events += [event("citations", chunk_id=context[n - 1]["ref"], citation_no=n, rank=n) for n in cited]
        events += [event("ignored", chunk_id=item["ref"], rank=i) for i, item in enumerate(context, start=1) if i not in cited]
    return {"grounded": grounded, "events": events, "llm_usage": [usage] if usage else []}
