"""Which tasks a loop cycle gets: fresh contracts, reproducible, preferred answer types first."""

from __future__ import annotations

from pathlib import Path

from rag_agent.tasks import Task
from training.loop_tasks import TaskPool, contracts_needed, cycle_selection


def _pool() -> TaskPool:
    tasks = {}
    for doc in ("p", "a", "b", "c", "d"):
        tasks[doc] = [Task(f"{doc}-yn{i}", "q", doc, answer_type="yes_no") for i in range(8)]
        tasks[doc] += [Task(f"{doc}-date", "q", doc, answer_type="date"), Task(f"{doc}-text", "q", doc, answer_type="text")]
    return TaskPool(Path("contracts_train.jsonl"), [{"doc_id": d} for d in ("p", "a", "b", "c", "d")], tasks)


def test_preferred_answer_types_come_first_and_cycles_get_fresh_contracts():
    pool = _pool()
    contracts, tasks = cycle_selection(pool, 1, 1, 2, 6, seed=0, prefer=("date", "text"))
    assert [c["doc_id"] for c in contracts] == ["a", "b"]  # contract "p" is held back for the probe
    assert {t.answer_type for t in tasks[:4]} == {"date", "text"}  # all four answerable tasks first
    assert {t.doc_id for t in tasks} == {"a", "b"} and len(tasks) == 6
    again = cycle_selection(pool, 1, 1, 2, 6, seed=0, prefer=("date", "text"))[1]
    assert [t.id for t in again] == [t.id for t in tasks]  # a resumed loop picks the same tasks
    _, plain = cycle_selection(pool, 1, 1, 2, 6, seed=0)
    assert sum(t.answer_type != "yes_no" for t in plain) < 4  # without a preference: the seeded mix
    contracts2, _ = cycle_selection(pool, 2, 1, 2, 6, seed=0, prefer=("date",))
    assert [c["doc_id"] for c in contracts2] == ["c", "d"]


def test_more_tasks_per_contract_before_more_contracts_and_cycles_of_any_size_stay_fresh():
    assert contracts_needed(8, 10, 2) == 2  # at least contracts_per_cycle
    assert contracts_needed(20, 10, 2) == 2  # 10 each
    assert contracts_needed(21, 10, 2) == 3
    pool = _pool()
    first, tasks = cycle_selection(pool, 1, 1, 1, 9, seed=0, used_before=0)
    assert [c["doc_id"] for c in first] == ["a"] and len(tasks) == 9 and {t.doc_id for t in tasks} == {"a"}
    second, _ = cycle_selection(pool, 2, 1, 3, 12, seed=0, used_before=1)
    assert [c["doc_id"] for c in second] == ["b", "c", "d"]  # after the one contract cycle 1 took
