"""Calibrate the agent's grade step (agent.grade_threshold) on the TUNING half of dev.

    .venv/bin/python bench/agent_grade.py --tasks 24 --half tuning

For each task: the agent's own retrieve + rerank (scoped to the contract), the top agent.context_k
shown as the agent shows them, and the grade reading P(yes) of "does a document contain what
answers the question?" after the documents-first prefix (rag_agent.graph.prompts). The label is
measured with gold evidence (dev only, never used by the agent): a shown chunk overlaps the gold
clause. Tasks whose clause is absent from the contract (CUAD "No", no evidence) are negatives:
nothing shown can answer them, so the agent should rewrite and then answer from weak context.

Prints the AUC of P(yes) and of the reranker's top score, and pass rate / true-positive rate /
false-positive rate per threshold; the suggested threshold maximises TPR - FPR (Youden's J).
Choose the threshold here, report with bench/agent.py on the reporting half.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from agent_tasks import auc, choose_tasks, ensure_contracts, gold_chunks  # noqa: E402
from rag_agent.cli_common import offline_env  # noqa: E402

THRESHOLDS = [0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=24)
    parser.add_argument("--backend", default="llama-cpp", choices=["llama-cpp", "tiny", "smol"])
    parser.add_argument("--half", default="tuning", choices=["tuning", "reporting", "all"])
    parser.add_argument("--contracts", type=int, default=3)
    parser.add_argument("--workspace", type=Path, default=Path(tempfile.gettempdir()) / "ragloop-bench-agent")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="section.key=value")
    args = parser.parse_args()
    offline_env()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")

    from rag_agent.cli_common import table_console
    from rich.progress import track
    from rich.table import Table

    from rag_agent.graph import prompts
    from rag_agent.llm.factory import load_llm
    from rag_agent.retrieval.searcher import WorkspaceRetriever
    from rag_agent.workspace import Workspace

    ws = Workspace.open(args.workspace, overrides=[f"llm.backend={args.backend}", *args.overrides])
    cuad = Path(ws.config.data_dir) / "cuad"
    chosen = choose_tasks(cuad / "tasks_dev.jsonl", args.tasks, args.half, args.contracts, args.seed)
    ensure_contracts(ws, cuad, {t.doc_id for t in chosen.tasks})
    cfg = ws.config.agent
    llm, retriever = load_llm(ws.config.llm), WorkspaceRetriever.open(ws)

    rows = []  # (p_yes, top reranker score, clause shown?)
    started = time.perf_counter()
    log = logging.getLogger("agent_grade")
    for task in track(chosen.tasks, description="grading"):
        candidates = retriever.retrieve(task.question, cfg.retrieve_k, {task.doc_id})
        shown = retriever.rerank(task.question, candidates, len(candidates))[: cfg.context_k]
        passages = [prompts.excerpt(c.text, task.question, cfg.passage_chars) for c in shown]
        p = llm.choice_probabilities(prompts.grade_score_messages(task.question, passages), prompts.YES_NO)["yes"]
        top = shown[0].rerank_score if shown and shown[0].rerank_score is not None else (shown[0].retrieval_score if shown else 0.0)
        positive = bool(gold_chunks(ws, task.doc_id, chosen.evidence[task.id], [c.chunk_id for c in shown]))
        rows.append((p, top, positive))
        log.warning("%s P(yes)=%.3f top=%.3f clause shown=%s", task.id, p, top, positive)  # partial figures survive a stop
    seconds = time.perf_counter() - started

    console = table_console()
    pos = [r for r in rows if r[2]]
    neg = [r for r in rows if not r[2]]
    p_auc, top_auc = auc([r[0] for r in pos], [r[0] for r in neg]), auc([r[1] for r in pos], [r[1] for r in neg])
    console.print(f"{len(rows)} {args.half}-half tasks ({len(pos)} with the gold clause shown, {len(neg)} without), "
                  f"{seconds / max(len(rows), 1):.1f} s per grade; llm.backend={args.backend}")
    console.print(f"AUC of P(yes): {_fmt(p_auc)}; AUC of the top reranker score: {_fmt(top_auc)}")
    table = Table(title="grade_threshold on P(yes)")
    for column in ("threshold", "pass rate", "TPR (clause shown, passes)", "FPR (not shown, passes)", "TPR - FPR"):
        table.add_column(column, justify="right")
    best = None
    for threshold in THRESHOLDS:
        passes = [r for r in rows if r[0] >= threshold]
        tpr = sum(r[2] for r in passes) / len(pos) if pos else float("nan")
        fpr = sum(not r[2] for r in passes) / len(neg) if neg else float("nan")
        table.add_row(f"{threshold:.2f}", f"{len(passes) / len(rows):.0%}", f"{tpr:.0%}", f"{fpr:.0%}", f"{tpr - fpr:+.2f}")
        if best is None or tpr - fpr > best[1]:
            best = (threshold, tpr - fpr)
    console.print(table)
    console.print("P(yes) per task, sorted: " + ", ".join(f"{p:.2f}{'*' if g else ''}" for p, _, g in sorted(rows)) + "  (* = clause shown)")
    if best:
        console.print(f"suggested agent.grade_threshold = {best[0]} (max TPR - FPR = {best[1]:+.2f} on these tasks)")


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


if __name__ == "__main__":
    main()
