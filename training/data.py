"""Training inputs as plain dataclasses, and loaders that read them from a workspace.

The trainers only see these dataclasses, never a table, so the same trainer runs on harvested
feedback (`load_*_from_workspace`), on the supervised reference (training/supervised.py) or on
a toy set in a test. Every item may carry an `origin` (where it came from: trace ids, task id)
so a registered model can record what it was trained on.

Loaders read the `feedback` tables (judge_labels, pairs, rewards, negatives; see
feedback/schema.py) and join chunk texts from `chunks`. They never read gold evidence.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterable

MAX_GRADE = 3.0  # judge grades are 0..3 (docs/feedback.md)


@dataclass
class EmbedderExample:
    query: str
    positive: str
    negatives: list[str] = field(default_factory=list)
    weight: float = 1.0
    origin: str = ""


@dataclass
class PreferencePair:
    query: str
    chosen: str
    rejected: str
    weight: float = 1.0
    origin: str = ""


@dataclass
class GradedList:
    """One query's candidate list with graded relevance (PPO rewards NDCG against `grades`)."""

    query: str
    texts: list[str]
    grades: list[float]
    task_reward: float | None = None  # the task's own reward (success), when known
    origin: str = ""


@dataclass
class ScoredList:
    """One query's judged candidates with the judge's soft scores (P(yes)): a distillation target."""

    query: str
    texts: list[str]
    scores: list[float]
    weight: float = 1.0  # how sure the judge was (training/losses/listwise_kl.teacher_confidence)
    origin: str = ""


@dataclass
class ScoredListCounts:
    """What the soft-label loader found: every (run, task, query) with a judge label, and why some were skipped."""

    queries: int = 0
    usable: int = 0
    single_candidate: int = 0  # fewer than 2 candidates with a judge score
    all_equal: int = 0  # every candidate scored the same (no ranking information)
    labels_without_score: int = 0  # judge_labels rows with score NULL (no log-probabilities)
    clause_absent: int = 0  # the task's checked answer says the clause is absent (training.distill.lists_need_clause)

    def line(self) -> str:
        return (f"{self.queries} judged queries ({self.usable} usable, {self.single_candidate} with < 2 scored candidates, "
                f"{self.all_equal} with all-equal scores, {self.clause_absent} whose clause is absent; "
                f"{self.labels_without_score} labels without a judge score)")


@dataclass
class LabeledText:
    """A pointwise label in [0, 1] (grade / 3) for BCE."""

    query: str
    text: str
    label: float
    origin: str = ""


def summarize(items: Iterable, source: str, max_ids: int = 2000) -> dict:
    """A `trained_on` record: source, count, and the origins (capped so the row stays small)."""
    items = list(items)
    origins = sorted({getattr(item, "origin", "") for item in items} - {""})
    return {"source": source, "n": len(items), "origins": origins[:max_ids], "origins_truncated": len(origins) > max_ids}


# ---- loaders ------------------------------------------------------------------------------------
def load_labels_from_workspace(ws, run_ids: list[str] | None = None) -> list[LabeledText]:
    """Judge labels as BCE targets (grade / 3), one per (query, chunk); repeated labels average."""
    rows = _query(
        ws,
        """SELECT l.query, c.text, avg(l.grade), min(l.run_id || '/' || l.task_id)
           FROM judge_labels l JOIN chunks c USING (chunk_id) {where}
           GROUP BY l.query, l.chunk_id, c.text ORDER BY 4, l.query, l.chunk_id""",
        run_ids,
        "l.",
    )
    return [LabeledText(q, text, float(grade) / MAX_GRADE, origin) for q, text, grade, origin in rows]


def load_pairs_from_workspace(ws, run_ids: list[str] | None = None, min_weight: float = 0.0) -> list[PreferencePair]:
    """Preference pairs (chosen over rejected) with their confidence weight."""
    rows = _query(
        ws,
        """SELECT p.query, cc.text, rc.text, p.weight, p.run_id || '/' || p.task_id
           FROM pairs p JOIN chunks cc ON cc.chunk_id = p.chosen_chunk_id
                        JOIN chunks rc ON rc.chunk_id = p.rejected_chunk_id {where}
           ORDER BY p.run_id, p.task_id, p.query, p.chosen_chunk_id, p.rejected_chunk_id""",
        run_ids,
        "p.",
    )
    return [PreferencePair(q, c, r, float(w), origin) for q, c, r, w, origin in rows if w >= min_weight]


def load_graded_lists_from_workspace(ws, run_ids: list[str] | None = None, min_candidates: int = 2) -> list[GradedList]:
    """Per (run, task, query): every judged chunk with its grade, plus the task reward if any.

    Lists whose grades are all equal are dropped: every ranking earns the same reward there, so
    they carry no policy gradient."""
    rows = _query(
        ws,
        """SELECT l.run_id, l.task_id, l.query, c.text, l.grade, r.value
           FROM judge_labels l JOIN chunks c USING (chunk_id)
           LEFT JOIN rewards r ON r.run_id = l.run_id AND r.task_id = l.task_id AND r.kind = 'task' {where}
           ORDER BY l.run_id, l.task_id, l.query, l.chunk_id""",
        run_ids,
        "l.",
    )
    groups: dict[tuple, GradedList] = {}
    for run_id, task_id, query, text, grade, task_reward in rows:
        key = (run_id, task_id, query)
        if key not in groups:
            reward = None if task_reward is None else float(task_reward)
            groups[key] = GradedList(query, [], [], reward, f"{run_id}/{task_id}")
        groups[key].texts.append(text)
        groups[key].grades.append(float(grade))
    return [g for g in groups.values() if len(g.texts) >= min_candidates and len(set(g.grades)) > 1]


