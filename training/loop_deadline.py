"""Inside a cycle under `training loop --minutes M`: stop starting agent tasks once the cycle would
end past its share of the time.

The plan (training/loop_plan.py) sizes a cycle from mean costs, and a cycle's own tasks vary. Run I
(2026-12-07, fresh clone, 2 cores) ended 3.7 min late: its cycle 3 judged 16 of its 20 tasks (102
judgments) where the plan's mean expected about 70. What a finished task will cost the harvest is
known the moment its trace is written (`feedback.harvest.judgments_needed`), so before each task
the agent stage re-prices the rest of the cycle:

    now + (agent + harvest s a task, the next task) + pending judgments x s per judgment
        + (the cycle's fixed part + its first-reranker allowance + train growth x tasks) / SAFETY

and starts the task only if that is before the cycle's end: the deadline less what the plan
reserved for the cycles after it ((cycles left - 1) x (their fixed part + planned tasks x s a
task)). A cycle never stops below `loop_plan.MIN_TASKS`. Tasks left unstarted are simply not in
the cycle's run: the harvest, training and the next cycle's plan see the tasks that ran. The
check holds after kill -9 too: a resumed agent step counts the judgments its finished tasks owe.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from training.loop_plan import MIN_TASKS, SAFETY, Throughput

log = logging.getLogger(__name__)


@dataclass
class CycleClock:
    cycle: int
    cycle_end: float  # time.time() by which the cycle should be finished
    next_task_s: float  # agent + harvest seconds a further task is expected to cost
    s_per_judgment: float
    fixed_s: float  # the cycle's steps after the harvest (train .. decide), as planned, at the measured training size
    growth_s_per_task: float  # train seconds each task of this cycle adds (its feedback is trained on too)
    tasks_done: int = 0
    judgments: int = 0  # owed by finished tasks to the harvest
    stopped_at: int | None = None  # tasks done when the clock first refused one

    def __post_init__(self):
        self._lock = threading.Lock()

    @classmethod
    def from_plan(cls, cycle: int, plan: dict, planned_tasks: int, deadline: float) -> CycleClock:
        """From the plan the `select` step recorded (a resumed cycle keeps its plan)."""
        tp = Throughput.from_dict(plan)
        cycles_left = int(plan.get("cycles_left") or 1)
        later = (cycles_left - 1) * (tp.later_cycle_fixed_s() + planned_tasks * tp.per_task_s(cycles_left))
        return cls(cycle=cycle, cycle_end=deadline - later, next_task_s=tp.agent_s_per_task + tp.harvest_s_per_task,
                   s_per_judgment=tp.harvest_s_per_judgment, fixed_s=tp.fixed_s + float(plan.get("reranker_s") or 0.0),
                   growth_s_per_task=tp.train_growth_s_per_task)

    def later_steps_s(self) -> float:
        """The steps after the harvest, with one more task's feedback to train on."""
        return self.fixed_s + self.growth_s_per_task * (self.tasks_done + 1)

    def projected_end(self, now: float) -> float:
        """When the cycle would end if one more task were started now."""
        return now + self.next_task_s + self.judgments * self.s_per_judgment + self.later_steps_s() / SAFETY

    def may_start(self, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        with self._lock:
            if self.tasks_done < MIN_TASKS or self.projected_end(now) <= self.cycle_end:
                return True
            if self.stopped_at is None:
                self.stopped_at = self.tasks_done
                log.info("cycle %d: no more agent tasks after %d: one more would end the cycle %.0f s past its share of the "
                         "deadline (%d judgments owed to the harvest at %.1f s, %.0f s of later steps)", self.cycle,
                         self.tasks_done, self.projected_end(now) - self.cycle_end, self.judgments, self.s_per_judgment,
                         self.later_steps_s())
            return False

    def finished(self, judgments: int, tasks: int = 1) -> None:
        """`tasks` finished; the harvest will owe them `judgments` judgments."""
        with self._lock:
            self.tasks_done += tasks
            self.judgments += judgments


def task_judgments(ws, run_id: str, task_ids: list[str]) -> int:
    """Judgments the harvest will make for these finished tasks (0 for a trace it will skip)."""
    from feedback.harvest import judgments_needed
    from feedback.traces import MalformedTrace, load_task

    owed = 0
    with ws.db() as con:
        for task_id in task_ids:
            try:
                owed += judgments_needed(load_task(con, run_id, task_id), ws.config.feedback)
            except MalformedTrace:
                pass
    return owed


def cycle_clock(ws, cycle: int, run_id: str, select: dict, deadline: float | None) -> CycleClock | None:
    """The clock of a cycle's agent stage, charged with the tasks its run already finished
    (a resumed step); None without a deadline or a recorded plan."""
    plan = select.get("plan")
    if deadline is None or not plan:
        return None
    clock = CycleClock.from_plan(cycle, plan, int(select.get("planned_tasks") or len(select.get("task_ids", []))), deadline)
    with ws.db() as con:
        done = [t for (t,) in con.execute("SELECT task_id FROM tasks WHERE run_id = ?", [run_id]).fetchall()]
    clock.finished(task_judgments(ws, run_id, done), tasks=len(done))
    return clock
