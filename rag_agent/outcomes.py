"""Outcomes reported after the fact: success from the user's own checker, a unit test, a thumbs-up.

    from rag_agent import record_outcome
    record_outcome(tracer.run_id, tracer.last_task_id, success=True, score=0.9, answer_check="unit-test",
                   workspace="workspace")

CLI: `python -m rag_agent outcome RUN_ID TASK_ID --success|--failure [--score X] [--check NAME]`.

The task's `outcomes` row is replaced (one row per task, as the own agent writes it): `success`
as given, `checker` = `answer_check` (default "user"), `predicted` = the task's final answer,
`reason` = the score and the note. The harvest reads outcomes when it harvests a task, so report
outcomes before `feedback harvest`; for a task harvested already the new outcome is stored but
not re-harvested (the return value says so).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from rag_agent.errors import DataError

log = logging.getLogger(__name__)


@dataclass
class OutcomeRecorded:
    run_id: str
    task_id: str
    success: bool | None
    already_harvested: bool


def record_outcome(run_id: str, task_id: str, success: bool | None = None, score: float | None = None,
                   answer_check: str | None = None, *, workspace="workspace", note: str = "",
                   lock_timeout_s: float = 30.0) -> OutcomeRecorded:
    """Store the outcome of a traced task; raises DataError when the task is not in the workspace."""
    from rag_agent.tracer_rows import _connect_with_retry
    from rag_agent.tracing import TraceStore

    if success is not None and not isinstance(success, bool):
        raise DataError(f"success={success!r}", "True, False or None", "pass a bool")
    if score is not None and not isinstance(score, (int, float)):
        raise DataError(f"score={score!r}", "a number or None", "pass a float such as 0.8")
    db_path = workspace.db_path if hasattr(workspace, "db_path") else Path(workspace) / "ragloop.duckdb"
    if not Path(db_path).exists():
        raise DataError(str(db_path), "a workspace database with traces", "pass workspace= the folder the tracer wrote to")
    con = _connect_with_retry(Path(db_path), lock_timeout_s)
    try:
        store = TraceStore(con, owns_connection=False)
        answer = store.query("SELECT answer FROM answers WHERE run_id = ? AND task_id = ? AND final ORDER BY generation DESC LIMIT 1",
                             [run_id, task_id])
        reason = "; ".join(p for p in ((f"score={score:g}" if score is not None else ""), note) if p) or "reported by the app"
        written = store.replace_outcome(run_id, task_id, success=success, checker=answer_check or "user",
                                        predicted=answer[0][0] if answer else None, gold=None, reason=reason)
        if not written:
            raise DataError(f"task {run_id}/{task_id}", "a task the tracer (or an import) wrote", "check the ids: tracer.run_id and tracer.last_task_id")
        harvested = bool(store.query("SELECT 1 FROM harvest_state WHERE run_id = ? AND task_id = ?", [run_id, task_id]))
    finally:
        con.close()
    if harvested:
        log.warning("task %s/%s was harvested before this outcome; it is stored but not re-harvested", run_id, task_id)
    return OutcomeRecorded(run_id, task_id, success, harvested)
