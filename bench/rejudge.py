"""Both pointwise judges on the SAME judgments the loop's harvest made, in the loop's own workspace.

    .venv/bin/python bench/rejudge.py --workspace workspace --out rows.json
    .venv/bin/python bench/rejudge.py --rows rows.json --grid      # re-score saved rows, no LLM

Reads every harvested task of a workspace the loop (or `feedback harvest`) wrote, rebuilds the
(question, chunk) judgments its harvest asked for (the same chunks: `Harvester._to_judge`, top
`feedback.judge.depth` of every served ranking plus everything shown, cited or ignored), and
judges all of them twice with fresh caches, in the harvest's chunk-major order
(feedback/judge_order.py): question-first (`pointwise`) and passage-first (`passage-first`).
So the cost ratio is measured on the loop's own task selection (several questions per contract,
rewrites' chunks included), which is what issue 9's "≤ ½ of today's judge" is about; bench/judge.py
measures the same on dev tasks it picks itself.

Prints seconds per judgment and per task for both, beside the agent's own LLM seconds per task
(the tasks table), KV reuse, and the accuracy table of bench/judge.py (within-question AUC, top-1,
positives' precision/recall/kappa per rule, pair accuracy). Gold evidence of the CUAD TRAIN split
is read ONLY here, to measure (the loop never reads it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from judge import FORMULATIONS, add_scoring_args, judge_formulation, report  # noqa: E402  (bench/judge.py)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workspace", type=Path, help="a workspace the loop harvested")
    parser.add_argument("--threads", type=int, default=None, help="llm.n_threads (default: the workspace's config)")
    parser.add_argument("--max-tasks", type=int, default=None, help="only the first N harvested tasks (a quick look)")
    add_scoring_args(parser)
    args = parser.parse_args()
    from rag_agent.cli_common import offline_env

    offline_env()
    from rag_agent.config import RagloopConfig

    if args.rows:
        result = json.loads(Path(args.rows).read_text())
    elif args.workspace is None:
        parser.error("--workspace (or --rows) is required")
    else:
        result = collect(args)
        if args.out:
            Path(args.out).write_text(json.dumps(result))
    fb = RagloopConfig().feedback
    print(f"agent: {result['agent_seconds']:.0f} LLM s over {len(result['questions'])} tasks = "
          f"{result['agent_seconds'] / len(result['questions']):.1f} s a task", flush=True)
    for name in FORMULATIONS:
        timing = result["timing"][name]
        print(f"{name}: judge {timing['seconds'] / len(result['questions']):.1f} s a task = "
              f"{timing['seconds'] / max(result['agent_seconds'], 1e-9):.0%} of the agent's", flush=True)
    timing = result["timing"][next(iter(FORMULATIONS))]
    print(f"judgments per distinct chunk: {timing['judgments'] / max(timing['distinct_chunks'], 1):.1f}", flush=True)
    qf, pf = (result["timing"][n]["seconds"] for n in FORMULATIONS)
    print(f"passage-first / question-first on the same judgments: {pf / qf:.2f}x", flush=True)
    report(result, fb, args.threshold, args.relative, args.grid)


def collect(args) -> dict:
    from evals.suites import SuiteRef, load_cuad, relevant_chunks
    from feedback.harvest import Harvester
    from feedback.traces import chunk_texts, load_task
    from rag_agent.llm.factory import load_llm
    from rag_agent.types import Chunk
    from rag_agent.workspace import Workspace

    ws = Workspace.open(args.workspace, create=False)
    cfg = ws.config
    suite = load_cuad(SuiteRef("cuad", Path(cfg.data_dir) / "cuad", "train"), join_gap=cfg.eval.evidence_join_gap)
    spans = {t.task_id: t.spans for t in suite.tasks}

    picker = Harvester(ws)  # no judge: `_to_judge` then reads the workspace's feedback.judge.depth
    questions = []
    with ws.db() as con:
        keys = con.execute("SELECT run_id, task_id FROM harvest_state WHERE status = 'harvested' ORDER BY run_id, task_id").fetchall()
        agent_s = dict(con.execute("SELECT run_id || '/' || task_id, coalesce(llm_seconds, 0) FROM tasks").fetchall())
        for run_id, task_id in keys[: args.max_tasks]:
            trace = load_task(con, run_id, task_id)
            texts = chunk_texts(con, trace.chunk_ids())
            ranks = trace.best_ranks()  # what the harvest's consensus rule reads
            chunks = [{"id": chunk_id, "rank": ranks.get(chunk_id, 99), "text": texts[chunk_id][0],
                       "gold": bool(relevant_chunks([Chunk.from_id(chunk_id)], spans.get(task_id, []), cfg.eval.overlap_fraction))}
                      for chunk_id in picker._to_judge(trace, texts)]
            questions.append({"task": f"{run_id}/{task_id}", "question": trace.question, "chunks": chunks})
    n = sum(len(q["chunks"]) for q in questions)
    print(f"{len(questions)} harvested tasks, {n} judgments ({n / max(len(questions), 1):.1f} a task), "
          f"{sum(c['gold'] for q in questions for c in q['chunks'])} gold-relevant", flush=True)
    llm_cfg = cfg.llm.model_copy(update={"n_threads": args.threads}) if args.threads else cfg.llm
    llm = load_llm(llm_cfg)
    timing = {name: judge_formulation(llm, mode, questions, name, chunk_major_always=True) for name, mode in FORMULATIONS.items()}
    return {"half": "train", "title": "harvested train (the loop's own)", "depth": cfg.feedback.judge.depth, "backend": llm_cfg.backend, "load": os.getloadavg(),
            "questions": questions, "timing": timing, "agent_seconds": sum(agent_s.get(q["task"], 0.0) for q in questions)}


if __name__ == "__main__":
    main()
