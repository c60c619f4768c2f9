"""`training models | rollback | embedder | reranker` (console script `training`, or `python -m training`).

Every trained model lands in the registry as a 'candidate'; only promotion (by the gate in the
training loop, or by hand) makes it the champion that retrieval uses.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from rag_agent.cli_common import RagloopApp, VerboseOpt, SetOpt, WorkspaceOpt, open_workspace, setup_logging

app = RagloopApp(
    name="training",
    help="Re-tune the embedder and train a reranker from feedback; list, promote and roll back model versions.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
STATUS_STYLE = {"champion": "bold green", "candidate": "yellow", "rejected": "red", "retired": "dim"}


@app.command("models")
def models_command(
    workspace: Path = WorkspaceOpt,
    kind: Optional[str] = typer.Option(None, "--kind", help="embedder or reranker (default: both)."),
    history: bool = typer.Option(False, "--history", help="Also print every promotion/rollback."),
    overrides: Optional[List[str]] = SetOpt,
    verbose: bool = VerboseOpt,
) -> None:
    """Model lineage: each version under its parent, with status, source and key metrics."""
    from rich.console import Console
    from rich.table import Table
    from rich.tree import Tree

    from training import registry

    setup_logging(verbose)
    ws = open_workspace(workspace, overrides, create=False)
    console = Console()
    for k in [registry.check_kind(kind)] if kind else list(registry.KINDS):
        versions = registry.list_versions(ws, k)
        children: dict[str | None, list] = {}
        for version in versions:
            children.setdefault(version.parent_id, []).append(version)
        tree = Tree(f"[bold]{k}[/bold]")
        _grow(tree, children, None, ws)
        console.print(tree)
    if history:
        table = Table("#", "kind", "from", "to", "action", "reason", "at", title="promotions")
        for row in registry.promotions(ws, kind):
            table.add_row(*[str(x) if x is not None else "" for x in row])
        console.print(table)
    problems = registry.check_invariants(ws)
    for problem in problems:
        console.print(f"[red]registry problem:[/red] {problem}")


def _grow(node, children: dict, parent_id: str | None, ws) -> None:
    for version in children.get(parent_id, []):
        style = STATUS_STYLE.get(version.status, "")
        source = version.trained_on.get("source", "")
        n = version.trained_on.get("n")
        algo = version.config.get("algo", "")
        metrics = _metric_summary(version.metrics)
        label = f"[{style}]{version.version_id}[/{style}] {version.status}"
        details = " ".join(x for x in (algo, f"{source}" + (f" n={n}" if n is not None else ""), metrics) if x)
        child = node.add(f"{label}  [dim]{details}[/dim]" + (f"  ({version.reason})" if version.reason else ""))
        _grow(child, children, version.version_id, ws)


def _metric_summary(metrics: dict) -> str:
    keep = [k for k in metrics if isinstance(metrics[k], (int, float)) and not isinstance(metrics[k], bool)]
    preferred = [k for k in keep if "ndcg" in k or k.startswith("loss_")] or keep
    return " ".join(f"{k}={metrics[k]:.3f}" for k in preferred[:4])


@app.command("rollback")
def rollback_command(
    workspace: Path = WorkspaceOpt,
    kind: str = typer.Option("embedder", "--kind", help="embedder or reranker."),
    to: Optional[str] = typer.Option(None, "--to", help="Version id to restore (default: the previous champion)."),
    reindex: bool = typer.Option(False, "--reindex", help="Rebuild the restored embedder's index if it is missing."),
    overrides: Optional[List[str]] = SetOpt,
    verbose: bool = VerboseOpt,
) -> None:
    """Restore the previous champion (and, for the embedder, its index folder)."""
    from training import registry

    setup_logging(verbose)
    ws = open_workspace(workspace, overrides, create=False)
    restored = registry.rollback(ws, kind, to=to, reason="manual rollback")
    typer.echo(f"{kind} champion is now {restored.version_id} ({restored.path})")
    if kind == "embedder":
        from training.reindex import index_dir_for, shadow_reindex

        index = index_dir_for(ws, restored)
        if index.exists():
            typer.echo(f"index: {index}")
        elif reindex:
            typer.echo(f"index rebuilt: {shadow_reindex(ws, restored.path, show_progress=True)}")
        else:
            typer.echo(f"warning: no index at {index}; fix: rerun with --reindex (or re-ingest)", err=True)


@app.command("embedder")
def embedder_command(
    workspace: Path = WorkspaceOpt,
    source: str = typer.Option("feedback", "--source", help="feedback or supervised-reference (gold TRAIN evidence)."),
    reindex: bool = typer.Option(False, "--reindex", help="Also build the candidate's shadow index."),
    overrides: Optional[List[str]] = SetOpt,
    verbose: bool = VerboseOpt,
) -> None:
    """Fine-tune the champion embedder into a new candidate (merged with its parent)."""
    from training.candidates import train_embedder_candidate

    setup_logging(verbose)
    ws = open_workspace(workspace, overrides, create=False)
    version = train_embedder_candidate(ws, source=source)
    _report(version)
    if reindex:
        from training.reindex import shadow_reindex

        typer.echo(f"shadow index: {shadow_reindex(ws, version.path, show_progress=True)}")


@app.command("reranker")
def reranker_command(
    workspace: Path = WorkspaceOpt,
    algo: Optional[str] = typer.Option(
        None,
        "--objective",
        "--algo",
        help="lexical (BM25 weight fitted to the judge; the loop's choice), distill (judge soft scores into a cross-encoder), dpo (pairs), ppo (ranking rewards) or bce (legacy fresh head); default training.reranker.objective.",
    ),
    parent: Optional[str] = typer.Option(None, "--parent", help="Version to start from / the frozen reference (default: the reranker champion)."),
    source: str = typer.Option("feedback", "--source", help="feedback or supervised-reference (gold TRAIN evidence)."),
    overrides: Optional[List[str]] = SetOpt,
    verbose: bool = VerboseOpt,
) -> None:
    """Train a reranker candidate: a residual reranker (champion embedder score + a cross-encoder
    correction that starts at zero) from the champion reranker, or from --parent."""
    from training.candidates import train_reranker_candidate

    setup_logging(verbose)
    ws = open_workspace(workspace, overrides, create=False)
    _report(train_reranker_candidate(ws, algo, source=source, parent_id=parent))


def _report(version) -> None:
    metrics = {k: v for k, v in version.metrics.items() if not isinstance(v, list)}
    typer.echo(f"registered candidate {version.version_id} (parent {version.parent_id}) at {version.path}")
    typer.echo(f"trained on {version.trained_on.get('n')} items from {version.trained_on.get('source')}; {metrics}")
    typer.echo(f"next: gate it (training loop), or by hand: training promote {version.version_id} --reason '...'")


@app.command("promote")
def promote_command(
    version_id: str = typer.Argument(..., help="A registered version id (see `training models`)."),
    reason: str = typer.Option(..., "--reason", help="Why (recorded in the promotion history)."),
    workspace: Path = WorkspaceOpt,
    overrides: Optional[List[str]] = SetOpt,
    verbose: bool = VerboseOpt,
) -> None:
    """Make a version the champion by hand (the loop promotes only through the NDCG gate)."""
    from training import registry

    setup_logging(verbose)
    ws = open_workspace(workspace, overrides, create=False)
    version = registry.promote(ws, version_id, reason=f"manual: {reason}")
    typer.echo(f"{version.kind} champion is now {version.version_id}")


from training.export import register as _register_export  # noqa: E402

_register_export(app)


# ---- `training loop` (training/loop_cli.py) -------------------------------------------------------
from training import loop_cli  # noqa: E402

loop_cli.register(app)
