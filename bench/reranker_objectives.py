"""Reranker objectives side by side from the SAME feedback: lexical, distill, then dpo and ppo on top of distill.

    .venv/bin/python bench/reranker_objectives.py --workspace workspace [--run-prefix loop-]
        [--objectives lexical,distill,dpo,ppo] [--dev-half reporting] [--dev-contracts 0] [--law] [--steps 0] [--record]

Copies the workspace (the loop's own registry is left alone), then, over its champion embedder:
  * lexical: the residual reranker embedder logit + weight * BM25, the weight fitted to the
    judge's P(yes) (training/lexical_trainer.py; the loop's "auto" choice);
  * distill: the residual reranker (embedder logit + zero-initialised cross-encoder) trained by
    listwise KL to the judge's P(yes) (training/distill_trainer.py);
  * dpo and ppo: each trained from that distilled reranker as parent and frozen reference, on the
    harvested preference pairs / graded lists (training/dpo_trainer.py, ppo_trainer.py);
exactly as `training reranker --objective distill|dpo|ppo` would. Evaluates the champion embedder
alone and each pipeline on CUAD dev (one half: choose on "tuning", report on "reporting") and, with
`--law`, the MTEB law tasks, reranking `agent.retrieve_k` candidates as the loop's gate does, and
prints NDCG@10 with deltas against the embedder alone and, for dev, the gate's paired-bootstrap
95 % interval of that delta (evals.gate.compare_suite). `--record` also writes the table to the
workspace (training/report.py's OBJECTIVES_FILE) and re-renders its report.html with it.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from supervised_reference import dev_suite  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workspace", type=Path, required=True)
    parser.add_argument("--run-prefix", default="loop-", help="agent runs whose feedback trains the rerankers")
    parser.add_argument("--dev-half", default="reporting", choices=["tuning", "reporting", "all"])
    parser.add_argument("--dev-contracts", type=int, default=0, help="only the first N contracts of that half (0 = all)")
    parser.add_argument("--law", action="store_true", help="also evaluate the MTEB law tasks")
    parser.add_argument("--steps", type=int, default=0, help="training.reranker.max_steps for every objective (0 = the workspace's)")
    parser.add_argument("--objectives", default="lexical,distill,dpo,ppo", help="comma list; dpo and ppo need distill (their parent)")
    parser.add_argument("--record", action="store_true", help="write the table into the workspace and re-render its report.html")
    args = parser.parse_args()
    from rag_agent.cli_common import offline_env

    offline_env()  # offline, quiet libraries, deliberate threads: as every ragloop command

    from rag_agent.cli_common import table_console
    from rich.table import Table

    from evals.gate import compare_suite
    from evals.promotion import PromotionPolicy
    from evals.runner import evaluate_suite
    from rag_agent.retrieval.embedder import load_embedder
    from rag_agent.retrieval.reranker import load_reranker
    from rag_agent.workspace import Workspace
    from training import registry
    from training.candidates import train_reranker_candidate

    console = table_console()
    scratch = Path(tempfile.mkdtemp(prefix="rr-objectives-"))
    shutil.copytree(args.workspace, scratch / "ws", ignore=shutil.ignore_patterns("*.wal"))
    ws = Workspace.open(scratch / "ws", create=False)
    cfg = ws.config
    cfg.eval.rerank_k = cfg.agent.retrieve_k  # the depth the agent reranks, as the loop's gate does
    with ws.db() as con:
        runs = [r for (r,) in con.execute("SELECT DISTINCT run_id FROM tasks WHERE run_id LIKE ? ORDER BY 1", [args.run_prefix + "%"]).fetchall()]
    overrides = {"max_steps": args.steps} if args.steps else {}
    embedder_version = registry.champion(ws, "embedder")
    embedder = load_embedder(cfg.models, str(embedder_version.path))
    console.print(f"runs {', '.join(runs)}; champion embedder {embedder_version.version_id}")

    trained = {}
    wanted = [a.strip() for a in args.objectives.split(",") if a.strip()]
    for algo in [a for a in ("lexical", "distill", "dpo", "ppo") if a in wanted]:
        started = time.perf_counter()
        parent = {"parent_id": trained["distill"].version_id} if algo in ("dpo", "ppo") and "distill" in trained else {}
        try:
            trained[algo] = train_reranker_candidate(ws, algo, run_ids=runs, **parent, **overrides)
            console.print(f"{algo}: {trained[algo].version_id} in {time.perf_counter() - started:.0f}s")
        except Exception as exc:  # one objective without data must not hide the others' rows
            console.print(f"[yellow]{algo}: not trained: {exc}")

    suites = [(dev_suite(Path(cfg.data_dir), args.dev_half, args.dev_contracts, scratch), "dev")]
    if args.law:
        data = Path(cfg.data_dir) / "mteb_law"
        suites += [(data / "aila_statutes", None), (data / "legalbench_corporate_lobbying", None)]
    pipelines = {"embedder alone": None} | {algo: load_reranker(cfg.models, str(v.path), embedder=embedder) for algo, v in trained.items()}
    results = {}
    for name, reranker in pipelines.items():
        started = time.perf_counter()
        results[name] = [evaluate_suite(path, split, embedder, reranker, ws=ws, cfg=cfg) for path, split in suites]
        console.print(f"evaluated {name} in {time.perf_counter() - started:.0f}s: {[round(r.metrics['ndcg@10'], 4) for r in results[name]]}")
    scores = {name: [r.metrics["ndcg@10"] for r in rows] for name, rows in results.items()}
    policy = PromotionPolicy.from_config(cfg)

    table = Table(title=f"reranker objectives from the same feedback ({', '.join(runs)}) — NDCG@10, rerank depth {cfg.eval.rerank_k}, dev half {args.dev_half}")
    table.add_column("pipeline")
    table.add_column("trained on", justify="right")
    for path, split in suites:
        table.add_column(path.name if split is None else f"{path.name} {split}", justify="right")
    table.add_column("dev 95% CI", justify="right")
    base = scores["embedder alone"]
    recorded = []
    for name, values in scores.items():
        version = trained.get(name)
        items = "-" if version is None else str(version.trained_on.get("n", "?"))
        ci = "" if version is None else compare_suite(results[name][0], results["embedder alone"][0], policy, policy.tolerance, "ndcg@10")
        ci = ci and f"[{ci.ci_low:+.4f}, {ci.ci_high:+.4f}]"
        cells = [f"{v:.4f}" + ("" if version is None else f" ({v - b:+.4f})") for v, b in zip(values, base)]
        table.add_row(name, items, *cells, ci)
        recorded.append({"pipeline": name, "trained_on": items, "cells": cells, "dev_ci": ci})
    console.print(table)
    if args.record:
        record(args.workspace, [c.header for c in table.columns], recorded,
               f"{table.title}; over champion embedder {embedder_version.version_id}; bench/reranker_objectives.py, {time.strftime('%Y-%m-%d %H:%M')}")
        console.print(f"recorded in {args.workspace}/report.html")


def record(workspace: Path, columns: list[str], rows: list[dict], caption: str) -> None:
    """The table beside the workspace's report, and the report re-rendered to show it."""
    import json

    from rag_agent.workspace import Workspace
    from training.loop import TrainingLoop
    from training.report import OBJECTIVES_FILE, write_report

    (workspace / OBJECTIVES_FILE).write_text(json.dumps({"caption": caption, "columns": columns, "rows": rows}, indent=1))
    write_report(TrainingLoop(Workspace.open(workspace, create=False), progress=False).rows(), workspace)


if __name__ == "__main__":
    main()
