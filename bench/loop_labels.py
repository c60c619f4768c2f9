"""How good, and how dear, are the labels the loop harvested from its own train tasks?

    .venv/bin/python bench/loop_labels.py --workspace workspace

Reads a workspace the loop (or `feedback harvest`) wrote: every judged chunk of every harvested
task (judge_labels), the agent's LLM seconds per task (tasks) and the judge's seconds (harvest_log).
Gold evidence of the CUAD TRAIN split is read ONLY here, to measure (the loop never reads it): a
chunk is relevant when it overlaps a located span by >= eval.overlap_fraction of the shorter.

Prints per harvest signal and overall: tasks, judged chunks with a soft score, positives
(grade >= training positive grade) with their precision and recall over the judged gold-relevant
chunks, how many positives the retriever had ranked below 2 (labels that correct it rather than
confirm it), mean within-question AUC of the judge's score, correct positives per LLM-minute
(agent + judge seconds), the issue-9 yield figure (0.4 before the calibrated rules), and per
winning pair signal: pairs, informative pairs (exactly one side gold-relevant) and how many of
those put the gold chunk first.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from agent_tasks import auc  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workspace", type=Path, required=True)
    parser.add_argument("--run-prefix", default="", help="only runs whose id starts with this (default: all)")
    args = parser.parse_args()

    from rag_agent.cli_common import table_console
    from rich.table import Table

    from evals.suites import SuiteRef, load_cuad, relevant_chunks
    from feedback.calibrate import score_pairs
    from rag_agent.types import Chunk
    from rag_agent.workspace import Workspace

    ws = Workspace.open(args.workspace, create=False)
    cfg = ws.config
    positive_grade = cfg.training.data.positive_grade
    with ws.db() as con:
        labels = con.execute(
            """SELECT l.run_id, l.task_id, l.chunk_id, l.grade, l.score, min(r.rank) FROM judge_labels l
               LEFT JOIN retrievals r ON r.run_id = l.run_id AND r.task_id = l.task_id AND r.chunk_id = l.chunk_id
               WHERE l.run_id LIKE ? GROUP BY ALL""", [args.run_prefix + "%"]).fetchall()
        agent_s = dict(con.execute("SELECT run_id || '/' || task_id, llm_seconds FROM tasks WHERE run_id LIKE ?",
                                   [args.run_prefix + "%"]).fetchall())
        judge_s = con.execute("SELECT coalesce(sum(seconds), 0) FROM harvest_log").fetchone()[0]
        pairs = con.execute("SELECT task_id, chosen_chunk_id, rejected_chunk_id, signal FROM pairs WHERE run_id LIKE ?",
                            [args.run_prefix + "%"]).fetchall()
    suite = load_cuad(SuiteRef("cuad", Path(cfg.data_dir) / "cuad", "train"), join_gap=cfg.eval.evidence_join_gap)
    spans = {t.task_id: t.spans for t in suite.tasks}

    def is_gold(task_id: str, chunk_id: str) -> bool:
        return bool(relevant_chunks([Chunk.from_id(chunk_id)], spans.get(task_id, []), cfg.eval.overlap_fraction))

    by_task: dict[str, list[dict]] = {}
    for run_id, task_id, chunk_id, grade, score, rank in labels:
        gold = is_gold(task_id, chunk_id)
        by_task.setdefault(f"{run_id}/{task_id}", []).append(
            {"grade": grade, "score": score, "rank": rank or 0, "gold": gold, "located": task_id in spans})

    rows = [r for rs in by_task.values() for r in rs]
    positives = [r for r in rows if r["grade"] >= positive_grade]
    correct = [r for r in positives if r["gold"]]
    gold_judged = [r for r in rows if r["gold"]]
    aucs = [a for a in (auc([r["score"] for r in rs if r["gold"] and r["score"] is not None],
                            [r["score"] for r in rs if not r["gold"] and r["score"] is not None]) for rs in by_task.values()) if a is not None]
    llm_s = sum(agent_s.get(key) or 0.0 for key in by_task) + judge_s

    table = Table(title=f"harvested labels vs TRAIN gold evidence ({args.workspace})", show_header=False)
    table.add_row("tasks harvested", f"{len(by_task)} ({sum(any(r['located'] for r in rs) for rs in by_task.values())} with located evidence)")
    scored, unjudged = [r for r in rows if r["score"] is not None], [r for r in rows if r["score"] is None]
    table.add_row("judged chunks (each with a soft score)", f"{len(scored)} = {len(scored) / max(len(by_task), 1):.1f} per task; "
                  f"{sum(r['gold'] for r in scored)} gold-relevant")
    table.add_row("labelled without a judge score", f"{len(unjudged)} (clause absent by the checked answer, or --judge none); "
                  f"{sum(r['gold'] for r in unjudged)} gold-relevant")
    table.add_row(f"positives (grade >= {positive_grade})", f"{len(positives)} = {len(positives) / max(len(by_task), 1):.2f} per task")
    table.add_row("positive precision", _ratio(len(correct), len(positives)))
    table.add_row("positive recall (over judged gold chunks)", _ratio(len(correct), len(gold_judged)))
    table.add_row("positives the retriever ranked below 2", f"{sum(r['rank'] > 2 for r in positives)} "
                  f"({sum(r['rank'] > 2 for r in correct)} of them correct)")
    table.add_row("mean within-question AUC of the judge score", f"{statistics.fmean(aucs):.3f} over {len(aucs)} questions" if aucs else "n/a")
    table.add_row("LLM seconds (agent + judge)", f"{llm_s:.0f} (judge {judge_s:.0f})")
    table.add_row("correct positives per LLM-minute", f"{len(correct) / (llm_s / 60):.2f}" if llm_s else "n/a")
    pair_gold: dict[str, set[str]] = {}
    for task_id, chosen, rejected, _ in pairs:
        pair_gold.setdefault(task_id, set()).update(c for c in (chosen, rejected) if is_gold(task_id, c))
    for s in score_pairs(pairs, pair_gold):
        table.add_row(f"pairs won by {s.signal}", f"{s.total}; informative {s.informative}, gold first {_ratio(s.correct, s.informative)}")
    table_console().print(table)


def _ratio(num: int, den: int) -> str:
    return f"{num}/{den} = {num / den:.2f}" if den else f"{num}/0"


if __name__ == "__main__":
    main()
