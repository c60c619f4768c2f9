"""DuckDB access and per-package schema migrations.

One DuckDB file per workspace. Each package owns its tables: a module `<package>.schema` exposes
`OWNER` (a name) and `MIGRATIONS` (a list of SQL scripts, append-only). `migrate` applies the
scripts a database has not seen yet and records the version in `schema_versions`, so old
workspaces upgrade in place and a script never runs twice.

A workspace in use: DuckDB lets one process hold the file for writing and refuses every other
process, even a read-only one, while it does. So writers hold the file only for the length of a
transaction (open, write, close) and every open retries a lock conflict for up to
`workspace.lock_wait_s`, saying once which process holds the file. A conflict that outlasts the
wait is one `WorkspaceBusyError` line naming the holder, never a traceback.
"""

from __future__ import annotations

import importlib
import logging
import re
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from rag_agent.errors import WorkspaceBusyError

log = logging.getLogger(__name__)

# Order matters only for readability: no package's tables reference another's.
SCHEMA_MODULES = ("rag_agent.schema", "rag_agent.tracing_schema", "evals.schema", "feedback.schema", "training.schema", "training.loop_schema")

# Used when a caller has no config at hand (the config default is the same).
DEFAULT_LOCK_WAIT_S = 60.0
# A transaction of another process usually ends within milliseconds; polling faster only burns CPU.
_POLL_S = 0.1
_PID = re.compile(r"\(PID (\d+)\)")

_migrated: set[str] = set()  # database files this process has already migrated
_migrated_lock = threading.Lock()


def connect(path: Path | str, read_only: bool = False, lock_wait_s: float = DEFAULT_LOCK_WAIT_S):
    """A connection to `path`, migrated (once per process) unless read-only; waits out lock conflicts."""
    path = Path(path)
    if not path.exists():
        _migrated.discard(str(path.resolve()))  # a new (or deleted and recreated) file
    if read_only and (not path.exists() or str(path.resolve()) not in _migrated):
        # A read-only connection cannot create or upgrade the file: migrate it once, briefly.
        connect(path, read_only=False, lock_wait_s=lock_wait_s).close()
    con = _open(path, read_only, lock_wait_s)
    key = str(path.resolve())
    if not read_only and key not in _migrated:
        with _migrated_lock:
            migrate(con)
            _migrated.add(key)
    return con


def open_file(path: Path | str, read_only: bool = False, lock_wait_s: float = DEFAULT_LOCK_WAIT_S):
    """A plain connection (no migrations) that waits out lock conflicts like `connect`."""
    return _open(Path(path), read_only, lock_wait_s)


def _open(path: Path, read_only: bool, lock_wait_s: float):
    import duckdb

    deadline = time.monotonic() + max(0.0, lock_wait_s)
    announced = False
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.ConnectionException as exc:
            if read_only and "different configuration" in str(exc):
                # This process already holds the file for writing; share that instance instead.
                return duckdb.connect(str(path))
            raise
        except duckdb.IOException as exc:
            holder = lock_holder(str(exc))
            if holder is None:
                raise
            if time.monotonic() >= deadline:
                raise WorkspaceBusyError(
                    f"{path} is held by {holder}",
                    f"the workspace free within workspace.lock_wait_s={lock_wait_s:g}s",
                    "wait for that command to finish (or stop it), or raise --set workspace.lock_wait_s",
                ) from None
            if not announced:
                log.warning("waiting for %s holding %s (up to %gs)", holder, path, lock_wait_s)
                announced = True
            time.sleep(_POLL_S)


def lock_holder(message: str) -> str | None:
    """'PID n (command line)' from DuckDB's "Conflicting lock ... (PID n)" message, else None."""
    if "lock" not in message.lower():
        return None
    match = _PID.search(message)
    if not match:
        return "another process"
    pid = match.group(1)
    return f"PID {pid} ({_command_of(pid)})"


def _command_of(pid: str) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "command unknown"
    words = [w for w in raw.decode("utf-8", "replace").split("\0") if w]
    text = " ".join(" ".join(words).split())  # one line even for `python -c "<script>"`
    return text if len(text) <= 120 else text[:117] + "..."


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
            with transaction(con):
                con.execute(script)
                con.execute(
                    "INSERT INTO schema_versions VALUES (?, ?) ON CONFLICT (owner) DO UPDATE SET version = excluded.version",
                    [owner, version],
                )


@contextmanager
def transaction(con):
    """One all-or-nothing block: BEGIN, COMMIT when the block ends normally; on any exception
    (KeyboardInterrupt too) ROLLBACK and re-raise it, so no row of a failed block stays behind.
    A block that returns early commits what it did (nothing, when it only read)."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
        con.execute("COMMIT")
    except BaseException:
        _rollback(con)
        raise


def _rollback(con) -> None:
    import duckdb

    try:
        con.execute("ROLLBACK")
    except duckdb.Error as exc:
        # A COMMIT that failed has already ended the transaction; the caller's error is the one to see.
        log.debug("rollback after a failed transaction: %s", exc)
