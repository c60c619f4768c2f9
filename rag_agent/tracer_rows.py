"""Trace rows from an app ragloop does not run: what the LangChain tracer and `feedback import` share.

Both turn what they observed into an `ObservedTask` (retrieval calls with their documents, LLM
calls, tool calls, the answer) and hand it to `write_tasks`, which writes through the trace store
(rag_agent.tracing) exactly the rows ragloop's own agent writes for the same retrievals:

* each retrieval call is one attempt (0, 1, ...); a later call is a query rewrite (`rewrites`
  row from the previous query). Its documents are `retrievals` rows, stage `retrieve` in the
  order returned, or stage `rerank` when the documents carry a reranker score; `shown` is TRUE
  (the app received them); scores and model versions as the documents carry them.
* stages the app lacks are absent: no `grades` rows, no `rerank` rows without a reranker.
* the answer is one final `answers` row (grounded NULL: not checked), and an `outcomes` row with
  success NULL until `record_outcome` reports one.
* citations: explicit ids when the app gives them; otherwise the quoted-span rule
  (`cited_by_quotes`). The answer context is the last attempt's documents (as for the own agent)
  plus any earlier document the answer cites; `citation_no` = `rank` = position in that context
  (the own agent's `[n]`); `ignored` is the context minus the cited ones.
* documents not in the workspace are ingested from their content, ids kept: one `documents` row
  and one `chunks` row per document (doc_id = chunk_id = the app's id, source = the app's source
  or doc id). `python -m rag_agent ingest` (its reconcile step) embeds them into the index later.

Several processes may write one workspace: each batch opens a short-lived connection, retrying
while another process holds the DuckDB lock (bounded by `lock_timeout_s`), and closes it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable


log = logging.getLogger(__name__)

Redact = Callable[[str], str]

# A quoted span this long (characters, whitespace collapsed, case-folded) of a document found in
# the answer counts as citing it: long enough that common phrases ("the parties agree that")
# do not match, short enough that a quoted clause sentence does.
QUOTE_CHARS = 40


@dataclass
class ObservedDoc:
    id: str
    content: str = ""
    score: float | None = None
    rerank_score: float | None = None
    doc_id: str | None = None  # the app's document id / source (used as `documents.source` when ingested)
    embedder_version: str | None = None
    reranker_version: str | None = None


@dataclass
class ObservedRetrieval:
    query: str
    docs: list[ObservedDoc]
    seconds: float = 0.0
    reranked: list[ObservedDoc] | None = None  # a reranker's output for this attempt (imported spans)


@dataclass
class ObservedTask:
    task_id: str
    question: str = ""
    doc_id: str | None = None
    answer_type: str | None = None
    retrievals: list[ObservedRetrieval] = field(default_factory=list)
    steps: list[dict] = field(default_factory=list)  # {node, seconds, llm_seconds, tokens_in, tokens_out}
    web: list[dict] = field(default_factory=list)  # {query, backend, n_results, results}
    answer: str | None = None
    citations: list | None = None  # explicit: document ids, or 1-based positions in the context
    status: str = "done"
    error: str | None = None
    seconds: float = 0.0
    success: bool | None = None  # an outcome known at import time (else record_outcome later)

    def retrieved(self) -> list[ObservedDoc]:
        """Every distinct document the app received, first-seen order."""
        seen: dict[str, ObservedDoc] = {}
        for call in self.retrievals:
            for doc in shown_docs(call):
                seen.setdefault(doc.id, doc)
        return list(seen.values())

    def last_docs(self) -> list[ObservedDoc]:
        return shown_docs(self.retrievals[-1]) if self.retrievals else []


def shown_docs(call: ObservedRetrieval) -> list[ObservedDoc]:
    """What the app kept from a retrieval attempt: the reranker's output when there is one."""
    return call.reranked if call.reranked is not None else call.docs


def content_id(text: str) -> str:
    """A stable id for a document that came without one: the hash of its content."""
    return "ext:" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().casefold()


