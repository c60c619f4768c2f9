"""`feedback calibrate`: should the loop trust its own labels? Measure them against gold, on dev.

Gold evidence is read ONLY here, and only for measurement: a chunk is gold-relevant when it
overlaps a located evidence span by at least `cfg.eval.overlap_fraction` of the shorter one
(span location and overlap come from evals.suites, the same code that scores NDCG@10).
Measured: tasks whose evidence could be located in their contract, and tasks whose gold has no
evidence at all (the clause is absent, e.g. a gold "No"): every chunk of those is irrelevant, so a
rule that finds "relevant" chunks there is caught (leaving them out hid 16 of 27 wrong positives).

Reported per predictor of "relevant" (final label >= 2, the LLM judge alone, answer containment,
citation in a successful task, the agent's own grader): precision, recall, Cohen's kappa; and per
pair signal: accuracy over the pairs whose two chunks differ in gold relevance.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rag_agent.errors import DataError
from rag_agent.types import Chunk

from feedback.signals import RELEVANT_GRADE


@dataclass
class BinaryScore:
    name: str
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def add(self, predicted: bool, gold: bool) -> None:
        if predicted and gold:
            self.tp += 1
        elif predicted:
            self.fp += 1
        elif gold:
            self.fn += 1
        else:
            self.tn += 1

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.fn + self.tn

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    @property
    def kappa(self) -> float | None:
        return cohen_kappa(self.tp, self.fp, self.fn, self.tn)


def cohen_kappa(tp: int, fp: int, fn: int, tn: int) -> float | None:
    n = tp + fp + fn + tn
    if n == 0:
        return None
    observed = (tp + tn) / n
    expected = ((tp + fp) * (tp + fn) + (fn + tn) * (fp + tn)) / (n * n)
    return (observed - expected) / (1 - expected) if expected < 1 else None


@dataclass
class PairScore:
    signal: str
    correct: int = 0
    informative: int = 0  # pairs whose chunks differ in gold relevance
    total: int = 0

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.informative if self.informative else None


def gold_relevance(con, suite_dir: Path, split: str, overlap_fraction: float, join_gap: int, half: str | None = None) -> dict[str, set[str]]:
    """task_id -> gold-relevant chunk ids (of the workspace's chunks), for tasks with located evidence
    and (empty set) tasks whose clause is absent."""
    return _gold(con, suite_dir, split, overlap_fraction, join_gap, half)[0]


def _gold(con, suite_dir: Path, split: str, overlap_fraction: float, join_gap: int, half: str | None = None) -> tuple[dict[str, set[str]], set[str]]:
    """(gold_relevance's dict, the ids in it whose clause is absent); `half`: only the dev contracts
    of that half (rag_agent.dev_split), so rules tuned on one half are measured on the other."""
    from rag_agent.dev_split import in_half

    from evals.suites import SuiteRef, load_cuad, relevant_chunks

    if not (suite_dir / f"tasks_{split}.jsonl").is_file():
        raise DataError(str(suite_dir / f"tasks_{split}.jsonl"), "a CUAD task file with gold evidence", "pass --suite pointing to shared/data/cuad")
    suite = load_cuad(SuiteRef("cuad", suite_dir, split), join_gap=join_gap)
    traced = {r[0] for r in con.execute("SELECT DISTINCT task_id FROM judge_labels UNION SELECT DISTINCT task_id FROM pairs").fetchall()}
    if half not in (None, "", "all"):
        doc_of = dict(con.execute("SELECT DISTINCT task_id, doc_id FROM tasks WHERE doc_id IS NOT NULL").fetchall())
        traced = {t for t in traced if t in doc_of and in_half(doc_of[t], half)}
    tasks = [t for t in suite.tasks if t.task_id in traced]
    doc_ids = sorted({t.doc_id for t in tasks})
    chunks: dict[str, list[Chunk]] = {}
    for chunk_id, doc_id, start, end in con.execute(
        "SELECT chunk_id, doc_id, start_char, end_char FROM chunks WHERE doc_id IN (SELECT unnest(?))", [doc_ids]
    ).fetchall():
        chunk = Chunk(doc_id, start, end, "")
        if chunk.chunk_id == chunk_id:
            chunks.setdefault(doc_id, []).append(chunk)
    gold = {t.task_id: relevant_chunks(chunks.get(t.doc_id, []), t.spans, overlap_fraction) for t in tasks}
    absent = set(suite.absent_task_ids) & traced
    return gold | {task_id: set() for task_id in absent}, absent


def calibrate(con, suite_dir: Path | str, split: str, overlap_fraction: float = 0.5, join_gap: int = 500, half: str | None = None) -> dict:
    gold, absent = _gold(con, Path(suite_dir), split, overlap_fraction, join_gap, half)
    predictors = {name: BinaryScore(name) for name in (
        "final label >= 2", "LLM judge alone >= 2", "answer containment", "cited in a successful task", "agent grader")}
    for task_id, chunk_id, grade, judge_grade, answer_hit, cited in con.execute(
        "SELECT task_id, chunk_id, grade, judge_grade, answer_hit, cited FROM judge_labels WHERE task_id IN (SELECT unnest(?))",
        [sorted(gold)],
    ).fetchall():
        truth = chunk_id in gold[task_id]
        predictors["final label >= 2"].add(grade >= RELEVANT_GRADE, truth)
        if judge_grade is not None:
            predictors["LLM judge alone >= 2"].add(judge_grade >= RELEVANT_GRADE, truth)
        if answer_hit is not None:
            predictors["answer containment"].add(bool(answer_hit), truth)
        predictors["cited in a successful task"].add(bool(cited), truth)
    for task_id, chunk_id, relevant in con.execute(
        "SELECT g.task_id, g.chunk_id, g.relevant FROM grades g JOIN harvest_state h ON h.run_id = g.run_id AND h.task_id = g.task_id "
        "WHERE g.task_id IN (SELECT unnest(?))",
        [sorted(gold)],
    ).fetchall():
        predictors["agent grader"].add(bool(relevant), chunk_id in gold[task_id])
    pairs = con.execute(
        "SELECT task_id, chosen_chunk_id, rejected_chunk_id, signal FROM pairs WHERE task_id IN (SELECT unnest(?))", [sorted(gold)]
    ).fetchall()
    return {"tasks": len(gold), "absent": len(absent), "half": half or "all", "predictors": list(predictors.values()), "pairs": score_pairs(pairs, gold)}


def score_pairs(pairs, gold: dict[str, set[str]]) -> list[PairScore]:
    """Per winning signal, sorted by name: its pairs, the informative ones (the two chunks differ in
    gold relevance) and those whose chosen chunk is the gold one. `pairs`: (task_id, chosen,
    rejected, signal) rows; `gold`: task_id -> its gold-relevant chunk ids (missing: none)."""
    scores: dict[str, PairScore] = {}
    for task_id, chosen, rejected, signal in pairs:
        score = scores.setdefault(signal, PairScore(signal))
        score.total += 1
        relevant = gold.get(task_id, set())
        a, b = chosen in relevant, rejected in relevant
        if a != b:
            score.informative += 1
            score.correct += a
    return sorted(scores.values(), key=lambda s: s.signal)


def render(result: dict, console=None) -> None:
    from rag_agent.cli_common import table_console
    from rich.table import Table

    console = console or table_console()
    f = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
    t = Table(title=f"relevance vs gold evidence ({result['tasks']} dev tasks, half {result.get('half', 'all')}: located evidence, or {result['absent']} with the clause absent)")
    for c in ("predictor", "n", "tp", "fp", "fn", "precision", "recall", "kappa"):
        t.add_column(c)
    for s in result["predictors"]:
        t.add_row(s.name, str(s.n), str(s.tp), str(s.fp), str(s.fn), f(s.precision), f(s.recall), f(s.kappa))
    console.print(t)
    t = Table(title="pair directions vs gold (informative = the two chunks differ in gold relevance)")
    for c in ("signal", "pairs", "informative", "accuracy"):
        t.add_column(c)
    for s in result["pairs"]:
        t.add_row(s.signal, str(s.total), str(s.informative), f(s.accuracy))
    console.print(t)
