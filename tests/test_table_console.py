"""Tables printed by every CLI and bench script keep whole numbers when stdout is a pipe or file."""

from __future__ import annotations

import io

from rich.table import Table

from rag_agent.cli_common import table_console


def test_table_console_never_folds_numbers_off_a_terminal(monkeypatch):
    buffer = io.StringIO()  # not a tty, like `| cat` or CI's log
    monkeypatch.setattr("sys.stdout", buffer)
    table = Table()
    for i in range(14):
        table.add_column(f"a rather long column header {i}")
    table.add_row(*[f"+0.{i:05d}123" for i in range(14)])
    table_console().print(table)
    out = buffer.getvalue()
    assert "…" not in out
    assert all(f"+0.{i:05d}123" in out for i in range(14))
    assert all(len(line) < 1000 for line in out.splitlines())  # the table's own width, not the console's