def cited_by_quotes(answer: str, docs: list[ObservedDoc], min_chars: int = QUOTE_CHARS) -> list[str]:
    """Ids of documents the answer cites, by rule: `[id]` written in the answer, or a span of at
    least `min_chars` characters of the document appearing verbatim in the answer."""
    text = _norm(answer or "")
    cited = []
    for doc in docs:
        if f"[{doc.id}]" in (answer or ""):
            cited.append(doc.id)
            continue
        body = _norm(doc.content)
        if len(text) >= min_chars and len(body) >= min_chars and any(
            text[i : i + min_chars] in body for i in range(0, len(text) - min_chars + 1)
        ):
            cited.append(doc.id)
    return cited


def resolve_citations(task: ObservedTask, quote_chars: int = QUOTE_CHARS) -> tuple[list[str], list[ObservedDoc]]:
    """(cited ids, answer context). The context is the last attempt's documents, as for the own
    agent, followed by any document of an earlier attempt that the answer cites; explicit
    integer citations are 1-based positions in the last attempt's documents."""
    last, everything = task.last_docs(), task.retrieved()
    ids = {d.id for d in everything}
    if task.citations is None:
        cited = cited_by_quotes(task.answer or "", everything, quote_chars)
    else:
        cited = []
        for item in task.citations:
            ref = last[item - 1].id if isinstance(item, int) and 1 <= item <= len(last) else str(item)
            if ref in ids and ref not in cited:
                cited.append(ref)
    in_last = {d.id for d in last}
    context = last + [d for d in everything if d.id in cited and d.id not in in_last]
    order = {d.id: i for i, d in enumerate(context)}
    return sorted(cited, key=order.__getitem__), context


# ---- writing ---------------------------------------------------------------------------------------
def _connect_with_retry(db_path: Path, lock_timeout_s: float):
    """A DuckDB connection, waiting (bounded) while another process holds the file lock
    (`rag_agent.db.connect` does the waiting; WorkspaceBusyError once `lock_timeout_s` is spent)."""
    from rag_agent.db import connect

    return connect(db_path, lock_wait_s=lock_timeout_s)


def _ingest_missing(con, tasks: list[ObservedTask], redact: Redact) -> dict[str, str]:
    """Insert documents the workspace lacks (one transaction); returns chunk_id -> workspace doc_id."""
    docs = {d.id: d for t in tasks for call in t.retrievals for d in call.docs + (call.reranked or [])}
    if not docs:
        return {}
    known = dict(con.execute("SELECT chunk_id, doc_id FROM chunks WHERE chunk_id IN (SELECT unnest(?))", [list(docs)]).fetchall())
    taken = {r[0] for r in con.execute("SELECT doc_id FROM documents WHERE doc_id IN (SELECT unnest(?))", [list(docs)]).fetchall()}
    new = [d for cid, d in docs.items() if cid not in known]
    doc_rows, chunk_rows = [], []
    for doc in new:
        text = redact(doc.content)
        if not text.strip():  # nothing to ingest: the row still names it (importers check this first)
            log.warning("document %r is not in the workspace and came without content; not ingested", doc.id)
            continue
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        if doc.id not in taken:
            doc_rows.append([doc.id, doc.doc_id or doc.id, doc.doc_id, digest, len(text), text])
        chunk_rows.append([doc.id, doc.id, 0, 0, len(text), text, digest])
        known[doc.id] = doc.id
    if chunk_rows:
        from rag_agent.db import transaction

        with transaction(con):
            # Column-wise (one statement per table): executemany cost ~7 ms a row on the shared machine.
            if doc_rows:
                con.execute("INSERT INTO documents (doc_id, source, title, sha256, n_chars, text) SELECT " + ", ".join(["unnest(?)"] * 6),
                            [list(col) for col in zip(*doc_rows)])
            con.execute("INSERT INTO chunks (chunk_id, doc_id, ordinal, start_char, end_char, text, content_hash) SELECT "
                        + ", ".join(["unnest(?)"] * 7), [list(col) for col in zip(*chunk_rows)])
        log.info("ingested %d document(s) from trace content", len(chunk_rows))
    return known


