"""The one declaration of the trace tables (rag_agent/tracing_schema.py) against what depends on it:
the DDL earlier versions ran (a workspace they wrote keeps working), docs/traces.md, and the
writer/reader pair (TraceStore writes, feedback.traces reads, every declared column round-trips)."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from feedback.traces import load_task
from rag_agent import db, tracing_schema
from rag_agent.tracing import TraceStore
from rag_agent.tracing_schema import RECORDED, TABLES, select

REPO = Path(__file__).resolve().parents[1]
# The trace migrations exactly as commit 613b3a9 wrote them (hand-written SQL, before the declaration).
OLD_SQL = (REPO / "tests" / "data" / "trace_migrations_613b3a9.sql").read_text()
OLD_MIGRATIONS = [part for part in re.split(r"^-- migration \d+\n", OLD_SQL, flags=re.M)[1:]]


def schema_of(con) -> dict[str, list]:
    """What a database holds of the trace tables: DuckDB's own CREATE text, columns, constraints."""
    names = list(TABLES)
    return {
        "tables": con.execute("SELECT table_name, sql FROM duckdb_tables() WHERE table_name IN (SELECT unnest(?)) ORDER BY 1",
                              [names]).fetchall(),
        "columns": con.execute(
            "SELECT table_name, column_index, column_name, data_type, is_nullable, column_default FROM duckdb_columns() "
            "WHERE table_name IN (SELECT unnest(?)) ORDER BY 1, 2", [names]).fetchall(),
        "constraints": con.execute(
            "SELECT table_name, constraint_type, constraint_column_names FROM duckdb_constraints() "
            "WHERE table_name IN (SELECT unnest(?)) ORDER BY ALL", [names]).fetchall(),
    }


def test_the_fixture_holds_both_old_migrations():
    assert len(OLD_MIGRATIONS) == len(tracing_schema.MIGRATIONS) == 2
    assert "CREATE TABLE grade_scores" in OLD_MIGRATIONS[1] and "grade_scores" not in OLD_MIGRATIONS[0]


@pytest.mark.parametrize("version", [1, 2])
def test_generated_ddl_makes_the_tables_the_hand_written_ddl_made(version):
    old, new = duckdb.connect(), duckdb.connect()
    for script in OLD_MIGRATIONS[:version]:
        old.execute(script)
    for script in tracing_schema.MIGRATIONS[:version]:
        new.execute(script)
    assert schema_of(new) == schema_of(old)
    assert len(schema_of(new)["tables"]) == sum(t.version <= version for t in TABLES.values())


