"""`feedback harvest | stats | export | calibrate` (console script `feedback`, or `python -m feedback`)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from rag_agent.cli_common import RagloopApp, VerboseOpt, SetOpt, WorkspaceOpt, open_workspace, setup_logging

app = RagloopApp(
    name="feedback",
    help="Turn agent traces into judge labels, preference pairs, rewards and hard negatives.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.command("harvest")
def harvest_command(
    workspace: Path = WorkspaceOpt,
    run: Optional[str] = typer.Option(None, "--run", help="Only this run id (default: every run)."),
    judge: Optional[str] = typer.Option(None, "--judge", help="llm or none (default: feedback.judge.backend)."),
    workers: int = typer.Option(1, "--workers", min=1, help="Concurrent judge requests (llm.backend=openai only; an embedded model serves one at a time)."),
    regrade: bool = typer.Option(False, "--regrade", help="Re-derive already-harvested tasks from the judge cache under today's rules (no LLM call)."),
    overrides: Optional[List[str]] = SetOpt,
    verbose: bool = VerboseOpt,
) -> None:
    """Harvest traces not harvested yet (incremental; a crash, even kill -9, resumes without duplicates)."""
    from rag_agent.cli_common import table_console
    from rich.table import Table

    from feedback.harvest import Harvester

    setup_logging(verbose)
    ws = open_workspace(workspace, list(overrides or []) + ([f"feedback.judge.backend={judge}"] if judge else []), create=False)
    if workers > 1 and ws.config.llm.backend != "openai":
        from rag_agent.errors import ConfigError

        raise ConfigError(f"--workers {workers} with llm.backend={ws.config.llm.backend}", "llm.backend=openai for concurrent judge requests", "drop --workers or set llm.backend=openai")
    judge_impl = None
    if ws.config.feedback.judge.backend == "llm":
        from rag_agent.llm.factory import load_llm

        from feedback.judge import CacheOnlyLLM, LLMJudge

        llm = CacheOnlyLLM.for_config(ws.config.llm) if regrade else load_llm(ws.config.llm)
        judge_impl = LLMJudge(llm, ws.config.feedback.judge)
    # No connection handed in: the harvester holds the workspace only while it reads or writes,
    # never across judge calls, so a loop or another reader can use the workspace meanwhile.
    harvester = Harvester(ws, None, judge_impl, workers=workers)
    report = harvester.regrade(run_id=run, progress=True) if regrade else harvester.run(run_id=run, progress=True)
    table = Table(title=f"harvest ({judge_impl.name if judge_impl else 'judge none'})")
    for name, value in vars(report).items():
        table.add_row(name, f"{value:.1f}" if isinstance(value, float) else str(value))
    table_console().print(table)


@app.command("stats")
def stats_command(workspace: Path = WorkspaceOpt, overrides: Optional[List[str]] = SetOpt, verbose: bool = VerboseOpt) -> None:
    """Counts per signal and label, and agreement between signals."""
    from feedback.stats import collect, render

    setup_logging(verbose)
    ws = open_workspace(workspace, overrides, create=False)
    with ws.db(read_only=True) as con:  # read-only: several readers may watch a running loop at once
        render(collect(con))


@app.command("export")
def export_command(
    fmt: str = typer.Option(..., "--format", help="sentence-transformers | flagembedding | trl"),
    out: Path = typer.Option(..., "--out", help="Output directory."),
    min_weight: float = typer.Option(0.0, "--min-weight", help="Leave out pairs/negatives lighter than this."),
    workspace: Path = WorkspaceOpt,
    overrides: Optional[List[str]] = SetOpt,
    verbose: bool = VerboseOpt,
) -> None:
    """Write training files for sentence-transformers, FlagEmbedding or trl."""
    from feedback.export import export

    setup_logging(verbose)
    ws = open_workspace(workspace, overrides, create=False)
    with ws.db() as con:
        path, rows = export(con, fmt, out, min_weight)
    typer.echo(f"wrote {rows} rows to {path}")


@app.command("calibrate")
def calibrate_command(
    split: str = typer.Option("dev", "--split", help="Task split whose gold evidence measures the labels."),
    half: str = typer.Option("all", "--half", help="tuning | reporting | all: only the dev contracts of that half (rag_agent.dev_split)."),
    suite: Optional[Path] = typer.Option(None, "--suite", help="CUAD folder (default: <data_dir>/cuad)."),
    workspace: Path = WorkspaceOpt,
    overrides: Optional[List[str]] = SetOpt,
    verbose: bool = VerboseOpt,
) -> None:
    """Precision/recall/kappa of each relevance signal and pair accuracy per rule, against gold evidence."""
    from feedback.calibrate import calibrate, render

    setup_logging(verbose)
    ws = open_workspace(workspace, overrides, create=False)
    suite_dir = suite or Path(ws.config.data_dir) / "cuad"
    with ws.db() as con:
        render(calibrate(con, suite_dir, split, ws.config.eval.overlap_fraction, ws.config.eval.evidence_join_gap, half))


from feedback.importer import register as _register_import  # noqa: E402

_register_import(app)
