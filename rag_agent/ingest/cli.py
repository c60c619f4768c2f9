"""`python -m rag_agent ingest [--workspace W] [--set k=v] PATH...`

Prints one line per skipped input, then a summary table. Exit 0 when anything was read (a few
bad files should not fail a large ingest), exit 2 with one line when nothing could be read.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from rag_agent.cli_common import SetOpt, VerboseOpt, WorkspaceOpt, open_workspace, setup_logging


def register(app: typer.Typer) -> None:
    @app.command("ingest")
    def ingest_command(
        paths: List[Path] = typer.Argument(..., help="Files or folders: .txt/.md, folders of them, contracts_*.jsonl manifests, BEIR corpus.jsonl."),
        workspace: Path = WorkspaceOpt,
        overrides: Optional[List[str]] = SetOpt,
        verbose: bool = VerboseOpt,
    ) -> None:
        """Chunk, embed and index documents into the workspace (re-ingesting unchanged files is a no-op)."""
        from rich.console import Console

        from rag_agent.errors import DataError
        from rag_agent.ingest.pipeline import ingest

        setup_logging(verbose)
        ws = open_workspace(workspace, overrides)
        report = ingest(ws, paths, progress=True)
        console = Console()
        for skipped in report.skipped:
            console.print(f"[yellow]skipped[/yellow] {skipped.source}: {skipped.reason}", highlight=False, soft_wrap=True)
        if report.read_nothing:
            raise DataError(
                ", ".join(map(str, paths)),
                f"at least one readable document ({len(report.skipped)} inputs skipped)",
                "pass .txt/.md files, folders of them, a contracts_*.jsonl manifest or a BEIR corpus.jsonl",
            )
        console.print(summary_table(report))


def summary_table(report):
    from rich.table import Table

    table = Table(title="ingest", show_header=True)
    for column in ("documents", "unchanged", "skipped", "chunks", "seconds", "chunks/s", "index size"):
        table.add_column(column, justify="right")
    table.add_row(
        str(report.documents_ingested),
        str(report.documents_unchanged),
        str(report.documents_skipped),
        str(report.chunks_added + report.chunks_reconciled),
        f"{report.seconds:.1f}",
        f"{report.chunks_per_s:.1f}",
        str(report.index_size),
    )
    return table
