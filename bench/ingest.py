"""Ingest throughput and scoped-search latency on the real CUAD contracts.

    python bench/ingest.py [--split dev] [--split train,dev] [--workspace DIR] [--set k=v ...]
                           [--queries 200] [--seed 0]

Ingests the contracts of the given splits (`contracts_<split>.jsonl`) into a FRESH workspace
(a temporary folder unless --workspace names a new or empty one), through the same
`rag_agent.ingest.pipeline.ingest` the CLI runs, then times `--queries` random questions from
`tasks_<split>.jsonl`, each searched one at a time and scoped to its own contract (the agent's
situation). Prints wall time, documents, chunks, chunks/s, index size on disk, and p50/p95
latency of the scoped index search alone and of query encoding + search.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

for _key, _value in (
    ("HF_HUB_OFFLINE", "1"),
    ("TRANSFORMERS_OFFLINE", "1"),
    ("OMP_WAIT_POLICY", "PASSIVE"),
    ("TOKENIZERS_PARALLELISM", "false"),
    ("ANONYMIZED_TELEMETRY", "False"),
):
    os.environ.setdefault(_key, _value)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from rag_agent.workspace import Workspace  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", default="dev", help="comma-separated CUAD splits: train, dev")
    parser.add_argument("--workspace", type=Path, default=None, help="a new or empty folder (default: a temp folder, removed after)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="config override section.key=value")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    splits = [s.strip() for s in args.split.split(",") if s.strip()]
    temporary = args.workspace is None
    root = Path(tempfile.mkdtemp(prefix="ragloop-bench-ingest-")) if temporary else args.workspace
    if not temporary and root.exists() and any(root.iterdir()):
        sys.exit(f"error: {root} is not empty; bench/ingest.py needs a fresh workspace")
    try:
        ws = Workspace.open(root, overrides=args.overrides)
        cuad = Path(ws.config.data_dir) / "cuad"
        manifests = [cuad / f"contracts_{split}.jsonl" for split in splits]
        report = run_ingest(ws, manifests)
        latency = scoped_search_latency(ws, [cuad / f"tasks_{split}.jsonl" for split in splits], args.queries, args.seed)
        print_figures(splits, ws, report, latency)
    finally:
        if temporary:
            shutil.rmtree(root, ignore_errors=True)


def run_ingest(ws, manifests: list[Path]):
    from rag_agent.ingest.pipeline import ingest

    started = time.perf_counter()
    report = ingest(ws, manifests, progress=sys.stderr.isatty())
    report.wall_s = time.perf_counter() - started  # same as report.seconds; kept explicit for the print
    return report


def scoped_search_latency(ws, task_files: list[Path], n_queries: int, seed: int) -> dict[str, float]:
    from rag_agent.retrieval.embedder import load_embedder
    from rag_agent.retrieval.factory import open_index

    tasks = [json.loads(line) for path in task_files for line in path.read_text().splitlines() if line.strip()]
    sample = random.Random(seed).sample(tasks, min(n_queries, len(tasks)))
    cfg = ws.config.models
    embedder = load_embedder(cfg)
    index = open_index(ws, embedder.version, embedder.dim, create=False)
    embedder.encode(["warm-up"], is_query=True)
    search_ms, total_ms = [], []
    for task in sample:
        started = time.perf_counter()
        vector = embedder.encode([task["question"]], is_query=True)
        encoded = time.perf_counter()
        hits = index.search(vector, ws.config.agent.retrieve_k, scope={task["doc_id"]})[0]
        done = time.perf_counter()
        assert hits and all(h.doc_id == task["doc_id"] for h in hits), task["id"]
        search_ms.append((done - encoded) * 1000)
        total_ms.append((done - started) * 1000)
    return {
        "queries": len(sample),
        "search_p50": float(np.percentile(search_ms, 50)),
        "search_p95": float(np.percentile(search_ms, 95)),
        "total_p50": float(np.percentile(total_ms, 50)),
        "total_p95": float(np.percentile(total_ms, 95)),
    }


def print_figures(splits: list[str], ws, report, latency: dict[str, float]) -> None:
    index_bytes = sum(f.stat().st_size for f in ws.indexes_dir.rglob("*") if f.is_file())
    cfg = ws.config
    print(f"CUAD split(s): {','.join(splits)}   chunking: {cfg.chunking.boundary} {cfg.chunking.size}/{cfg.chunking.overlap}   "
          f"index: {cfg.index.backend}/{cfg.index.kind}   embedder: {report.embedder_version}")
    print(f"wall time          {report.wall_s:8.1f} s   (model load included)")
    print(f"documents          {report.documents_ingested:8d}   (skipped {report.documents_skipped})")
    print(f"chunks             {report.chunks_added:8d}")
    print(f"chunks/s           {report.chunks_per_s:8.1f}")
    print(f"index size on disk {index_bytes / 2**20:8.1f} MiB")
    print(f"scoped search      p50 {latency['search_p50']:.2f} ms   p95 {latency['search_p95']:.2f} ms   "
          f"(k={cfg.agent.retrieve_k}, {latency['queries']} questions, one contract each)")
    print(f"encode + search    p50 {latency['total_p50']:.2f} ms   p95 {latency['total_p95']:.2f} ms")


if __name__ == "__main__":
    main()
