"""Trace tables written by the agent (rag_agent.tracing) and read by `feedback`: declared once, here.

Every row carries (run_id, task_id). A task's rows are written in one transaction together with
its `tasks` row, so a task either is fully present (status 'done' or 'failed') or absent.

`TABLES` is the one statement of the schema: the migrations' DDL is generated from it, the writer
(`TraceStore`, and through it the tracer, `feedback import` and `feedback.synthetic`) inserts by
the column names it declares, the reader (`feedback.traces`) selects through `select`, and
tests/test_trace_schema.py checks docs/traces.md against it (column by column) and checks that
the generated DDL makes exactly the tables earlier versions made (a workspace written by them
keeps working). Append a column or table as a new migration (`version`), never edit an old one.
"""

from __future__ import annotations

from dataclasses import dataclass

OWNER = "rag_agent.traces"


@dataclass(frozen=True)
class Column:
    name: str
    sql_type: str  # as written in the DDL (TEXT, INTEGER, DOUBLE, BOOLEAN, TIMESTAMP)
    doc: str  # one line; docs/traces.md says more
    nullable: bool = True
    default: str | None = None  # SQL expression the database fills in; the writer never passes it

    def ddl(self, primary_key: bool = False) -> str:
        words = [self.name, self.sql_type]
        if primary_key:
            words.append("PRIMARY KEY")
        elif not self.nullable:
            words.append("NOT NULL")
        if self.default is not None:
            words.append(f"DEFAULT {self.default}")
        return " ".join(words)


@dataclass(frozen=True)
class Table:
    name: str
    doc: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ("run_id", "task_id")  # filled in by the store for every row, never by `record`
    primary_key: tuple[str, ...] = ()
    version: int = 1  # the migration that creates the table

    @property
    def names(self) -> tuple[str, ...]:
        """Every column, in table order."""
        return tuple(c.name for c in self.columns)

    @property
    def values(self) -> tuple[str, ...]:
        """The columns a writer supplies per row besides the key (defaulted columns are the database's)."""
        return tuple(c.name for c in self.columns if c.name not in self.key and c.default is None)

    def ddl(self) -> str:
        inline = self.primary_key[0] if len(self.primary_key) == 1 else None
        lines = [c.ddl(primary_key=c.name == inline) for c in self.columns]
        if len(self.primary_key) > 1:
            lines.append(f"PRIMARY KEY ({', '.join(self.primary_key)})")
        return f"CREATE TABLE {self.name} (\n    " + ",\n    ".join(lines) + "\n);"


def _key(doc_task: str = "the task within the run") -> tuple[Column, Column]:
    return (Column("run_id", "TEXT", "the run", nullable=False), Column("task_id", "TEXT", doc_task, nullable=False))


def _req(name: str, sql_type: str, doc: str) -> Column:
    return Column(name, sql_type, doc, nullable=False)


