"""`feedback import` throughput on synthetic OpenInference spans.

    python bench/import_spans.py [--spans 10000] [--docs 5]

Writes a span file of --spans spans (traces of one CHAIN root, one RETRIEVER span with --docs
documents, one RERANKER span and one LLM span: 4 spans per trace) into a fresh temporary
workspace, imports it with `feedback.importer.import_file`, and prints spans/s, tasks/s and
trace rows/s (rows written to every trace table, plus the documents ingested from span content).
Parsing and validation are timed separately from writing.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
for key, value in {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_WAIT_POLICY": "PASSIVE"}.items():
    os.environ.setdefault(key, value)

from feedback.importer import import_file, parse_openinference  # noqa: E402
from rag_agent.workspace import Workspace  # noqa: E402

TRACE_TABLES = ("tasks", "steps", "retrievals", "citations", "ignored", "rewrites", "answers", "outcomes", "documents", "chunks")


def synthetic_spans(n_spans: int, n_docs: int) -> list[dict]:
    spans = []
    for t in range(max(1, n_spans // 4)):
        trace, question = f"trace-{t:06d}", f"What does clause {t} say about termination?"
        docs = [(f"doc-{t % 500}-{i}", f"Clause {t % 500}.{i}: either party may terminate after {i + 1} months of notice.") for i in range(n_docs)]
        retr = {"openinference.span.kind": "RETRIEVER", "input.value": question}
        rerank = {"openinference.span.kind": "RERANKER", "reranker.query": question}
        for i, (doc_id, text) in enumerate(docs):
            retr |= {f"retrieval.documents.{i}.document.id": doc_id, f"retrieval.documents.{i}.document.content": text,
                     f"retrieval.documents.{i}.document.score": 1.0 - i / 10}
            rerank |= {f"reranker.input_documents.{i}.document.id": doc_id, f"reranker.input_documents.{i}.document.content": text}
        for i, (doc_id, text) in enumerate(reversed(docs[:3])):
            rerank |= {f"reranker.output_documents.{i}.document.id": doc_id, f"reranker.output_documents.{i}.document.content": text,
                       f"reranker.output_documents.{i}.document.score": 5.0 - i}
        answer = f"{docs[-1][1]}"
        for sid, parent, kind_attrs in [("root", None, {"openinference.span.kind": "CHAIN", "input.value": question, "output.value": answer}),
                                        ("r", "root", retr), ("k", "root", rerank),
                                        ("l", "root", {"openinference.span.kind": "LLM", "llm.token_count.prompt": 300, "llm.token_count.completion": 20})]:
            spans.append({"name": sid, "context": {"trace_id": trace, "span_id": f"{trace}-{sid}"}, "parent_id": parent and f"{trace}-{parent}",
                          "start_time": 1_700_000_000_000_000_000 + t, "end_time": 1_700_000_000_500_000_000 + t, "attributes": kind_attrs})
    return spans[:n_spans]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=10_000)
    parser.add_argument("--docs", type=int, default=5)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace.open(Path(tmp) / "ws")
        path = Path(tmp) / "spans.jsonl"
        spans = synthetic_spans(args.spans, args.docs)
        path.write_text("".join(json.dumps(s) + "\n" for s in spans))
        started = time.perf_counter()
        tasks = parse_openinference(path.read_text().splitlines())
        parsed_s = time.perf_counter() - started
        started = time.perf_counter()
        run_id, total, written = import_file(ws, "openinference", path)
        import_s = time.perf_counter() - started
        with ws.db() as con:
            rows = sum(con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TRACE_TABLES)
    print(f"spans: {len(spans)} in {len(tasks)} traces -> {written}/{total} tasks written, {rows} rows")
    print(f"parse+validate only: {len(spans) / parsed_s:,.0f} spans/s ({parsed_s:.2f}s)")
    print(f"full import (parse, validate, ingest documents, write in batched transactions): {import_s:.2f}s")
    print(f"  {len(spans) / import_s:,.0f} spans/s, {written / import_s:,.1f} tasks/s, {rows / import_s:,.0f} rows/s")


if __name__ == "__main__":
    main()
