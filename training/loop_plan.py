"""`training loop --minutes M`: how many agent tasks the next cycle can afford.

A cycle costs a fixed part (select, train, reindex, evaluate, probe, decide) plus a part per task
(the agent answers it, the harvest judges its shown chunks). Both are measured from the finished
cycles' `loop_steps` rows (the most recent cycle: training grows with the feedback so far, and
evaluation shrinks as caches fill); before any measurement, conservative defaults below. The
cycles left get equal numbers of tasks: the next cycle gets the tasks for which its own fixed part,
the later cycles' fixed parts and all their tasks fit the time left, with a safety margin. (An
equal share of *time* starved the first cycle, whose fixed part also encodes every suite once:
3 tasks planned at a 52.9 tokens/s probe, 2026-12-07, with evaluation half of that cycle.)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

# Before any measurement (no LLM speed known either). Agent: 10-19 s a task measured on 2 cores
# with the 1.5B (issue 11); harvest: the judge reads ~5 shown chunks a task at ~1-2 s each. Fixed:
# the first cycle also encodes every suite once (~3,400 passages) and trains both models.
DEFAULT_AGENT_S_PER_TASK = 16.0
DEFAULT_HARVEST_S_PER_TASK = 8.0
DEFAULT_FIXED_S = 600.0

# A fresh-clone `make run` (2026-12-06, 989962d, 2 idle cores) whose probe (rag_agent/llm/speed.py)
# read 71.5 prompt tokens/s: its first two cycles' agent and harvest seconds over their 25 tasks
# (29.0 s and 37.4 s a task: 2.5 attempts and ~10 judgments a task), and its first cycle's
# everything-else, 645 s (the first suite encodes, the probe; no reranker yet: reranker_min_lists).
# It replaces a 2026-11-30 reference taken on a loaded machine (35 tokens/s, 90.6 s a task). Scaled
# by the speed a short probe measures (`probed_throughput`), these plan the first cycle.
# The harvest's 37.4 s was the question-first judge; since the passage-first default, the same run's
# 296 judgments cost 10.4 s a task (bench/rejudge.py, 2026-12-07) plus ~3.3 s a task of the harvest's
# other work (its logged 35.1 s a task less the rejudged 31.8): 14.0 s.
# The agent's 29.0 s was at agent.max_rewrites = 2; at today's 1, bench/agent.py on the same 20
# tasks in one run (2026-12-07) gave 13.2 s a task against 15.7 s: 29.0 x 13.2 / 15.7 = 24.4 s.
REFERENCE_PROMPT_TPS = 71.5
REFERENCE_AGENT_S_PER_TASK = 24.4
REFERENCE_HARVEST_S_PER_TASK = 14.0
REFERENCE_FIRST_FIXED_S = 645.0
# A later cycle's fixed part, which the first cycle's plan must leave room for: the 2026-12-07
# fresh-clone run D (0a6ea78, probe 70.1 tokens/s) spent 279 s on everything but agent and harvest
# in its cycle 2 (one embedder trained and scored on dev and both law tasks, its probe), 1,048 s in
# all. Scaled like the rest; cycles 2.. re-plan from their own measured cycle anyway.
REFERENCE_LATER_FIXED_S = 279.0
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

    def to_dict(self) -> dict:
        return {k: round(v, 2) if isinstance(v, float) else v for k, v in asdict(self).items()}


def measured_throughput(cycles: list[dict[str, dict]]) -> Throughput:
    """From finished cycles' step payloads ({step: payload}), the latest cycle with agent tasks."""
    for done in reversed(cycles):
        agent, harvest = done.get("agent", {}), done.get("harvest", {})
        tasks = agent.get("tasks_now") or agent.get("tasks") or 0
        if not tasks or "decide" not in done:
            continue
        seconds = {step: float(p.get("seconds", 0.0)) for step, p in done.items()}
        fixed = sum(s for step, s in seconds.items() if step not in ("agent", "harvest"))
        return Throughput(seconds.get("agent", 0.0) / tasks, seconds.get("harvest", 0.0) / tasks, fixed, True)
    return Throughput(DEFAULT_AGENT_S_PER_TASK, DEFAULT_HARVEST_S_PER_TASK, DEFAULT_FIXED_S, False)


def probed_throughput(prompt_tps: float) -> Throughput:
    """First-cycle estimate from the LLM's measured prompt speed (tokens/s): the reference cycle's
    seconds scaled by how much faster or slower this machine reads. The fixed part scales too:
    encoding and cross-encoder scoring run on the same cores. Not `measured`: the next cycle
    replaces it with its own figures."""
    scale = REFERENCE_PROMPT_TPS / max(prompt_tps, 0.1)
    return Throughput(REFERENCE_AGENT_S_PER_TASK * scale, REFERENCE_HARVEST_S_PER_TASK * scale, REFERENCE_FIRST_FIXED_S * scale, False,
                      later_fixed_s=REFERENCE_LATER_FIXED_S * scale)


def plan_tasks(seconds_left: float, cycles_left: int, throughput: Throughput, extra_fixed_s: float = 0.0) -> int:
    """Tasks for the next cycle, the same number as each later one, so the remaining cycles fit in
    `seconds_left`: (0.9 x left - fixed - (cycles left - 1) x later fixed - extra) / (cycles left x
    s per task). `extra_fixed_s`: fixed cost this cycle has and the measured one did not
    (`reranker_extra_s`); later cycles' fixed part is the measured one unless the throughput says
    otherwise (`later_fixed_s`: the probed first cycle, which alone encodes every suite)."""
    cycles = max(cycles_left, 1)
    later = throughput.fixed_s if throughput.later_fixed_s is None else throughput.later_fixed_s
    per_task = max(throughput.agent_s_per_task + throughput.harvest_s_per_task, 0.1)
    room = max(seconds_left, 0.0) * SAFETY - throughput.fixed_s - (cycles - 1) * later - extra_fixed_s
    tasks = int(room // (cycles * per_task))
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
