"""DuckDB access and per-package schema migrations.

One DuckDB file per workspace. Each package owns its tables: a module `<package>.schema` exposes
`OWNER` (a name) and `MIGRATIONS` (a list of SQL scripts, append-only). `migrate` applies the
scripts a database has not seen yet and records the version in `schema_versions`, so old
workspaces upgrade in place and a script never runs twice.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path

log = logging.getLogger(__name__)

# Order matters only for readability: no package's tables reference another's.
SCHEMA_MODULES = ("rag_agent.schema", "rag_agent.tracing_schema", "evals.schema", "feedback.schema", "training.schema", "training.loop_schema")


def connect(path: Path | str, read_only: bool = False):
    import duckdb

    con = duckdb.connect(str(path), read_only=read_only)
    if not read_only:
        migrate(con)
    return con


def migrate(con) -> None:
    con.execute("CREATE TABLE IF NOT EXISTS schema_versions (owner TEXT PRIMARY KEY, version INTEGER NOT NULL)")
    for module_name in SCHEMA_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                continue  # that package has no tables (yet)
            raise
        owner, scripts = module.OWNER, module.MIGRATIONS
        row = con.execute("SELECT version FROM schema_versions WHERE owner = ?", [owner]).fetchone()
        current = row[0] if row else 0
        for version, script in enumerate(scripts[current:], start=current + 1):
            log.debug("migrating %s to version %d", owner, version)
            con.execute("BEGIN")
            con.execute(script)
            con.execute(
                "INSERT INTO schema_versions VALUES (?, ?) ON CONFLICT (owner) DO UPDATE SET version = excluded.version",
                [owner, version],
            )
            con.execute("COMMIT")
