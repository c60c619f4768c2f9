"""`python -m rag_agent ask "question"` and `python -m rag_agent run --tasks FILE`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

from rag_agent.cli_common import SetOpt, VerboseOpt, WorkspaceOpt, open_workspace, setup_logging


def register(app: typer.Typer) -> None:
    app.command("ask")(ask)
    app.command("run")(run)


def ask(
    question: str = typer.Argument(..., help="The question to answer from the workspace's documents."),
    doc: Optional[str] = typer.Option(None, "--doc", help="Restrict retrieval to this doc_id."),
    workspace: Path = WorkspaceOpt,
    overrides: Optional[list[str]] = SetOpt,
    run_id: str = typer.Option("ask", "--run-id", help="Run id the question's trace is recorded under."),
    verbose: bool = VerboseOpt,
) -> None:
    """Answer one question with citations (chunk ids and short excerpts); the trace is recorded."""
    from rich.console import Console

    from rag_agent.graph.build import build_graph
    from rag_agent.graph.prompts import excerpt
    from rag_agent.graph.runner import default_deps, execute_task, known_doc_ids
    from rag_agent.tasks import Task
    from rag_agent.tracing import TraceStore

    setup_logging(verbose)
    ws = open_workspace(workspace, overrides, create=False)
    deps = default_deps(ws)
    task = Task(id=f"ask-{time.strftime('%Y%m%d-%H%M%S')}-{time.time_ns() % 10**6:06d}", question=question.strip(), doc_id=doc)
    with TraceStore.for_workspace(ws) as store:
        store.begin_run(run_id, llm=deps.llm.name, embedder_version=deps.retriever.embedder_version,
                        reranker_version=deps.retriever.reranker_version, config=ws.config.to_dict())
        result = execute_task(build_graph(deps), deps, store, run_id, task, checker=None, doc_ids=known_doc_ids(store))
    console = Console()
    if result.status in ("failed", "unreachable"):  # unreachable: the LLM endpoint is down (nothing recorded)
        typer.echo(f"error: {result.error}", err=True)
        raise typer.Exit(2)
    console.print(f"[bold]{result.answer or '(no answer)'}[/bold]")
    for citation in result.citations:
        shown = " ".join(excerpt(citation["text"], question, 200).split())
        console.print(f"  [{citation['n']}] {citation['ref']}: {shown}", highlight=False, markup=False)
    if not result.citations:
        console.print("  (no citations)")
    console.print(f"[dim]{result.seconds:.1f}s ({result.llm_seconds:.1f}s in the LLM); trace: run {run_id}, task {task.id}[/dim]")


def run(
    tasks: Path = typer.Option(..., "--tasks", help="JSONL task file (id, question, doc_id, answer, answer_type)."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Run only the first N tasks (after --shuffle)."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Parallel worker threads (default agent.workers)."),
    shuffle: bool = typer.Option(False, "--shuffle", help="Shuffle the tasks with --seed before --limit."),
    seed: int = typer.Option(0, "--seed", help="Seed of --shuffle; recorded with the run."),
    run_id: Optional[str] = typer.Option(None, "--run-id", help="Same id again = continue that run, skipping finished tasks."),
    workspace: Path = WorkspaceOpt,
    overrides: Optional[list[str]] = SetOpt,
    verbose: bool = VerboseOpt,
) -> None:
    """Run a task file through the agent; every task leaves a trace; prints a summary."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from rag_agent.graph.runner import run_tasks
    from rag_agent.tasks import load_tasks, select

    from rag_agent.errors import ConfigError, LLMUnavailableError

    for name, value in (("--limit", limit), ("--workers", workers)):
        if value is not None and value < 1:
            raise ConfigError(f"{name} {value}", "a whole number >= 1", f"pass {name} 1 or more (leave out --limit to run every task)")
    setup_logging(verbose)
    ws = open_workspace(workspace, overrides, create=False)
    run_id = run_id or f"run-{time.strftime('%Y%m%d-%H%M%S')}"
    loaded = load_tasks(tasks)
    chosen = select(loaded.tasks, limit=limit, shuffle=shuffle, seed=seed)
    counts = {"done": 0, "failed": 0, "ok": 0}
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TimeRemainingColumn(), TextColumn("{task.fields[status]}")) as bar:
        job = bar.add_task(f"run {run_id}", total=None, status="")

        def on_result(result) -> None:
            counts[result.status] = counts.get(result.status, 0) + 1
            counts["ok"] += bool(result.success)
            bar.update(job, advance=1, status=f"ok {counts['ok']} · failed {counts['failed']} · LLM unreachable {counts.get('unreachable', 0)}")

        summary = run_tasks(ws, chosen, run_id, workers=workers or ws.config.agent.workers, progress=on_result, seed=seed,
                            on_start=lambda n: bar.update(job, total=n))
    summary.problems = loaded.problems
    print_summary(summary)
    if summary.pending:
        reason = summary.outage or f"the LLM was unreachable for {summary.unreachable} task(s)"
        raise LLMUnavailableError(
            f"run {run_id} stopped with {summary.pending} task(s) pending", f"a reachable LLM ({reason})",
            f"check llm.base_url / the server, then resume with --run-id {run_id} (finished tasks are kept)",
        )


def print_summary(summary) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"run {summary.run_id}", show_header=False)
    rate = summary.success_rate
    table.add_row("tasks", f"{summary.tasks} ({summary.done} done, {summary.failed} failed; {summary.skipped_now} already in the run)")
    if getattr(summary, "pending", 0):
        table.add_row("pending (LLM unreachable)", f"{summary.unreachable} failed on transport, {summary.not_started} not started; retried on resume")
    table.add_row("success rate", "no gold answers" if rate is None else f"{rate:.1%} ({summary.successes}/{summary.labelled}; failed tasks count as unsuccessful)")
    for kind, (ok, n) in summary.success_by_type.items():
        table.add_row(f"  {kind}", f"{ok / n:.1%} ({ok}/{n})")
    table.add_row("citations / task", f"{summary.citations_per_task:.2f}")
    table.add_row("rewrites / task", f"{summary.rewrites_per_task:.2f}")
    table.add_row("fallback rate", f"{summary.fallback_rate:.1%}")
    table.add_row("s / task", f"{summary.seconds_per_task:.1f}")
    table.add_row("LLM share of wall time", f"{summary.llm_share:.1%}")
    console.print(table)
    for problem in summary.problems:
        console.print(f"[yellow]task file: {problem} (skipped)[/yellow]")
