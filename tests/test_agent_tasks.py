"""Task files: malformed lines are reported by line number and skipped; evidence is never read."""

from __future__ import annotations

import json

import pytest

from rag_agent.errors import DataError
from rag_agent.tasks import Task, load_tasks, preflight, select


def test_malformed_lines_are_reported_with_line_numbers_and_the_rest_load(tmp_path):
    good = {"id": "a", "doc_id": "d", "category": "Governing Law", "question": " Which law? ", "answer": "Delaware",
            "answer_type": "text", "evidence": ["secret gold clause"]}
    lines = [json.dumps(good), "{not json", json.dumps([1, 2]), json.dumps({"question": "no id"}), "",
             json.dumps({"id": "a", "question": "dup"}), json.dumps({"id": 7, "question": "unlabelled?"})]
    path = tmp_path / "tasks.jsonl"
    path.write_text("\n".join(lines) + "\n")
    loaded = load_tasks(path)
    assert [t.id for t in loaded.tasks] == ["a", "7"]
    assert [p.split(":")[0] for p in loaded.problems] == ["line 2", "line 3", "line 4", "line 6"]
    assert "invalid JSON" in loaded.problems[0] and "duplicate id 'a'" in loaded.problems[3]
    first = loaded.tasks[0]
    assert first == Task(id="a", question="Which law?", doc_id="d", category="Governing Law", answer="Delaware", answer_type="text")
    assert "secret" not in repr(loaded.tasks)  # gold evidence never enters a Task
    assert loaded.tasks[1].answer is None and loaded.tasks[1].doc_id is None


def test_missing_task_file_is_one_clear_error(tmp_path):
    with pytest.raises(DataError, match="task file"):
        load_tasks(tmp_path / "nope.jsonl")


def test_preflight_reasons():
    assert preflight(Task(id="x", question=""), None) == "empty question"
    assert "unknown doc_id" in preflight(Task(id="x", question="q", doc_id="zz"), {"d"})
    assert preflight(Task(id="x", question="q", doc_id="d"), {"d"}) is None
    assert preflight(Task(id="x", question="q"), {"d"}) is None  # no scope: whole corpus


def test_select_shuffles_deterministically_before_the_limit():
    tasks = [Task(id=str(i), question="q") for i in range(20)]
    assert [t.id for t in select(tasks, limit=3)] == ["0", "1", "2"]
    shuffled = select(tasks, limit=5, shuffle=True, seed=1)
    assert shuffled == select(tasks, limit=5, shuffle=True, seed=1) and shuffled != tasks[:5]
