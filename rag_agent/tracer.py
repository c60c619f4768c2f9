"""`RagloopTracer`: record any LangChain / LangGraph app's work as ragloop traces.

    tracer = RagloopTracer("workspace")                      # or a Workspace
    app.invoke(inputs, config={"callbacks": [tracer], "metadata": {"task_id": "q-17"}})
    record_outcome(tracer.run_id, tracer.last_task_id, success=True)   # later, from your checker

One task per top-level run (the outermost chain, graph, retriever or model call). Within it the
tracer records every retriever call (query; documents with ids, ranks, scores), every LLM call
(tokens, seconds, as `steps` rows), tool calls whose name looks like a web search (`web_fallbacks`;
a tool that itself calls a retriever is a retrieval tool, not a web search), the final answer and
its citations. How these become rows (rewrites, citations rule, absent stages, ingestion of
unknown documents) is in `rag_agent.tracer_rows`. The task is written when the top-level run
ends, in one transaction through the trace store, with a short-lived connection that waits for
another process's lock (several app processes can trace into one workspace). A task that could
not be written stays in memory and is retried with the next one (or `flush()`).

Document ids: `Document.id`, else metadata `chunk_id`, else metadata `id`, else a hash of the
content. Scores: metadata `score` (index) and `rerank_score` (reranker) when present.
Citations: the final output's `citations` / `cited` / `sources` (ids, Documents or 1-based context
positions) when the app gives them, else the quoted-span rule of `tracer_rows.cited_by_quotes`.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Callable
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler

from rag_agent.tracer_rows import QUOTE_CHARS, ObservedDoc, ObservedRetrieval, ObservedTask, content_id, write_tasks

log = logging.getLogger(__name__)

# Tool names containing one of these words are web searches (configurable per tracer).
SEARCH_TOOL_WORDS = ("search", "web")
ANSWER_KEYS = ("answer", "output", "result", "text", "content")
CITATION_KEYS = ("citations", "cited", "sources")
QUESTION_KEYS = ("question", "query", "input", "text")


def doc_of(document: Any) -> ObservedDoc:
    """A LangChain Document (or a dict like one) as an ObservedDoc."""
    meta = dict(getattr(document, "metadata", None) or (document.get("metadata", {}) if isinstance(document, dict) else {}))
    content = getattr(document, "page_content", None)
    if content is None and isinstance(document, dict):
        content = document.get("page_content") or document.get("content") or ""
    doc_id = getattr(document, "id", None) or meta.get("chunk_id") or meta.get("id") or content_id(content or "")

    def number(key):
        value = meta.get(key)
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    return ObservedDoc(
        id=str(doc_id), content=content or "", score=number("score"), rerank_score=number("rerank_score"),
        doc_id=meta.get("doc_id") or meta.get("source"), embedder_version=meta.get("embedder_version"),
        reranker_version=meta.get("reranker_version"),
    )


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    content = getattr(value, "content", None)
    if isinstance(content, str):
        return content
    if isinstance(value, (tuple, list)) and len(value) == 2 and isinstance(value[1], str):
        return value[1]  # ("user", "text") message tuples
    return None


def question_of(inputs: Any) -> str:
    if isinstance(inputs, str):
        return inputs
    if isinstance(inputs, dict):
        for key in QUESTION_KEYS:
            if isinstance(inputs.get(key), str):
                return inputs[key]
        for message in inputs.get("messages") or []:
            kind = getattr(message, "type", None) or (message[0] if isinstance(message, (tuple, list)) else None)
            if kind in ("human", "user") and _text(message):
                return _text(message)
    return _text(inputs) or ""


def answer_of(outputs: Any) -> tuple[str | None, list | None]:
    """(final answer text, explicit citations or None) from a top-level run's output."""
    citations = None
    if isinstance(outputs, dict):
        for key in CITATION_KEYS:
            if isinstance(outputs.get(key), list):
                citations = [c if isinstance(c, (int, str)) else doc_of(c).id for c in outputs[key]]
                break
        for key in ANSWER_KEYS:
            if _text(outputs.get(key)) is not None:
                return _text(outputs[key]), citations
        messages = outputs.get("messages") or []
        for message in reversed(messages):
            if getattr(message, "type", None) == "ai" and not getattr(message, "tool_calls", None):
                return _text(message), citations
        return None, citations
    return _text(outputs), citations


