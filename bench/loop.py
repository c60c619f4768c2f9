"""Wall time per stage per cycle of the training loop.

    .venv/bin/python bench/loop.py --workspace W                 # figures of a loop already run in W
    .venv/bin/python bench/loop.py --workspace W --run --cycles 1 --set training.tasks_per_cycle=4

With --run it first runs (or resumes) `training loop` in W with the given overrides. Prints one row
per cycle with the seconds of each step (select, agent, harvest, train, reindex, evaluate, probe,
decide) and the cycle's total, read from the loop's own `loop_steps` table.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workspace", default="workspace")
    parser.add_argument("--run", action="store_true", help="run/resume the loop before reporting")
    parser.add_argument("--cycles", type=int, default=1)
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="section.key=value")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

    from rich.console import Console
    from rich.table import Table

    from rag_agent.workspace import Workspace
    from training.loop import STEPS, TrainingLoop

    ws = Workspace.open(args.workspace, overrides=args.overrides)
    if args.run:
        TrainingLoop(ws).run(args.cycles)
    with ws.db() as con:
        rows = con.execute("SELECT cycle, step, seconds FROM loop_steps ORDER BY cycle").fetchall()
    by_cycle: dict[int, dict[str, float]] = {}
    for cycle, step, seconds in rows:
        by_cycle.setdefault(cycle, {})[step] = seconds
    table = Table(title=f"training loop wall time per stage (s) — {ws.root}")
    for name in ("cycle", *STEPS, "total"):
        table.add_column(name, justify="right")
    for cycle, steps in sorted(by_cycle.items()):
        table.add_row(str(cycle), *[f"{steps[s]:.0f}" if s in steps else "–" for s in STEPS], f"{sum(steps.values()):.0f}")
    Console().print(table)


if __name__ == "__main__":
    main()
