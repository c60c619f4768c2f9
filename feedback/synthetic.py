"""Write hand-made traces (and the documents/chunks they point at) into a workspace database.

For tests and `bench/harvest.py` only: real traces come from the agent. The rows are written by
the agent's own writer (`rag_agent.tracing.TraceStore`: same columns, one transaction per task),
so every harvester test built on these fixtures also checks the writer/reader contract.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field

from rag_agent.tracing import TaskBuffer, TraceStore


def insert_document(con, doc_id: str, text: str, size: int = 200, overlap: int = 0) -> list[str]:
    """A documents row and fixed-window chunks rows; returns the chunk ids in order."""
    con.execute(
        "INSERT INTO documents (doc_id, source, title, sha256, n_chars, text) VALUES (?, ?, ?, ?, ?, ?)",
        [doc_id, f"{doc_id}.txt", doc_id, hashlib.sha256(text.encode()).hexdigest(), len(text), text],
    )
    ids, start, ordinal = [], 0, 0
    while start < len(text):
        end = min(len(text), start + size)
        piece = text[start:end]
        chunk_id = f"{doc_id}:{start}-{end}"
        con.execute(
            "INSERT INTO chunks (chunk_id, doc_id, ordinal, start_char, end_char, text, content_hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [chunk_id, doc_id, ordinal, start, end, piece, hashlib.sha256(piece.encode()).hexdigest()],
        )
        ids.append(chunk_id)
        ordinal += 1
        if end == len(text):
            break
        start = end - overlap
    return ids


@dataclass
class TaskSpec:
    task_id: str
    question: str
    rankings: dict[tuple[int, str], list[str]]  # (attempt, stage) -> chunk ids, best first
    doc_id: str | None = None
    run_id: str = "run-1"
    answer_type: str = "text"
    status: str = "done"
    shown: dict[int, list[str]] | None = None  # attempt -> shown chunks; default: top 5 of the last stage
    queries: dict[int, str] = field(default_factory=dict)  # attempt -> query text (default: question)
    grades: dict[int, dict[str, bool]] = field(default_factory=dict)
    cited: dict[str, int] = field(default_factory=dict)  # chunk -> rank in the answer context
    ignored: dict[str, int] = field(default_factory=dict)
    rewrites: list[tuple[int, str, str]] = field(default_factory=list)
    fallbacks: int = 0
    answer: str | None = None
    success: bool | None = None
    tokens: tuple[int, int] = (800, 40)


def insert_task(con, spec: TaskSpec, shown_k: int = 5) -> None:
    """All of one task's trace rows, written through `TraceStore` in one transaction (as the agent
    writes them). A task already present is an error here: a fixture never means to write one twice."""
    store = TraceStore(con, owns_connection=False)
    store.begin_run(spec.run_id)
    if not store.commit_task(record_task(store, spec, shown_k), spec.status, tokens_in=spec.tokens[0], tokens_out=spec.tokens[1]):
        raise ValueError(f"task {spec.run_id}/{spec.task_id} is already in the workspace")


def record_task(store: TraceStore, spec: TaskSpec, shown_k: int = 5) -> TaskBuffer:
    """The task's rows buffered in the store's `TaskBuffer` (nothing written yet)."""
    trace = store.begin_task(spec.run_id, spec.task_id, doc_id=spec.doc_id, question=spec.question, answer_type=spec.answer_type)
    for (attempt, stage), chunk_ids in spec.rankings.items():
        last_stage = "rerank" if (attempt, "rerank") in spec.rankings else "retrieve"
        if spec.shown is not None:
            shown = set(spec.shown.get(attempt, []))
        else:
            shown = set(spec.rankings[(attempt, last_stage)][:shown_k])
        for rank, chunk_id in enumerate(chunk_ids, start=1):
            store.record(
                trace, "retrievals", attempt=attempt, query=spec.queries.get(attempt, spec.question), stage=stage, rank=rank,
                chunk_id=chunk_id, doc_id=chunk_id.split(":")[0], score=1.0 - rank / 100, shown=chunk_id in shown,
                embedder_version="emb@test", reranker_version="none" if stage == "rerank" else None,
            )
    for attempt, grades in spec.grades.items():
        for rank, (chunk_id, relevant) in enumerate(grades.items(), start=1):
            store.record(trace, "grades", attempt=attempt, chunk_id=chunk_id, rank=rank, relevant=relevant)
    for n, (chunk_id, rank) in enumerate(spec.cited.items(), start=1):
        store.record(trace, "citations", chunk_id=chunk_id, citation_no=n, rank=rank)
    for chunk_id, rank in spec.ignored.items():
        store.record(trace, "ignored", chunk_id=chunk_id, rank=rank)
    for attempt, src, dst in spec.rewrites:
        store.record(trace, "rewrites", attempt=attempt, from_query=src, to_query=dst)
    for _ in range(spec.fallbacks):
        store.record(trace, "web_fallbacks", query=spec.question, backend="test", n_results=0, results_json="[]")
    if spec.answer is not None:
        store.record(trace, "answers", generation=0, answer=spec.answer, grounded=True, final=True)
    if spec.success is not None or spec.answer is not None:
        store.record(trace, "outcomes", success=spec.success, checker=spec.answer_type, predicted=spec.answer,
                     gold=spec.answer if spec.success else "other", reason="")
    return trace


def synthetic_workload(con, n_tasks: int, seed: int = 0, n_docs: int = 20, chunks_per_doc: int = 30) -> None:
    """A random but plausible trace set: every task retrieves 20, reranks, shows 5, cites 1-2;
    a third rewrite once, a tenth fall back to web search, 70% succeed. All tasks are written in
    one transaction (the store's import path)."""
    rng = random.Random(seed)
    store, items = TraceStore(con, owns_connection=False), []
    words = "party agreement term termination notice law governing state license fee payment days year".split()
    docs: dict[str, list[str]] = {}
    for d in range(n_docs):
        text = " ".join(rng.choice(words) for _ in range(chunks_per_doc * 40))
        docs[f"doc{d}"] = insert_document(con, f"doc{d}", text, size=200)
    for t in range(n_tasks):
        doc_id = f"doc{rng.randrange(n_docs)}"
        chunks = docs[doc_id]
        rewrite = rng.random() < 0.33
        rankings, queries = {}, {0: f"question {t}"}
        for attempt in range(2 if rewrite else 1):
            retrieved = rng.sample(chunks, min(20, len(chunks)))
            rankings[(attempt, "retrieve")] = retrieved
            rankings[(attempt, "rerank")] = sorted(retrieved[:10], key=lambda _: rng.random())
            queries[attempt] = f"question {t}" + (" rewritten" if attempt else "")
        final = rankings[(max(a for a, _ in rankings), "rerank")][:5]
        cited = {c: i + 1 for i, c in enumerate(final) if i < 2 and rng.random() < 0.7}
        ignored = {c: i + 1 for i, c in enumerate(final) if c not in cited}
        success = rng.random() < 0.7
        spec = TaskSpec(
            f"t{t}", f"question {t}", rankings, doc_id=doc_id, queries=queries, cited=cited, ignored=ignored,
            grades={0: {c: rng.random() < 0.5 for c in rankings[(0, "rerank")][:5]}},
            rewrites=[(1, f"question {t}", f"question {t} rewritten")] if rewrite else [],
            fallbacks=1 if rng.random() < 0.1 else 0, answer=rng.choice(words), success=success,
        )
        items.append((record_task(store, spec), {"status": spec.status, "tokens_in": spec.tokens[0], "tokens_out": spec.tokens[1]}))
    for run_id in sorted({trace.run_id for trace, _ in items}):
        store.begin_run(run_id)
    store.commit_tasks(items)
