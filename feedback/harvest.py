"""`feedback harvest`: traces -> judge labels, preference pairs, rewards, hard negatives.

Incremental and crash-safe: each task's products are written in ONE transaction together with
its `harvest_state` row, so a task is either fully harvested or not at all; a rerun picks up
exactly the tasks without a state row. Malformed traces and judge batches whose output stays
invalid after the LLM layer's retries are skipped and counted (harvest_log); a backend that
cannot give log-probabilities at all (`LogprobsUnavailable`) stops the harvest at once.

Pointwise judges (pointwise, passage-first) judge every pending (question, chunk) first,
chunk-major, storing each verdict in judge_cache as it comes (feedback/judge_order.py: a kill -9
loses at most one judgment); each task is then derived from the cache. `regrade` re-derives
harvested tasks from the cache under today's rules without calling the judge. Tasks whose checked
answer says the clause is absent are not judged (`feedback.judge_absent_clauses`): their chunks are
labelled 0 by that verdict (signal `verified_absent`).
"""

from __future__ import annotations

import json
from contextlib import contextmanager
import logging
import time
import uuid
from dataclasses import asdict, dataclass, replace

from rag_agent.db import transaction
from rag_agent.errors import LLMError
from rag_agent.llm.base import LogprobsUnavailable
from rag_agent.protocols import Label

from feedback.evidence import answer_variants, contains_answer
from feedback import judge_order
from feedback.judge import POINTWISE_MODES, JudgeCache, calibrated_grades, consensus_grades, final_grade, relative_grades
from feedback.negatives import Negative, NegativeMiner
from feedback.pairs import Pair, resolve
from feedback.rewards import Reward, ranking_rewards, task_reward
from feedback.signals import RELEVANT_GRADE, WEB_FALLBACK, candidates
from feedback.traces import MalformedTrace, TaskTrace, chunk_texts, load_task, pending_tasks

log = logging.getLogger(__name__)
VERIFIED_ABSENT = "verified_absent"  # a label the checked answer gives: the clause is not in the contract
RULE_VERSIONS = {VERIFIED_ABSENT: "verified-absent-v1"}  # judge_labels.prompt_version of rule labels; else answer containment


@dataclass
class HarvestReport:
    tasks_harvested: int = 0
    tasks_skipped: int = 0
    judge_calls: int = 0
    judge_cache_hits: int = 0
    judge_invalid: int = 0
    chunks_unlabeled: int = 0
    labels: int = 0
    pairs: int = 0
    rewards: int = 0
    negatives: int = 0
    conflicts_dropped: int = 0
    seconds: float = 0.0


@dataclass
class LabelRow:
    chunk_id: str
    content_hash: str
    grade: int
    judge_grade: int | None
    score: float | None
    answer_hit: bool | None
    cited: bool
    reason: str
    signal: str


@dataclass
class TaskProducts:
    labels: list[LabelRow]
    new_cache: list[tuple[str, Label]]  # (content hash, raw judge label) to store with the task
    pairs: list[Pair]
    rewards: list[Reward]
    negatives: list[Negative]


