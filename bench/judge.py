"""Judge formulations side by side on the SAME (question, chunk) judgments of fresh dev tasks.

Picks `--tasks` dev tasks of one half (rag_agent.dev_split: choose on "tuning", report on
"reporting") with the loop's own selection (training.loop_tasks: contracts in loop order,
questions round-robin over `--contracts` contracts, so several questions share a contract),
ingests those contracts into a temp workspace, retrieves the top `--depth` chunks of each question
in its contract with the base embedder, and judges every (question, chunk) twice:
  (a) question-first pointwise (`pointwise`, today's judge), in task order as the harvest did;
  (b) passage-first (`passage-first`), chunk-major across all tasks (feedback/judge_order.py).
Prints seconds per judgment, prompt tokens reused from llama.cpp's KV cache, mean within-question
AUC (questions with both classes), top-1 relevant, and per grading rule: positives' precision /
recall / kappa and judge_graded pair accuracy over informative pairs.

Gold evidence is read ONLY to measure (evals.suites: a chunk is relevant when it overlaps a located
span by >= eval.overlap_fraction of the shorter). Only tasks whose evidence was located are
picked (the clause gate, which needs the agent's checked answer, is not simulated here), unless
`--all-questions` takes every question of the chosen contracts as the loop does (a question whose
clause the contract lacks has only irrelevant chunks: it adds cost and KV reuse, and false positives).

    .venv/bin/python bench/judge.py --half tuning --tasks 16 --contracts 4 --depth 5 --out rows.json
    .venv/bin/python bench/judge.py --rows rows.json --grid      # re-score saved rows, no LLM
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

FORMULATIONS = {"question-first": "pointwise", "passage-first": "passage-first"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--half", default="tuning", choices=["tuning", "reporting"])
    parser.add_argument("--tasks", type=int, default=16)
    parser.add_argument("--contracts", type=int, default=4)
    parser.add_argument("--depth", type=int, default=5)
    parser.add_argument("--backend", default="llama-cpp", help="llm.backend of the judge")
    parser.add_argument("--threads", type=int, default=None, help="llm.n_threads (1 on a machine loaded by other jobs: two threads"
                        " that wait for each other at every barrier crawl when each gets a fraction of a core)")
    parser.add_argument("--data", default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--all-questions", action="store_true", help="as the loop selects: every question of the chosen contracts,"
                        " also those whose clause the contract lacks (all their chunks count as irrelevant)")
    add_scoring_args(parser)
    args = parser.parse_args()
    from rag_agent.cli_common import offline_env

    offline_env()  # offline, quiet libraries, deliberate threads: as every ragloop command
    from rag_agent.config import RagloopConfig

    cfg = RagloopConfig()
    if args.rows:
        result = json.loads(Path(args.rows).read_text())
    else:
        result = collect(args, cfg)
        if args.out:
            Path(args.out).write_text(json.dumps(result))
    fb = cfg.feedback
    report(result, fb, args.threshold, args.relative, args.grid)


def add_scoring_args(parser: argparse.ArgumentParser) -> None:
    """The options of saving/re-scoring judged rows and of the calibrated rule (bench/rejudge.py too)."""
    parser.add_argument("--out", default=None, help="save the judged rows here (JSON)")
    parser.add_argument("--rows", default=None, help="re-score rows saved by --out (no LLM call)")
    parser.add_argument("--threshold", type=float, default=None, help="calibrated rule: P(yes) bar (default: each mode's, config)")
    parser.add_argument("--relative", type=float, default=None, help="calibrated rule: share of the question's best (default: each mode's)")
    parser.add_argument("--grid", action="store_true", help="also print the calibrated rule over a threshold grid")


# ---- collecting judgments ----------------------------------------------------------------------
def collect(args, cfg) -> dict:
    from evals.suites import SuiteRef, load_cuad, relevant_chunks
    from rag_agent.config import LLMConfig
    from rag_agent.dev_split import in_half
    from rag_agent.ingest.pipeline import ingest
    from rag_agent.llm.factory import load_llm
    from rag_agent.retrieval.searcher import WorkspaceRetriever
    from rag_agent.types import Chunk
    from rag_agent.workspace import Workspace
    from training.loop_tasks import TaskPool, cycle_selection, load_pool, probe_selection, write_manifest

    data = Path(args.data or cfg.data_dir)
    suite = load_cuad(SuiteRef("cuad", data / "cuad", "dev"), join_gap=cfg.eval.evidence_join_gap)
    spans = {t.task_id: t.spans for t in suite.tasks}
    pool = load_pool(data, "dev", args.seed)
    located = {doc: [t for t in tasks if t.id in spans] for doc, tasks in pool.tasks_by_doc.items()}
    contracts = [c for c in pool.contracts if in_half(c["doc_id"], args.half) and len(located.get(c["doc_id"], [])) >= 2]
    half_pool = TaskPool(pool.manifest, contracts, pool.tasks_by_doc if args.all_questions else located)
    if args.all_questions:  # the loop's own selection: questions round-robin, date/text ones first
        prefer = tuple(t for t in cfg.training.loop.prefer_answer_types.split(",") if t)
        chosen_contracts, tasks = cycle_selection(half_pool, 1, 0, args.contracts, args.tasks, args.seed, prefer)
    else:
        chosen_contracts, tasks = probe_selection(half_pool, args.contracts, args.tasks, args.seed)
    tasks = sorted(tasks, key=lambda t: (t.doc_id, t.id))
    print(f"{len(tasks)} {args.half}-half dev tasks ({sum(t.id in spans for t in tasks)} with located evidence) over "
          f"{len(chosen_contracts)} contracts", flush=True)

    root = Path(tempfile.mkdtemp(prefix="bench-judge-"))
    ws = Workspace.open(root / "ws")
    ingest(ws, [write_manifest(chosen_contracts, pool.manifest, root / "contracts.jsonl")], progress=False)
    retriever = WorkspaceRetriever.open(ws)
    questions = []
    for task in tasks:
        hits = retriever.retrieve(task.question, args.depth, {task.doc_id})
        chunks = [Chunk.from_id(h.chunk_id) for h in hits]
        gold = relevant_chunks(chunks, spans[task.id], cfg.eval.overlap_fraction) if task.id in spans else set()
        questions.append({"task": task.id, "doc": task.doc_id, "question": task.question,
                          "chunks": [{"id": h.chunk_id, "rank": r, "text": h.text, "gold": h.chunk_id in gold} for r, h in enumerate(hits, 1)]})

    llm = load_llm(LLMConfig(backend=args.backend, **({"n_threads": args.threads} if args.threads else {})))
    timing = {name: judge_formulation(llm, mode, questions, name) for name, mode in FORMULATIONS.items()}
    return {"half": args.half, "depth": args.depth, "backend": args.backend, "load": os.getloadavg(), "questions": questions, "timing": timing}


def judge_formulation(llm, mode: str, questions: list[dict], name: str, chunk_major_always: bool = False) -> dict:
    """Judge every (question, chunk) with one formulation; passage-first runs chunk-major (and
    question-first too with `chunk_major_always`: the order the harvest uses for both)."""
    from feedback.judge import JudgeSettings, LLMJudge, sha256
    from feedback.judge_order import Judgment, chunk_major

    judge = LLMJudge(llm, JudgeSettings(mode=mode))
    judgments = [Judgment(q["question"], c["id"], sha256(c["text"]), c["text"]) for q in questions for c in q["chunks"]]
    if mode == "passage-first" or chunk_major_always:
        judgments = chunk_major(judgments)
    tokens_before = (getattr(llm, "prompt_tokens_total", 0), getattr(llm, "prompt_tokens_reused", 0))
    scores: dict[tuple[str, str], float] = {}
    started = time.perf_counter()
    from rich.progress import track

    for j in track(judgments, description=name):
        scores[(j.query, j.chunk_id)] = judge.grade(j.query, [(j.chunk_id, j.text)])[0].score
    seconds = time.perf_counter() - started
    for q in questions:
        for c in q["chunks"]:
            c[name] = scores[(q["question"], c["id"])]
    total = getattr(llm, "prompt_tokens_total", 0) - tokens_before[0]
    reused = getattr(llm, "prompt_tokens_reused", 0) - tokens_before[1]
    print(f"{name}: {len(judgments)} judgments in {seconds:.0f}s ({seconds / len(judgments):.2f} s each), "
          f"{reused}/{total} prompt tokens reused from the KV cache", flush=True)
    return {"judgments": len(judgments), "seconds": seconds, "tokens": total, "reused": reused,
            "distinct_chunks": len({j.content_hash for j in judgments})}


# ---- measuring ---------------------------------------------------------------------------------
def auc(scores: list[float], gold: list[bool]) -> float | None:
    pos = [s for s, g in zip(scores, gold) if g]
    neg = [s for s, g in zip(scores, gold) if not g]
    if not pos or not neg:
        return None
    return sum((p > n) + 0.5 * (p == n) for p in pos for n in neg) / (len(pos) * len(neg))


def rule_grades(rule: str, scores: dict[str, float], ranks: dict[str, int], threshold: float, relative: float, margin: float, max_rank: int):
    from feedback.judge import calibrated_grades, consensus_grades

    if rule == "consensus":
        return consensus_grades(scores, ranks, margin, max_rank)
    return calibrated_grades(scores, threshold, relative)


def score_rule(questions: list[dict], name: str, rule: str, **kw) -> dict:
    from feedback.calibrate import BinaryScore, PairScore
    from feedback.signals import RELEVANT_GRADE

    positives, pairs = BinaryScore(rule), PairScore(rule)
    for q in questions:
        scores = {c["id"]: c[name] for c in q["chunks"]}
        gold = {c["id"]: c["gold"] for c in q["chunks"]}
        grades = rule_grades(rule, scores, {c["id"]: c["rank"] for c in q["chunks"]}, **kw)
        for chunk_id, grade in grades.items():
            positives.add(grade >= RELEVANT_GRADE, gold[chunk_id])
        for a, ga in grades.items():  # signals.judge_graded: grade >= 2 > any lower grade
            for b, gb in grades.items():
                if ga >= RELEVANT_GRADE and gb < ga:
                    pairs.total += 1
                    if gold[a] != gold[b]:
                        pairs.informative += 1
                        pairs.correct += gold[a]
    return {"positives": positives, "pairs": pairs}


def report(result: dict, fb, threshold: float | None = None, relative: float | None = None, grid: bool = False) -> None:
    """The accuracy table; the calibrated rule is each mode's own (`fb.calibrated_rule`) unless
    `threshold`/`relative` override it for both."""
    from rag_agent.cli_common import table_console
    from rich.table import Table

    questions, console = result["questions"], table_console()
    f = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
    n_tasks = len(questions)
    margin, max_rank = fb.consensus_margin, fb.consensus_max_rank
    table = Table(title=f"{n_tasks} {result.get('title', result['half'] + '-half dev')} tasks, top {result['depth']}, {result['backend']}, load {result['load'][0]:.1f}")
    for column in ("judge", "s/judgment", "s/task", "KV reused", "AUC (n)", "top-1 rel.", "rule", "pos P", "pos R", "kappa", "pairs acc (n)"):
        table.add_column(column)
    for name in FORMULATIONS:
        timing = result["timing"][name]
        per_q = [auc([c[name] for c in q["chunks"]], [c["gold"] for c in q["chunks"]]) for q in questions]
        per_q = [a for a in per_q if a is not None]
        with_gold = [q for q in questions if any(c["gold"] for c in q["chunks"])]
        top1 = sum(max(q["chunks"], key=lambda c: c[name])["gold"] for q in with_gold)
        own_t, own_r = fb.calibrated_rule(FORMULATIONS[name])
        t, r = (threshold if threshold is not None else own_t), (relative if relative is not None else own_r)
        for i, label in enumerate(("consensus", f"calibrated {t:g}/{r:g}")):
            s = score_rule(questions, name, label.split()[0], threshold=t, relative=r, margin=margin, max_rank=max_rank)
            p, pairs = s["positives"], s["pairs"]
            head = [name, f"{timing['seconds'] / timing['judgments']:.2f}", f"{timing['seconds'] / n_tasks:.1f}",
                    f"{timing['reused'] / max(1, timing['tokens']):.0%}", f"{sum(per_q) / len(per_q):.3f} ({len(per_q)})" if per_q else "-",
                    f"{top1}/{len(with_gold)}"] if i == 0 else [""] * 6
            table.add_row(*head, label, f(p.precision), f(p.recall), f(p.kappa), f"{f(pairs.accuracy)} ({pairs.informative})")
    console.print(table)
    base = sum(c["gold"] for q in questions for c in q["chunks"])
    console.print(f"base rate {base}/{sum(len(q['chunks']) for q in questions)} chunks gold-relevant")
    if grid:
        grid_table = Table(title="calibrated rule grid (choose on the tuning half only)")
        for column in ("judge", "threshold", "relative", "pos P", "pos R", "kappa", "pairs acc (n)"):
            grid_table.add_column(column)
        for name in FORMULATIONS:
            for t in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8):
                for r in (0.0, 0.8, 0.9, 1.0):
                    s = score_rule(questions, name, "calibrated", threshold=t, relative=r, margin=margin, max_rank=max_rank)
                    p, pairs = s["positives"], s["pairs"]
                    grid_table.add_row(name, f"{t:g}", f"{r:g}", f(p.precision), f(p.recall), f(p.kappa), f"{f(pairs.accuracy)} ({pairs.informative})")
        console.print(grid_table)


if __name__ == "__main__":
    main()
