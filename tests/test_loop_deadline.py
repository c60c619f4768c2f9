"""Under `training loop --minutes M` the agent stage stops starting tasks once the harvest its
finished tasks owe would carry the cycle past its share of the time (training/loop_deadline.py)."""

from __future__ import annotations

import json
import time

import pytest

from tests.fakes import FakeRetriever, FakeWeb, ScriptedLLM, add_fake_documents
from tests.test_loop_plan import run_i_cycles_1_2
from training.loop_deadline import CycleClock, cycle_clock
from training.loop_plan import SAFETY, Throughput, measured_throughput, plan_tasks

DOCS = {f"doc{i}": [f"Clause {i}.{j}: the tenant pays rent monthly." for j in range(3)] for i in range(3)}


def _plan(cycles_left: int = 1, **changes) -> dict:
    tp = Throughput(agent_s_per_task=30.0, harvest_s_per_task=15.0, fixed_s=300.0, measured=True,
                    train_growth_s_per_task=4.0, harvest_s_per_judgment=4.0)
    return tp.to_dict() | {"seconds_left": 3000, "cycles_left": cycles_left, "reranker_s": 0.0} | changes


def test_the_clock_prices_what_the_finished_tasks_owe_the_harvest():
    clock = CycleClock.from_plan(1, _plan(), planned_tasks=10, deadline=1000.0)
    assert clock.cycle_end == 1000.0  # the last cycle: nothing reserved after it
    assert clock.may_start(now=10_000.0) and clock.stopped_at is None  # below MIN_TASKS a cycle always starts tasks
    clock.finished(6)
    clock.finished(0)  # a task whose clause the checked answer says is absent: not judged
    # one more task now: its own 45 s, 6 judgments x 4 s, and the later steps with 3 tasks' training growth
    later = (300.0 + 4.0 * 3) / SAFETY
    assert clock.projected_end(100.0) == pytest.approx(100.0 + 45.0 + 24.0 + later)
    boundary = 1000.0 - 45.0 - 24.0 - later
    assert clock.may_start(now=boundary - 1)
    assert not clock.may_start(now=boundary + 1) and clock.stopped_at == 2
    clock.finished(11)
    assert not clock.may_start(now=boundary - 1)  # the judgments a task owes count as soon as it is done


def test_an_earlier_cycle_leaves_the_later_cycles_the_time_the_plan_gave_them():
    plan = _plan(cycles_left=3)
    tp = Throughput.from_dict(plan)
    clock = CycleClock.from_plan(1, plan, planned_tasks=10, deadline=5000.0)
    assert clock.cycle_end == pytest.approx(5000.0 - 2 * (300.0 + 10 * tp.per_task_s(3)))
    assert tp.per_task_s(3) == 30.0 + 15.0 + 4.0 * 2  # training growth: (cycles + 1) / 2 x per task
    assert clock.fixed_s == 300.0 and CycleClock.from_plan(1, _plan(reranker_s=150.0), 10, 5000.0).fixed_s == 450.0


def test_run_i_replayed_cycle_3_stops_where_its_harvest_would_have_run_late():
    """Run I (fresh clone daf1806, 2026-12-07, probe 49.1 tokens/s): cycle 3 had 20 tasks for the
    1,430 s left and took 1,650 (harvest 102 judgments at 4.8 s, other steps 584 s). Its tasks'
    recorded seconds and the judgments each owed (feedback.harvest.judgments_needed on its traces
    gives 79 / 46 / 102 for the three cycles, the harvest's own judge_calls) replayed through the
    plan and the clock from cycles 1-2: the clock starts 16 tasks and the cycle, at cycle 3's own
    rates, ends within 20 s of its deadline. (Replayed on the run that motivated the rule:
    arithmetic, not a measurement.)"""
    tp = measured_throughput(run_i_cycles_1_2())
    assert tp.harvest_s_per_judgment == pytest.approx(202 / 46)  # the dearer cycle's
    seconds = [27.0, 22.9, 22.7, 21.7, 24.7, 26.5, 37.9, 24.1, 19.8, 52.2, 23.9, 19.8, 26.6, 22.7, 50.9, 27.8, 31.7, 24.3, 23.4, 42.6]
    judgments = [6, 5, 6, 6, 7, 6, 7, 6, 7, 0, 6, 0, 6, 7, 0, 5, 0, 6, 5, 11]
    clock = CycleClock.from_plan(3, tp.to_dict() | {"cycles_left": 1, "reranker_s": 0.0}, 20, deadline=1430.0)
    now, started = 25.0, 0  # the agent stage began after cycle 3's 25 s select
    for task_s, owed in zip(seconds, judgments):
        if not clock.may_start(now):
            break
        now, started = now + task_s, started + 1
        clock.finished(owed)
    end = now + clock.judgments * 490 / 102 + 584  # cycle 3's own harvest rate and other steps
    assert started == 16 == plan_tasks(1430, 1, tp)
    assert end - 1430 < 20 < 1650 - 1430


