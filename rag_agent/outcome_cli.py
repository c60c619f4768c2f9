"""`python -m rag_agent outcome RUN_ID TASK_ID --success|--failure`: report a task's outcome later."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from rag_agent.cli_common import VerboseOpt, WorkspaceOpt, setup_logging


def register(app: typer.Typer) -> None:
    @app.command("outcome")
    def outcome_command(
        run_id: str = typer.Argument(..., help="The run id (RagloopTracer.run_id)."),
        task_id: str = typer.Argument(..., help="The task id (RagloopTracer.last_task_id, or the metadata task_id)."),
        success: Optional[bool] = typer.Option(None, "--success/--failure", help="The verdict (omit for unknown)."),
        score: Optional[float] = typer.Option(None, "--score", help="A graded score, kept with the outcome."),
        check: Optional[str] = typer.Option(None, "--check", help="Which check produced it (default: user)."),
        workspace: Path = WorkspaceOpt,
        verbose: bool = VerboseOpt,
    ) -> None:
        """Record the outcome of a traced task (before `feedback harvest` reads it)."""
        from rag_agent.outcomes import record_outcome

        setup_logging(verbose)
        done = record_outcome(run_id, task_id, success=success, score=score, answer_check=check, workspace=workspace)
        typer.echo(f"outcome of {run_id}/{task_id}: success={done.success}" + (" (already harvested)" if done.already_harvested else ""))
