"""The steps of one training-loop cycle (see training/loop.py for the order and the gate).

Each `step_<name>(ctx) -> payload` is re-runnable: it may be interrupted at any point and run
again, and its json payload is all that later steps read of it.
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass

from rag_agent.config import comma_list
from rag_agent.workspace import Workspace
from training import registry
from training.loop_console import task_bar
from training.loop_tasks import contracts_needed, cycle_selection, load_pool, probe_selection, write_manifest

log = logging.getLogger(__name__)


@dataclass
class StepContext:
    ws: Workspace
    cycle: int
    results: dict  # payloads of the steps already finished in this cycle
    llm_holder: object  # has get_llm()
    progress: bool = True
    planned_tasks: int | None = None  # `--minutes`: tasks this cycle can afford (training/loop_plan.py)
    plan: dict | None = None  # the throughput the plan used, recorded with the selection
    deadline: float | None = None  # `--minutes`: time.time() by which the loop should end

    @property
    def cfg(self):
        return self.ws.config

    @property
    def run_id(self) -> str:
        return cycle_run_id(self.cycle)

    def loop_run_ids(self) -> list[str]:
        """Feedback accumulates: cycle n trains on the traces of cycles 1..n."""
        return loop_run_ids(self.cycle)

    def pool(self):
        t = self.cfg.training.loop
        return load_pool(self.cfg.data_dir, t.split, t.seed)


def cycle_run_id(cycle: int) -> str:
    """The agent run id of a loop cycle's tasks."""
    return f"loop-{cycle}"


def loop_run_ids(last_cycle: int) -> list[str]:
    """The run ids of cycles 1..last_cycle: the feedback a cycle after them has."""
    return [cycle_run_id(c) for c in range(1, last_cycle + 1)]


def with_models(ws: Workspace, embedder: str, reranker: str) -> Workspace:
    """The same workspace with other models in its (in-memory) config."""
    cfg = copy.deepcopy(ws.config)
    cfg.models.embedder, cfg.models.reranker = embedder, reranker
    return Workspace(root=ws.root, config=cfg)


def champion_ws(ws: Workspace) -> Workspace:
    return with_models(ws, *registry.champion_specs(ws))


# ---- select: fresh train tasks; their contracts (and the probe's) ingested -----------------------
def step_select(ctx: StepContext) -> dict:
    from rag_agent.ingest.pipeline import ingest

    t = ctx.cfg.training.loop
    pool = ctx.pool()
    prefer = tuple(comma_list(t.prefer_answer_types))
    n_tasks = ctx.planned_tasks or t.tasks_per_cycle
    n_contracts = contracts_needed(n_tasks, t.tasks_per_contract, t.contracts_per_cycle)
    contracts, tasks = cycle_selection(pool, ctx.cycle, t.probe_contracts, n_contracts, n_tasks, t.seed, prefer, used_before=_contracts_used_before(ctx))
    probe_contracts, _ = probe_selection(pool, t.probe_contracts, t.probe_tasks, t.seed)
    manifest = write_manifest(contracts + probe_contracts, pool.manifest, ctx.ws.cache_dir / "loop" / f"contracts_cycle{ctx.cycle}.jsonl")
    report = ingest(champion_ws(ctx.ws), [manifest], progress=ctx.progress)
    return {
        "task_ids": [task.id for task in tasks],
        "contracts": [c["doc_id"] for c in contracts],
        "chunks_added": report.chunks_added,
        "planned_tasks": n_tasks,
        "plan": ctx.plan,
    }


def _contracts_used_before(ctx: StepContext) -> int:
    """Contracts cycles 1..n-1 took (cycles vary in size under `--minutes`)."""
    import json

    with ctx.ws.db() as con:
        rows = con.execute("SELECT payload FROM loop_steps WHERE step = 'select' AND cycle < ?", [ctx.cycle]).fetchall()
    return sum(len(json.loads(payload)["contracts"]) for (payload,) in rows)


def _tasks(ctx: StepContext, ids: list[str]):
    by_id = {task.id: task for tasks in ctx.pool().tasks_by_doc.values() for task in tasks}
    return [by_id[i] for i in ids]


def stop_on_outage(summary, run_id: str) -> None:
    """An unreachable LLM leaves tasks pending: the step must not finish (and be recorded as done)
    on half its tasks. Raising keeps the step unfinished, so rerunning the loop resumes it."""
    from rag_agent.errors import LLMUnavailableError

    if summary.outage or summary.pending:
        raise LLMUnavailableError(
            f"run {run_id}: {summary.pending} task(s) left pending ({summary.outage or 'LLM unreachable'})",
            "a reachable LLM for every task of the step",
            "bring the LLM endpoint back, then rerun the same `training loop` command: the step resumes",
        )


