"""Judge every pending (question, chunk) pair of a harvest up front, chunk-major, caching as it goes.

Why chunk-major: a passage-first prompt is [system][fenced chunk][question + task]. When all the
questions about one chunk are judged consecutively, llama.cpp keeps the [system][chunk] prefix in
its KV cache (`LlamaCppLLM._eval_reusing_prefix`) and only reads the question's tokens again.
Within one contract many questions retrieve the same chunks, so the saving grows with the
number of questions per contract. Question-first prompts gain nothing from the order (their
shared prefix is the system prompt alone), but are ordered the same way for simplicity.

Why cache as it goes: every judgment is written to `judge_cache` in its own (autocommit)
statement the moment it is made, so a harvest killed with SIGKILL loses at most the judgment in
flight; the rerun finds the rest in the cache (primary key: no duplicate rows) and the task
products are derived afterwards in one transaction per task, as before.

Failures: `LogprobsUnavailable` (the backend cannot score at all) stops the harvest at once; any
other LLMError (one malformed reply) is skipped and counted.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass

from rag_agent.errors import LLMError
from rag_agent.llm.base import LogprobsUnavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Judgment:
    query: str
    chunk_id: str
    content_hash: str
    text: str


def collect(items: list[tuple[str, list[str], dict]], cache) -> list[Judgment]:
    """Judgments still missing from the cache, one per distinct (query, chunk text).

    `items`: (query, chunk ids to judge, chunk_id -> (text, content_hash)) per task.
    """
    out: dict[tuple[str, str], Judgment] = {}
    for query, chunk_ids, texts in items:
        cached = cache.lookup(query, [texts[c][1] for c in chunk_ids])
        for chunk_id in chunk_ids:
            text, content_hash = texts[chunk_id]
            if content_hash not in cached:
                out.setdefault((query, content_hash), Judgment(query, chunk_id, content_hash, text))
    return list(out.values())


def chunk_major(judgments: list[Judgment]) -> list[Judgment]:
    """All questions about one chunk consecutively (chunks in first-seen order, stable within)."""
    groups: dict[str, list[Judgment]] = {}
    for judgment in judgments:
        groups.setdefault(judgment.content_hash, []).append(judgment)
    return [j for group in groups.values() for j in group]


def judge_all(judge, cache, judgments: list[Judgment], report, progress: bool = False, workers: int = 1) -> set[tuple[str, str]]:
    """Judge in the given order, storing each verdict at once; returns the (query, content hash)
    pairs that failed (their chunks stay unlabeled in this harvest).

    `workers` > 1 sends that many requests at a time (an OpenAI-compatible server can serve them
    concurrently); verdicts are still stored, counted and checked in the given order, by this
    thread (a DuckDB connection is not shared between threads)."""
    failed: set[tuple[str, str]] = set()
    with _bar(len(judgments), progress) as advance, _pool(workers) as pool:
        window = workers * 4 if pool else 1  # requests in flight at most; a fatal error wastes no more
        for start in range(0, len(judgments), window):
            part = judgments[start : start + window]
            outcomes = [pool.submit(_grade_one, judge, j) for j in part] if pool else [_Done(_grade_one(judge, j)) for j in part]
            for judgment, outcome in zip(part, outcomes):
                labels, error = outcome.result()
                report.judge_calls += 1
                advance()
                if isinstance(error, LogprobsUnavailable):
                    for pending in outcomes:
                        pending.cancel()
                    raise error  # every later judgment would fail the same way: stop, keep what is stored
                if error is not None:  # one malformed reply: skip and count
                    log.warning("judge output invalid for %s, skipped: %s", judgment.chunk_id, error)
                    report.judge_invalid += 1
                    report.chunks_unlabeled += 1
                    failed.add((judgment.query, judgment.content_hash))
                    continue
                cache.store(judgment.query, judgment.content_hash, labels[0])
    return failed


def _grade_one(judge, judgment: Judgment):
    """(labels, None) or (None, the LLMError): errors travel back to the storing thread in order."""
    try:
        labels = judge.grade(judgment.query, [(judgment.chunk_id, judgment.text)])
        if len(labels) != 1:
            raise LLMError(f"{len(labels)} labels", "1 label", "fix the judge")
        return labels, None
    except LLMError as exc:
        return None, exc


class _Done:
    """A finished result with the Future methods judge_all uses (the sequential path)."""

    def __init__(self, value):
        self.value = value

    def result(self):
        return self.value

    def cancel(self):
        return False


@contextmanager
def _pool(workers: int):
    if workers <= 1:
        yield None
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="judge") as pool:
        yield pool


@contextmanager
def _bar(total: int, enabled: bool):
    if not enabled or total < 2:
        yield lambda: None
        return
    from rich.progress import MofNCompleteColumn, Progress

    with Progress(*Progress.get_default_columns(), MofNCompleteColumn()) as bar:
        task = bar.add_task("judging (chunk-major)", total=total)
        yield lambda: bar.advance(task)
