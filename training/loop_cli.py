"""`training loop --cycles N [--tasks-per-cycle K]`: the whole circle, with progress and a final table."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from rag_agent.cli_common import SetOpt, VerboseOpt, WorkspaceOpt, open_workspace, setup_logging


def register(app: typer.Typer) -> None:
    @app.command("loop")
    def loop_command(
        cycles: int = typer.Option(3, "--cycles", min=1, help="Cycles to have finished in this workspace (earlier runs count)."),
        tasks_per_cycle: Optional[int] = typer.Option(None, "--tasks-per-cycle", min=1, help="Fresh train tasks per cycle (training.tasks_per_cycle)."),
        report: Optional[Path] = typer.Option(None, "--report", help="Folder for report.html and its plots (default: the workspace)."),
        workspace: Path = WorkspaceOpt,
        overrides: Optional[List[str]] = SetOpt,
        verbose: bool = VerboseOpt,
    ) -> None:
        """Agent on fresh train tasks -> harvest -> train -> shadow re-index -> gate -> promote/reject.

        Resumable: rerun the same command after a crash and it continues at the unfinished step."""
        from rich.console import Console

        from training.loop import TrainingLoop
        from training.report import write_report

        setup_logging(verbose)
        extra = [f"training.tasks_per_cycle={tasks_per_cycle}"] if tasks_per_cycle else []
        ws = open_workspace(workspace, list(overrides or []) + extra)
        console = Console(stderr=True)
        loop = TrainingLoop(ws)

        def announce(row) -> None:
            console.print(f"[bold]cycle {row.cycle}[/bold]: {row.decision} — {row.reason}")

        loop.run(cycles, on_cycle=announce)
        rows = loop.rows()
        path = write_report(rows, report or ws.root)
        print_table(rows)
        typer.echo(f"report: {path}")


def print_table(rows) -> None:
    from rich.console import Console
    from rich.table import Table

    from training.report import table_rows

    header, cells = table_rows(rows)
    table = Table(title="training loop (NDCG@10; dev = in-domain contracts the loop never saw)")
    for name in header:
        table.add_column(name)
    for line in cells:
        table.add_row(*line)
    console = Console()
    if not console.is_terminal:  # a log file: rich's 80-column default would fold every cell
        console = Console(width=200)
    console.print(table)
