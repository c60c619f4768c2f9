"""Seconds a residual reranker takes to score CUAD dev, with and without its passage-vector memo.

    .venv/bin/python bench/reranker_scoring.py [--contracts 3] [--half reporting] [--rerank-k 10]

The loop's gate scores every candidate reranker on CUAD dev: `agent.retrieve_k` (10) candidates a
query, each a cross-encoder pair plus the bound embedder's cosine. The embedder term used to
re-encode every candidate passage for every query, although one contract's questions rerank the
same few dozen chunks; `ResidualReranker` now keeps those vectors by text. This bench scores the
same queries twice with an untrained residual reranker over the bundled MiniLM (its cost is a
trained one's): once with the memo off (`TEXT_VECTOR_MEMO = 0`: every query re-encodes, the old
behaviour) and once on, in one process, no score cache, and prints the seconds of each beside the
retriever alone, and whether the per-query NDCG@10 agree.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contracts", type=int, default=3, help="first N contracts of the dev half (0 = all)")
    parser.add_argument("--half", default="reporting", choices=["tuning", "reporting", "all"])
    parser.add_argument("--rerank-k", type=int, default=10)
    args = parser.parse_args()
    from rag_agent.cli_common import offline_env, setup_logging, table_console

    offline_env()
    setup_logging()
    from evals.runner import evaluate_suite
    from rag_agent.config import RagloopConfig
    from rag_agent.retrieval import reranker as reranker_module
    from rag_agent.retrieval.embedder import load_embedder
    from supervised_reference import dev_suite
    from training.reranker_model import finish, start

    out = Path(tempfile.mkdtemp(prefix="ragloop-bench-rerank-"))
    cfg = RagloopConfig()
    cfg.eval.rerank_k = args.rerank_k
    embedder = load_embedder(cfg.models, "bundled:all-MiniLM-L6-v2")
    model, base, start_state = start(None, cfg.training.reranker, "bundled:all-MiniLM-L6-v2", models=cfg.models)
    finish(model, base, start_state, cfg.training.reranker, out / "untrained", {"objective": "untrained"})
    suite = dev_suite(Path(cfg.data_dir), args.half, args.contracts, out)

    def timed(reranker):
        started = time.perf_counter()
        result = evaluate_suite(suite, "dev", embedder, reranker, cfg=cfg)  # no workspace: no caches
        return result, time.perf_counter() - started

    alone, alone_s = timed(None)
    rows = {}
    default_memo = reranker_module.TEXT_VECTOR_MEMO
    for label, memo in (("memo off (before)", 0), ("memo on (now)", default_memo)):
        reranker_module.TEXT_VECTOR_MEMO = memo
        rows[label] = timed(reranker_module.load_reranker(cfg.models, str(out / "untrained"), embedder=embedder))
    reranker_module.TEXT_VECTOR_MEMO = default_memo

    from rich.table import Table

    n = alone.n_queries
    table = Table(title=f"residual reranker scoring, CUAD dev ({args.half} half, {args.contracts or 'all'} contracts, {n} queries, "
                        f"rerank depth {args.rerank_k}, {cfg.models.device})")
    for column in ("pipeline", "seconds", "reranking s (minus retriever)", "s / pair", "NDCG@10"):
        table.add_column(column)
    table.add_row("retriever alone", f"{alone_s:.1f}", "-", "-", f"{alone.metrics['ndcg@10']:.4f}")
    for label, (result, seconds) in rows.items():
        extra = seconds - alone_s
        table.add_row(label, f"{seconds:.1f}", f"{extra:.1f}", f"{extra / (n * args.rerank_k):.3f}", f"{result.metrics['ndcg@10']:.4f}")
    console = table_console()
    console.print(table)
    (before, _), (now, _) = rows.values()
    same = before.per_query["ndcg@10"] == now.per_query["ndcg@10"]
    console.print(f"per-query NDCG@10 identical with and without the memo: {same}")


if __name__ == "__main__":
    main()
