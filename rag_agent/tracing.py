"""The trace store: every agent task leaves its full trace in the workspace DuckDB.

A task's rows are buffered in a `TaskBuffer` while the task runs and written by `commit_task` in
ONE transaction together with its `tasks` row. So a crash (even kill -9) loses at most the tasks
in flight and never leaves half a task; `tasks` rows therefore mark complete tasks, and a re-run
with the same run id skips them. DuckDB allows one writer, so every write of every worker thread
goes through one lock; a store opened on a path (`open`, `for_workspace`) connects for each
transaction and closes again, so other processes (`feedback stats` in a second terminal) can open
the workspace between tasks. Tables and their columns are declared in `rag_agent.tracing_schema`
(every insert here names its columns from that declaration) and documented in docs/traces.md.
(The reading side, one task's rows read back for feedback, is `feedback.traces.TaskTrace`.)
"""

from __future__ import annotations

import json
import logging
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag_agent.db import transaction
from rag_agent.tracing_schema import RECORDED, TABLES

log = logging.getLogger(__name__)

STATUSES = ("done", "failed")


@dataclass
class TaskBuffer:
    """The rows of one task being traced, buffered; nothing reaches the database before `commit_task`."""

    run_id: str
    task_id: str
    doc_id: str | None = None
    question: str = ""
    answer_type: str | None = None
    rows: dict[str, list[dict]] = field(default_factory=dict)

    def count(self, table: str) -> int:
        return len(self.rows.get(table, []))


