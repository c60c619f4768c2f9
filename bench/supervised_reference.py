"""SUPERVISED REFERENCE and forgetting control, through the project's own training and eval code.

Builds the clearly labelled supervised reference from gold evidence of CUAD *train* tasks
(training/supervised.py; never dev), fine-tunes the base embedder on it with and without weight
merging (training.merge_alpha), and evaluates base / fine-tuned / merged on the CUAD dev suite and
the MTEB law tasks. Prints one NDCG@10 table. This is the ceiling feedback-trained models are
compared with, and the measurement behind the default forgetting control.

    .venv/bin/python bench/supervised_reference.py [--data ../shared/data] [--max-tasks 400] [--alphas 1.0,0.5]
        [--workspace W (reuse its embedding cache)] [--dev-only]
"""

from __future__ import annotations

import argparse
import os
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
    parser.add_argument("--alphas", default="1.0,0.5", help="merge_alpha values to train (1.0 = no merging)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--out", default=None, help="where the trained models go (default: a temp dir)")
    parser.add_argument("--workspace", default=None, help="reuse this workspace's embedding cache (base-model encodings)")
    parser.add_argument("--dev-only", action="store_true", help="evaluate CUAD dev only (skip the MTEB law tasks)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import torch
    from rich.console import Console
    from rich.table import Table

    from evals.runner import evaluate_suite
    from rag_agent.config import RagloopConfig
    from rag_agent.retrieval.embedder import SentenceTransformerEmbedder
    from training.embedder_config import EmbedderTrainConfig
    from training.embedder_trainer import train_embedder
    from training.supervised import build_supervised_reference

    from rag_agent.workspace import Workspace

    ws = Workspace.open(args.workspace) if args.workspace else None
    cfg = ws.config if ws else RagloopConfig()
    data = Path(args.data or cfg.data_dir)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    base = SentenceTransformerEmbedder.from_spec(args.embedder, batch_size=128 if device == "cuda" else 32, device=device)
    console = Console()

    started = time.perf_counter()
    reference = build_supervised_reference(data / "cuad", cfg.chunking, base, max_tasks=args.max_tasks, top_k=cfg.training.supervised_top_k,
                                           overlap_fraction=cfg.eval.overlap_fraction, seed=cfg.training.seed)
    console.print(f"supervised reference (train tasks only): {reference.summary()} in {time.perf_counter() - started:.0f}s")

    out = Path(args.out or tempfile.mkdtemp(prefix="supref-"))
    models = {"base": base}
    for alpha in [float(a) for a in args.alphas.split(",")]:
        train_cfg = EmbedderTrainConfig.from_training(cfg.training, merge_alpha=alpha, epochs=args.epochs)
        started = time.perf_counter()
        result = train_embedder(base.path, reference.examples, train_cfg, out / f"alpha-{alpha}")
        console.print(f"trained alpha={alpha}: {result.n_examples} examples, loss {result.metrics['loss_before']:.3f} -> "
                      f"{result.metrics['loss_after']:.3f} in {time.perf_counter() - started:.0f}s")
        name = "fine-tuned (no merge)" if alpha == 1.0 else f"merged alpha={alpha}"
        models[name] = SentenceTransformerEmbedder(result.path, batch_size=base.batch_size, device=device)

    suites = [(data / "cuad", "dev"), (data / "mteb_law" / "aila_statutes", None), (data / "mteb_law" / "legalbench_corporate_lobbying", None)]
    suites = suites[:1] if args.dev_only else suites
    table = Table(title="SUPERVISED REFERENCE (gold evidence of train tasks) — NDCG@10")
    table.add_column("model")
    scores: dict[str, list[float]] = {}
    for path, split in suites:
        table.add_column(path.name if split is None else f"{path.name} {split}", justify="right")
    for name, embedder in models.items():
        scores[name] = [evaluate_suite(path, split, embedder, ws=ws, cfg=cfg).metrics["ndcg@10"] for path, split in suites]
    for name, values in scores.items():
        deltas = [v - b for v, b in zip(values, scores["base"])]
        table.add_row(name, *[f"{v:.4f}" + ("" if name == "base" else f" ({d:+.4f})") for v, d in zip(values, deltas)])
    console.print(table)


if __name__ == "__main__":
    main()