# ---- agent: the champions answer the cycle's tasks; traces under run id loop-<cycle> --------------
def step_agent(ctx: StepContext) -> dict:
    from rag_agent.graph.runner import run_tasks
    from training.loop_deadline import cycle_clock, task_judgments

    select = ctx.results["select"]
    tasks = _tasks(ctx, select["task_ids"])
    clock = cycle_clock(ctx.ws, ctx.cycle, ctx.run_id, select, ctx.deadline)
    with task_bar(f"cycle {ctx.cycle}: agent tasks", ctx.progress) as (on_start, on_task):
        def finished(result) -> None:
            if clock is not None and result.status in ("done", "failed"):
                clock.finished(task_judgments(ctx.ws, ctx.run_id, [result.task_id]))
            if on_task:
                on_task(result)

        summary = run_tasks(champion_ws(ctx.ws), tasks, ctx.run_id, llm=ctx.llm_holder.get_llm(), workers=ctx.cfg.agent.workers,
                            progress=finished, on_start=on_start, may_start=clock.may_start if clock else None)
    stop_on_outage(summary, ctx.run_id)
    return {
        "run_id": ctx.run_id,
        "tasks": summary.tasks,
        "tasks_now": summary.tasks - summary.skipped_now,  # run by this invocation (the seconds measured)
        "stopped_for_deadline": summary.stopped,  # selected tasks left unstarted (training/loop_deadline.py)
        "failed": summary.failed,
        "success_rate": summary.success_rate,
        "seconds_per_task": summary.seconds_per_task,
        "rewrites_per_task": summary.rewrites_per_task,
        "fallback_rate": summary.fallback_rate,
    }


# ---- harvest: traces -> labels, pairs, rewards, negatives -----------------------------------------
def step_harvest(ctx: StepContext) -> dict:
    from feedback.harvest import Harvester

    judge = None
    if ctx.cfg.feedback.judge.backend == "llm":
        from feedback.judge import LLMJudge

        judge = LLMJudge(ctx.llm_holder.get_llm(), ctx.cfg.feedback.judge)
    cws = champion_ws(ctx.ws)
    report = Harvester(cws, None, judge).run(run_id=ctx.run_id, progress=ctx.progress)  # short connections
    with cws.db() as con:
        by_signal = dict(con.execute("SELECT signal, count(*) FROM pairs WHERE run_id = ? GROUP BY 1", [ctx.run_id]).fetchall())
        (agreement,) = con.execute(
            "SELECT avg(CASE WHEN judge_grade >= 2 THEN 1.0 ELSE 0.0 END) FROM judge_labels WHERE run_id = ? AND cited AND judge_grade IS NOT NULL",
            [ctx.run_id],
        ).fetchone()
    return {"labels": report.labels, "pairs": report.pairs, "negatives": report.negatives, "judge_calls": report.judge_calls,
            "pairs_by_signal": by_signal, "cited_judged_relevant": agreement}


# ---- train: candidates from all loop feedback so far ---------------------------------------------
def step_train(ctx: StepContext) -> dict:
    from training.candidates import train_embedder_candidate, train_reranker_candidate
    from training.loop_gate import PAIR

    runs = ctx.loop_run_ids()
    embedder = _candidate(lambda: train_embedder_candidate(ctx.ws, source="feedback", run_ids=runs))
    too_little = _too_little_for_a_reranker(ctx.ws, runs)
    out = {"embedder": embedder, "reranker": too_little or _candidate(lambda: train_reranker_candidate(ctx.ws, run_ids=runs))}
    if embedder.get("version_id") and too_little is None and ctx.cfg.training.loop.pair_reranker:
        # the same objective fitted over the embedder candidate: the reranker that would serve with
        # it, so the gate can judge the pair (training/loop_gate.choose_candidates)
        out[PAIR] = _candidate(lambda: train_reranker_candidate(ctx.ws, run_ids=runs, embedder_id=embedder["version_id"]))
    return out


def _too_little_for_a_reranker(ws, runs: list[str]) -> dict | None:
    """No reranker candidate while the feedback has fewer usable judged lists than
    `training.loop.reranker_min_lists` (its docstring: why); None when there are enough."""
    from training.data import load_scored_lists_from_workspace

    needed = ws.config.training.loop.reranker_min_lists
    if needed <= 0:
        return None
    lists, _ = load_scored_lists_from_workspace(ws, runs)
    if len(lists) >= needed:
        return None
    reason = (f"{len(lists)} usable judged lists in the loop's feedback, fewer than training.loop.reranker_min_lists "
              f"({needed}): not trained, not evaluated (more cycles add lists; 0 trains one every cycle)")
    log.info("no reranker candidate: %s", reason)
    return {"version_id": None, "reason": reason}


def _candidate(train) -> dict:
    """A registered candidate as a dict, or why there is none (too little feedback is not a crash)."""
    from rag_agent.errors import DataError

    try:
        return train().to_dict()
    except DataError as exc:
        log.warning("no candidate: %s", exc)
        return {"version_id": None, "reason": str(exc)}


