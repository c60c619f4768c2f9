"""`rag_agent.db.transaction`, the one BEGIN/COMMIT/ROLLBACK of the project, on real DuckDB files."""

from __future__ import annotations

import sys
import types

import duckdb
import pytest

from rag_agent import db


def _count(path, table="t") -> int:
    con = duckdb.connect(str(path))  # a fresh connection: what is on disk, not what one session sees
    try:
        return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    finally:
        con.close()


@pytest.fixture()
def db_file(tmp_path):
    path = tmp_path / "t.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, note TEXT)")
    con.close()
    return path


def test_an_exception_inside_leaves_no_rows_and_the_connection_usable(db_file):
    con = duckdb.connect(str(db_file))
    with pytest.raises(RuntimeError, match="mid-block"):
        with db.transaction(con):
            con.execute("INSERT INTO t VALUES (1, 'a'), (2, 'b')")
            raise RuntimeError("mid-block")
    assert con.execute("SELECT count(*) FROM t").fetchone()[0] == 0
    with db.transaction(con):  # no transaction left open: a new one starts and commits
        con.execute("INSERT INTO t VALUES (3, 'c')")
    con.close()
    assert _count(db_file) == 1


def test_a_database_error_inside_rolls_back_the_earlier_statements(db_file):
    con = duckdb.connect(str(db_file))
    with pytest.raises(duckdb.ConstraintException):
        with db.transaction(con):
            con.execute("INSERT INTO t VALUES (1, 'a')")
            con.execute("INSERT INTO t VALUES (1, 'duplicate key')")
    with db.transaction(con):  # the failed transaction is over: this one stands alone
        con.execute("INSERT INTO t VALUES (2, 'b')")
    con.close()
    assert _count(db_file) == 1


def test_keyboard_interrupt_rolls_back_too(db_file):
    con = duckdb.connect(str(db_file))
    with pytest.raises(KeyboardInterrupt):
        with db.transaction(con):
            con.execute("INSERT INTO t VALUES (1, 'a')")
            raise KeyboardInterrupt
    assert con.execute("SELECT count(*) FROM t").fetchone()[0] == 0
    con.close()
    assert _count(db_file) == 0


def test_a_block_that_ends_normally_or_returns_early_commits(db_file):
    con = duckdb.connect(str(db_file))

    def write_then_return():
        with db.transaction(con):
            con.execute("INSERT INTO t VALUES (1, 'a')")
            return "early"

    assert write_then_return() == "early"
    con.close()
    assert _count(db_file) == 1


def test_a_failing_migration_leaves_neither_its_tables_nor_its_version(tmp_path, monkeypatch):
    module = types.ModuleType("broken_schema")
    module.OWNER = "test.broken"
    module.MIGRATIONS = ["CREATE TABLE first_half (x INTEGER); CREATE TABLE oops (x NO_SUCH_TYPE);"]
    monkeypatch.setitem(sys.modules, "broken_schema", module)
    monkeypatch.setattr(db, "SCHEMA_MODULES", ("broken_schema",))
    path = tmp_path / "ws.duckdb"
    con = duckdb.connect(str(path))
    with pytest.raises(duckdb.Error):
        db.migrate(con)
    # The same connection goes on (no aborted transaction left open) and sees nothing of the script.
    tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    versions = con.execute("SELECT * FROM schema_versions").fetchall()
    con.close()
    assert "first_half" not in tables and versions == []
