"""What one suite evaluation produced, as JSON and as DuckDB rows (tables in `evals.schema`)."""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rag_agent.db import transaction
from rag_agent.errors import DataError

PRIMARY_METRIC = "ndcg@10"


@dataclass
class SuiteResult:
    suite: str
    split: str
    metrics: dict[str, float]  # metric -> mean over queries
    per_query: dict[str, dict[str, float]]  # metric -> query id -> value
    n_queries: int = 0
    seconds: float = 0.0
    embedder_version: str = ""
    reranker_version: str | None = None
    chunking: dict[str, Any] | None = None  # ChunkingConfig used (in-domain suites only)
    suite_path: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    eval_id: str = ""

    @property
    def key(self) -> str:
        """How a gate pairs results: the same suite and split."""
        return f"{self.suite}/{self.split}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SuiteResult:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


def dump_results(results: list[SuiteResult]) -> str:
    """The `evals run --json` document: {"results": [SuiteResult...]}."""
    return json.dumps({"results": [r.to_dict() for r in results]}, indent=1, sort_keys=True)


def read_results_file(path: Path | str) -> list[SuiteResult]:
    """Results from a file written by `evals run --json` (or a single baseline result file)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(str(path), "a JSON file written by `evals run --json`", "re-run `evals run --json > FILE`") from exc
    items = data.get("results", [data]) if isinstance(data, dict) else data
    try:
        return [SuiteResult.from_dict(item) for item in items]
    except TypeError as exc:
        raise DataError(str(path), "suite results with suite, split, metrics and per_query", "re-run `evals run --json`") from exc


# ---- DuckDB ---------------------------------------------------------------------------------------
def save_result(con, result: SuiteResult) -> str:
    """Insert one result (run row + per-query scores) in one transaction; returns its eval_id."""
    result.eval_id = result.eval_id or uuid.uuid4().hex
    rows = [(result.eval_id, qid, metric, float(value)) for metric, scores in result.per_query.items() for qid, value in scores.items()]
    with transaction(con):
        con.execute(
            "INSERT INTO eval_runs (eval_id, suite, split, suite_path, embedder_version, reranker_version, chunking,"
            " n_queries, seconds, metrics, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                result.eval_id, result.suite, result.split, result.suite_path, result.embedder_version, result.reranker_version,
                json.dumps(result.chunking) if result.chunking is not None else None,
                result.n_queries, result.seconds, json.dumps(result.metrics), json.dumps(result.details),
            ],
        )
        if rows:
            con.executemany("INSERT INTO eval_scores VALUES (?, ?, ?, ?)", rows)
    return result.eval_id


def load_result(con, eval_id: str) -> SuiteResult:
    row = con.execute(
        "SELECT eval_id, suite, split, suite_path, embedder_version, reranker_version, chunking, n_queries, seconds, metrics, details"
        " FROM eval_runs WHERE eval_id = ?",
        [eval_id],
    ).fetchone()
    if row is None:
        raise DataError(f"eval_id {eval_id}", "an eval_id in this workspace's eval_runs table", "list them with `evals list`")
    per_query: dict[str, dict[str, float]] = {}
    for qid, metric, value in con.execute("SELECT query_id, metric, value FROM eval_scores WHERE eval_id = ?", [eval_id]).fetchall():
        per_query.setdefault(metric, {})[qid] = value
    return SuiteResult(
        suite=row[1], split=row[2], suite_path=row[3] or "", embedder_version=row[4], reranker_version=row[5],
        chunking=json.loads(row[6]) if row[6] else None, n_queries=row[7], seconds=row[8] or 0.0,
        metrics=json.loads(row[9]), details=json.loads(row[10]) if row[10] else {}, per_query=per_query, eval_id=row[0],
    )


def list_results(con, limit: int = 20) -> list[tuple]:
    return con.execute(
        "SELECT eval_id, suite, split, embedder_version, reranker_version, created_at, metrics FROM eval_runs"
        " ORDER BY created_at DESC LIMIT ?",
        [limit],
    ).fetchall()
