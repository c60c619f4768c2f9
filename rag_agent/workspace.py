"""A workspace: one directory holding everything a ragloop deployment owns.

    <root>/ragloop.toml     the typed config (rag_agent.config.RagloopConfig)
    <root>/ragloop.duckdb   documents, chunks, traces, feedback, eval results, model registry
    <root>/models/          embedder and reranker versions (sentence-transformers format)
    <root>/indexes/         vector indexes, one folder per (embedder version, backend)
    <root>/cache/           embeddings and other derived data that can be rebuilt
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rag_agent.config import RagloopConfig
from rag_agent.errors import ConfigError


@dataclass
class Workspace:
    root: Path
    config: RagloopConfig

    @property
    def config_path(self) -> Path:
        return self.root / "ragloop.toml"

    @property
    def db_path(self) -> Path:
        return self.root / "ragloop.duckdb"

    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    @property
    def indexes_dir(self) -> Path:
        return self.root / "indexes"

    @property
    def cache_dir(self) -> Path:
        return self.root / "cache"

    @classmethod
    def open(cls, root: Path | str = "workspace", overrides: list[str] | None = None, create: bool = True) -> Workspace:
        """Open (and by default create) a workspace; `overrides` are `section.key=value` strings.

        Overrides apply to this process only; `save_config` persists them.
        """
        root = Path(root)
        if root.exists() and not root.is_dir():
            raise ConfigError(str(root), "a directory for the workspace", "pass --workspace pointing to a directory")
        if not root.exists() and not create:
            raise ConfigError(str(root), "an existing workspace", "run `python -m rag_agent ingest --workspace ...` first")
        root.mkdir(parents=True, exist_ok=True)
        config_path = root / "ragloop.toml"
        if config_path.exists():
            config = RagloopConfig.load(config_path)
        else:
            config = RagloopConfig()
            config.save(config_path, pin=False)
        config.apply_overrides(overrides)
        ws = cls(root=root, config=config)
        for directory in (ws.models_dir, ws.indexes_dir, ws.cache_dir):
            directory.mkdir(exist_ok=True)
        return ws

    def save_config(self) -> None:
        self.config.save(self.config_path)

    def connect(self, read_only: bool = False):
        """A DuckDB connection with every package's migrations applied."""
        from rag_agent.db import connect

        return connect(self.db_path, read_only=read_only)

    @contextmanager
    def db(self, read_only: bool = False):
        con = self.connect(read_only=read_only)
        try:
            yield con
        finally:
            con.close()
