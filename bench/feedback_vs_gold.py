"""Feedback vs gold on the SAME tasks: how much of what gold evidence buys does the loop's feedback buy?

    .venv/bin/python bench/feedback_vs_gold.py --workspace workspace [--run-prefix loop-]
        [--distill-weights 0,0.5] [--dev-half reporting] [--dev-contracts 0] [--law]

Reads a workspace the loop (or `feedback harvest`) wrote and trains, each from the BASE embedder
with the workspace's `training.embedder` settings (so the rows differ only in their labels):
  * feedback, once per `--distill-weights` value w: InfoNCE on the harvested positives with hard
    negatives, plus w x the listwise KL to the judge's P(yes) over each judged list (w = 0: InfoNCE
    only; training/losses/infonce_plus_listwise_kl.py). This is issue 10's "embedder with vs
    without distillation, same feedback".
  * gold (SUPERVISED REFERENCE, clearly labelled): the gold evidence of exactly the train tasks those
    runs answered (training/supervised.py --task-ids), the ceiling issue 9 measures feedback against.
Then evaluates base and every trained model on CUAD dev (one half: choose on "tuning", report on
"reporting"; rag_agent.dev_split) and, with `--law`, the two MTEB law tasks, and prints NDCG@10 with
each row's share of the gold row's dev gain. Gold evidence of TRAIN tasks is read only for the gold row.
"""

from __future__ import annotations

