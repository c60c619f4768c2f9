"""Wall time per stage per cycle of the training loop.

    .venv/bin/python bench/loop.py --workspace W                 # figures of a loop already run in W
    .venv/bin/python bench/loop.py --workspace W --run --cycles 1 --set training.loop.tasks_per_cycle=4

With --run it first runs (or resumes) `training loop` in W with the given overrides. Prints one row
per cycle with the seconds of each step (select, agent, harvest, train, reindex, evaluate, probe,
decide), the cycle's total, the share spent evaluating (target: <= 25 %), agent tasks and seconds per
task, read from the loop's own `loop_steps` table. With --run --minutes M the loop plans its cycles
to end within M minutes (training/loop_plan.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workspace", default="workspace")
    parser.add_argument("--run", action="store_true", help="run/resume the loop before reporting")
    parser.add_argument("--cycles", type=int, default=1)
    parser.add_argument("--minutes", type=float, default=None, help="with --run: time budget of the loop")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="section.key=value")
    args = parser.parse_args()
    from rag_agent.cli_common import offline_env

    offline_env()  # offline, quiet libraries, deliberate threads: as every ragloop command

    import json
    import time

    from rag_agent.cli_common import table_console
    from rich.table import Table

    from training.loop_console import quiet_libraries

    quiet_libraries()

    from rag_agent.workspace import Workspace
    from training.loop import STEPS, TrainingLoop

    ws = Workspace.open(args.workspace, overrides=args.overrides)
    if args.run:
        started = time.time()
        TrainingLoop(ws).run(args.cycles, deadline=started + args.minutes * 60 if args.minutes else None)
    with ws.db() as con:
        rows = con.execute("SELECT cycle, step, seconds, payload FROM loop_steps ORDER BY cycle").fetchall()
    by_cycle: dict[int, dict[str, float]] = {}
    tasks: dict[int, int] = {}
    for cycle, step, seconds, payload in rows:
        by_cycle.setdefault(cycle, {})[step] = seconds
        if step == "agent":
            tasks[cycle] = json.loads(payload).get("tasks", 0)
    table = Table(title=f"training loop wall time per stage (s) — {ws.root}")
    for name in ("cycle", *STEPS, "total", "evaluate %", "tasks", "agent s/task"):
        table.add_column(name, justify="right")
    for cycle, steps in sorted(by_cycle.items()):
        total = sum(steps.values())
        share = f"{100 * steps.get('evaluate', 0.0) / total:.0f}" if total else "–"
        per_task = f"{steps['agent'] / tasks[cycle]:.1f}" if tasks.get(cycle) and "agent" in steps else "–"
        table.add_row(str(cycle), *[f"{steps[s]:.0f}" if s in steps else "–" for s in STEPS], f"{total:.0f}", share, str(tasks.get(cycle, "–")), per_task)
    console = table_console()
    console.print(table)


if __name__ == "__main__":
    main()
