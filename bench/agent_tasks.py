"""Task choice, contract ingest and gold-evidence measurement shared by bench/agent.py and
bench/agent_grade.py.

Gold `evidence` is read here ONLY to measure the grade step on dev tasks (is the clause among the
chunks the agent was shown?); the agent itself never sees it (rag_agent.tasks.Task has no field
for it).
"""

from __future__ import annotations

import json
import random
import tempfile
from dataclasses import dataclass
from pathlib import Path

from rag_agent.dev_split import in_half
from rag_agent.tasks import Task, load_tasks


@dataclass
class Chosen:
    tasks: list[Task]
    evidence: dict[str, list[str]]  # task id -> gold evidence strings (measurement only)


def choose_tasks(tasks_file: Path, n: int, half: str | None, contracts: int | None, seed: int) -> Chosen:
    """`n` dev tasks of `half` (tuning / reporting / all), from at most `contracts` contracts.

    Contracts are drawn with `seed`, then tasks within them: few contracts keep the ingest cheap,
    and a seeded draw keeps the same tasks for every mode compared in one run.
    """
    raw = {json.loads(line)["id"]: json.loads(line) for line in tasks_file.read_text().splitlines() if line.strip()}
    pool = [t for t in load_tasks(tasks_file).tasks if t.doc_id and in_half(t.doc_id, half)]
    rng = random.Random(seed)
    doc_ids = sorted({t.doc_id for t in pool})
    rng.shuffle(doc_ids)
    keep = set(doc_ids[:contracts]) if contracts else set(doc_ids)
    pool = [t for t in pool if t.doc_id in keep]
    rng.shuffle(pool)
    chosen = pool[:n]
    return Chosen(chosen, {t.id: list(raw.get(t.id, {}).get("evidence") or []) for t in chosen})


def ensure_contracts(ws, cuad: Path, doc_ids: set[str]) -> None:
    """Ingest the contracts of `doc_ids` that the workspace does not have yet."""
    from rag_agent.ingest.pipeline import ingest

    with ws.db() as con:
        present = {r[0] for r in con.execute("SELECT doc_id FROM documents").fetchall()}
    missing = doc_ids - present
    if not missing:
        return
    manifest_lines = []
    for name in ("contracts_dev.jsonl", "contracts_train.jsonl"):
        for line in (cuad / name).read_text().splitlines():
            record = json.loads(line)
            if record["doc_id"] in missing:
                record["file"] = str(cuad / record["file"])  # absolute: the manifest lives in a temp dir
                manifest_lines.append(json.dumps(record))
    with tempfile.TemporaryDirectory() as tmp:
        manifest = Path(tmp) / "contracts_bench.jsonl"
        manifest.write_text("\n".join(manifest_lines) + "\n")
        ingest(ws, [manifest], progress=True)


def gold_chunks(ws, doc_id: str, evidence: list[str], chunk_ids: list[str], overlap_fraction: float = 0.5) -> set[str]:
    """The chunk ids among `chunk_ids` that overlap a located evidence span (evals' own rule)."""
    from evals.suites import locate, relevant_chunks
    from rag_agent.types import Chunk

    if not evidence:
        return set()
    with ws.db() as con:
        (text,) = con.execute("SELECT text FROM documents WHERE doc_id = ?", [doc_id]).fetchone()
    spans = [span for clause in evidence for span in locate(text, clause)[0]]
    return relevant_chunks([Chunk.from_id(chunk_id) for chunk_id in chunk_ids], spans, overlap_fraction)


def auc(scores_pos: list[float], scores_neg: list[float]) -> float | None:
    """P(a positive outscores a negative), ties counted half; None without both classes."""
    if not scores_pos or not scores_neg:
        return None
    wins = sum((p > n) + 0.5 * (p == n) for p in scores_pos for n in scores_neg)
    return wins / (len(scores_pos) * len(scores_neg))