_DECLARED = (
    Table("runs", "one row per run id, written when the run first starts", (
        Column("run_id", "TEXT", "the run id", nullable=False),
        Column("started_at", "TIMESTAMP", "when the run id was first used", default="current_timestamp"),
        Column("tasks_file", "TEXT", "the task file path"),
        Column("llm", "TEXT", "backend/model name"),
        Column("embedder_version", "TEXT", "the embedder that served the run"),
        Column("reranker_version", "TEXT", "the reranker that served the run"),
        Column("seed", "INTEGER", "--seed"),
        Column("config_json", "TEXT", "the full RagloopConfig used"),
    ), key=("run_id",), primary_key=("run_id",)),
    Table("tasks", "one row per finished task", (
        *_key(),
        Column("doc_id", "TEXT", "scope; NULL = whole corpus"),
        _req("question", "TEXT", "the question as asked"),
        Column("answer_type", "TEXT", "date / text / yes_no"),
        _req("status", "TEXT", "'done' | 'failed'"),
        Column("error", "TEXT", "why it failed (invalid LLM JSON after retries, ...)"),
        Column("seconds", "DOUBLE", "wall time of the task"),
        Column("llm_seconds", "DOUBLE", "part of it spent inside LLM calls"),
        Column("tokens_in", "INTEGER", "prompt tokens over all LLM calls"),
        Column("tokens_out", "INTEGER", "completion tokens over all LLM calls"),
        Column("finished_at", "TIMESTAMP", "commit time", default="current_timestamp"),
    ), primary_key=("run_id", "task_id")),
    Table("steps", "one row per node execution", (
        *_key(),
        _req("step_no", "INTEGER", "order within the task"),
        _req("node", "TEXT", "graph node name"),
        _req("seconds", "DOUBLE", "wall time of the node"),
        _req("llm_seconds", "DOUBLE", "part of it spent inside LLM calls"),
        _req("tokens_in", "INTEGER", "prompt tokens of the node's LLM calls"),
        _req("tokens_out", "INTEGER", "completion tokens of the node's LLM calls"),
    )),
    Table("retrievals", "every candidate of every attempt, in both orders", (
        *_key(),
        _req("attempt", "INTEGER", "0 = original query, n = after the n-th rewrite"),
        _req("query", "TEXT", "the query of that attempt"),
        _req("stage", "TEXT", "'retrieve' (index order) | 'rerank' (reranker order)"),
        _req("rank", "INTEGER", "1-based within (attempt, stage)"),
        _req("chunk_id", "TEXT", "the chunk"),
        Column("doc_id", "TEXT", "the chunk's document"),
        Column("score", "DOUBLE", "index or reranker score"),
        _req("shown", "BOOLEAN", "the LLM saw this chunk (in grading/answering)"),
        Column("embedder_version", "TEXT", "the embedder that produced the ranking"),
        Column("reranker_version", "TEXT", "the reranker that produced the ranking"),
    )),
    Table("grades", "the grader's verdict on each shown chunk", (
        *_key(),
        _req("attempt", "INTEGER", "as in retrievals"),
        _req("chunk_id", "TEXT", "the chunk"),
        _req("rank", "INTEGER", "position shown to the grader (1-based)"),
        _req("relevant", "BOOLEAN", "the grader's verdict"),
    )),
    Table("citations", "passages the final answer cites", (
        *_key(),
        _req("chunk_id", "TEXT", "the chunk (or a fallback hit's url)"),
        _req("citation_no", "INTEGER", "the [n] used in the answer"),
        _req("rank", "INTEGER", "position in the answer context (1-based)"),
    )),
    Table("ignored", "shown in the answer context but not cited", (
        *_key(),
        _req("chunk_id", "TEXT", "as in citations"),
        _req("rank", "INTEGER", "position in the answer context (1-based)"),
    )),
    Table("rewrites", "one row per query rewrite", (
        *_key(),
        _req("attempt", "INTEGER", "the attempt this rewrite starts"),
        _req("from_query", "TEXT", "the query before"),
        _req("to_query", "TEXT", "the query after"),
    )),
    Table("web_fallbacks", "one row when retrieval never found a relevant chunk", (
        *_key(),
        _req("query", "TEXT", "what was searched"),
        _req("backend", "TEXT", "none, corpus:PATH, web:duckduckgo"),
        _req("n_results", "INTEGER", "hits that came back"),
        Column("results_json", "TEXT", "the hits (or the error) as JSON"),
    )),
    Table("answers", "every generation of the answer", (
        *_key(),
        _req("generation", "INTEGER", "0 = first answer, 1 = after a failed groundedness check"),
        _req("answer", "TEXT", "the answer text"),
        Column("grounded", "BOOLEAN", "the groundedness check's verdict (NULL = not checked)"),
        _req("final", "BOOLEAN", "this generation is the task's answer"),
    )),
    Table("outcomes", "the checker's verdict, one row per task", (
        *_key(),
        Column("success", "BOOLEAN", "NULL when the task file has no answer"),
        Column("checker", "TEXT", "'date' | 'yes_no' | 'text'"),
        Column("predicted", "TEXT", "the final answer"),
        Column("gold", "TEXT", "the gold answer from the task file"),
        Column("reason", "TEXT", "the checker's explanation"),
    )),
    # v2 (agent-prompts-v3): the grade step's score per attempt. A new table, not a column on
    # `grades`, so every existing reader of `grades` keeps working.
    Table("grade_scores", "the grade step's decision, one row per attempt", (
        *_key(),
        _req("attempt", "INTEGER", "as in retrievals"),
        _req("mode", "TEXT", "agent.grade_mode: 'score' | 'list'"),
        Column("score", "DOUBLE", "P(yes) that the shown chunks answer the question; NULL in list mode"),
        Column("threshold", "DOUBLE", "agent.grade_threshold in score mode; NULL in list mode"),
        _req("passed", "BOOLEAN", "the attempt went on to answer (else rewrite / fallback)"),
    ), version=2),
)

TABLES: dict[str, Table] = {t.name: t for t in _DECLARED}
# The tables `TraceStore.record` buffers rows for: every per-task table except `tasks` itself.
RECORDED = tuple(t.name for t in _DECLARED if t.key == ("run_id", "task_id") and t.name != "tasks")
# Tables holding a task's rows (what "a task is fully present or absent" is about).
TASK_TABLES = ("tasks",) + RECORDED

MIGRATIONS = [
    "\n".join(t.ddl() for t in _DECLARED if t.version == version)
    for version in range(1, max(t.version for t in _DECLARED) + 1)
]


def select(table: str, *names: str) -> str:
    """'a, b, c' for a SELECT list, after checking each name is a declared column of `table`
    (a reader asking for a column that does not exist fails at import, not mid-harvest)."""
    declared = TABLES[table].names
    unknown = [n for n in names if n not in declared]
    if unknown:
        raise KeyError(f"trace table {table!r} has no column(s) {unknown}; it has {', '.join(declared)}")
    return ", ".join(names)
