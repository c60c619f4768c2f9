"""Per-node wall time of the agent on CUAD dev tasks, and the share of time outside LLM calls.

    .venv/bin/python bench/agent.py --tasks 3 --backend tiny

Ingests the chosen tasks' contracts into the bench workspace when they are missing, runs the tasks
through the real agent (real embedder, faiss, GGUF model), then reads the per-node timings back
from the trace tables. Target: time outside LLM calls <= 10 % of task wall time.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rag_agent.cli_common import offline_env  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=3, help="number of dev tasks")
    parser.add_argument("--backend", default="tiny", choices=["llama-cpp", "tiny", "smol"])
    parser.add_argument("--workspace", type=Path, default=Path(tempfile.gettempdir()) / "ragloop-bench-agent")
    parser.add_argument("--tasks-file", type=Path, default=None, help="default: <data_dir>/cuad/tasks_dev.jsonl")
    parser.add_argument("--shuffle", action="store_true", help="random tasks (more contracts to ingest)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="section.key=value")
    args = parser.parse_args()
    offline_env()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")

    from rich.console import Console
    from rich.table import Table

    from rag_agent.graph.runner import run_tasks
    from rag_agent.tasks import load_tasks, select
    from rag_agent.workspace import Workspace

    ws = Workspace.open(args.workspace, overrides=[f"llm.backend={args.backend}", *args.overrides])
    cuad = Path(ws.config.data_dir) / "cuad"
    tasks = select(load_tasks(args.tasks_file or cuad / "tasks_dev.jsonl").tasks, args.tasks, args.shuffle, args.seed)
    ensure_contracts(ws, cuad, {t.doc_id for t in tasks if t.doc_id})

    run_id = f"bench-{time.strftime('%Y%m%d-%H%M%S')}"
    started = time.perf_counter()
    summary = run_tasks(ws, tasks, run_id, seed=args.seed)
    wall = time.perf_counter() - started

    with ws.db() as con:
        rows = con.execute(
            """SELECT node, count(*), sum(seconds), avg(seconds), sum(llm_seconds), sum(tokens_in), sum(tokens_out)
               FROM steps WHERE run_id = ? GROUP BY 1 ORDER BY 3 DESC""", [run_id]).fetchall()
        task_s, step_s, llm_s = con.execute(
            """SELECT sum(seconds), (SELECT sum(seconds) FROM steps WHERE run_id = $1), sum(llm_seconds)
               FROM tasks WHERE run_id = $1""", [run_id]).fetchone()

    console = Console()
    table = Table(title=f"agent nodes, {summary.tasks} tasks, llm.backend={args.backend} ({run_id})")
    for column in ("node", "runs", "total s", "mean s", "LLM s", "non-LLM s", "tokens in", "tokens out"):
        table.add_column(column, justify="left" if column == "node" else "right")
    for node, runs, total, mean, llm, t_in, t_out in rows:
        table.add_row(node, str(runs), f"{total:.2f}", f"{mean:.2f}", f"{llm:.2f}", f"{total - llm:.3f}", str(t_in), str(t_out))
    console.print(table)
    outside = (task_s or 0) - (llm_s or 0)
    console.print(f"task wall time {task_s:.1f}s ({task_s / max(summary.tasks, 1):.1f} s/task); inside LLM calls {llm_s:.1f}s; "
                  f"outside {outside:.2f}s = {outside / task_s:.1%} of task time (target <= 10%)")
    console.print(f"  of which in graph nodes {step_s - llm_s:.2f}s, runner (checker, trace buffering, DB commit) {task_s - step_s:.2f}s; "
                  f"whole run incl. model loading {wall:.1f}s")
    rate = summary.success_rate
    console.print(f"success {'n/a' if rate is None else f'{rate:.0%}'} ({summary.successes}/{summary.labelled}), "
                  f"rewrites/task {summary.rewrites_per_task:.2f}, fallback rate {summary.fallback_rate:.0%}, "
                  f"citations/task {summary.citations_per_task:.2f}")


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


if __name__ == "__main__":
    main()
