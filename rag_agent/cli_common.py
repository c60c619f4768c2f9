"""What every ragloop CLI shares: workspace/config options, logging, one-line errors."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Optional

import typer

from rag_agent.errors import RagloopError

WorkspaceOpt = typer.Option(Path("workspace"), "--workspace", "-w", help="Workspace directory (created if missing).")
VerboseOpt = typer.Option(False, "--verbose", "-v", help="Debug logging.")
SetOpt = typer.Option(None, "--set", help="Override a config value for this command: section.key=value (repeatable).")


def offline_env() -> None:
    """No hub downloads, no chroma telemetry, and deliberate thread counts on small machines."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    # Library chatter ("Loading weights" bars on every model load, advisory warnings): read by
    # transformers and huggingface_hub when first imported, which every CLI does lazily, after this.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    # Plain tqdm bars libraries draw outside their own switches (sentence-transformers' "Computing
    # widget examples" when a trained model's card is written); ragloop's own bars are rich.
    os.environ.setdefault("TQDM_DISABLE", "1")


def table_console(stderr: bool = False):
    """A console that never cuts a number: when the output is not a terminal (`| cat`, a file, CI)
    rich's 80-column default would fold or truncate table cells, so the width is whatever the table
    needs (no ragloop table expands to the console's width)."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, width=None if stream.isatty() else 100_000)


# Library loggers under ragloop's INFO logging. transformers at ERROR, as TRANSFORMERS_VERBOSITY=error
# asks (a later WARNING here had undone it): its warnings are load reports ("LOAD REPORT ...
# classifier.weight MISSING") for the reranker head ragloop creates, and zeroes, on purpose.
NOISY_LOGGERS = {"httpx": logging.WARNING, "urllib3": logging.WARNING, "chromadb": logging.WARNING,
                 "faiss": logging.WARNING, "huggingface_hub": logging.WARNING,
                 "sentence_transformers": logging.WARNING, "transformers": logging.ERROR}


def quiet_library_loggers() -> None:
    """Every CLI calls this after configuring logging (the levels of NOISY_LOGGERS)."""
    for name, level in NOISY_LOGGERS.items():
        logging.getLogger(name).setLevel(level)


def setup_logging(verbose: bool = False) -> None:
    from rich.logging import RichHandler

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(show_path=False, rich_tracebacks=False)],
    )
    quiet_library_loggers()


class RagloopApp(typer.Typer):
    """A typer app that sets the offline environment and turns a RagloopError into one line on
    stderr and exit code 2, however it is called (console script, `python -m`, or tests)."""

    def __call__(self, *args, **kwargs):
        return _guarded(lambda: super(RagloopApp, self).__call__(*args, **kwargs))


def run_app(app: typer.Typer, argv: Optional[list[str]] = None) -> None:
    """Run any typer app with ragloop's environment and one-line errors."""
    _guarded(lambda: typer.Typer.__call__(app, args=argv))


def _guarded(call):
    offline_env()
    try:
        return call()
    except RagloopError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except Exception as exc:
        # Safety net for a DuckDB lock conflict raised outside rag_agent.db's waiting open.
        from rag_agent.db import lock_holder

        holder = lock_holder(str(exc)) if "Conflicting lock" in str(exc) else None
        if holder is None:
            raise
        typer.echo(f"error: the workspace database is held by {holder}; fix: wait for that command to finish (or stop it), then retry", err=True)
        sys.exit(2)


def open_workspace(workspace: Path, overrides: list[str] | None, create: bool = True):
    from rag_agent.workspace import Workspace

    return Workspace.open(workspace, overrides=overrides, create=create)