class RagloopTracer(BaseCallbackHandler):
    """LangChain callback handler writing one ragloop trace task per top-level run."""

    raise_error = False  # a tracing failure must never break the user's app (it is logged)
    run_inline = True

    def __init__(self, workspace, redact: Callable[[str], str] | None = None, *, run_id: str | None = None,
                 search_tool_words: tuple[str, ...] = SEARCH_TOOL_WORDS, quote_chars: int = QUOTE_CHARS,
                 lock_timeout_s: float = 30.0, llm_name: str = "external"):
        from rag_agent.workspace import Workspace

        ws = workspace if hasattr(workspace, "db_path") else Workspace.open(Path(workspace))
        self.db_path = ws.db_path
        self.redact = redact or (lambda text: text)
        self.run_id = run_id or datetime.now().strftime("app-%Y%m%d-%H%M%S")
        self.search_tool_words = tuple(w.lower() for w in search_tool_words)
        self.quote_chars, self.lock_timeout_s, self.llm_name = quote_chars, lock_timeout_s, llm_name
        self.last_task_id: str | None = None  # the last finished top-level run's task (written or kept)
        self.task_ids: list[str] = []  # tasks written
        self.unsaved: list[ObservedTask] = []
        self._lock = threading.Lock()
        self._parent: dict[UUID, UUID | None] = {}
        self._tasks: dict[UUID, ObservedTask] = {}  # root run -> task being recorded
        self._started: dict[UUID, float] = {}
        self._queries: dict[UUID, str] = {}
        self._tools: dict[UUID, dict] = {}  # tool run -> {name, query, retrieval}

    # ---- run bookkeeping ------------------------------------------------------------------------
    def _root(self, run_id: UUID) -> UUID:
        while self._parent.get(run_id) is not None:
            run_id = self._parent[run_id]
        return run_id

    def _start(self, run_id: UUID, parent_run_id: UUID | None, question: str, metadata: dict | None) -> None:
        with self._lock:
            self._parent[run_id] = parent_run_id
            self._started[run_id] = time.perf_counter()
            if parent_run_id is None:
                meta = metadata or {}
                self._tasks[run_id] = ObservedTask(
                    task_id=str(meta.get("task_id") or run_id), question=question, doc_id=meta.get("doc_id"),
                    answer_type=meta.get("answer_type"),
                )

    def _task(self, run_id: UUID) -> ObservedTask | None:
        return self._tasks.get(self._root(run_id))

    def _seconds(self, run_id: UUID) -> float:
        return time.perf_counter() - self._started.get(run_id, time.perf_counter())

    def _finish(self, run_id: UUID, outputs: Any = None, error: BaseException | None = None) -> None:
        with self._lock:
            if run_id not in self._tasks:  # a nested run: its parent's end closes the task
                return
            task, seconds = self._tasks.pop(run_id), self._seconds(run_id)
            self._forget(run_id)
        answer, citations = answer_of(outputs) if error is None else (None, None)
        task.answer, task.citations = answer, citations
        task.status, task.error = ("failed", f"{type(error).__name__}: {error}") if error is not None else ("done", None)
        task.seconds = seconds
        if not task.question and task.retrievals:
            task.question = task.retrievals[0].query
        self.last_task_id = task.task_id
        self._write([task])

    def _forget(self, root: UUID) -> None:
        """Drop the bookkeeping of a finished top-level run and all its descendants."""
        for run in [r for r in self._parent if self._root(r) == root]:
            for table in (self._started, self._queries, self._tools):
                table.pop(run, None)
            if run != root:
                self._parent.pop(run, None)
        self._parent.pop(root, None)

    def _write(self, tasks: list[ObservedTask]) -> None:
        """Write kept tasks and the new ones, each on its own; a failure keeps that task for later."""
        kept: list[ObservedTask] = []
        for task in self.unsaved + tasks:
            try:
                write_tasks(self.db_path, self.run_id, [task], redact=self.redact, lock_timeout_s=self.lock_timeout_s,
                            quote_chars=self.quote_chars, llm=self.llm_name)
            except Exception as exc:  # kept in memory; the next task (or flush) retries
                kept.append(task)
                log.error("ragloop tracer could not write task %s to %s (kept, will retry): %s", task.task_id, self.db_path, exc)
                continue
            self.task_ids.append(task.task_id)
        self.unsaved = kept

    def flush(self) -> int:
        """Retry writing tasks kept after a failed write; returns how many are still unsaved."""
        if self.unsaved:
            self._write([])
        return len(self.unsaved)

    # ---- chains / graphs ------------------------------------------------------------------------
    def on_chain_start(self, serialized, inputs, *, run_id, parent_run_id=None, metadata=None, **kwargs):
        self._start(run_id, parent_run_id, question_of(inputs) if parent_run_id is None else "", metadata)

    def on_chain_end(self, outputs, *, run_id, parent_run_id=None, **kwargs):
        self._finish(run_id, outputs)

    def on_chain_error(self, error, *, run_id, parent_run_id=None, **kwargs):
        self._finish(run_id, error=error)

    # ---- retrievers -----------------------------------------------------------------------------
    def on_retriever_start(self, serialized, query, *, run_id, parent_run_id=None, metadata=None, **kwargs):
        self._start(run_id, parent_run_id, query, metadata)
        with self._lock:
            self._queries[run_id] = query
            run = parent_run_id
            while run is not None:  # a tool that calls a retriever is a retrieval tool, not a web search
                if run in self._tools:
                    self._tools[run]["retrieval"] = True
                run = self._parent.get(run)

    def on_retriever_end(self, documents, *, run_id, parent_run_id=None, **kwargs):
        with self._lock:
            task, seconds = self._task(run_id), self._seconds(run_id)
            if task is not None:
                task.retrievals.append(ObservedRetrieval(self._queries.get(run_id, ""), [doc_of(d) for d in documents], seconds))
                task.steps.append({"node": "retrieve", "seconds": seconds, "llm_seconds": 0.0, "tokens_in": 0, "tokens_out": 0})
        if parent_run_id is None:
            self._finish(run_id, None)

    def on_retriever_error(self, error, *, run_id, parent_run_id=None, **kwargs):
        if parent_run_id is None:
            self._finish(run_id, error=error)

    # ---- LLM calls ------------------------------------------------------------------------------
    def on_chat_model_start(self, serialized, messages, *, run_id, parent_run_id=None, metadata=None, **kwargs):
        first = messages[0] if messages else []
        question = next((m.content for m in first if getattr(m, "type", "") == "human" and isinstance(m.content, str)), "")
        self._start(run_id, parent_run_id, question, metadata)

    def on_llm_start(self, serialized, prompts, *, run_id, parent_run_id=None, metadata=None, **kwargs):
        self._start(run_id, parent_run_id, prompts[0] if prompts else "", metadata)

    def on_llm_end(self, response, *, run_id, parent_run_id=None, **kwargs):
        tokens_in = tokens_out = 0
        for generation in (g for gens in response.generations for g in gens):
            usage = getattr(getattr(generation, "message", None), "usage_metadata", None) or {}
            tokens_in += int(usage.get("input_tokens") or 0)
            tokens_out += int(usage.get("output_tokens") or 0)
        if not tokens_in and not tokens_out:
            usage = (response.llm_output or {}).get("token_usage") or {}
            tokens_in, tokens_out = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
        with self._lock:
            task, seconds = self._task(run_id), self._seconds(run_id)
            if task is not None:
                task.steps.append({"node": "llm", "seconds": seconds, "llm_seconds": seconds, "tokens_in": tokens_in, "tokens_out": tokens_out})
        if parent_run_id is None:
            text = response.generations[0][0].text if response.generations and response.generations[0] else None
            self._finish(run_id, text)

    def on_llm_error(self, error, *, run_id, parent_run_id=None, **kwargs):
        if parent_run_id is None:
            self._finish(run_id, error=error)

    # ---- tools ----------------------------------------------------------------------------------
    def on_tool_start(self, serialized, input_str, *, run_id, parent_run_id=None, metadata=None, inputs=None, **kwargs):
        query = input_str
        if isinstance(inputs, dict):  # {"query": ...} or a single string argument: the search text
            strings = [v for v in inputs.values() if isinstance(v, str)]
            query = inputs.get("query") if isinstance(inputs.get("query"), str) else strings[0] if len(strings) == 1 else input_str
        self._start(run_id, parent_run_id, query, metadata)
        name = str((serialized or {}).get("name") or kwargs.get("name") or "")
        with self._lock:
            self._tools[run_id] = {"name": name, "query": query, "retrieval": False}

    def on_tool_end(self, output, *, run_id, parent_run_id=None, **kwargs):
        with self._lock:
            tool, task, seconds = self._tools.get(run_id), self._task(run_id), self._seconds(run_id)
            if tool is not None and task is not None:
                task.steps.append({"node": f"tool:{tool['name']}"[:64], "seconds": seconds, "llm_seconds": 0.0, "tokens_in": 0, "tokens_out": 0})
                if not tool["retrieval"] and any(w in tool["name"].lower() for w in self.search_tool_words):
                    text = getattr(output, "content", output)
                    results = text if isinstance(text, list) else [{"text": str(text)[:500]}] if text else []
                    task.web.append({"query": str(tool["query"]), "backend": f"tool:{tool['name']}", "n_results": len(results),
                                     "results": [r if isinstance(r, dict) else {"text": str(r)[:500]} for r in results]})
        if parent_run_id is None:
            self._finish(run_id, output)

    def on_tool_error(self, error, *, run_id, parent_run_id=None, **kwargs):
        if parent_run_id is None:
            self._finish(run_id, error=error)
