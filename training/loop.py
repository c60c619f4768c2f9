"""`training loop --cycles N`: agent → harvest → train → shadow re-index → evaluate → gate → promote.

Each cycle runs the steps in `STEPS`. A step's result is written to `loop_steps` (DuckDB) only when
the step has finished, so after a crash (even kill -9) the loop re-runs just the unfinished step:
the agent resumes its run id without duplicates, harvest is incremental, training writes its
model folder atomically and registers it once, evaluation is recomputed, and a decision is
applied at most once (the registry refuses to promote a non-candidate).

Gate (all must hold to promote; the reason is recorded either way; the one promotion policy,
evals/promotion.py, decides, the steps apply its decision):
  embedder — dev in-domain NDCG@10 rises significantly (paired bootstrap, CI above 0), and no MTEB
             law task drops by more than `gate.tolerance` significantly;
  reranker — on top of the embedder that will be champion, reranked dev NDCG@10 rises
             significantly over the current pipeline, and no law task drops;
  agent    — on probe tasks (held-back train contracts, never trained on) the proposed pipeline
             does not solve significantly fewer tasks than the champions (paired, exact McNemar;
             training/loop_probe.py).

With a deadline (`training loop --minutes M`), each cycle's task count is planned from measured
throughput (training/loop_plan.py) and recorded in its `select` payload, so a resumed cycle keeps
its plan; inside the cycle the agent stage stops starting tasks once the harvest they owe would
carry the cycle past its share of the time (training/loop_deadline.py).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from training import loop_steps as steps
from training import registry

log = logging.getLogger(__name__)

STEPS = ("select", "agent", "harvest", "train", "reindex", "evaluate", "probe", "decide")


@dataclass
class CycleRow:
    """One line of the loop's final table (and of the report)."""

    cycle: int
    tasks: int = 0
    success: float | None = None
    pairs: int = 0
    pairs_by_signal: dict = field(default_factory=dict)
    judge_agreement: float | None = None
    dev_embedder: float | None = None
    dev_reranked: float | None = None
    dev_champion: float | None = None
    law: dict = field(default_factory=dict)
    decision: str = ""
    reason: str = ""
    seconds: dict = field(default_factory=dict)
    champion: dict = field(default_factory=dict)  # suite -> NDCG@10 of the champion pipeline (before the cycle)
    candidate: dict = field(default_factory=dict)  # suite -> the candidate embedder alone (suites scored)
    reranked: dict = field(default_factory=dict)  # suite -> the candidate reranker's pipeline (suites scored)
    labels: int = 0
    calibrated_precision: float | None = None  # of the judge's positives, when the harvest measured it
    probe: str = ""
    verdict: str = ""
    rerank_depth: int | None = None
    losses: dict = field(default_factory=dict)  # "embedder" / "reranker" -> training loss per optimizer step