def load_scored_lists_from_workspace(ws, run_ids: list[str] | None = None, need_clause: bool | None = None) -> tuple[list[ScoredList], ScoredListCounts]:
    """Per (run, task, query): the judged chunks with the judge's P(yes) (`judge_labels.score`).

    Labels without a score (no log-probabilities: quote mode, no LLM) are not soft targets and are
    left out; lists with fewer than 2 scored chunks or all-equal scores are skipped and counted, and
    so (with `need_clause`, default `training.distill.lists_need_clause`) are the lists of tasks whose
    checked answer says the clause is absent."""
    from training.losses.listwise_kl import teacher_confidence

    if need_clause is None:
        need_clause = ws.config.training.distill.lists_need_clause
    rows = _query(
        ws,
        """SELECT l.run_id, l.task_id, l.query, c.text, l.score, h.clause_exists
           FROM judge_labels l JOIN chunks c USING (chunk_id)
           LEFT JOIN harvest_state h ON h.run_id = l.run_id AND h.task_id = l.task_id {where}
           ORDER BY l.run_id, l.task_id, l.query, l.chunk_id""",
        run_ids,
        "l.",
    )
    counts = ScoredListCounts()
    groups: dict[tuple, ScoredList] = {}
    absent: set[tuple] = set()
    for run_id, task_id, query, text, score, clause_exists in rows:
        key = (run_id, task_id, query)
        if key not in groups:
            groups[key] = ScoredList(query, [], [], 1.0, f"{run_id}/{task_id}")
            if need_clause and clause_exists is False:
                absent.add(key)
        if score is None:
            counts.labels_without_score += 1
            continue
        groups[key].texts.append(text)
        groups[key].scores.append(float(score))
    usable = []
    counts.queries = len(groups)
    for key, group in groups.items():
        if key in absent:
            counts.clause_absent += 1
        elif len(group.texts) < 2:
            counts.single_candidate += 1
        elif max(group.scores) - min(group.scores) <= 1e-9:
            counts.all_equal += 1
        else:
            group.weight = teacher_confidence(group.scores)
            usable.append(group)
    counts.usable = len(usable)
    return usable, counts


def load_embedder_examples_from_workspace(
    ws, positive_grade: int = 2, max_negatives: int = 8, run_ids: list[str] | None = None
) -> list[EmbedderExample]:
    """One example per (query, positive chunk): positives are chunks the judge graded at least
    `positive_grade`; hard negatives are the mined `negatives` of that query plus the chunks the
    agent saw for it that the judge graded 0 (the "agent-visible top-10" recipe that kept law-task
    losses small; docs/training.md). Mined negatives come first (they passed the margin filter)."""
    labels = _query(
        ws,
        """SELECT l.query, l.chunk_id, c.text, l.grade, l.run_id || '/' || l.task_id
           FROM judge_labels l JOIN chunks c USING (chunk_id) {where}
           ORDER BY l.query, l.grade DESC, l.chunk_id""",
        run_ids,
        "l.",
    )
    mined = _query(
        ws,
        """SELECT n.query, n.chunk_id, c.text, n.weight FROM negatives n JOIN chunks c USING (chunk_id) {where}
           ORDER BY n.query, n.rank NULLS LAST, n.chunk_id""",
        run_ids,
        "n.",
    )
    positives: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    negatives: dict[str, dict[str, str]] = defaultdict(dict)  # query -> chunk_id -> text (ordered)
    for query, chunk_id, text, _weight in mined:
        negatives[query].setdefault(chunk_id, text)
    for query, chunk_id, text, grade, origin in labels:
        if grade >= positive_grade:
            positives[query].append((chunk_id, text, origin))
        elif grade == 0:
            negatives[query].setdefault(chunk_id, text)
    examples = []
    for query, items in positives.items():
        positive_ids = {chunk_id for chunk_id, _, _ in items}
        negs = [text for cid, text in negatives.get(query, {}).items() if cid not in positive_ids][:max_negatives]
        seen = set()
        for chunk_id, text, origin in items:
            if chunk_id in seen:
                continue
            seen.add(chunk_id)
            examples.append(EmbedderExample(query, text, list(negs), 1.0, origin))
    return examples


def _query(ws, sql: str, run_ids: list[str] | None, alias: str) -> list[tuple]:
    where, params = "", []
    if run_ids:
        where = f"WHERE {alias}run_id IN ({', '.join('?' for _ in run_ids)})"
        params = list(run_ids)
    with ws.db() as con:
        return con.execute(sql.format(where=where), params).fetchall()