class Harvester:
    """`con=None` (what the CLI and the loop pass): the harvester opens the workspace database only
    for each read or transaction and never holds it across LLM calls, so other commands can read
    (or an agent run write) the workspace while a long harvest judges. With a connection given, it
    uses that one throughout (tests, callers inside a transaction of their own)."""

    def __init__(self, ws, con=None, judge=None, miner: NegativeMiner | None = None, workers: int = 1):
        self.ws, self.con, self.judge = ws, con, judge
        self._short = con is None  # open short-lived connections (see `_db`)
        self.workers = max(1, workers)  # concurrent judge requests (OpenAI-compatible servers only)
        self.cfg = ws.config.feedback
        self.cache = JudgeCache(con, judge, opener=self._db if self._short else None) if judge is not None else None
        # None: judge cache misses while deriving; "prejudged": judged chunk-major before deriving;
        # "regrade": re-deriving from the cache alone.
        self.cache_only: str | None = None
        self.miner = miner if miner is not None else NegativeMiner(ws)
        self.report = HarvestReport()

    @contextmanager
    def _db(self):
        """The connection to use for one read or write: the caller's, or (con=None) a short-lived
        one that waits out other processes' locks (rag_agent.db.connect). Re-entrant."""
        if not self._short or self.con is not None:
            yield self.con
            return
        from rag_agent.db import connect

        self.con = connect(self.ws.db_path, lock_wait_s=self.ws.config.workspace.lock_wait_s)
        try:
            yield self.con
        finally:
            self.con.close()
            self.con = None

    def run(self, run_id: str | None = None, progress: bool = False) -> HarvestReport:
        started = time.perf_counter()
        with self._db():
            todo = pending_tasks(self.con, run_id)
            log.info("harvesting %d new task(s) with judge %s", len(todo), self.judge_name)
            traces = [t for t in (self._load(*key) for key in todo) if t is not None]
        try:
            if self.judge is not None and self.judge_mode in POINTWISE_MODES:
                self._judge_chunk_major(traces, progress)
            for trace in _progress(traces, progress and self.cache_only is None):
                with self._db():
                    self._harvest_trace(trace)
        finally:
            if self.cache is not None and self.cache_only != "prejudged":
                self.report.judge_cache_hits = self.cache.hits
            self.report.seconds = time.perf_counter() - started
            if todo:
                with self._db():
                    self._log()
        return self.report

    def regrade(self, run_id: str | None = None, progress: bool = False) -> HarvestReport:
        """Re-derive already-harvested tasks from the judge cache under today's rules: each task's
        old products are deleted and rewritten in ONE transaction; the judge is never called
        (a chunk without a cached verdict stays unlabeled, counted in chunks_unlabeled)."""
        with self._db():  # no LLM call anywhere in a regrade: one connection throughout
            return self._regrade_all(run_id, progress)

    def _regrade_all(self, run_id: str | None, progress: bool) -> HarvestReport:
        started = time.perf_counter()
        self.cache_only = "regrade"
        sql = "SELECT run_id, task_id FROM harvest_state WHERE status = 'harvested'" + (" AND run_id = ?" if run_id else "")
        keys = [tuple(r) for r in self.con.execute(sql + " ORDER BY run_id, task_id", [run_id] if run_id else []).fetchall()]
        for key in _progress(keys, progress):
            trace = load_task(self.con, *key)  # harvested once, so it loaded once
            products = self.derive(trace)
            self._transaction(lambda: (self._delete_products(*key), self._write_task(trace, products)))
            self._count(products)
        self.report.seconds = time.perf_counter() - started
        return self.report

    @property
    def judge_settings(self):
        """The settings of the judge this harvester was GIVEN (an `LLMJudge` carries its
        `feedback.judge` section); the workspace's section only for a judge that carries none."""
        return getattr(self.judge, "settings", None) or self.cfg.judge

    @property
    def judge_mode(self) -> str | None:
        """The mode of the judge this harvester was GIVEN (not the workspace config's)."""
        return getattr(getattr(self.judge, "settings", None), "mode", None)

    @property
    def judge_name(self) -> str:
        return self.judge.name if self.judge is not None else "none"

    def _load(self, run_id: str, task_id: str) -> TaskTrace | None:
        try:
            return load_task(self.con, run_id, task_id)
        except MalformedTrace as exc:
            log.warning("skipping malformed trace: %s", exc)
            self.report.tasks_skipped += 1
            reason = str(exc)
            self._transaction(lambda: self._write_state(run_id, task_id, "skipped", reason))
            return None

    def harvest_task(self, run_id: str, task_id: str) -> None:
        trace = self._load(run_id, task_id)
        if trace is not None:
            self._harvest_trace(trace)

    def _harvest_trace(self, trace: TaskTrace) -> None:
        products = self.derive(trace)
        self._transaction(lambda: self._write_task(trace, products))
        self._count(products)

    def _count(self, products: TaskProducts) -> None:
        self.report.tasks_harvested += 1
        self.report.labels += len(products.labels)
        self.report.pairs += len(products.pairs)
        self.report.rewards += len(products.rewards)
        self.report.negatives += len(products.negatives)

    def _judge_chunk_major(self, traces: list[TaskTrace], progress: bool) -> None:
        """Judge every cache miss of every pending task first, chunk-major (feedback/judge_order.py);
        deriving then reads the verdicts from the cache and calls the judge no more."""
        items = []
        with self._db():
            for trace in (t for t in traces if not self._verified_absent(t)):
                texts = chunk_texts(self.con, trace.chunk_ids())
                items.append((trace.question, self._to_judge(trace, texts), texts))
            judgments = judge_order.chunk_major(judge_order.collect(items, self.cache))
        self.report.judge_cache_hits = self.cache.hits
        log.info("judging %d (question, chunk) pair(s) over %d distinct chunk(s), chunk-major", len(judgments), len({j.content_hash for j in judgments}))
        self.cache_only = "prejudged"
        judge_order.judge_all(self.judge, self.cache, judgments, self.report, progress, self.workers)

    # ---- deriving ----------------------------------------------------------------------------
    def derive(self, trace: TaskTrace) -> TaskProducts:
        texts = chunk_texts(self.con, trace.chunk_ids())
        labels, new_cache = self._labels(trace, texts)
        grades = {row.chunk_id: row.grade for row in labels}
        resolution = resolve(candidates(trace, grades, self.cfg.max_pairs_per_rule))
        self.report.conflicts_dropped += resolution.dropped_conflicts
        pairs = [p for p in resolution.pairs if p.chosen in texts and p.rejected in texts]
        rewards = ranking_rewards(trace, grades) + [task_reward(trace, self.cfg)]
        return TaskProducts(labels, new_cache, pairs, rewards, self._negatives(trace, grades, texts))

    def _to_judge(self, trace: TaskTrace, texts: dict) -> list[str]:
        return [c for c in chunks_to_judge(trace, self.judge_settings.depth) if c in texts]

    def _verified_absent(self, trace: TaskTrace) -> bool:
        return verified_absent(trace, self.cfg)

    def _labels(self, trace: TaskTrace, texts: dict) -> tuple[list[LabelRow], list[tuple[str, Label]]]:
        chunk_ids = self._to_judge(trace, texts)
        cited_ok = set(trace.cited) if trace.succeeded else set()  # judge_labels.cited: cited in a successful task
        if self._verified_absent(trace):
            reason = "the checked answer says the clause is absent from the contract"
            return [LabelRow(c, texts[c][1], 0, None, None, None, c in cited_ok, reason, VERIFIED_ABSENT) for c in chunk_ids], []
        judged, new_cache = self._judge(trace.question, chunk_ids, texts) if self.judge is not None else ({}, [])
        judged = self._regrade(judged, trace)
        variants = answer_variants(trace.predicted or trace.final_answer, trace.answer_type) if trace.succeeded else None
        supported = verified_yes_chunk(trace, judged) if self.cfg.verified_yes_positive else None
        rows = []
        for chunk_id in chunk_ids:
            text, content_hash = texts[chunk_id]
            label = judged.get(chunk_id)
            judge_grade = label.grade if label is not None else None
            answer_hit = contains_answer(text, variants)
            cited = chunk_id in cited_ok
            grade = final_grade(judge_grade, answer_hit, cited)
            if grade is None:
                continue
            reason = label.reason if label is not None else ("answer found in chunk" if answer_hit else "answer not in chunk")
            signal = "llm_judge" if label is not None else "answer_containment"
            if chunk_id == supported and grade < RELEVANT_GRADE:
                grade, signal = RELEVANT_GRADE, "verified_yes"
                reason = f"{reason}; the judge's best-scored citation of a verified Yes"
            rows.append(LabelRow(chunk_id, content_hash, grade, judge_grade, label.score if label else None, answer_hit, cited, reason, signal))
        return rows, new_cache

    def _regrade(self, judged: dict[str, Label], trace: TaskTrace) -> dict[str, Label]:
        """Pointwise labels graded relative to the question's other judged chunks (config)."""
        scored = {c: label.score for c, label in judged.items() if label.score is not None and "p_yes" in label.extra}
        if self.cfg.pointwise_grading == "absolute" or self.judge_mode not in POINTWISE_MODES or not scored:
            return judged
        if self.cfg.pointwise_grading == "calibrated":
            grades = calibrated_grades(scored, *self.cfg.calibrated_rule(self.judge_mode))
        elif self.cfg.pointwise_grading == "consensus":
            grades = consensus_grades(scored, trace.best_ranks(), self.cfg.consensus_margin, self.cfg.consensus_max_rank)
        else:
            grades = relative_grades(scored, self.cfg.relative_margin)
        if self.cfg.positive_needs_clause and trace.clause_exists() is False:
            # A verified "No" (or a failed "Yes") means the clause is absent: nothing shown can be it.
            grades = {c: min(g, RELEVANT_GRADE - 1) for c, g in grades.items()}
        return {c: replace(label, grade=grades[c], reason=f"{label.reason} ({self.cfg.pointwise_grading})") if c in grades else label for c, label in judged.items()}

    def _judge(self, query: str, chunk_ids: list[str], texts: dict) -> tuple[dict[str, Label], list[tuple[str, Label]]]:
        cached = self.cache.lookup(query, [texts[c][1] for c in chunk_ids])
        out = {c: cached[texts[c][1]] for c in chunk_ids if texts[c][1] in cached}
        todo = [c for c in chunk_ids if c not in out]
        if self.cache_only is not None:  # judged chunk-major already, or regrading: never call the judge here
            if self.cache_only == "regrade":
                self.report.chunks_unlabeled += len(todo)
            return out, []
        # Identical text under two ids (overlapping re-ingests) is judged once.
        by_hash: dict[str, str] = {}
        for c in todo:
            by_hash.setdefault(texts[c][1], c)
        unique = list(by_hash.values())
        new_cache: list[tuple[str, Label]] = []
        batch = max(1, self.judge_settings.batch)
        for start in range(0, len(unique), batch):
            part = unique[start : start + batch]
            calls_before = getattr(self.judge, "calls", 0)
            try:
                labels = self.judge.grade(query, [(c, texts[c][0]) for c in part])
                if len(labels) != len(part):
                    raise LLMError(f"{len(labels)} labels", f"{len(part)} labels", "fix the judge")
            except LogprobsUnavailable:
                raise  # the backend cannot score at all: stop, keeping the tasks already written
            except LLMError as exc:  # JudgeOutputError included: invalid after the LLM layer's retries
                log.warning("judge output invalid for %d chunk(s), skipped: %s", len(part), exc)
                self.report.judge_invalid += 1
                self.report.chunks_unlabeled += sum(1 for c in todo if texts[c][1] in {texts[p][1] for p in part})
                continue
            finally:
                self.report.judge_calls += max(1, getattr(self.judge, "calls", calls_before + 1) - calls_before)
            for chunk_id, label in zip(part, labels):
                new_cache.append((texts[chunk_id][1], label))
        fresh = {h: label for h, label in new_cache}
        out.update({c: fresh[texts[c][1]] for c in todo if texts[c][1] in fresh})
        return out, new_cache

    def _negatives(self, trace: TaskTrace, grades: dict[str, int], texts: dict) -> list[Negative]:
        relevant = {c for c, g in grades.items() if g >= RELEVANT_GRADE} | (set(trace.cited) if trace.succeeded else set())
        out: dict[str, Negative] = {}
        positives = sorted((c for c in relevant if c in texts), key=lambda c: (-grades.get(c, 0), c not in trace.cited, c))
        if positives:
            positive = positives[0]
            for neg in self.miner.mine(trace.question, trace.doc_id, (positive, texts[positive][0]), relevant):
                out[neg.chunk_id] = neg
        if trace.n_fallbacks:
            for chunk_id in sorted(trace.shown() - relevant - set(out)):
                out[chunk_id] = Negative(chunk_id, None, None, None, 0, self.cfg.fallback_negative_weight, WEB_FALLBACK)
        return list(out.values())

    # ---- writing -----------------------------------------------------------------------------
    def _transaction(self, write) -> None:
        with transaction(self.con):
            write()

    def _delete_products(self, run_id: str, task_id: str) -> None:
        for table in PRODUCT_TABLES:
            self.con.execute(f"DELETE FROM {table} WHERE run_id = ? AND task_id = ?", [run_id, task_id])

    def _write_state(self, run_id: str, task_id: str, status: str, reason: str | None, clause_exists: bool | None = None) -> None:
        self.con.execute(
            "INSERT INTO harvest_state (run_id, task_id, status, reason, judge, clause_exists) VALUES (?, ?, ?, ?, ?, ?)",
            [run_id, task_id, status, reason, self.judge_name, clause_exists],
        )

    def _write_task(self, trace: TaskTrace, products: TaskProducts) -> None:
        key = [trace.run_id, trace.task_id]
        model = getattr(self.judge, "model", None)
        version = getattr(self.judge, "prompt_version", None)
        for content_hash, label in products.new_cache:
            self.cache.store(trace.question, content_hash, label)
        _insert_many(self.con, "judge_labels", [
            key + [trace.question, row.chunk_id, row.content_hash, row.grade, row.judge_grade, row.score, row.answer_hit,
                   row.cited, row.reason, row.signal] + ([model, version] if row.signal == "llm_judge" else ["rules", RULE_VERSIONS.get(row.signal, "answer-containment-v1")])
            for row in products.labels
        ])
        judged = any(row.signal == "llm_judge" for row in products.labels)
        _insert_many(self.con, "pairs", [
            key + [p.query, p.chosen, p.rejected, p.weight, p.signal, ",".join(p.support), ",".join(p.overruled) or None]
            + ([model, version] if judged and "judge_graded" in p.support + p.overruled else [None, None])
            for p in products.pairs
        ])
        _insert_many(self.con, "rewards", [
            key + [r.kind, r.attempt, r.stage, r.query, r.value, r.coverage, trace.success, len(trace.rewrites), trace.n_fallbacks,
                   trace.tokens, r.ranking_model] + ([model, version] if judged and r.kind == "ranking" else [None, None])
            for r in products.rewards
        ])
        embedder_version = self.miner.embedder_version if any(n.signal == "mined" for n in products.negatives) else None
        _insert_many(self.con, "negatives", [
            key + [trace.question, n.chunk_id, n.positive, n.score, n.positive_score, n.rank, n.weight, n.signal,
                   embedder_version if n.signal == "mined" else None]
            for n in products.negatives
        ])
        self._write_state(trace.run_id, trace.task_id, "harvested", None, trace.clause_exists())

    def _log(self) -> None:
        r = self.report
        self.con.execute(
            "INSERT INTO harvest_log (harvest_id, seconds, judge, tasks_harvested, tasks_skipped, judge_calls, judge_cache_hits, "
            "judge_invalid, chunks_unlabeled, labels, pairs, rewards, negatives) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [uuid.uuid4().hex, r.seconds, self.judge_name, r.tasks_harvested, r.tasks_skipped, r.judge_calls, r.judge_cache_hits,
             r.judge_invalid, r.chunks_unlabeled, r.labels, r.pairs, r.rewards, r.negatives],
        )


