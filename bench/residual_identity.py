"""An untrained residual reranker reproduces the retriever: per-query NDCG@10, rerank depth 10.

Builds the residual reranker with g = 0 (zero output layer) over the bundled MiniLM, evaluates
retriever alone and retriever + reranker on AILAStatutes, LegalBenchCorporateLobbying and CUAD dev
(all of it, or the first N contracts of the reporting half: CPU time), and prints, per suite, both
NDCG@10 figures and how many queries differ (must be 0).

    .venv/bin/python bench/residual_identity.py OUT_DIR [N_DEV_CONTRACTS (0 = all of dev)]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    from evals.runner import evaluate_suite
    from rag_agent.retrieval.embedder import load_embedder
    from rag_agent.retrieval.reranker import load_reranker
    from rag_agent.workspace import Workspace
    from supervised_reference import dev_suite
    from training.reranker_model import finish, start

    out, n_dev = Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 0
    ws = Workspace.open(out / "ws")  # its embedding cache: the retriever-only pass encodes once
    cfg = ws.config
    cfg.eval.rerank_k = 10
    data = Path(cfg.data_dir)
    embedder = load_embedder(cfg.models, "bundled:all-MiniLM-L6-v2")
    if not (out / "untrained").exists():
        rr_cfg = cfg.training.reranker
        model, base, start_state = start(None, rr_cfg, "bundled:all-MiniLM-L6-v2", models=cfg.models)
        finish(model, base, start_state, rr_cfg, out / "untrained", {"objective": "untrained"})
    reranker = load_reranker(cfg.models, str(out / "untrained"), embedder=embedder)
    suites = [(data / "mteb_law" / "aila_statutes", None), (data / "mteb_law" / "legalbench_corporate_lobbying", None),
              (dev_suite(data, "reporting" if n_dev else "all", n_dev, out), "dev")]
    for path, split in suites:
        started = time.time()
        plain = evaluate_suite(path, split, embedder, None, ws=ws, cfg=cfg)
        reranked = evaluate_suite(path, split, embedder, reranker, ws=ws, cfg=cfg)
        a, b = plain.per_query["ndcg@10"], reranked.per_query["ndcg@10"]
        print(f"{plain.suite}/{plain.split}: queries={len(a)} retriever ndcg@10={plain.metrics['ndcg@10']:.5f} "
              f"untrained residual (rerank top 10)={reranked.metrics['ndcg@10']:.5f} "
              f"per-query differences={sum(1 for q in a if a[q] != b[q])} ({time.time() - started:.0f}s)", flush=True)


if __name__ == "__main__":
    main()
