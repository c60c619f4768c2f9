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

        Overrides apply to this process only; `save_config` persists them. The config (file and
        overrides) is validated before anything is created, so a refused value leaves no trace.
        """
        root = Path(root)
        _check_directory(root)
        if not root.exists() and not create:
            raise ConfigError(str(root), "an existing workspace", "run `python -m rag_agent ingest --workspace ...` first")
        config_path = root / "ragloop.toml"
        config = RagloopConfig.load(config_path) if config_path.is_file() else RagloopConfig()
        config.apply_overrides(overrides)
        try:
            root.mkdir(parents=True, exist_ok=True)
            if not config_path.exists():
                RagloopConfig().save(config_path, pin=False)
            ws = cls(root=root, config=config)
            for directory in (ws.models_dir, ws.indexes_dir, ws.cache_dir):
                directory.mkdir(exist_ok=True)
        except OSError as exc:
            raise ConfigError(str(root), f"a writable workspace directory ({exc.strerror or exc})", "pass --workspace pointing to a directory you can write") from None
        return ws

    def save_config(self) -> None:
        self.config.save(self.config_path)

    def connect(self, read_only: bool = False):
        """A DuckDB connection with every package's migrations applied."""
        from rag_agent.db import connect

        return connect(self.db_path, read_only=read_only, lock_wait_s=self.config.workspace.lock_wait_s)

    @contextmanager
    def db(self, read_only: bool = False):
        """A connection for one unit of work, closed on exit so other processes can use the file:
        keep the block short (never around LLM calls or model training)."""
        con = self.connect(read_only=read_only)
        try:
            yield con
        finally:
            con.close()


def _check_directory(root: Path) -> None:
    """One line, not a NotADirectoryError traceback, when the path or a parent is a regular file."""
    for candidate in (root, *root.parents):
        if candidate.exists():
            if not candidate.is_dir():
                raise ConfigError(str(root), f"a directory for the workspace, but {candidate} is a regular file", "pass --workspace pointing to a directory")
            return
