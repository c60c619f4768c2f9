"""Read the agent's trace tables (rag_agent/tracing_schema.py) into one `TaskTrace` per task.

Every column read is named through `tracing_schema.select`, which checks it against the one
declaration of the tables, so a renamed column fails on import here rather than mid-harvest.
(The writing side buffers a task's rows in `rag_agent.tracing.TaskBuffer`.)

Read-only: `feedback` never writes a trace table. A trace that cannot be interpreted (no
question, a retrieval without attempt/rank, a citation of a chunk the task never retrieved...)
raises `MalformedTrace`, which the harvester counts and skips.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rag_agent.tracing_schema import select

# The columns this reader uses, per table (checked against the declaration when imported).
_TASK = select("tasks", "question", "doc_id", "answer_type", "status", "tokens_in", "tokens_out")
_RETRIEVAL = select(
    "retrievals", "attempt", "query", "stage", "rank", "chunk_id", "doc_id", "score", "shown", "embedder_version", "reranker_version"
)
_GRADE = select("grades", "attempt", "chunk_id", "relevant")
_CITED = select("citations", "chunk_id", "rank")
_IGNORED = select("ignored", "chunk_id", "rank")
_REWRITE = select("rewrites", "attempt", "from_query", "to_query")
_ANSWER = select("answers", "answer", "final", "generation")
_OUTCOME = select("outcomes", "success", "predicted")


class MalformedTrace(ValueError):
    """A task's trace rows contradict each other or miss what every trace must have."""


@dataclass(frozen=True)
class RetrievalRow:
    attempt: int
    query: str
    stage: str
    rank: int
    chunk_id: str
    doc_id: str | None
    score: float | None
    shown: bool
    model_version: str  # embedder version for 'retrieve', reranker version for 'rerank'


@dataclass
class TaskTrace:
    run_id: str
    task_id: str
    question: str
    doc_id: str | None
    answer_type: str | None
    status: str
    tokens: int
    retrievals: list[RetrievalRow] = field(default_factory=list)
    grades: dict[int, dict[str, bool]] = field(default_factory=dict)  # attempt -> chunk -> relevant
    cited: dict[str, int] = field(default_factory=dict)  # chunk -> rank in the answer context
    ignored: dict[str, int] = field(default_factory=dict)  # chunk -> rank in the answer context
    rewrites: list[tuple[int, str, str]] = field(default_factory=list)  # (attempt, from, to)
    n_fallbacks: int = 0
    final_answer: str | None = None
    success: bool | None = None
    predicted: str | None = None

    # ---- views the rules need --------------------------------------------------------------
    def attempts(self) -> list[int]:
        return sorted({r.attempt for r in self.retrievals})

    def query_of(self, attempt: int) -> str:
        for row in self.retrievals:
            if row.attempt == attempt:
                return row.query
        return self.question

    def ranking(self, attempt: int, stage: str) -> list[RetrievalRow]:
        return sorted((r for r in self.retrievals if r.attempt == attempt and r.stage == stage), key=lambda r: r.rank)

    def served_rankings(self) -> list[tuple[int, str]]:
        return sorted({(r.attempt, r.stage) for r in self.retrievals})

    def best_ranks(self) -> dict[str, int]:
        """Best position each chunk held in any ranking the agent was served."""
        ranks: dict[str, int] = {}
        for row in self.retrievals:
            ranks[row.chunk_id] = min(row.rank, ranks.get(row.chunk_id, row.rank))
        return ranks

    def shown(self, attempt: int | None = None) -> set[str]:
        """Chunks the LLM actually saw (position correction: unseen chunks carry no judgement)."""
        return {r.chunk_id for r in self.retrievals if r.shown and (attempt is None or r.attempt == attempt)}

    def chunk_ids(self) -> set[str]:
        return {r.chunk_id for r in self.retrievals} | set(self.cited) | set(self.ignored)

    @property
    def succeeded(self) -> bool:
        return self.success is True

    def clause_exists(self) -> bool | None:
        """Is the asked-for clause in the contract? Read off the answer checker's verdict, never off
        gold evidence: a yes/no answer it passed says so directly, one it failed says the opposite;
        a date or text question has an answer. None: unknown (no verdict, or no yes/no said)."""
        from rag_agent.checkers import yes_no_of

        if self.success is None:
            return None
        if self.answer_type != "yes_no":
            return True
        said = yes_no_of(self.predicted or self.final_answer or "")
        return None if said is None else (said == "yes") == self.success


