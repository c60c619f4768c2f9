"""Encode throughput: ragloop's embedder path vs raw `SentenceTransformer.encode`.

    python bench/encode.py [--chunks 512] [--batch-size 32] [--rounds 3]

Both sides encode the same CUAD dev chunks (the project's chunker, default config) with the same
model object and batch size; a warm-up run of each, then alternating timed rounds so machine
noise hits both alike. Prints passages/s per round, the medians, and ratio = ragloop / raw
(target >= 0.95: the wrapper adds no real overhead).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

for _key, _value in {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_WAIT_POLICY": "PASSIVE"}.items():
    os.environ.setdefault(_key, _value)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rag_agent.config import RagloopConfig  # noqa: E402


def cuad_chunks(data_dir: Path, n: int) -> list[str]:
    from rag_agent.ingest.chunker import chunk_document
    from rag_agent.types import Document

    cfg = RagloopConfig()
    texts: list[str] = []
    with open(data_dir / "cuad" / "contracts_dev.jsonl") as fh:
        for line in fh:
            row = json.loads(line)
            doc = Document(row["doc_id"], (data_dir / "cuad" / row["file"]).read_text(errors="replace"))
            texts += [c.text for c in chunk_document(doc, cfg.chunking)]
            if len(texts) >= n:
                return texts[:n]
    return texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--data-dir", default=RagloopConfig().data_dir)
    args = parser.parse_args()

    from rag_agent.config import ModelsConfig
    from rag_agent.retrieval.embedder import load_embedder

    texts = cuad_chunks(Path(args.data_dir), args.chunks)
    embedder = load_embedder(ModelsConfig(batch_size=args.batch_size), "bundled:all-MiniLM-L6-v2")
    model = embedder.model  # the same weights for both sides

    def ragloop() -> None:
        embedder.encode(texts)

    def raw() -> None:
        model.encode(texts, batch_size=args.batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)

    print(f"{len(texts)} CUAD dev chunks (mean {sum(map(len, texts)) / len(texts):.0f} chars), batch {args.batch_size}, torch threads {__import__('torch').get_num_threads()}")
    ragloop(), raw()  # warm-up
    rates: dict[str, list[float]] = {"ragloop": [], "raw": []}
    print(f"{'round':>5} {'ragloop p/s':>12} {'raw p/s':>10}")
    for r in range(args.rounds):
        order = [("ragloop", ragloop), ("raw", raw)] if r % 2 == 0 else [("raw", raw), ("ragloop", ragloop)]
        for name, fn in order:
            started = time.perf_counter()
            fn()
            rates[name].append(len(texts) / (time.perf_counter() - started))
        print(f"{r + 1:>5} {rates['ragloop'][-1]:>12.1f} {rates['raw'][-1]:>10.1f}")
    ours, theirs = statistics.median(rates["ragloop"]), statistics.median(rates["raw"])
    print(f"median  ragloop {ours:.1f} p/s   raw {theirs:.1f} p/s   ratio {ours / theirs:.3f} (target >= 0.95)")


if __name__ == "__main__":
    main()