def record_rows(store, task: ObservedTask, run_id: str, doc_ids: dict[str, str], redact: Redact, quote_chars: int = QUOTE_CHARS):
    """Buffer the task's rows in a `TaskBuffer` (nothing written yet)."""
    trace = store.begin_task(run_id, task.task_id, doc_id=task.doc_id, question=redact(task.question), answer_type=task.answer_type)
    for step_no, step in enumerate(task.steps, start=1):
        store.record(trace, "steps", step_no=step_no, **step)
    previous = None
    for attempt, call in enumerate(task.retrievals):
        query = redact(call.query)
        if previous is not None:
            store.record(trace, "rewrites", attempt=attempt, from_query=previous, to_query=query)
        previous = query
        stages = [("retrieve", call.docs), ("rerank", call.reranked)] if call.reranked is not None else [
            ("rerank" if any(d.rerank_score is not None for d in call.docs) else "retrieve", call.docs)]
        # Shown: what the app kept (the reranker's output when there is one, else all it got).
        shown = {d.id for d in stages[-1][1]}
        for stage, docs in stages:
            for rank, doc in enumerate(docs, start=1):
                store.record(
                    trace, "retrievals", attempt=attempt, query=query, stage=stage, rank=rank,
                    chunk_id=doc.id, doc_id=doc_ids.get(doc.id, doc.doc_id),
                    score=doc.rerank_score if stage == "rerank" and doc.rerank_score is not None else doc.score,
                    shown=doc.id in shown, embedder_version=doc.embedder_version, reranker_version=doc.reranker_version,
                )
    for hit in task.web:
        store.record(trace, "web_fallbacks", query=redact(hit["query"]), backend=hit["backend"], n_results=hit["n_results"],
                     results_json=redact(json.dumps(hit.get("results", []))))
    if task.answer is not None:
        answer = redact(task.answer)
        store.record(trace, "answers", generation=0, answer=answer, grounded=None, final=True)
        cited, context = resolve_citations(task, quote_chars)
        position = {d.id: i for i, d in enumerate(context, start=1)}
        for chunk_id in cited:  # citation_no = position in the context, as the own agent's [n]
            store.record(trace, "citations", chunk_id=chunk_id, citation_no=position[chunk_id], rank=position[chunk_id])
        for doc in context:
            if doc.id not in cited:
                store.record(trace, "ignored", chunk_id=doc.id, rank=position[doc.id])
        store.record(trace, "outcomes", success=task.success, checker=task.answer_type, predicted=answer, gold=None,
                     reason="reported with the trace" if task.success is not None else "no outcome reported yet (record_outcome)")
    return trace


def write_tasks(db_path: Path | str, run_id: str, tasks: Iterable[ObservedTask], *, redact: Redact | None = None,
                lock_timeout_s: float = 30.0, quote_chars: int = QUOTE_CHARS, llm: str = "external",
                progress: Callable[[int], None] | None = None, batch: int = 1) -> int:
    """Write tasks through the trace store; returns how many were new (a task already present
    for `run_id` is skipped, so a write can be resumed).

    Documents first (their own transaction: an ingested document without a trace is harmless).
    Then `batch` = 1: one transaction per task (the tracer); `batch` > 1: one transaction per
    `batch` tasks, written column-wise (imports: thousands of tasks per second)."""
    from rag_agent.tracing import TraceStore

    redact = redact or (lambda text: text)
    tasks = list(tasks)
    con = _connect_with_retry(Path(db_path), lock_timeout_s)
    written = 0
    try:
        doc_ids = _ingest_missing(con, tasks, redact)
        store = TraceStore(con, owns_connection=False)
        versions = next(((d.embedder_version, d.reranker_version) for t in tasks for c in t.retrievals for d in c.docs), (None, None))
        store.begin_run(run_id, llm=llm, embedder_version=versions[0] or "", reranker_version=versions[1] or "")
        for start in range(0, len(tasks), max(1, batch)):
            part = tasks[start : start + max(1, batch)]
            items = [(record_rows(store, task, run_id, doc_ids, redact, quote_chars), _task_columns(task, redact)) for task in part]
            if batch <= 1:
                written += sum(store.commit_task(trace, **kw) for trace, kw in items)
            else:
                written += store.commit_tasks(items)
            if progress:
                progress(len(part))
    finally:
        con.close()
    return written


def _task_columns(task: ObservedTask, redact: Redact) -> dict:
    steps = task.steps
    return {"status": task.status, "error": redact(task.error) if task.error else None, "seconds": task.seconds,
            "llm_seconds": sum(s["llm_seconds"] for s in steps), "tokens_in": sum(s["tokens_in"] for s in steps),
            "tokens_out": sum(s["tokens_out"] for s in steps)}
