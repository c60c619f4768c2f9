"""Harvest throughput.

    python bench/harvest.py [--tasks 500] [--judge-tasks 4] [--backend tiny|llama-cpp|none]

1. `--judge none` on a synthetic trace set (--tasks tasks): tasks/s and pairs/s.
2. With the LLM judge (tiny 0.5B by default, `--backend llama-cpp` for the 1.5B) on the first
   --judge-tasks tasks: judge calls/min and chunks graded/min (quote mode, cfg.feedback batch).
Mining hard negatives is left out (no index in a synthetic workspace): this measures the harvest.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
for key, value in {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_WAIT_POLICY": "PASSIVE", "TOKENIZERS_PARALLELISM": "false"}.items():
    os.environ.setdefault(key, value)

from feedback.harvest import Harvester  # noqa: E402
from feedback.negatives import NegativeMiner  # noqa: E402
from feedback.synthetic import synthetic_workload  # noqa: E402
from rag_agent.workspace import Workspace  # noqa: E402


class _NoMining(NegativeMiner):
    def mine(self, *args, **kwargs):
        return []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=500)
    parser.add_argument("--judge-tasks", type=int, default=4)
    parser.add_argument("--backend", default="tiny", help="tiny | llama-cpp | smol | none (skip the LLM part)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace.open(Path(tmp) / "ws")
        with ws.db() as con:
            started = time.perf_counter()
            synthetic_workload(con, args.tasks)
            print(f"generated {args.tasks} synthetic tasks in {time.perf_counter() - started:.1f}s")
            report = Harvester(ws, con, None, _NoMining(ws)).run()
        print(
            f"judge none: {report.tasks_harvested} tasks, {report.pairs} pairs, {report.labels} labels in {report.seconds:.1f}s "
            f"-> {report.tasks_harvested / report.seconds:.1f} tasks/s, {report.pairs / report.seconds:.1f} pairs/s"
        )
        if args.backend == "none":
            return
        from rag_agent.llm.factory import load_llm

        from feedback.judge import LLMJudge

        ws2 = Workspace.open(Path(tmp) / "ws-llm", overrides=[f"llm.backend={args.backend}"])
        with ws2.db() as con:
            synthetic_workload(con, args.judge_tasks, seed=1)
            judge = LLMJudge(load_llm(ws2.config.llm), ws2.config.feedback.judge)
            started = time.perf_counter()
            report = Harvester(ws2, con, judge, _NoMining(ws2)).run()
            minutes = (time.perf_counter() - started) / 60
            graded = con.execute("SELECT count(*) FROM judge_labels WHERE signal = 'llm_judge'").fetchone()[0]
        print(
            f"judge {judge.name}: {report.judge_calls} calls, {graded} chunks graded, {report.judge_invalid} invalid batches "
            f"in {minutes * 60:.0f}s -> {report.judge_calls / minutes:.1f} calls/min, {graded / minutes:.1f} chunks/min"
        )


if __name__ == "__main__":
    main()
