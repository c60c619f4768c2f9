"""SUPERVISED REFERENCE and forgetting control, through the project's own training and eval code.

Builds the clearly labelled supervised reference from gold evidence of CUAD *train* tasks
(training/supervised.py; never dev), fine-tunes the base embedder on it with and without weight
merging (training.embedder.merge_alpha), and evaluates base / fine-tuned / merged on the CUAD dev suite and
the MTEB law tasks. With `--reranker`, also trains the residual reranker (`--reranker-objective`:
lexical, the loop's choice, or distill; on the same gold lists) over the first gold-trained embedder, once per `--reranker-alphas` value
(training.reranker.merge_alpha), and evaluates gold embedder + gold reranker against that gold
embedder alone. Prints one NDCG@10 table. This is the ceiling feedback-trained models are compared
with, and the measurement behind the default forgetting control.

    .venv/bin/python bench/supervised_reference.py [--data ../shared/data] [--max-tasks 400 | --task-ids FILE]
        [--alphas 1.0,0.5] [--reranker --reranker-objective lexical|distill --reranker-steps 60 --reranker-alphas 1.0,0.5 --rerank-k 10]
        [--dev-half reporting] [--dev-contracts N] [--workspace W (reuse its embedding cache)] [--dev-only] [--no-base]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=None, help="data dir holding cuad/ and mteb_law/ (default: config data_dir)")
    parser.add_argument("--embedder", default="bundled:all-MiniLM-L6-v2")
    parser.add_argument("--max-tasks", type=int, default=400)
    parser.add_argument("--task-ids", default=None, help="file with one CUAD TRAIN task id per line (overrides --max-tasks)")
    parser.add_argument("--alphas", default="1.0,0.5", help="merge_alpha values to train (1.0 = no merging)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--reranker", action="store_true", help="also train + evaluate the residual reranker over the first embedder")
    parser.add_argument("--reranker-objective", default="lexical", choices=["lexical", "distill"], help="the residual reranker's correction")
    parser.add_argument("--reranker-steps", type=int, default=60, help="distill's max_steps (lexical: training.lexical.steps)")
    parser.add_argument("--reranker-alphas", default="1.0", help="training.reranker.merge_alpha values to train")
    parser.add_argument("--rerank-k", type=int, default=10, help="candidates the reranker re-scores (the loop's depth)")
    parser.add_argument("--dev-half", default="all", help="tuning, reporting or all: which half of the dev contracts to evaluate")
    parser.add_argument("--dev-contracts", type=int, default=0, help="evaluate only the first N dev contracts of that half (0 = all; CPU time)")
    parser.add_argument("--out", default=None, help="where the trained models go (default: a temp dir)")
    parser.add_argument("--workspace", default=None, help="reuse this workspace's embedding cache (base-model encodings)")
    parser.add_argument("--dev-only", action="store_true", help="evaluate CUAD dev only (skip the MTEB law tasks)")
    parser.add_argument("--no-base", action="store_true", help="skip evaluating the untuned base embedder")
    args = parser.parse_args()
    from rag_agent.cli_common import offline_env

    offline_env()  # offline, quiet libraries, deliberate threads: as every ragloop command

    import torch
    from rag_agent.cli_common import table_console

    from rag_agent.config import RagloopConfig
    from rag_agent.retrieval.embedder import load_embedder
    from rag_agent.workspace import Workspace
    from training.embedder_trainer import train_embedder
    from training.supervised import build_supervised_reference

    ws = Workspace.open(args.workspace) if args.workspace else None
    cfg = ws.config if ws else RagloopConfig()
    cfg.eval.rerank_k = args.rerank_k
    data = Path(args.data or cfg.data_dir)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    cfg.models.device, cfg.models.batch_size = device, 128 if device == "cuda" else 32
    base = load_embedder(cfg.models, args.embedder)
    console = table_console()
    task_ids = set(Path(args.task_ids).read_text().split()) if args.task_ids else None

    started = time.perf_counter()
    reference = build_supervised_reference(data / "cuad", cfg.chunking, base, max_tasks=args.max_tasks, top_k=cfg.training.data.supervised_top_k,
                                           overlap_fraction=cfg.eval.overlap_fraction, seed=cfg.training.data.seed, task_ids=task_ids)
    console.print(f"supervised reference (train tasks only): {reference.summary()} in {time.perf_counter() - started:.0f}s")

    out = Path(args.out or tempfile.mkdtemp(prefix="supref-"))
    pipelines = {} if args.no_base else {"base": (base, None)}
    gold_embedder = None
    for alpha in [float(a) for a in args.alphas.split(",")]:
        train_cfg = cfg.training.embedder.updated(merge_alpha=alpha, epochs=args.epochs)
        started = time.perf_counter()
        result = train_embedder(base.path, reference.examples, train_cfg, out / f"alpha-{alpha}", distill_cfg=cfg.training.distill, models=cfg.models)
        console.print(f"trained alpha={alpha}: {result.n_examples} examples, loss {result.metrics['loss_before']:.3f} -> "
                      f"{result.metrics['loss_after']:.3f} in {time.perf_counter() - started:.0f}s")
        name = "fine-tuned (no merge)" if alpha == 1.0 else f"merged alpha={alpha}"
        embedder = load_embedder(cfg.models, str(result.path))
        pipelines[name] = (embedder, None)
        gold_embedder = gold_embedder or (name, embedder)
    if args.reranker:
        pipelines.update(train_rerankers(args, cfg, reference, gold_embedder, out, console))

    suites = [(dev_suite(data, args.dev_half, args.dev_contracts, out), "dev")]
    if not args.dev_only:
        suites += [(data / "mteb_law" / "aila_statutes", None), (data / "mteb_law" / "legalbench_corporate_lobbying", None)]
    print_table(console, pipelines, suites, ws, cfg, args)


def train_rerankers(args, cfg, reference, gold_embedder, out: Path, console) -> dict:
    """Residual rerankers on the gold lists (clause chunks 1.0, other top-k chunks 0.0) over the
    first gold-trained embedder, one per reranker merge alpha: `--reranker-objective` lexical
    (BM25 weight, statistics over the reference's contracts) or distill (cross-encoder g)."""
    from rag_agent.retrieval.reranker import load_reranker
    from training.data import ScoredList
    from training.distill_trainer import train_reranker_distill
    from training.lexical_trainer import train_reranker_lexical

    name, embedder = gold_embedder
    lists = [ScoredList(g.query, g.texts, [x / 3.0 for x in g.grades], 1.0, g.origin) for g in reference.lists]
    found = {}
    for alpha in [float(a) for a in args.reranker_alphas.split(",")]:
        rr_cfg = cfg.training.reranker.updated(max_steps=args.reranker_steps, merge_alpha=alpha)
        started = time.perf_counter()
        folder = out / f"reranker-{args.reranker_objective}-alpha-{alpha}"
        if args.reranker_objective == "lexical":
            result = train_reranker_lexical(None, lists, rr_cfg, folder, str(embedder.path), objective=cfg.training.lexical,
                                            models=cfg.models, corpus=reference.corpus, distill=cfg.training.distill)
            m = result.metrics
            fit = f"weight {m['weight']:.4f}, pairwise loss {m['loss_retriever']:.3f} -> {m['loss_after']:.3f}"
        else:
            result = train_reranker_distill(None, lists, rr_cfg, folder, embedder=str(embedder.path), objective=cfg.training.distill, models=cfg.models)
            m = result.metrics
            fit = (f"{len(m['losses'])} steps, KL {m['kl_before']:.3f} -> {m['kl_after']:.3f}"
                   + (f", KL after merging {m['kl_after_merge']:.3f}" if "kl_after_merge" in m else ""))
        console.print(f"{args.reranker_objective} reranker alpha={alpha}: {len(lists)} gold lists, {fit}, "
                      f"top-1 agreement {m['top1_agreement_before']:.2f} -> {m['top1_agreement_after']:.2f} in {time.perf_counter() - started:.0f}s")
        found[f"{name} + {args.reranker_objective} reranker alpha={alpha}"] = (embedder, load_reranker(cfg.models, str(result.path), embedder=embedder))
    return found


def dev_suite(data: Path, half: str, n_contracts: int, out: Path) -> Path:
    """The CUAD dev suite, or a copy of its task/contract lists restricted to one half / N contracts."""
    from rag_agent.dev_split import in_half

    if half in ("all", "") and n_contracts <= 0:
        return data / "cuad"
    folder = out / f"cuad-dev-{half}-{n_contracts or 'all'}" / "cuad"
    folder.mkdir(parents=True, exist_ok=True)
    contracts = [json.loads(line) for line in (data / "cuad" / "contracts_dev.jsonl").read_text().splitlines() if line.strip()]
    contracts = [c for c in contracts if in_half(c["doc_id"], half)]
    contracts = contracts[:n_contracts] if n_contracts > 0 else contracts
    keep = {c["doc_id"] for c in contracts}
    tasks = [line for line in (data / "cuad" / "tasks_dev.jsonl").read_text().splitlines() if line.strip() and json.loads(line)["doc_id"] in keep]
    (folder / "contracts_dev.jsonl").write_text("\n".join(json.dumps(c | {"file": str((data / "cuad" / c["file"]).resolve())}) for c in contracts) + "\n")
    (folder / "tasks_dev.jsonl").write_text("\n".join(tasks) + "\n")
    return folder


def print_table(console, pipelines: dict, suites: list, ws, cfg, args) -> None:
    """NDCG@10 per pipeline and suite, deltas against the first row; a pipeline with a reranker
    also gets the gate's paired-bootstrap 95 % CI of its dev delta over its embedder alone."""
    from rich.table import Table

    from evals.gate import compare_suite
    from evals.promotion import PromotionPolicy
    from evals.runner import evaluate_suite

    table = Table(title=f"SUPERVISED REFERENCE (gold evidence of train tasks) — NDCG@10 (rerank depth {args.rerank_k}, dev half {args.dev_half}"
                        f"{f', first {args.dev_contracts} contracts' if args.dev_contracts else ''})")
    table.add_column("pipeline")
    for path, split in suites:
        table.add_column(path.name if split is None else f"{path.name} {split}", justify="right")
    table.add_column("dev 95% CI vs its embedder alone", justify="right")
    results = {}
    for name, (embedder, reranker) in pipelines.items():
        started = time.perf_counter()
        results[name] = [evaluate_suite(path, split, embedder, reranker, ws=ws, cfg=cfg) for path, split in suites]
        console.print(f"evaluated {name} in {time.perf_counter() - started:.0f}s: {[round(r.metrics['ndcg@10'], 4) for r in results[name]]}")
    scores = {name: [r.metrics["ndcg@10"] for r in rows] for name, rows in results.items()}
    alone = {id(embedder): name for name, (embedder, reranker) in pipelines.items() if reranker is None}
    policy = PromotionPolicy.from_config(cfg)
    reference = next(iter(scores))
    for name, values in scores.items():
        deltas = [v - b for v, b in zip(values, scores[reference])]
        embedder, reranker = pipelines[name]
        ci = ""
        if reranker is not None and id(embedder) in alone:
            c = compare_suite(results[name][0], results[alone[id(embedder)]][0], policy, policy.tolerance, "ndcg@10")
            ci = f"{c.delta:+.4f} [{c.ci_low:+.4f}, {c.ci_high:+.4f}]"
        table.add_row(name, *[f"{v:.4f}" + ("" if name == reference else f" ({d:+.4f})") for v, d in zip(values, deltas)], ci)
    console.print(table)
    console.print(f"deltas are against '{reference}'")


if __name__ == "__main__":
    main()
