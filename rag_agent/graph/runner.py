"""Run tasks through the agent graph and leave one complete trace per task.

`run_tasks` is the Python API the CLI and the training loop share. Each task runs the compiled
graph (streamed, so a task that fails mid-way still keeps the trace of what it did), is scored by
the answer checker when the task file has gold answers, and is committed to the trace store in one
transaction. Tasks already committed under the same run id are skipped, so an interrupted run is
continued by running it again.

Outages: a task whose LLM stayed unreachable through every transport retry (`LLMUnavailableError`)
is not the task's fault, so it is NOT committed: it stays pending and a resumed run (same run id)
runs it again, while a task that failed for its own reasons is committed as 'failed' and is not
retried. (Committing it with a special status would let `feedback harvest` consume a trace that
the resume later replaces.) After `agent.max_consecutive_failures` such tasks in a row the run
stops: the summary's `outage` says why and the CLI exits non-zero.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from rag_agent.errors import LLMUnavailableError, RagloopError
from rag_agent.graph.build import build_graph, run_config
from rag_agent.graph.prompts import PROMPT_VERSION
from rag_agent.graph.state import AgentDeps, AgentState, initial_state
from rag_agent.tasks import Task, load_tasks, preflight
from rag_agent.tracing import TraceStore

log = logging.getLogger(__name__)

Checker = Callable[[str | None, str, str], object]  # (answer_type, predicted, gold) -> CheckResult


@dataclass
class TaskResult:
    task_id: str
    status: str  # 'done' | 'failed' | 'skipped' (already in the run) | 'unreachable' (not committed; retried on resume) | 'stopped' (not started: `may_start`)
    error: str | None = None
    answer: str = ""
    citations: list[dict] = field(default_factory=list)  # {"n", "ref", "doc_id", "text"}
    success: bool | None = None
    seconds: float = 0.0
    llm_seconds: float = 0.0


@dataclass
class RunSummary:
    run_id: str
    tasks: int = 0
    done: int = 0
    failed: int = 0
    skipped_now: int = 0  # already present when this invocation started
    labelled: int = 0
    successes: int = 0
    success_by_type: dict[str, tuple[int, int]] = field(default_factory=dict)  # type -> (successes, labelled)
    citations_per_task: float = 0.0
    rewrites_per_task: float = 0.0
    fallback_rate: float = 0.0
    seconds_per_task: float = 0.0
    llm_share: float = 0.0  # share of task wall time spent inside LLM calls
    problems: list[str] = field(default_factory=list)  # malformed task-file lines
    unreachable: int = 0  # tasks of this invocation left pending because the LLM was unreachable
    not_started: int = 0  # tasks left pending because the run stopped on an outage
    stopped: int = 0  # tasks `may_start` refused (a deadline): not run, and not pending either
    outage: str | None = None  # why the run stopped early (None: it did not)

    @property
    def pending(self) -> int:
        """Tasks a resume with the same run id will run again."""
        return self.unreachable + self.not_started

    @property
    def success_rate(self) -> float | None:
        return self.successes / self.labelled if self.labelled else None


def default_deps(ws, llm=None, retriever=None, web=None) -> AgentDeps:
    """The real parts for a workspace, for whichever of them the caller did not inject."""
    cfg = ws.config
    if llm is None:
        from rag_agent.llm.factory import load_llm

        llm = load_llm(cfg.llm)
    if retriever is None:
        from rag_agent.retrieval.searcher import WorkspaceRetriever

        retriever = WorkspaceRetriever.open(ws)
    if web is None:
        from rag_agent.web_search import load_web_search

        web = load_web_search(cfg.agent.web_search, cfg=cfg, timeout_s=cfg.agent.web_timeout_s)
    return AgentDeps(llm=llm, retriever=retriever, web=web, cfg=cfg.agent, max_tokens=cfg.llm.max_tokens)


def default_checker() -> Checker:
    from rag_agent.checkers import check

    return check


def known_doc_ids(store: TraceStore) -> set[str]:
    return {row[0] for row in store.query("SELECT doc_id FROM documents")}


def run_graph(graph, deps: AgentDeps, task: Task) -> tuple[AgentState, RagloopError | None]:
    """Stream the graph; on a user-facing failure return the last state reached and the error."""
    state: AgentState = initial_state(task.id, task.question, task.doc_id, task.answer_type)
    try:
        for values in graph.stream(state, config=run_config(deps), stream_mode="values"):
            state = values
    except RagloopError as exc:
        return state, exc
    return state, None


def execute_task(graph, deps: AgentDeps, store: TraceStore, run_id: str, task: Task, checker: Checker | None,
                 doc_ids: set[str] | None) -> TaskResult:
    started = time.perf_counter()
    trace = store.begin_task(run_id, task.id, doc_id=task.doc_id, question=task.question, answer_type=task.answer_type)
    problem = preflight(task, doc_ids)
    state: AgentState = {}
    if problem is None:
        state, error = run_graph(graph, deps, task)
        if isinstance(error, LLMUnavailableError):
            log.warning("task %s not run: %s (it stays pending; resume the run id to retry it)", task.id, error)
            return TaskResult(task_id=task.id, status="unreachable", error=str(error), seconds=time.perf_counter() - started)
        problem = str(error) if error else None
    for step_no, step in enumerate(state.get("steps", []), start=1):
        store.record(trace, "steps", step_no=step_no, **step)
    for item in state.get("events", []):
        row = dict(item)
        store.record(trace, row.pop("table"), **row)
    result = TaskResult(task_id=task.id, status="failed" if problem else "done", error=problem)
    if problem and task.answer is not None:
        # A labelled task that failed counts as unsuccessful: a run must not look better by failing.
        store.record(trace, "outcomes", success=False, checker=task.answer_type, predicted=None, gold=task.answer,
                     reason=f"task failed: {problem}")
    if not problem:
        result.answer = state.get("answer", "")
        context = state.get("context", [])
        result.citations = [
            {"n": n, "ref": context[n - 1]["ref"], "doc_id": context[n - 1]["doc_id"], "text": context[n - 1]["text"]}
            for n in state.get("cited", [])
        ]
        if task.answer is not None:
            verdict = (checker or default_checker())(task.answer_type, result.answer, task.answer)
            result.success = getattr(verdict, "success", None)
            store.record(trace, "outcomes", success=result.success, checker=task.answer_type, predicted=result.answer,
                         gold=task.answer, reason=getattr(verdict, "reason", ""))
        else:
            store.record(trace, "outcomes", success=None, checker=task.answer_type, predicted=result.answer, gold=None,
                         reason="no gold answer in the task file")
    steps = state.get("steps", [])
    result.seconds = time.perf_counter() - started
    result.llm_seconds = sum(s["llm_seconds"] for s in steps)
    committed = store.commit_task(
        trace, result.status, error=problem, seconds=result.seconds, llm_seconds=result.llm_seconds,
        tokens_in=sum(s["tokens_in"] for s in steps), tokens_out=sum(s["tokens_out"] for s in steps),
    )
    if not committed:  # another worker or an earlier run got there first
        result.status = "skipped"
    if problem:
        log.warning("task %s failed: %s", task.id, problem)
    return result


def run_tasks(ws, tasks: Iterable[Task] | str | Path, run_id: str, llm=None, retriever=None, web=None, workers: int = 1,
              limit: int | None = None, *, checker: Checker | None = None, store: TraceStore | None = None,
              progress: Callable[[TaskResult], None] | None = None, seed: int | None = None,
              on_start: Callable[[int], None] | None = None, may_start: Callable[[], bool] | None = None) -> RunSummary:
    """Run `tasks` (a list or a JSONL path) under `run_id`, skipping tasks the run already has.
    `may_start`, asked before each task, can stop the run early (training/loop_deadline.py)."""
    problems: list[str] = []
    tasks_file = ""
    if isinstance(tasks, (str, Path)):
        tasks_file = str(tasks)
        loaded = load_tasks(tasks)
        tasks, problems = loaded.tasks, loaded.problems
    tasks = list(tasks)[:limit] if limit is not None else list(tasks)
    own_store = store is None
    store = store or TraceStore.for_workspace(ws)
    try:
        finished = store.finished_task_ids(run_id)
        pending = [t for t in tasks if t.id not in finished]
        if on_start:
            on_start(len(pending))
        if not pending:
            return summarize(store, run_id, skipped_now=len(tasks), problems=problems)
        deps = default_deps(ws, llm, retriever, web)
        config = ws.config.to_dict() | {"prompt_version": PROMPT_VERSION}
        store.begin_run(run_id, tasks_file=tasks_file, llm=getattr(deps.llm, "name", ""), seed=seed, config=config,
                        embedder_version=deps.retriever.embedder_version, reranker_version=deps.retriever.reranker_version)
        graph = build_graph(deps)
        doc_ids = known_doc_ids(store)
        checker = checker or (default_checker() if any(t.answer is not None for t in pending) else None)
        breaker = _OutageBreaker(ws.config.agent.max_consecutive_failures)

        def one(task: Task) -> TaskResult | None:
            if breaker.tripped:
                return None  # the LLM is down: leave the task pending instead of paying its retries
            if may_start is not None and not may_start():
                return TaskResult(task_id=task.id, status="stopped")
            result = execute_task(graph, deps, store, run_id, task, checker, doc_ids)
            breaker.observe(result)
            if progress:
                progress(result)
            return result

        if workers <= 1:
            results = [one(task) for task in pending]
        else:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="agent") as pool:
                results = list(pool.map(one, pending))
        summary = summarize(store, run_id, skipped_now=len(tasks) - len(pending), problems=problems)
        summary.unreachable = sum(1 for r in results if r is not None and r.status == "unreachable")
        summary.not_started = sum(1 for r in results if r is None)
        summary.stopped = sum(1 for r in results if r is not None and r.status == "stopped")
        summary.outage = breaker.reason
        return summary
    finally:
        if own_store:
            store.close()


class _OutageBreaker:
    """Counts tasks failing in a row because the LLM is unreachable; trips at `limit`."""

    def __init__(self, limit: int):
        self.limit = max(1, limit)
        self.consecutive = 0
        self.reason: str | None = None
        self._lock = threading.Lock()

    @property
    def tripped(self) -> bool:
        return self.reason is not None

    def observe(self, result: TaskResult) -> None:
        with self._lock:
            if result.status != "unreachable":
                self.consecutive = 0
                return
            self.consecutive += 1
            if self.consecutive >= self.limit and self.reason is None:
                self.reason = (f"the LLM was unreachable for {self.consecutive} tasks in a row "
                               f"(agent.max_consecutive_failures={self.limit}); last error: {result.error}")


def summarize(store: TraceStore, run_id: str, skipped_now: int = 0, problems: list[str] | None = None) -> RunSummary:
    """Figures over every committed task of the run (a resumed run includes earlier tasks)."""
    summary = RunSummary(run_id=run_id, skipped_now=skipped_now, problems=list(problems or []))
    row = store.query(
        """SELECT count(*), count(*) FILTER (status = 'done'), count(*) FILTER (status = 'failed'),
                  coalesce(sum(seconds), 0), coalesce(sum(llm_seconds), 0)
           FROM tasks WHERE run_id = ?""", [run_id])[0]
    summary.tasks, summary.done, summary.failed, seconds, llm_seconds = row
    if not summary.tasks:
        return summary
    summary.seconds_per_task = seconds / summary.tasks
    summary.llm_share = llm_seconds / seconds if seconds else 0.0
    per_task = lambda table: store.query(f"SELECT count(*) FROM {table} WHERE run_id = ?", [run_id])[0][0] / summary.tasks  # noqa: E731
    summary.citations_per_task = per_task("citations")
    summary.rewrites_per_task = per_task("rewrites")
    summary.fallback_rate = store.query(
        "SELECT count(DISTINCT task_id) FROM web_fallbacks WHERE run_id = ?", [run_id])[0][0] / summary.tasks
    by_type = store.query(
        """SELECT coalesce(checker, 'unknown'), count(*) FILTER (success), count(*)
           FROM outcomes WHERE run_id = ? AND success IS NOT NULL GROUP BY 1 ORDER BY 1""", [run_id])
    summary.success_by_type = {kind: (int(ok), int(n)) for kind, ok, n in by_type}
    summary.successes = sum(ok for ok, _ in summary.success_by_type.values())
    summary.labelled = sum(n for _, n in summary.success_by_type.values())
    return summary