# ---- reindex: shadow index for the candidate embedder (swapped in only by promotion) ---------------
def step_reindex(ctx: StepContext) -> dict:
    from training.reindex import shadow_reindex

    candidate = ctx.results["train"]["embedder"]
    if not candidate.get("version_id"):
        return {"skipped": "no embedder candidate"}
    return {"index_dir": str(shadow_reindex(ctx.ws, candidate["path"], show_progress=ctx.progress))}


# ---- evaluate: suites for champion vs candidates; the retrieval gate ------------------------------
def step_evaluate(ctx: StepContext) -> dict:
    from training.loop_gate import evaluate_cycle

    return evaluate_cycle(ctx.ws, ctx.results["train"]).to_dict()


def evaluation_of(ctx: StepContext):
    """The finished evaluate step, typed (evals/promotion_records.py)."""
    from evals.promotion import CycleEvaluation

    return CycleEvaluation.from_dict(ctx.results["evaluate"], ctx.results["train"])


# ---- probe: agent success of the proposed pipeline vs the champions on held-back tasks ------------
def step_probe(ctx: StepContext) -> dict:
    """Paired success difference on the same probe tasks; vetoes only a significant drop
    (training/loop_probe.py; the condition: evals/promotion.py)."""
    from evals.promotion import ProbeRun, PromotionPolicy
    from rag_agent.graph.runner import run_tasks
    from training.loop_probe import paired_probe

    t = ctx.cfg.training.loop
    policy = PromotionPolicy.from_config(ctx.cfg)
    evaluation = evaluation_of(ctx)
    skipped = policy.probe_skip(evaluation)
    if skipped is not None:
        return skipped.to_dict()
    _, tasks = probe_selection(ctx.pool(), t.probe_contracts, t.probe_tasks, t.seed)
    champ = champion_ws(ctx.ws)
    runs, outcomes, seconds = {}, {}, {}
    proposed = with_models(ctx.ws, evaluation.proposed.embedder_path, evaluation.proposed.reranker_path)
    for name, ws in (("champion", champ), ("proposed", proposed)):
        run_id = "probe-" + registry.slug_versions(ws.config.models.embedder, ws.config.models.reranker)
        started = time.perf_counter()
        with task_bar(f"cycle {ctx.cycle}: probe ({name})", ctx.progress) as (on_start, on_task):
            summary = run_tasks(ws, tasks, run_id, llm=ctx.llm_holder.get_llm(), workers=ctx.cfg.agent.workers, progress=on_task, on_start=on_start)
        seconds[name] = time.perf_counter() - started
        stop_on_outage(summary, run_id)
        runs[name] = ProbeRun(run_id=run_id, successes=summary.successes, labelled=summary.labelled)
        outcomes[name] = _outcomes(ctx.ws, run_id, [task.id for task in tasks])
    stats = paired_probe(outcomes["champion"], outcomes["proposed"], policy.probe_alpha, seed=policy.probe_seed)
    # A later cycle's champion is this cycle's proposed (or the same champion): its probe run is
    # on disk then, so the champion half is paid once; the planner leaves it out of later cycles.
    return policy.probe_result(runs["champion"], runs["proposed"], stats).to_dict() | {"one_off_s": round(seconds["champion"], 2)}


def _outcomes(ws, run_id: str, task_ids: list[str]) -> dict[str, bool]:
    """Task id -> solved, for the checked tasks of `run_id` among `task_ids`."""
    with ws.db() as con:
        rows = con.execute("SELECT task_id, success FROM outcomes WHERE run_id = ? AND success IS NOT NULL", [run_id]).fetchall()
    wanted = set(task_ids)
    return {task_id: bool(ok) for task_id, ok in rows if task_id in wanted}


# ---- decide: promote or reject, with the reason ---------------------------------------------------
def step_decide(ctx: StepContext) -> dict:
    """Applies the promotion policy's decision (evals/promotion.py) to the registry."""
    from evals.promotion import ProbeResult, PromotionPolicy

    evaluation = evaluation_of(ctx)
    decision = PromotionPolicy.from_config(ctx.cfg).decide(ctx.cycle, evaluation, ProbeResult.from_dict(ctx.results["probe"]))
    for kind in decision.kinds:
        if kind.version_id is None:
            continue
        current = registry.get_version(ctx.ws, kind.version_id).status
        if current == "candidate":  # a resumed decide must not act twice
            act = registry.promote if kind.promoted else registry.reject
            act(ctx.ws, kind.version_id, reason=kind.reason, metrics=evaluation.registry_metrics(kind.kind))
    for version_id, why in evaluation.unused.items():  # trained, not judged: no candidate is left pending
        if registry.get_version(ctx.ws, version_id).status == "candidate":
            registry.reject(ctx.ws, version_id, reason=why, metrics={})
    return decision.to_dict()
