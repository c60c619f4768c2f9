"""What every ragloop CLI shares: workspace/config options, logging, one-line errors."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Callable, Optional

import typer

from rag_agent.errors import RagloopError

WorkspaceOpt = typer.Option(Path("workspace"), "--workspace", "-w", help="Workspace directory (created if missing).")
SetOpt = typer.Option(None, "--set", help="Override a config value for this command: section.key=value (repeatable).")


def offline_env() -> None:
    """No hub downloads, no chroma telemetry, and deliberate thread counts on small machines."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def setup_logging(verbose: bool = False) -> None:
    from rich.logging import RichHandler

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(show_path=False, rich_tracebacks=False)],
    )
    for noisy in ("httpx", "sentence_transformers", "chromadb", "urllib3", "transformers", "faiss.loader"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def run_app(app: typer.Typer | Callable, argv: Optional[list[str]] = None) -> None:
    """Run a typer app; a RagloopError becomes one line on stderr and exit code 2."""
    offline_env()
    try:
        app(args=argv, standalone_mode=True) if isinstance(app, typer.Typer) else app()
    except RagloopError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)


def open_workspace(workspace: Path, overrides: list[str] | None, create: bool = True):
    from rag_agent.workspace import Workspace

    return Workspace.open(workspace, overrides=overrides, create=create)
