"""`training loop --minutes M`: how many agent tasks the next cycle can afford.

A cycle costs a fixed part (select, train, reindex, evaluate, probe, decide) plus a part per task
(the agent answers it, the harvest judges its shown chunks). Both are measured from the finished
cycles' `loop_steps` rows (per task: over all their tasks, plus the train seconds each task adds;
fixed: the largest cycle's other steps plus the latest training; `measured_throughput`); before
any measurement, the probed reference or conservative defaults. The
cycles left get equal numbers of tasks: the next cycle gets the tasks for which its own fixed part,
the later cycles' fixed parts and all their tasks fit the time left, with a safety margin. (An
equal share of *time* starved the first cycle, whose fixed part also encodes every suite once:
3 tasks planned at a 52.9 tokens/s probe, 2026-12-07, with evaluation half of that cycle.)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

# Before any measurement (no LLM speed known either). Agent: 10-19 s a task measured on 2 cores
# with the 1.5B (issue 11); harvest: the judge reads ~5 shown chunks a task at ~1-2 s each. Fixed:
# the first cycle also encodes every suite once (~3,400 passages) and trains both models.
DEFAULT_AGENT_S_PER_TASK = 16.0
DEFAULT_HARVEST_S_PER_TASK = 8.0
DEFAULT_FIXED_S = 600.0
DEFAULT_S_PER_JUDGMENT = 2.0  # ~4 judgments a task

# The fresh-clone `make run` of 2026-12-07 morning ("run D", 0a6ea78, 2 idle cores, the passage-
# first judge and agent.max_rewrites = 1 as today) whose probe (rag_agent/llm/speed.py) read 70.1
# prompt tokens/s: over its 100 tasks the agent took 1,600 s (16.0 s a task) and the harvest 1,033 s
# (10.3 s), its first cycle 496 s on everything else (the first suite encodes, the agent probe; no
# reranker yet) and its second 279 s, which the first cycle's plan leaves room for in each later
# cycle (cycles 2.. re-plan from their own measured cycle anyway). Scaled by the speed the probe
# measures (`probed_throughput`), these plan the first cycle. Two other fresh runs agree within 20 %
# once scaled: run F (probe 38.6) measured 28.4 s + 15.8 s a task against 29.1 + 18.8 predicted, a
# run of 2026-12-07 afternoon (probe 43.1) 21.7 + 14.7 in its first cycle against 26.0 + 16.8. The
# reference before it (2026-12-06, 71.5 tokens/s: 24.4 + 14.0 s a task, 645 s fixed, derived from a
# two-rewrite question-first-judge run) planned that afternoon's first cycle at 63 s a task against
# 36.4 measured, i.e. 6 tasks, and its evaluation was most of the cycle. Run D still judged the
# tasks whose clause is absent (feedback.judge_absent_clauses, off since): its 10.3 s overstates
# today's harvest, so the first cycle errs small and cycle 2 re-plans from what cycle 1 measured.
REFERENCE_PROMPT_TPS = 70.1
REFERENCE_AGENT_S_PER_TASK = 16.0
REFERENCE_HARVEST_S_PER_TASK = 10.3
RUN_D_FIRST_FIXED_S = 496.0
# Run D's first fixed part also scored the base model on every suite, which the committed baselines
# do now (evals/committed.py): 177 s in run H (2026-12-07, probe 40.1 tokens/s), i.e. 101 s at the
# reference speed, is taken out.
REFERENCE_BASE_SUITES_S = 101.0
REFERENCE_FIRST_FIXED_S = RUN_D_FIRST_FIXED_S - REFERENCE_BASE_SUITES_S
REFERENCE_LATER_FIXED_S = 279.0
# Harvest seconds per (question, chunk) judgment (feedback.harvest.judgments_needed): run I
# (2026-12-07, probe 49.1 tokens/s) took 973 s for 227 judgments over its three cycles (3.6 / 4.4 /
# 4.8 s), 3.0 s at the reference speed. The agent stage prices each finished task's harvest with it
# (training/loop_deadline.py).
REFERENCE_S_PER_JUDGMENT = 973.0 / 227 * 49.1 / REFERENCE_PROMPT_TPS
# The first cycle that trains a reranker pays for it in its fixed part, which the cycle before it
# (the one its plan is measured from) did not. With the cross-encoder (distill) that was 530 s: the
# 2026-12-07 fresh-clone run (0a6ea78) overran its 60 minutes by 11 because cycle 3 trained its
# first reranker (238 s more train than cycle 2) and scored it on dev (292 s more evaluate). The
# lexical reranker (the "auto" objective since) fits two scalars and scores without a network:
# bench/reranker_objectives.py trained it on 42 lists and scored dev and both law suites in ~2 min
# on a loaded 2-core machine (2026-12-07); 150 s keeps a margin. Not scaled by machine speed
# (reranker_extra_s says why).
REFERENCE_RERANKER_S = 150.0
SAFETY = 0.9  # plan 90% of each cycle's share: estimates are means, a cycle's tasks vary
MIN_TASKS = 2  # a cycle with fewer tasks teaches nothing; better end a little late than learn nothing
MAX_TASKS = 400


@dataclass
class Throughput:
    agent_s_per_task: float
    harvest_s_per_task: float
    fixed_s: float  # everything but agent and harvest, per cycle (probe included)
    measured: bool
    later_fixed_s: float | None = None  # a later cycle's fixed part when it differs (the probed first cycle's plan)
    # Train seconds each later cycle adds per task harvested since the measured one: training runs
    # over all the loop's feedback so far (run H, 2026-12-07: 66 / 84 / 192 s after 9 / 21 / 40 tasks)
    train_growth_s_per_task: float = 0.0
    harvest_s_per_judgment: float = DEFAULT_S_PER_JUDGMENT  # what one judgment of a finished task costs the harvest

    def to_dict(self) -> dict:
        return {k: round(v, 2) if isinstance(v, float) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, plan: dict) -> Throughput:
        """From a recorded plan (`to_dict` plus the plan's own keys, which are left out)."""
        return cls(**{f.name: plan[f.name] for f in fields(cls) if f.name in plan})

    def per_task_s(self, cycles_left: int) -> float:
        """Seconds one more task costs each of the cycles left: agent + harvest + the train growth.
        The j-th cycle from now trains on j x tasks more than the measured one: growth x tasks x
        (1 + .. + cycles) in all, (cycles + 1) / 2 x growth per task per cycle."""
        cycles = max(cycles_left, 1)
        return max(self.agent_s_per_task + self.harvest_s_per_task + self.train_growth_s_per_task * (cycles + 1) / 2, 0.1)

    def later_cycle_fixed_s(self) -> float:
        return self.fixed_s if self.later_fixed_s is None else self.later_fixed_s


def measured_throughput(cycles: list[dict[str, dict]]) -> Throughput:
    """From finished cycles' step payloads ({step: payload}; cycles[0] is cycle 1). Per task: agent
    and harvest seconds over all finished cycles' tasks (one cycle's tasks vary too much: run H's
    harvest took 19.1 / 13.9 / 23.8 s a task, with 4.3 / 3.3 / 5.7 judged chunks each, and planning
    cycle 3 from cycle 2 alone overran the hour by 3 minutes). Fixed part: the largest of the
    finished cycles' other steps, plus the latest cycle's training: a cycle that rejects
    everything at dev scores no law task and runs no probe (run I, 2026-12-07: 297 s fixed in cycle
    2 against 419 in cycle 1; planned from cycle 2, cycle 3 took 1,650 s of 1,430).
    Cycle 1's fixed part also scored the champion (the base) on every suite and ran the champion's
    probe tasks, which no later cycle repeats: planned from its raw 657 s, a 2026-12-07 run gave its
    cycle 2 ten tasks where the rule allowed about eighteen. The evaluate and probe payloads record
    those seconds (`one_off_s`) and they are left out; a cycle 1 written before they were recorded
    is scaled by the reference's later/first ratio (279 / 496 s). Train growth: train seconds per
    task fed, the larger of the latest cycle's ratio and the first-to-latest slope (0 from one
    cycle). Seconds per judgment: the dearest finished cycle's (training/loop_deadline.py)."""
    finished = [(i, c) for i, c in enumerate(cycles) if "decide" in c and _tasks(c)]
    if not finished:
        return Throughput(DEFAULT_AGENT_S_PER_TASK, DEFAULT_HARVEST_S_PER_TASK, DEFAULT_FIXED_S, False)
    tasks = sum(_tasks(c) for _, c in finished)
    agent, harvest = (sum(float(c.get(step, {}).get("seconds", 0.0)) for _, c in finished) for step in ("agent", "harvest"))
    fed = [sum(_tasks(c) for c in cycles[: i + 1]) for i, _ in finished]  # tasks harvested by each finished cycle's training
    train = [float(c.get("train", {}).get("seconds", 0.0)) for _, c in finished]
    # training reads all the feedback so far: its seconds grew about in proportion to the tasks fed
    # (run I: 81 / 111 / 200 s after 16 / 28 / 48 tasks; run H 66 / 84 / 192 after 9 / 21 / 40),
    # faster than the first-to-latest slope said when cycle 3 was planned (run I 2.5 s a task, run
    # H 1.5; the ratio: 4.0 and 4.0, and cycle 3 then took 4.2 and 4.8); the slope when steeper
    slope = (train[-1] - train[0]) / (fed[-1] - fed[0]) if fed[-1] > fed[0] else 0.0
    growth = max(0.0, slope, train[-1] / fed[-1] if fed[-1] else 0.0)
    # each cycle's fixed part as if it had trained on the latest cycle's feedback: its own other
    # steps, the latest cycle's training
    fixed = max(_fixed_s(i, c) - t for (i, c), t in zip(finished, train)) + train[-1]
    # the dearest cycle's: run I's harvest took 3.6 / 4.4 / 4.8 s a judgment (it also mines
    # negatives over an index that grows), and the clock that uses this cannot undo a late start
    per_judgment = max((float(c["harvest"].get("seconds", 0.0)) / int(c["harvest"]["judge_calls"])
                        for _, c in finished if (c.get("harvest") or {}).get("judge_calls")), default=DEFAULT_S_PER_JUDGMENT)
    return Throughput(agent / tasks, harvest / tasks, fixed, True, train_growth_s_per_task=growth, harvest_s_per_judgment=per_judgment)


def _fixed_s(index: int, done: dict[str, dict]) -> float:
    """A finished cycle's seconds outside agent and harvest, less what it paid only once."""
    fixed = sum(float(p.get("seconds", 0.0)) for step, p in done.items() if step not in ("agent", "harvest"))
    one_off = [done.get(step, {}).get("one_off_s") for step in ("evaluate", "probe")]
    if any(s is not None for s in one_off):
        return fixed - sum(s or 0.0 for s in one_off)
    return fixed * REFERENCE_LATER_FIXED_S / RUN_D_FIRST_FIXED_S if index == 0 else fixed


def _tasks(cycle: dict[str, dict]) -> int:
    agent = cycle.get("agent", {})
    return int(agent.get("tasks_now") or agent.get("tasks") or 0)


def probed_throughput(prompt_tps: float) -> Throughput:
    """First-cycle estimate from the LLM's measured prompt speed (tokens/s): the reference cycle's
    seconds scaled by how much faster or slower this machine reads. The fixed part scales too:
    encoding and cross-encoder scoring run on the same cores. Not `measured`: the next cycle
    replaces it with its own figures."""
    scale = REFERENCE_PROMPT_TPS / max(prompt_tps, 0.1)
    return Throughput(REFERENCE_AGENT_S_PER_TASK * scale, REFERENCE_HARVEST_S_PER_TASK * scale, REFERENCE_FIRST_FIXED_S * scale, False,
                      later_fixed_s=REFERENCE_LATER_FIXED_S * scale, harvest_s_per_judgment=REFERENCE_S_PER_JUDGMENT * scale)


def plan_tasks(seconds_left: float, cycles_left: int, throughput: Throughput, extra_fixed_s: float = 0.0) -> int:
    """Tasks for the next cycle, the same number as each later one, so the remaining cycles fit in
    `seconds_left`: (0.9 x left - fixed - (cycles left - 1) x later fixed - extra) / (cycles left x
    s per task), s per task including the train growth. `extra_fixed_s`: fixed cost this cycle has and the measured one did not
    (`reranker_extra_s`); later cycles' fixed part is the measured one unless the throughput says
    otherwise (`later_fixed_s`: the probed first cycle, which alone encodes every suite)."""
    cycles = max(cycles_left, 1)
    room = max(seconds_left, 0.0) * SAFETY - throughput.fixed_s - (cycles - 1) * throughput.later_cycle_fixed_s() - extra_fixed_s
    tasks = int(room // (cycles * throughput.per_task_s(cycles)))
    return max(MIN_TASKS, min(MAX_TASKS, tasks))


def reranker_extra_s(lists_now: int, lists_per_task: float, tasks: int, needed: int, measured_had_one: bool) -> float:
    """Seconds to add to a cycle's fixed part when it will train its first reranker: its feedback
    will hold `needed` usable judged lists (`lists_now` plus `lists_per_task` for each of `tasks`)
    and the cycles it is planned from trained none. 0 when `needed` is 0 (a reranker every cycle:
    the measured cycle already paid for one) or a reranker was trained before. Not scaled by machine
    speed: once a cycle is measured there is no probe reading to scale by, and the reference came
    from the same kind of 2-core machine."""
    if needed <= 0 or measured_had_one or lists_now + lists_per_task * tasks < needed:
        return 0.0
    return REFERENCE_RERANKER_S
