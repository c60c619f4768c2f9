"""Task files: JSONL, one question per line (the CUAD `tasks_*.jsonl` layout).

    {"id", "doc_id", "category", "question", "answer", "answer_type", "evidence"}

Only `id` and `question` are required. `evidence` is deliberately never read: the agent and the
training loop must not see gold spans. A malformed line is reported with its line number and
skipped so one bad line does not sink a run (a file that is not UTF-8 is refused, naming the
first bad line); problems that concern a task's content (empty
question, unknown document) are reported per task by `preflight` and the task fails with that
reason while the run goes on.
"""

from __future__ import annotations

import json
import logging
import random
from dataclasses import dataclass, field
from pathlib import Path

from rag_agent.errors import DataError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Task:
    id: str
    question: str
    doc_id: str | None = None  # the task's scope; None = the whole workspace corpus
    category: str = ""
    answer: str | None = None  # gold; None when the task file has no answers
    answer_type: str | None = None  # 'date' | 'text' | 'yes_no'


@dataclass
class TaskFile:
    path: str
    tasks: list[Task] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # "line N: why", for lines that were skipped


def load_tasks(path: Path | str) -> TaskFile:
    """Read a JSONL task file; malformed lines are collected in `problems` and skipped."""
    path = Path(path)
    if not path.is_file():
        raise DataError(str(path), "an existing JSONL task file", "pass --tasks pointing to a file like tasks_dev.jsonl")
    result = TaskFile(path=str(path))
    seen: set[str] = set()
    with open(path, "rb") as fh:
        for line_no, raw in enumerate(fh, start=1):
            try:
                line = raw.decode("utf-8-sig" if line_no == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                # An encoding problem concerns the whole file, not one task: refuse it.
                raise DataError(f"{path}:{line_no}", f"UTF-8 text (byte {exc.start} of that line is not)", "re-save the task file as UTF-8") from None
            if not line.strip():
                continue
            task, problem = _parse_line(line)
            if task is not None and task.id in seen:
                task, problem = None, f"duplicate id {task.id!r}"
            if problem:
                result.problems.append(f"line {line_no}: {problem}")
                continue
            seen.add(task.id)
            result.tasks.append(task)
    for problem in result.problems:
        log.warning("%s: %s (skipped)", path, problem)
    return result


def _parse_line(line: str) -> tuple[Task | None, str | None]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        return None, f"invalid JSON ({exc.msg})"
    if not isinstance(record, dict):
        return None, "expected a JSON object"
    task_id = record.get("id")
    if not isinstance(task_id, (str, int)) or str(task_id).strip() == "":
        return None, "missing 'id'"
    question = record.get("question", "")
    if not isinstance(question, str):
        return None, "'question' is not a string"
    answer = record.get("answer")
    doc_id = record.get("doc_id")
    return (
        Task(
            id=str(task_id),
            question=question.strip(),
            doc_id=str(doc_id) if doc_id not in (None, "") else None,
            category=str(record.get("category") or ""),
            answer=None if answer is None else str(answer),
            answer_type=record.get("answer_type") or None,
        ),
        None,
    )


def select(tasks: list[Task], limit: int | None = None, shuffle: bool = False, seed: int = 0) -> list[Task]:
    """The first `limit` tasks, after a `seed`-controlled shuffle when `shuffle` is set."""
    chosen = list(tasks)
    if shuffle:
        random.Random(seed).shuffle(chosen)
    return chosen[:limit] if limit is not None else chosen


def preflight(task: Task, known_doc_ids: set[str] | None) -> str | None:
    """Why this task cannot run (it is then recorded as failed with that reason), or None."""
    if not task.question:
        return "empty question"
    if task.doc_id is not None and known_doc_ids is not None and task.doc_id not in known_doc_ids:
        return f"unknown doc_id {task.doc_id!r}: not in the workspace documents table; ingest its contract first"
    return None
