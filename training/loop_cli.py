"""`training loop --cycles N [--minutes M] [--tasks-per-cycle K]`: the whole circle, with progress,
one verdict line per cycle, the final table and where to go next."""

from __future__ import annotations

import time
from pathlib import Path
from typing import List, Optional

import typer

from rag_agent.cli_common import SetOpt, VerboseOpt, WorkspaceOpt, open_workspace, setup_logging, table_console

NEXT_COMMANDS = (
    ("training models", "the registry: champions, candidates, and why each was promoted or rejected"),
    ("evals run", "score the champions on every suite"),
    ('python -m rag_agent ask "What is the governing law?"', "ask the agent with the champion models"),
)


def register(app: typer.Typer) -> None:
    @app.command("loop")
    def loop_command(
        cycles: int = typer.Option(3, "--cycles", min=1, help="Cycles to have finished in this workspace (earlier runs count)."),
        minutes: Optional[float] = typer.Option(None, "--minutes", min=1, help="Finish the cycles within this many minutes: tasks per cycle are planned from measured throughput."),
        tasks_per_cycle: Optional[int] = typer.Option(None, "--tasks-per-cycle", min=1, help="Fresh train tasks per cycle (training.loop.tasks_per_cycle); ignored with --minutes."),
        report: Optional[Path] = typer.Option(None, "--report", help="Folder for report.html and its plots (default: the workspace)."),
        workspace: Path = WorkspaceOpt,
        overrides: Optional[List[str]] = SetOpt,
        verbose: bool = VerboseOpt,
    ) -> None:
        """Agent on fresh train tasks -> harvest -> train -> shadow re-index -> gate -> promote/reject.

        Resumable: rerun the same command after a crash and it continues at the unfinished step."""
        from rich.console import Console

        from training.loop import TrainingLoop
        from training.loop_console import quiet_libraries
        from training.report import write_report

        started = time.time()
        quiet_libraries()
        setup_logging(verbose)
        extra = [f"training.loop.tasks_per_cycle={tasks_per_cycle}"] if tasks_per_cycle else []
        ws = open_workspace(workspace, list(overrides or []) + extra)
        console = Console(stderr=True)
        loop = TrainingLoop(ws)
        finished = loop.last_finished_cycle()
        if finished >= cycles:
            console.print(f"All {cycles} cycles are done in {ws.root} ({finished} finished); report: {report or ws.root}/report.html")
            console.print(f"To continue: training loop --cycles {finished + 1} (or more), same workspace; it keeps the champions and feedback.")
            return

        def announce(row) -> None:
            console.print(f"[bold]{row.verdict or f'cycle {row.cycle}: {row.decision}'}[/bold]")

        loop.run(cycles, on_cycle=announce, deadline=started + minutes * 60 if minutes else None)
        rows = loop.rows()
        path = write_report(rows, report or ws.root)
        print_table(rows)
        elapsed = (time.time() - started) / 60
        typer.echo(f"{len(rows)} cycles, {sum(r.tasks for r in rows)} agent tasks, this run {elapsed:.1f} min" + (f" (budget {minutes:g})" if minutes else ""))
        typer.echo(f"report: {path}")
        typer.echo("next:")
        for command, what in NEXT_COMMANDS:
            typer.echo(f"  {command:<55} # {what}")


def print_table(rows) -> None:
    from rich.table import Table

    from training.report import table_rows

    header, cells = table_rows(rows)
    table = Table(title="training loop (NDCG@10; dev = in-domain contracts the loop never saw)")
    for name in header:
        table.add_column(name, overflow="fold")
    for line in cells:
        table.add_row(*line)
    table_console().print(table)