def pending_tasks(con, run_id: str | None = None) -> list[tuple[str, str]]:
    """(run_id, task_id) of finished tasks not yet in harvest_state, in a stable order."""
    sql = (
        "SELECT t.run_id, t.task_id FROM tasks t "
        "LEFT JOIN harvest_state h ON h.run_id = t.run_id AND h.task_id = t.task_id "
        "WHERE h.run_id IS NULL" + (" AND t.run_id = ?" if run_id else "") + " ORDER BY t.run_id, t.task_id"
    )
    return [(r[0], r[1]) for r in con.execute(sql, [run_id] if run_id else []).fetchall()]


def load_task(con, run_id: str, task_id: str) -> TaskTrace:
    key = [run_id, task_id]
    row = con.execute(f"SELECT {_TASK} FROM tasks WHERE run_id = ? AND task_id = ?", key).fetchone()
    if row is None:
        raise MalformedTrace(f"task {run_id}/{task_id} has no tasks row")
    question, doc_id, answer_type, status, tokens_in, tokens_out = row
    tokens = (tokens_in or 0) + (tokens_out or 0)
    if not question or not str(question).strip():
        raise MalformedTrace(f"task {run_id}/{task_id} has an empty question")
    trace = TaskTrace(run_id, task_id, question, doc_id, answer_type, status, int(tokens or 0))

    for attempt, query, stage, rank, chunk_id, r_doc, score, shown, emb, rer in con.execute(
        f"SELECT {_RETRIEVAL} FROM retrievals WHERE run_id = ? AND task_id = ? ORDER BY attempt, stage, rank", key
    ).fetchall():
        if stage not in ("retrieve", "rerank") or attempt is None or attempt < 0 or rank is None or rank < 1 or not chunk_id:
            raise MalformedTrace(f"task {run_id}/{task_id}: bad retrieval row (attempt={attempt}, stage={stage}, rank={rank})")
        model = (emb if stage == "retrieve" else rer) or ""
        trace.retrievals.append(RetrievalRow(attempt, query, stage, rank, chunk_id, r_doc, score, bool(shown), model))
    seen_ranks = [(r.attempt, r.stage, r.rank) for r in trace.retrievals]
    if len(seen_ranks) != len(set(seen_ranks)):
        raise MalformedTrace(f"task {run_id}/{task_id}: duplicate ranks within one served ranking")

    for attempt, chunk_id, relevant in con.execute(f"SELECT {_GRADE} FROM grades WHERE run_id = ? AND task_id = ?", key).fetchall():
        trace.grades.setdefault(attempt, {})[chunk_id] = bool(relevant)
    for chunk_id, rank in con.execute(f"SELECT {_CITED} FROM citations WHERE run_id = ? AND task_id = ?", key).fetchall():
        trace.cited[chunk_id] = rank
    for chunk_id, rank in con.execute(f"SELECT {_IGNORED} FROM ignored WHERE run_id = ? AND task_id = ?", key).fetchall():
        trace.ignored[chunk_id] = rank
    known = {r.chunk_id for r in trace.retrievals}
    if trace.retrievals and not set(trace.cited) <= known:
        raise MalformedTrace(f"task {run_id}/{task_id}: cites chunks it never retrieved: {sorted(set(trace.cited) - known)[:3]}")
    both = set(trace.cited) & set(trace.ignored)
    if both:
        raise MalformedTrace(f"task {run_id}/{task_id}: chunks both cited and ignored: {sorted(both)[:3]}")

    trace.rewrites = [
        (a, f, t)
        for a, f, t in con.execute(
            f"SELECT {_REWRITE} FROM rewrites WHERE run_id = ? AND task_id = ? ORDER BY attempt", key
        ).fetchall()
    ]
    trace.n_fallbacks = con.execute("SELECT count(*) FROM web_fallbacks WHERE run_id = ? AND task_id = ?", key).fetchone()[0]
    answer = con.execute(
        f"SELECT {_ANSWER} FROM answers WHERE run_id = ? AND task_id = ? AND final ORDER BY generation DESC LIMIT 1", key
    ).fetchone()
    trace.final_answer = answer[0] if answer else None
    outcome = con.execute(f"SELECT {_OUTCOME} FROM outcomes WHERE run_id = ? AND task_id = ? LIMIT 1", key).fetchone()
    if outcome:
        trace.success = None if outcome[0] is None else bool(outcome[0])
        trace.predicted = outcome[1]
    return trace


def chunk_texts(con, chunk_ids: set[str] | list[str]) -> dict[str, tuple[str, str]]:
    """chunk_id -> (text, content_hash) for the chunks still in the corpus."""
    ids = sorted(set(chunk_ids))
    if not ids:
        return {}
    rows = con.execute("SELECT chunk_id, text, content_hash FROM chunks WHERE chunk_id IN (SELECT unnest(?))", [ids]).fetchall()
    return {cid: (text, h) for cid, text, h in rows}
