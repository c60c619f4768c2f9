"""`training export --champion DIR`: the promoted models as self-contained folders for any app.

    DIR/embedder/   the champion embedder (sentence-transformers format: SentenceTransformer(DIR/embedder))
    DIR/reranker/   the champion reranker (CrossEncoder format), when one was promoted
    DIR/*/README.md a model card: version, parent, training data counts, gate figures, promotions
    DIR/export.json the same facts, machine-readable

Files are copied (symlinks resolved) so the folder works without the workspace. Written to a
temporary folder beside DIR and renamed at the end, so an interrupted export leaves no half DIR.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from rag_agent.errors import DataError


def model_card(version, history: list[tuple]) -> str:
    lines = [
        f"# ragloop {version.kind} {version.version_id}", "",
        f"- parent: {version.parent_id or 'none (base model)'}",
        f"- status: {version.status} ({version.reason or ''})",
        f"- created: {version.created_at}",
        f"- training data: {json.dumps(version.trained_on, sort_keys=True)}",
        f"- gate / training figures: {json.dumps(version.metrics, sort_keys=True)}",
        f"- training config: {json.dumps(version.config, sort_keys=True)}", "",
        "## Promotion history", "",
    ]
    lines += [f"- #{no} {action}: {from_id} -> {to_id} ({reason}, {at})" for no, _kind, from_id, to_id, action, reason, at in history]
    loader = "SentenceTransformer" if version.kind == "embedder" else "CrossEncoder"
    lines += ["", "## Use", "", "```python", f"from sentence_transformers import {loader}", f'model = {loader}("path/to/this/folder")', "```", ""]
    return "\n".join(lines)


def export_champions(ws, out: Path | str) -> dict:
    """Copy the champions to `out` with model cards; returns what was written."""
    from training import registry

    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise DataError(str(out), "a new or empty folder", "pick another --champion folder or empty it")
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    summary: dict = {}
    for kind in registry.KINDS:
        version = registry.champion(ws, kind)
        if version.is_none:
            summary[kind] = None  # no reranker promoted yet: retrieval order is served
            continue
        target = tmp / kind
        shutil.copytree(version.path, target, symlinks=False, ignore=shutil.ignore_patterns("*.partial", "__pycache__"))
        (target / "README.md").write_text(model_card(version, registry.promotions(ws, kind)), encoding="utf-8")
        summary[kind] = {**version.to_dict(), "folder": kind}
    (tmp / "export.json").write_text(json.dumps(summary, indent=2, sort_keys=True, default=str), encoding="utf-8")
    if out.exists():
        out.rmdir()
    tmp.rename(out)
    return summary


def register(app) -> None:
    import typer

    from rag_agent.cli_common import VerboseOpt, WorkspaceOpt, open_workspace, setup_logging

    @app.command("export")
    def export_command(champion: Path = typer.Option(..., "--champion", help="Output folder for the champion models."),
                       workspace: Path = WorkspaceOpt, verbose: bool = VerboseOpt) -> None:
        """Write the champion embedder (and reranker) as self-contained folders with model cards."""
        setup_logging(verbose)
        done = export_champions(open_workspace(workspace, None, create=False), champion)
        names = ", ".join(f"{kind} {v['version_id']}" for kind, v in done.items() if v) or "nothing"
        typer.echo(f"exported {names} to {champion}")