PRODUCT_TABLES = ("judge_labels", "pairs", "rewards", "negatives", "harvest_state")


def _insert_many(con, table: str, rows: list[list]) -> None:
    """One multi-row INSERT: DuckDB pays per statement, not per row."""
    if not rows:
        return
    placeholders = "(" + ", ".join("?" * len(rows[0])) + ")"
    con.execute(f"INSERT INTO {table} VALUES " + ", ".join([placeholders] * len(rows)), [v for row in rows for v in row])


def _progress(items: list, enabled: bool):
    if not enabled or len(items) < 2:
        yield from items
        return
    from rich.progress import track

    yield from track(items, description="harvesting")


def report_json(report: HarvestReport) -> str:
    return json.dumps(asdict(report), indent=2)


def verified_yes_chunk(trace: TaskTrace, judged: dict[str, Label]) -> str | None:
    """The chunk behind a verified "Yes": a yes/no task the checker passed with a Yes answer must
    have been shown the clause, and of the chunks the agent cited, the one the judge scores highest
    is the best guess for it. (A verified "No" names no chunk; dates and texts use containment.)"""
    answer = (trace.predicted or trace.final_answer or "").strip().lower()
    if not (trace.succeeded and trace.answer_type == "yes_no" and answer.startswith("yes")):
        return None
    scored = [(label.score, chunk_id) for chunk_id, label in judged.items() if chunk_id in trace.cited and label.score is not None]
    return max(scored)[1] if scored else None


