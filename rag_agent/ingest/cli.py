"""`python -m rag_agent ingest PATH...` (placeholder until ingestion lands)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    pass