def _old_workspace(path: Path, versions: int, monkeypatch) -> None:
    """A workspace file as the old code left it: its trace migrations applied up to `versions`, the
    other packages' tables as today, and one task written with the old positional inserts."""
    monkeypatch.setattr(tracing_schema, "MIGRATIONS", OLD_MIGRATIONS[:versions])
    con = duckdb.connect(str(path))
    db.migrate(con)
    key = ["old-run", "t-old"]
    con.execute("INSERT INTO runs (run_id) VALUES (?)", key[:1])
    con.execute("INSERT INTO tasks (run_id, task_id, doc_id, question, answer_type, status, tokens_in, tokens_out) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", key + ["c1", "Which law governs?", "text", "done", 800, 40])
    for rank, chunk in enumerate(["c1:0-10", "c1:10-20"], start=1):
        con.execute("INSERT INTO retrievals VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    key + [0, "Which law governs?", "retrieve", rank, chunk, "c1", 0.9, True, "emb@old", None])
    con.execute("INSERT INTO grades VALUES (?, ?, ?, ?, ?, ?)", key + [0, "c1:10-20", 1, True])
    con.execute("INSERT INTO citations VALUES (?, ?, ?, ?, ?)", key + ["c1:10-20", 1, 2])
    con.execute("INSERT INTO ignored VALUES (?, ?, ?, ?)", key + ["c1:0-10", 1])
    con.execute("INSERT INTO answers VALUES (?, ?, ?, ?, ?, ?)", key + [0, "Delaware", True, True])
    con.execute("INSERT INTO outcomes VALUES (?, ?, ?, ?, ?, ?, ?)", key + [True, "text", "Delaware", "Delaware", ""])
    con.close()
    monkeypatch.undo()
    db._migrated.discard(str(path.resolve()))  # as a new process would see it


@pytest.mark.parametrize("versions", [1, 2], ids=["before-grade_scores", "today"])
def test_a_workspace_written_by_the_old_code_opens_reads_and_takes_new_traces(tmp_path, monkeypatch, versions):
    path = tmp_path / "old.duckdb"
    _old_workspace(path, versions, monkeypatch)
    store = TraceStore.open(path)  # migrates what is missing (v2 from the generated DDL)
    trace = store.begin_task("new-run", "t-new", doc_id="c1", question="Q?", answer_type="yes_no")
    store.record(trace, "grade_scores", attempt=0, mode="score", score=0.8, threshold=0.5, passed=True)
    store.record(trace, "retrievals", attempt=0, query="Q?", stage="retrieve", rank=1, chunk_id="c1:0-10", doc_id="c1",
                 score=0.5, shown=True, embedder_version="e", reranker_version=None)
    assert store.commit_task(trace, "done")
    store.close()
    con = db.connect(path)
    try:
        assert con.execute("SELECT owner, version FROM schema_versions WHERE owner = ?", [tracing_schema.OWNER]).fetchall() == [
            (tracing_schema.OWNER, 2)]
        fresh = duckdb.connect()
        for script in tracing_schema.MIGRATIONS:
            fresh.execute(script)
        assert schema_of(con) == schema_of(fresh)
        old = load_task(con, "old-run", "t-old")
        assert (old.question, old.tokens, old.cited, old.ignored, old.grades) == (
            "Which law governs?", 840, {"c1:10-20": 2}, {"c1:0-10": 1}, {0: {"c1:10-20": True}})
        assert (old.final_answer, old.success, [r.model_version for r in old.retrievals]) == ("Delaware", True, ["emb@old"] * 2)
        assert load_task(con, "new-run", "t-new").retrievals[0].chunk_id == "c1:0-10"
        assert con.execute("SELECT score, passed FROM grade_scores WHERE task_id = 't-new'").fetchall() == [(0.8, True)]
    finally:
        con.close()


# ---- docs/traces.md ---------------------------------------------------------------------------------
def documented_columns() -> dict[str, set[str]]:
    """table -> the column names in the first cell of each row of its `### \\`table\\`` section."""
    out: dict[str, set[str]] = {}
    table = None
    for line in (REPO / "docs" / "traces.md").read_text().splitlines():
        heading = re.match(r"^###\s+`(\w+)`", line)
        if heading:
            table = heading.group(1)
            out[table] = set()
        elif line.startswith("#"):
            table = None
        elif table and line.startswith("| `"):
            out[table] |= set(re.findall(r"`(\w+)`", line.split("|")[1]))
    return out


def test_docs_traces_md_names_every_declared_column_and_no_other():
    doc = documented_columns()
    assert set(doc) == set(TABLES), "docs/traces.md has a section per trace table, no more"
    for name, table in TABLES.items():
        implied = set(table.key) if table.key == ("run_id", "task_id") else set()  # "Every table but `runs` has ..."
        assert doc[name] == set(table.names) - implied, name


def test_docs_traces_md_says_external_traces_land_in_the_same_tables():
    text = (REPO / "docs" / "traces.md").read_text()
    assert "Every table but `runs` has `run_id TEXT` and `task_id TEXT`" in text
    assert "rag_agent/tracer.py" in text and "`feedback import`" in text and "same tables" in text


# ---- writer and reader -------------------------------------------------------------------------------
def test_every_declared_column_the_writer_takes_comes_back_as_written(tmp_path):
    values = {"INTEGER": 7, "DOUBLE": 0.25, "BOOLEAN": True, "TEXT": "x"}
    store = TraceStore.open(tmp_path / "ws.duckdb")
    trace = store.begin_task("r", "t", doc_id="d", question="q?", answer_type="text")
    written = {}
    for name in RECORDED:
        row = {c.name: values[c.sql_type] for c in TABLES[name].columns if c.name in TABLES[name].values}
        store.record(trace, name, **row)
        written[name] = row
    assert store.commit_task(trace, "done", error=None, seconds=1.5, llm_seconds=0.5, tokens_in=3, tokens_out=4)
    for name, row in written.items():
        got = store.query(f"SELECT {select(name, *row)} FROM {name} WHERE run_id = 'r' AND task_id = 't'")
        assert got == [tuple(row.values())], name
    assert store.query(f"SELECT {select('tasks', *TABLES['tasks'].values)} FROM tasks") == [
        ("d", "q?", "text", "done", None, 1.5, 0.5, 3, 4)]
    store.close()


def test_unknown_tables_and_columns_fail_where_they_are_named(tmp_path):
    store = TraceStore.open(tmp_path / "ws.duckdb")
    trace = store.begin_task("r", "t", question="q?")
    with pytest.raises(ValueError, match="unknown trace table 'tasks'"):
        store.record(trace, "tasks", status="done")
    with pytest.raises(ValueError, match="unknown column"):
        store.record(trace, "grades", attempt=0, chunk_id="c", rank=1, relevant=True, score=0.3)
    with pytest.raises(KeyError, match="no column"):
        select("grades", "attempt", "score")
    store.close()