def chunks_to_judge(trace: TaskTrace, depth: int) -> list[str]:
    """Top `depth` of every served ranking, the chunks each attempt showed (after a rewrite they
    need not be its top ranks: agent.rewrite_shows_new), and everything cited or ignored, in
    first-seen order."""
    order: list[str] = []
    for attempt, stage in trace.served_rankings():
        ranking = trace.ranking(attempt, stage)
        order += [r.chunk_id for r in ranking[:depth]] + [r.chunk_id for r in ranking if r.shown]
    order += list(trace.cited) + list(trace.ignored)
    return list(dict.fromkeys(order))


def verified_absent(trace: TaskTrace, feedback_cfg) -> bool:
    """The checked answer says the clause is absent and such tasks are not judged
    (`feedback.judge_absent_clauses`): every chunk to judge is a verified negative."""
    return not feedback_cfg.judge_absent_clauses and trace.clause_exists() is False


def judgments_needed(trace: TaskTrace, feedback_cfg) -> int:
    """(question, chunk) judgments the harvest will ask of the LLM judge for this finished task
    before its cache is consulted (training/loop_deadline.py prices a cycle's harvest with it)."""
    return 0 if verified_absent(trace, feedback_cfg) else len(chunks_to_judge(trace, feedback_cfg.judge.depth))