@pytest.fixture()
def ws_with_docs(workspace):
    return add_fake_documents(workspace, DOCS)


@pytest.mark.slow
def test_a_refused_task_is_not_run_nor_pending_and_a_resumed_clock_is_charged_for_the_finished(ws_with_docs):
    from feedback.harvest import judgments_needed
    from feedback.traces import load_task
    from rag_agent.graph.runner import run_tasks
    from rag_agent.tasks import Task

    ws = ws_with_docs
    tasks = [Task(f"t{i}", "Who pays rent?", doc_id=f"doc{i % 3}") for i in range(5)]
    llm, asked = ScriptedLLM(), []

    def may_start() -> bool:
        asked.append(1)
        return len(asked) <= 2

    kwargs = dict(llm=llm, retriever=FakeRetriever(DOCS), web=FakeWeb())
    summary = run_tasks(ws, tasks, "loop-1", may_start=may_start, **kwargs)
    assert (summary.tasks, summary.stopped, summary.pending, summary.outage) == (2, 3, 0, None)
    resumed = run_tasks(ws, tasks, "loop-1", **kwargs)
    assert (resumed.tasks, resumed.skipped_now, resumed.stopped) == (5, 2, 0)
    with ws.db() as con:
        assert con.execute("SELECT count(*), count(DISTINCT task_id) FROM tasks WHERE run_id = 'loop-1'").fetchone() == (5, 5)
        owed = [judgments_needed(load_task(con, "loop-1", t.id), ws.config.feedback) for t in tasks]
    assert sum(owed) > 0
    select = {"plan": _plan(), "planned_tasks": 5, "task_ids": [t.id for t in tasks]}
    clock = cycle_clock(ws, 1, "loop-1", select, deadline=time.time() + 600)
    assert (clock.tasks_done, clock.judgments) == (5, sum(owed))  # a resumed agent step owes what its run already did
    assert cycle_clock(ws, 1, "loop-1", select, deadline=None) is None  # no --minutes: no clock
    assert cycle_clock(ws, 1, "loop-1", select | {"plan": None}, deadline=time.time()) is None


@pytest.mark.slow
def test_the_loop_agent_step_stops_starting_tasks_past_the_deadline(tmp_path, shared_data, monkeypatch):
    """The wiring: `TrainingLoop.run_cycle` hands the deadline to the agent step, which runs the
    tasks the clock allows and records the rest as stopped; nothing after the agent is needed."""
    from tests.test_training_loop import JudgingLLM, _mini_data
    from training import loop_steps
    from training.loop import TrainingLoop
    from rag_agent.workspace import Workspace

    data = _mini_data(shared_data, tmp_path / "data")
    ws = Workspace.open(tmp_path / "ws", overrides=[f"data_dir={data}", "training.loop.contracts_per_cycle=2",
                                                    "training.loop.probe_contracts=1", "training.loop.probe_tasks=2"])
    monkeypatch.setattr(loop_steps, "step_harvest", lambda ctx: (_ for _ in ()).throw(RuntimeError("stop after the agent")))
    loop = TrainingLoop(ws, llm=JudgingLLM(answer={"answer": "Yes", "citations": [1]}), progress=False)
    with pytest.raises(RuntimeError, match="stop after the agent"):
        loop.run_cycle(1, plan=(4, _plan()), deadline=time.time() - 1)  # already late: the minimum only
    agent = loop.done_steps(1)["agent"]
    assert (agent["tasks"], agent["stopped_for_deadline"]) == (2, 2)
    with ws.db() as con:
        (select,) = con.execute("SELECT payload FROM loop_steps WHERE cycle = 1 AND step = 'select'").fetchone()
    assert json.loads(select)["planned_tasks"] == 4 and len(json.loads(select)["task_ids"]) == 4