class TrainingLoop:
    """Runs cycles on a workspace. `llm` (agent + judge) may be injected; else built from config."""

    def __init__(self, ws, llm=None, progress: bool = True):
        self.ws = ws
        self.llm = llm
        self.progress = progress
        registry.ensure_base(ws)

    # ---- state ------------------------------------------------------------------------------------
    def done_steps(self, cycle: int) -> dict[str, dict]:
        with self.ws.db() as con:
            rows = con.execute("SELECT step, payload FROM loop_steps WHERE cycle = ?", [cycle]).fetchall()
        return {step: json.loads(payload) for step, payload in rows}

    def _finish(self, cycle: int, step: str, payload: dict, seconds: float) -> None:
        with self.ws.db() as con:
            con.execute("INSERT INTO loop_steps VALUES (?, ?, ?, ?, current_timestamp)", [cycle, step, json.dumps(payload), seconds])

    def last_finished_cycle(self) -> int:
        with self.ws.db() as con:
            (n,) = con.execute("SELECT coalesce(max(cycle), 0) FROM loop_steps WHERE step = 'decide'").fetchone()
        return int(n)

    # ---- running ----------------------------------------------------------------------------------
    def run(self, cycles: int, on_cycle=None, deadline: float | None = None) -> list[CycleRow]:
        """Run until `cycles` cycles have finished in this workspace (earlier runs count).
        `deadline` (time.time() seconds): size each cycle's tasks so the run ends by then."""
        rows = []
        for cycle in range(1, cycles + 1):
            rows.append(self.run_cycle(cycle, self._plan(cycle, cycles, deadline), deadline))
            if on_cycle:
                on_cycle(rows[-1])
        return rows

    def _plan(self, cycle: int, cycles: int, deadline: float | None) -> tuple[int, dict] | None:
        if deadline is None or "select" in self.done_steps(cycle):
            return None
        from training.loop_plan import measured_throughput, plan_tasks

        throughput = measured_throughput([self.done_steps(c) for c in range(1, cycle)])
        if not throughput.measured:
            throughput = self._probed_throughput() or throughput
        left = deadline - time.time()
        tasks = plan_tasks(left, cycles - cycle + 1, throughput)
        extra = self._first_reranker_s(cycle, tasks)
        if extra:
            tasks = plan_tasks(left, cycles - cycle + 1, throughput, extra)
            log.info("cycle %d: its feedback should reach training.loop.reranker_min_lists: %.0f s kept for its first reranker", cycle, extra)
        log.info("cycle %d: %d tasks planned (%.0f s left for %d cycles; %s)", cycle, tasks, left, cycles - cycle + 1, throughput.to_dict())
        return tasks, throughput.to_dict() | {"seconds_left": round(left), "cycles_left": cycles - cycle + 1, "reranker_s": extra}

    def _first_reranker_s(self, cycle: int, tasks: int) -> float:
        """Seconds the cycle's first reranker (train + dev scoring) will add, if its feedback will
        reach `reranker_min_lists` at the list yield per task seen so far (training/loop_plan.py)."""
        from training.data import load_scored_lists_from_workspace
        from training.loop_plan import reranker_extra_s

        earlier = [self.done_steps(c) for c in range(1, cycle)]
        done_tasks = sum(int(d.get("agent", {}).get("tasks") or 0) for d in earlier)
        needed = self.ws.config.training.loop.reranker_min_lists
        trained_one = any((d.get("train", {}).get("reranker") or {}).get("version_id") for d in earlier)
        if not done_tasks or needed <= 0 or trained_one:
            return 0.0  # nothing to extrapolate from, or the measured cycles already paid for rerankers
        lists, _ = load_scored_lists_from_workspace(self.ws, steps.loop_run_ids(cycle - 1))
        return reranker_extra_s(len(lists), len(lists) / done_tasks, tasks, needed, measured_had_one=False)

    def run_cycle(self, cycle: int, plan: tuple[int, dict] | None = None, deadline: float | None = None) -> CycleRow:
        done = self.done_steps(cycle)
        context = steps.StepContext(ws=self.ws, cycle=cycle, results=done, llm_holder=self, progress=self.progress,
                                    planned_tasks=plan[0] if plan else None, plan=plan[1] if plan else None, deadline=deadline)
        for name in STEPS:
            if name in done:
                continue
            log.info("cycle %d: %s", cycle, name)
            started = time.perf_counter()
            payload = getattr(steps, f"step_{name}")(context)
            seconds = time.perf_counter() - started
            payload["seconds"] = round(seconds, 2)
            self._finish(cycle, name, payload, seconds)
            done[name] = payload
        return cycle_row(cycle, done)

    def _probed_throughput(self):
        """Before any cycle has measured itself: scale the reference cycle by the LLM's prompt speed
        on this machine (one ~300-token prompt; llama.cpp backends only, else None)."""
        from rag_agent.llm.speed import prompt_tokens_per_second
        from training.loop_plan import probed_throughput

        tps = prompt_tokens_per_second(self.get_llm())
        if tps is None:
            return None
        log.info("LLM reads %.1f prompt tokens/s here: the first cycle is planned from that", tps)
        return probed_throughput(tps)

    def get_llm(self):
        if self.llm is None:
            from rag_agent.llm.factory import load_llm

            self.llm = load_llm(self.ws.config.llm)
        return self.llm

    def rows(self) -> list[CycleRow]:
        return [cycle_row(c, self.done_steps(c)) for c in range(1, self.last_finished_cycle() + 1)]


def cycle_row(cycle: int, done: dict[str, dict]) -> CycleRow:
    from evals.promotion import CycleDecision, CycleEvaluation, ProbeResult

    agent, harvest = done.get("agent", {}), done.get("harvest", {})
    evaluation = CycleEvaluation.from_dict(done.get("evaluate", {}), done.get("train"))
    decision, probe = CycleDecision.from_dict(done.get("decide", {})), ProbeResult.from_dict(done.get("probe", {}))
    dev = evaluation.dev_suite
    return CycleRow(
        cycle=cycle,
        tasks=agent.get("tasks", 0),
        success=agent.get("success_rate"),
        pairs=harvest.get("pairs", 0),
        pairs_by_signal=harvest.get("pairs_by_signal", {}),
        judge_agreement=harvest.get("cited_judged_relevant"),
        dev_embedder=(evaluation.embedder.scores or {}).get(dev),
        dev_reranked=(evaluation.reranker.scores or {}).get(dev),
        dev_champion=evaluation.champion.get(dev),
        law={k: v for k, v in evaluation.proposed_scores().items() if k != dev},
        decision=decision.summary,
        reason=decision.reason,
        seconds={name: done[name].get("seconds", 0.0) for name in STEPS if name in done},
        champion=evaluation.champion,
        candidate=evaluation.embedder.scores or {},
        reranked=evaluation.reranker.scores or {},
        labels=harvest.get("labels", 0),
        calibrated_precision=harvest.get("calibrated_precision"),
        probe=probe.text or probe.skipped,
        verdict=decision.verdict,
        rerank_depth=evaluation.rerank_depth,
        losses={kind: c["metrics"]["losses"] for kind, c in done.get("train", {}).items()
                if isinstance(c, dict) and c.get("metrics", {}).get("losses")},
    )


def report_path(ws) -> Path:
    return ws.root / "report.html"
