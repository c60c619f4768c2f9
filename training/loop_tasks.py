"""Which CUAD train tasks each loop cycle gets, and which are held back for the agent probe.

The train contracts are shuffled once with the loop seed. The first `probe_contracts` are reserved
for the agent-success probe (never trained on); cycle n takes the next contracts after those
cycles 1..n-1 used, and its tasks from them. Many questions share a contract
(`contracts_needed`): up to `training.loop.tasks_per_contract` tasks per contract before another is
added (at least `contracts_per_cycle`), because the judge reuses a chunk's KV prefix across the
questions about it and the contract is ingested once. So every cycle's
tasks are fresh, the choice is reproducible, and a resumed loop picks the same tasks. Within a
cycle, questions of the `prefer` answer types come first (`training.loop.prefer_answer_types`): a date
or text question asks about a clause that is in the contract, while 78% of CUAD's yes/no questions
are answered "No" — tasks where feedback can name no relevant chunk at all.
Only questions and answers are used (the checker needs the answer); evidence is never read here.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

from rag_agent.errors import DataError
from rag_agent.tasks import Task, load_tasks


@dataclass
class TaskPool:
    manifest: Path  # contracts_<split>.jsonl
    contracts: list[dict]  # manifest lines in loop order
    tasks_by_doc: dict[str, list[Task]]


def load_pool(data_dir: Path | str, split: str, seed: int) -> TaskPool:
    cuad = Path(data_dir) / "cuad"
    manifest, tasks_file = cuad / f"contracts_{split}.jsonl", cuad / f"tasks_{split}.jsonl"
    for path in (manifest, tasks_file):
        if not path.is_file():
            raise DataError(str(path), "the CUAD manifest and task file of the loop split", "set data_dir (or RAGLOOP_DATA) to the folder holding cuad/")
    contracts = [json.loads(line) for line in manifest.read_text().splitlines() if line.strip()]
    random.Random(seed).shuffle(contracts)
    tasks_by_doc: dict[str, list[Task]] = {}
    for task in load_tasks(tasks_file).tasks:
        tasks_by_doc.setdefault(task.doc_id or "", []).append(task)
    return TaskPool(manifest, contracts, tasks_by_doc)


def probe_selection(pool: TaskPool, probe_contracts: int, n_tasks: int, seed: int) -> tuple[list[dict], list[Task]]:
    contracts = pool.contracts[:probe_contracts]
    return contracts, _sample(pool, contracts, n_tasks, seed)


def contracts_needed(n_tasks: int, tasks_per_contract: int, min_contracts: int) -> int:
    """More tasks per contract before more contracts (the cap keeps some variety of contracts)."""
    return max(min_contracts, -(-n_tasks // max(tasks_per_contract, 1)))


def cycle_selection(
    pool: TaskPool, cycle: int, probe_contracts: int, contracts_per_cycle: int, n_tasks: int, seed: int, prefer: tuple[str, ...] = (),
    used_before: int | None = None,
):
    """`used_before`: contracts earlier cycles took (default: `contracts_per_cycle` each)."""
    used = (cycle - 1) * contracts_per_cycle if used_before is None else used_before
    start = probe_contracts + used
    contracts = pool.contracts[start : start + contracts_per_cycle]
    if not contracts:
        raise DataError(f"cycle {cycle}", f"unused train contracts (only {len(pool.contracts)} exist)", "lower training.loop.contracts_per_cycle or the number of cycles")
    return contracts, _sample(pool, contracts, n_tasks, seed + cycle, prefer)


def _sample(pool: TaskPool, contracts: list[dict], n_tasks: int, seed: int, prefer: tuple[str, ...] = ()) -> list[Task]:
    """Round-robin over the contracts so every contract contributes, each in a seeded order
    (tasks of a `prefer` answer type first)."""
    rng = random.Random(seed)
    queues = []
    for contract in contracts:
        tasks = list(pool.tasks_by_doc.get(contract["doc_id"], []))
        rng.shuffle(tasks)
        tasks.sort(key=lambda task: task.answer_type in prefer)  # stable; pop() takes from the end
        queues.append(tasks)
    chosen: list[Task] = []
    while len(chosen) < n_tasks and any(queues):
        for queue in queues:
            if queue and len(chosen) < n_tasks:
                chosen.append(queue.pop())
    return chosen


def write_manifest(contracts: list[dict], source_manifest: Path, out: Path) -> Path:
    """A manifest of just these contracts, with absolute file paths, for `ingest`."""
    out.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({**c, "file": str((source_manifest.parent / c["file"]).resolve())}) for c in contracts]
    out.write_text("\n".join(lines) + "\n")
    return out
