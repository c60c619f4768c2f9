"""Vector search backends on synthetic data: faiss flat vs faiss HNSW vs chroma.

    python bench/search.py [--sizes 10000,100000,1000000] [--queries 200]
                           [--skip faiss-hnsw,chroma] [--hnsw-max 100000] [--chroma-max 100000]

Data: 384-d L2-normalised vectors drawn around random cluster centres (real embeddings are
clustered; uniform random 384-d points are a worst case no ANN index is built for), queries are
perturbed corpus points. Each backend goes through ragloop's own index classes (the code the
agent runs), and reports build time (add everything; HNSW graph construction included), p50/p95
single-query latency over `--queries` one-at-a-time searches, and recall@10 against exact flat.
Backends above their `--*-max` size are printed as skipped with the reason.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from rag_agent.config import IndexConfig  # noqa: E402

DIM = 384
K = 10
VERSION = "bench@synthetic"


def synthetic(n: int, n_queries: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n_centres = max(16, n // 200)
    centres = rng.standard_normal((n_centres, DIM), dtype=np.float32)
    vectors = np.empty((n, DIM), dtype=np.float32)
    step = 100_000  # fill in slices: peak memory stays ~ the corpus itself
    for lo in range(0, n, step):
        hi = min(n, lo + step)
        vectors[lo:hi] = centres[rng.integers(0, n_centres, hi - lo)] + 0.6 * rng.standard_normal((hi - lo, DIM), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    queries = vectors[rng.integers(0, n, n_queries)] + 0.05 * rng.standard_normal((n_queries, DIM), dtype=np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    return vectors, queries


def make_index(backend: str, cfg: IndexConfig, folder: Path):
    if backend.startswith("faiss"):
        from rag_agent.retrieval.index_faiss import FaissIndex

        cfg.kind = "hnsw" if backend == "faiss-hnsw" else "flat"
        return FaissIndex.from_config(cfg, DIM, VERSION)
    from rag_agent.retrieval.index_chroma import ChromaIndex

    return ChromaIndex.create(folder, DIM, VERSION, cfg, fresh=True)


def run_backend(backend: str, vectors: np.ndarray, queries: np.ndarray, exact: list[set[str]] | None, folder: Path):
    index = make_index(backend, IndexConfig(), folder)
    n = len(vectors)
    chunk_ids = [f"d{i // 50}:{i}-{i + 1}" for i in range(n)]
    doc_ids = [c.split(":")[0] for c in chunk_ids]
    started = time.perf_counter()
    step = 50_000
    for lo in range(0, n, step):
        index.add(chunk_ids[lo : lo + step], doc_ids[lo : lo + step], vectors[lo : lo + step])
    build_s = time.perf_counter() - started
    latencies, results = [], []
    index.search(queries[:1], K)  # first-call setup is not a query cost
    for q in queries:
        t = time.perf_counter()
        hits = index.search(q[None, :], K)[0]
        latencies.append((time.perf_counter() - t) * 1000)
        results.append({h.chunk_id for h in hits})
    recall = 1.0 if exact is None else float(np.mean([len(r & e) / K for r, e in zip(results, exact)]))
    del index
    return build_s, float(np.percentile(latencies, 50)), float(np.percentile(latencies, 95)), recall, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--skip", default="", help="comma list of backends to skip: faiss-hnsw, chroma")
    parser.add_argument("--hnsw-max", type=int, default=100_000, help="skip faiss HNSW above this size (graph build is single-core slow)")
    parser.add_argument("--chroma-max", type=int, default=100_000, help="skip chroma above this size")
    args = parser.parse_args()
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    limits = {"faiss-hnsw": args.hnsw_max, "chroma": args.chroma_max}
    cfg = IndexConfig()
    print(f"dim {DIM}, k {K}, {args.queries} single queries, HNSW M={cfg.hnsw_m} efConstruction={cfg.hnsw_ef_construction} efSearch={cfg.hnsw_ef_search}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    header = f"{'size':>9} {'backend':<11} {'build s':>9} {'p50 ms':>8} {'p95 ms':>8} {'recall@10':>9}"
    print(header)
    print("-" * len(header))
    for size in (int(s) for s in args.sizes.split(",")):
        vectors, queries = synthetic(size, args.queries)
        exact = None
        for backend in ("faiss-flat", "faiss-hnsw", "chroma"):
            if backend in skip:
                print(f"{size:>9} {backend:<11} skipped (--skip)")
                continue
            if backend in limits and size > limits[backend]:
                print(f"{size:>9} {backend:<11} skipped (size > --{backend.split('-')[-1]}-max {limits[backend]}: build too slow on this CPU)")
                continue
            folder = Path(tempfile.mkdtemp(prefix=f"bench-{backend}-"))
            try:
                build_s, p50, p95, recall, results = run_backend(backend, vectors, queries, exact, folder)
            finally:
                shutil.rmtree(folder, ignore_errors=True)
            if backend == "faiss-flat":
                exact = results
            print(f"{size:>9} {backend:<11} {build_s:>9.2f} {p50:>8.2f} {p95:>8.2f} {recall:>9.3f}", flush=True)
        del vectors, queries


if __name__ == "__main__":
    main()