import argparse
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
    parser.add_argument("--run-prefix", default="loop-", help="agent runs whose traces are the feedback (default: the loop's cycles)")
    parser.add_argument("--distill-weights", default="0,0.5", help="training.embedder.distill_weight values, one feedback row each")
    parser.add_argument("--dev-half", default="tuning,reporting", help="comma list of dev halves (tuning, reporting, all): one column each;"
                        " choose settings on tuning, report on reporting")
    parser.add_argument("--ungated", action="store_true", help="also a row per distill weight > 0 that keeps the lists of"
                        " clause-absent tasks (training.distill.lists_need_clause=false)")
    parser.add_argument("--dev-contracts", type=int, default=0, help="only the first N contracts of that half (0 = all)")
    parser.add_argument("--law", action="store_true", help="also evaluate the MTEB law tasks")
    parser.add_argument("--base", default="bundled:all-MiniLM-L6-v2", help="the embedder every row starts from")
    parser.add_argument("--out", type=Path, default=None, help="where the trained models go (default: a temp dir)")
    args = parser.parse_args()
    from rag_agent.cli_common import offline_env

    offline_env()  # offline, quiet libraries, deliberate threads: as every ragloop command

    from rag_agent.cli_common import table_console
    from rich.table import Table

    from evals.runner import evaluate_suite
    from rag_agent.retrieval.embedder import load_embedder
    from rag_agent.workspace import Workspace
    from training.data import load_embedder_examples_from_workspace, load_scored_lists_from_workspace
    from training.embedder_trainer import train_embedder
    from training.supervised import build_supervised_reference

    console = table_console()
    ws = Workspace.open(args.workspace, create=False)
    cfg = ws.config
    with ws.db() as con:
        runs = [r for (r,) in con.execute("SELECT DISTINCT run_id FROM tasks WHERE run_id LIKE ? ORDER BY 1", [args.run_prefix + "%"]).fetchall()]
        task_ids = {t for (t,) in con.execute("SELECT DISTINCT task_id FROM tasks WHERE run_id LIKE ? AND status = 'done'",
                                              [args.run_prefix + "%"]).fetchall()}
    console.print(f"{len(task_ids)} tasks in runs {', '.join(runs)}")
    data = Path(cfg.data_dir)
    base = load_embedder(cfg.models, args.base)
    out = args.out or Path(tempfile.mkdtemp(prefix="fb-vs-gold-"))

    examples = load_embedder_examples_from_workspace(ws, cfg.training.data.positive_grade, max(cfg.training.embedder.max_negatives, 1), run_ids=runs)
    lists, counts = load_scored_lists_from_workspace(ws, runs, need_clause=True)
    all_lists, all_counts = load_scored_lists_from_workspace(ws, runs, need_clause=False)
    console.print(f"feedback: {len(examples)} InfoNCE examples (positives with hard negatives); {counts.line()}; "
                  f"without the clause gate {all_counts.usable} usable")
    reference = build_supervised_reference(data / "cuad", cfg.chunking, base, top_k=cfg.training.data.supervised_top_k,
                                           overlap_fraction=cfg.eval.overlap_fraction, seed=cfg.training.data.seed, task_ids=task_ids)
    console.print(f"gold (supervised reference, same tasks): {reference.summary()}")

    rows: dict[str, tuple[object, str]] = {"base": (base, "-")}
    for weight in [float(w) for w in args.distill_weights.split(",")]:
        name = f"feedback, distill {weight:g}" if weight else "feedback, InfoNCE only"
        if len(examples) < 2:
            console.print(f"[yellow]{name}: skipped, {len(examples)} positives (the trainer needs 2 for in-batch negatives)")
            continue
        rows[name] = (_train(train_embedder, base, examples, cfg, out / f"feedback-{weight:g}", console, name,
                             distill_weight=weight, distill=lists if weight else None), f"{len(examples)} + {len(lists) if weight else 0} lists")
        if weight and args.ungated:
            name = f"{name}, clause-absent lists kept"
            rows[name] = (_train(train_embedder, base, examples, cfg, out / f"feedback-{weight:g}-ungated", console, name,
                                 distill_weight=weight, distill=all_lists), f"{len(examples)} + {len(all_lists)} lists")
    rows["GOLD (supervised reference)"] = (_train(train_embedder, base, reference.examples, cfg, out / "gold", console, "gold"),
                                           f"{len(reference.examples)}")

    halves = [h for h in args.dev_half.split(",") if h]
    suites = [(dev_suite(data, half, args.dev_contracts, out), "dev", f"cuad dev {half}") for half in halves]
    if args.law:
        suites += [(data / "mteb_law" / name, None, name) for name in ("aila_statutes", "legalbench_corporate_lobbying")]
    scores = {}
    for name, (embedder, _) in rows.items():
        started = time.perf_counter()
        scores[name] = [evaluate_suite(path, split, embedder, None, ws=ws, cfg=cfg).metrics["ndcg@10"] for path, split, _ in suites]
        console.print(f"evaluated {name} in {time.perf_counter() - started:.0f}s: {[round(s, 4) for s in scores[name]]}")

    table = Table(title=f"feedback vs gold on the same {len(task_ids)} train tasks — NDCG@10")
    table.add_column("embedder (from base)")
    table.add_column("examples", justify="right")
    for _, _, label in suites:
        table.add_column(label, justify="right")
    for half in halves:
        table.add_column(f"share of gold's gain ({half})", justify="right")
    gold = scores["GOLD (supervised reference)"]
    for name, (_, n) in rows.items():
        cells = [f"{v:.4f}" + ("" if name == "base" else f" ({v - b:+.4f})") for v, b in zip(scores[name], scores["base"])]
        shares = []
        for i in range(len(halves)):
            gold_gain, gain = gold[i] - scores["base"][i], scores[name][i] - scores["base"][i]
            shares.append("-" if name == "base" or abs(gold_gain) < 1e-9 else f"{gain / gold_gain:.0%}")
        table.add_row(name, n, *cells, *shares)
    console.print(table)


def _train(train_embedder, base, examples, cfg, out: Path, console, name: str, distill_weight: float = 0.0, distill=None):
    from rag_agent.retrieval.embedder import load_embedder

    started = time.perf_counter()
    train_cfg = cfg.training.embedder.updated(distill_weight=distill_weight)
    result = train_embedder(base.path, examples, train_cfg, out, distill=distill, distill_cfg=cfg.training.distill, models=cfg.models)
    m = result.metrics
    console.print(f"trained {name}: {result.n_examples} examples, {len(m['losses'])} steps, {m['n_distill_lists']} distill lists, "
                  f"probe loss {m['loss_before']:.3f} -> {m['loss_after']:.3f} in {time.perf_counter() - started:.0f}s")
    return load_embedder(cfg.models, str(result.path))


if __name__ == "__main__":
    main()