class TraceStore:
    """Buffered, one-transaction-per-task writer over a workspace DuckDB file (thread-safe)."""

    def __init__(self, con, owns_connection: bool = True):
        self._con = con
        self._owns = owns_connection
        self._lock = threading.Lock()
        self._path: Path | None = None  # set by `open`/`for_workspace`: connect per transaction
        self._lock_wait_s: float | None = None

    @classmethod
    def open(cls, db_path: Path | str, lock_wait_s: float | None = None) -> TraceStore:
        from rag_agent.db import DEFAULT_LOCK_WAIT_S, connect

        store = cls(None, owns_connection=False)
        store._path, store._lock_wait_s = Path(db_path), DEFAULT_LOCK_WAIT_S if lock_wait_s is None else lock_wait_s
        connect(store._path, lock_wait_s=store._lock_wait_s).close()  # create/migrate now, fail early
        return store

    @classmethod
    def for_workspace(cls, ws) -> TraceStore:
        return cls.open(ws.db_path, ws.config.workspace.lock_wait_s)

    def close(self) -> None:
        with self._lock:
            if self._owns and self._con is not None:
                self._con.close()
            self._con = None
            self._path = None

    @contextmanager
    def _connection(self):
        """The shared connection, or a short-lived one when the store was opened on a path.
        Callers hold `self._lock`."""
        if self._path is None:
            if self._con is None:
                raise ValueError("trace store is closed")
            yield self._con
            return
        from rag_agent.db import connect

        con = connect(self._path, lock_wait_s=self._lock_wait_s)
        try:
            yield con
        finally:
            con.close()

    def __enter__(self) -> TraceStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- runs ---------------------------------------------------------------------------------
    def begin_run(self, run_id: str, *, tasks_file: str = "", llm: str = "", embedder_version: str = "",
                  reranker_version: str = "", seed: int | None = None, config: dict | None = None) -> bool:
        """Record the run once; returns False when the run id already exists (a resumed run)."""
        with self._lock, self._connection() as con:
            exists = con.execute("SELECT 1 FROM runs WHERE run_id = ?", [run_id]).fetchone()
            if exists:
                return False
            row = {"tasks_file": tasks_file, "llm": llm, "embedder_version": embedder_version, "reranker_version": reranker_version,
                   "seed": seed, "config_json": json.dumps(config or {}, sort_keys=True)}
            _insert_named(con, "runs", [[run_id] + [row[c] for c in TABLES["runs"].values]])
            return True

    # ---- tasks --------------------------------------------------------------------------------
    def begin_task(self, run_id: str, task_id: str, *, doc_id: str | None = None, question: str = "",
                   answer_type: str | None = None) -> TaskBuffer:
        return TaskBuffer(run_id=run_id, task_id=task_id, doc_id=doc_id, question=question, answer_type=answer_type)

    def record(self, trace: TaskBuffer, table: str, **row: Any) -> None:
        """Buffer one row; unknown tables or columns fail here, not at commit time."""
        if table not in RECORDED:
            raise ValueError(f"unknown trace table {table!r}; one of {', '.join(RECORDED)}")
        _check_columns(table, row)
        trace.rows.setdefault(table, []).append(row)

    def commit_task(self, trace: TaskBuffer, status: str, *, error: str | None = None, seconds: float | None = None,
                    llm_seconds: float | None = None, tokens_in: int | None = None, tokens_out: int | None = None) -> bool:
        """Write the task and all its buffered rows in one transaction.

        Returns False (writing nothing) when the task is already present for this run, so
        concurrent or resumed runs never duplicate a task.
        """
        if status not in STATUSES:
            raise ValueError(f"task status {status!r}; one of {STATUSES}")
        task_row = {
            "doc_id": trace.doc_id, "question": trace.question, "answer_type": trace.answer_type, "status": status,
            "error": error, "seconds": seconds, "llm_seconds": llm_seconds, "tokens_in": tokens_in, "tokens_out": tokens_out,
        }
        with self._lock, self._connection() as con, transaction(con):
            present = con.execute(
                "SELECT 1 FROM tasks WHERE run_id = ? AND task_id = ?", [trace.run_id, trace.task_id]
            ).fetchone()
            if present:
                return False  # nothing written: the transaction commits empty
            for table, rows in trace.rows.items():
                self._insert(con, table, trace.run_id, trace.task_id, rows)
            self._insert(con, "tasks", trace.run_id, trace.task_id, [task_row])
        return True

    @staticmethod
    def _insert(con, table: str, run_id: str, task_id: str, rows: list[dict]) -> None:
        """Rows of one task into `table`, by the declared column names (a missing key is NULL)."""
        if rows:
            _insert_named(con, table, [[run_id, task_id] + [row.get(c) for c in TABLES[table].values] for row in rows])

    def commit_tasks(self, items: list[tuple[TaskBuffer, dict]]) -> int:
        """Write many finished tasks (an import) in ONE transaction: all of them or none. `items`
        are (trace, commit_task's keyword arguments incl. status); tasks already present for their
        run are skipped. Rows go in column-wise (one INSERT per table), which is what makes
        importing thousands of tasks fast. Returns how many tasks were written."""
        if not items:
            return 0
        for _, task in items:
            if task.get("status") not in STATUSES:
                raise ValueError(f"task status {task.get('status')!r}; one of {STATUSES}")
        with self._lock, self._connection() as con, transaction(con):
            runs = sorted({t.run_id for t, _ in items})
            present = {tuple(r) for r in con.execute(
                "SELECT run_id, task_id FROM tasks WHERE run_id IN (SELECT unnest(?))", [runs]).fetchall()}
            fresh = [(t, kw) for t, kw in items if (t.run_id, t.task_id) not in present]
            tables: dict[str, list[list]] = {}
            for trace, kw in fresh:
                for table, rows in trace.rows.items():
                    tables.setdefault(table, []).extend([trace.run_id, trace.task_id] + [r.get(c) for c in TABLES[table].values] for r in rows)
                task_row = {"doc_id": trace.doc_id, "question": trace.question, "answer_type": trace.answer_type, **kw}
                tables.setdefault("tasks", []).append([trace.run_id, trace.task_id] + [task_row.get(c) for c in TABLES["tasks"].values])
            for table, rows in tables.items():
                _insert_named(con, table, rows, by_column=True)
        return len(fresh)

    def replace_outcome(self, run_id: str, task_id: str, **row: Any) -> bool:
        """An outcome reported after the task (`rag_agent.outcomes.record_outcome`): replaces the
        task's `outcomes` row in one transaction; False (nothing written) when the task is absent."""
        _check_columns("outcomes", row)
        with self._lock, self._connection() as con, transaction(con):
            if not con.execute("SELECT 1 FROM tasks WHERE run_id = ? AND task_id = ?", [run_id, task_id]).fetchone():
                return False  # nothing written: the transaction commits empty
            con.execute("DELETE FROM outcomes WHERE run_id = ? AND task_id = ?", [run_id, task_id])
            self._insert(con, "outcomes", run_id, task_id, [row])
        return True

    # ---- reading ------------------------------------------------------------------------------
    def tasks(self, run_id: str) -> list[dict]:
        """The committed tasks of a run: task_id, status, error, seconds."""
        with self._lock, self._connection() as con:
            rows = con.execute(
                "SELECT task_id, status, error, seconds FROM tasks WHERE run_id = ? ORDER BY finished_at, task_id", [run_id]
            ).fetchall()
        return [dict(zip(("task_id", "status", "error", "seconds"), r)) for r in rows]

    def finished_task_ids(self, run_id: str) -> set[str]:
        """Tasks a resumed run skips: present with status 'done' or 'failed'."""
        return {t["task_id"] for t in self.tasks(run_id) if t["status"] in STATUSES}

    def query(self, sql: str, params: list | None = None) -> list[tuple]:
        with self._lock, self._connection() as con:
            return con.execute(sql, params or []).fetchall()


def _check_columns(table: str, row: dict) -> None:
    unknown = set(row) - set(TABLES[table].values)
    if unknown:
        raise ValueError(f"unknown column(s) {sorted(unknown)} for trace table {table!r}")


def _insert_named(con, table: str, rows: list[list], by_column: bool = False) -> None:
    """INSERT rows given as key + `values` of the declared table, naming every column. `by_column`:
    one statement for all rows (unnest of column lists), the fast path of imports."""
    spec = TABLES[table]
    columns = spec.key + spec.values
    names = ", ".join(columns)
    if by_column:
        con.execute(f"INSERT INTO {table} ({names}) SELECT {', '.join('unnest(?)' for _ in columns)}", [list(c) for c in zip(*rows)])
    else:
        con.executemany(f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' for _ in columns)})", rows)
