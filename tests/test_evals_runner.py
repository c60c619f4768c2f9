"""The runner on tiny real suites with the real MiniLM: exact numbers, scoped CUAD search, the
embedding cache, DuckDB storage, `evals run --json`, and reranking order."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from evals import runner
from evals.metrics import ndcg_at_k
from evals.results import load_result
from evals.runner import evaluate_suite, rerank_run
from evals.suites import discover, load_cuad

DOCS = {
    "law1": "The tenant shall pay rent on the first day of each month.",
    "law2": "This agreement is governed by the laws of the State of Delaware.",
    "law3": "Either party may terminate this agreement with thirty days written notice.",
    "law4": "The supplier warrants that the goods are free from defects for one year.",
    "law5": "Confidential information must not be disclosed to third parties.",
}
QUERIES = {"q1": "Which state's law governs the contract?", "q2": "How can the contract be ended?", "q3": "When is rent due?"}
QRELS = {"q1": {"law2": 1}, "q2": {"law3": 1, "law1": 0}, "q3": {"law1": 1}}


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


@pytest.fixture()
def beir_suite(tmp_path) -> Path:
    folder = tmp_path / "tiny_law"
    (folder / "qrels").mkdir(parents=True)
    _write_jsonl(folder / "corpus.jsonl", [{"_id": d, "title": "", "text": t} for d, t in DOCS.items()])
    _write_jsonl(folder / "queries.jsonl", [{"_id": q, "text": t} for q, t in QUERIES.items()])
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t{r}\n" for q, docs in QRELS.items() for d, r in docs.items()))
    return folder


@pytest.fixture()
def cuad_suite(tmp_path) -> Path:
    folder = tmp_path / "mini_cuad"
    folder.mkdir()
    contract_a = " ".join(DOCS.values()) * 2
    contract_b = "This license is perpetual. The licensee pays royalties quarterly. Disputes go to arbitration in London."
    _write_jsonl(folder / "contracts_dev.jsonl", [{"doc_id": "A", "text": contract_a}, {"doc_id": "B", "text": contract_b}])
    _write_jsonl(folder / "tasks_dev.jsonl", [
        {"id": "t1", "doc_id": "A", "question": "Governing law?", "evidence": [DOCS["law2"]]},
        {"id": "t2", "doc_id": "B", "question": "Where are disputes resolved?", "evidence": ["Disputes go to arbitration in London."]},
        {"id": "t3", "doc_id": "B", "question": "Is there a cap?", "evidence": []},
    ])
    return folder


@pytest.mark.slow
def test_beir_numbers_equal_an_independent_exact_computation(beir_suite, embedder, workspace):
    result = evaluate_suite(beir_suite, None, embedder, ws=workspace)
    doc_ids = list(DOCS)
    doc_vecs = embedder.encode([DOCS[d] for d in doc_ids])
    expected = []
    for qid, text in QUERIES.items():
        sims = doc_vecs @ embedder.encode([text], is_query=True)[0]
        expected.append(ndcg_at_k(QRELS[qid], dict(zip(doc_ids, map(float, sims))), 10))
    assert result.n_queries == 3
    assert result.metrics["ndcg@10"] == pytest.approx(np.mean(expected), abs=1e-6)
    assert result.per_query["ndcg@10"]["q1"] == pytest.approx(1.0)  # Delaware ranks first
    assert set(result.metrics) == {"ndcg@10", "recall@10", "recall@100", "mrr@10"}


@pytest.mark.slow
def test_document_embeddings_are_cached_per_model_and_texts(beir_suite, embedder, workspace, monkeypatch):
    first = evaluate_suite(beir_suite, None, embedder, ws=workspace)
    cached = sorted(p.name.startswith("query-") for p in (workspace.cache_dir / "embeddings").rglob("*.npy"))
    assert cached == [False, True]  # the corpus and the queries

    def no_encoding(*args, **kwargs):
        raise AssertionError("document and query embeddings should come from the cache")

    monkeypatch.setattr(runner, "encode_with_progress", no_encoding)
    second = evaluate_suite(beir_suite, None, embedder, ws=workspace)
    assert second.per_query == first.per_query


@pytest.mark.slow
def test_cuad_search_stays_inside_each_tasks_contract(cuad_suite, embedder, workspace):
    cfg = workspace.config.apply_overrides(["chunking.size=120", "chunking.overlap=30", "chunking.boundary=window"])
    suite = load_cuad(discover(cuad_suite)[0])
    qrels, run, texts, queries, chunking, details = runner._cuad_run(suite, embedder, cfg, runner.EmbeddingCache(None))
    assert set(run) == {"t1", "t2"}  # t3 has no evidence
    for task_id, doc in (("t1", "A"), ("t2", "B")):
        assert run[task_id] and all(chunk_id.startswith(f"{doc}:") for chunk_id in run[task_id])
    assert chunking["size"] == 120 and details["chunks"] == len(texts)
    result = evaluate_suite(cuad_suite, "dev", embedder, ws=workspace, cfg=cfg)
    assert result.n_queries == 2 and result.chunking["boundary"] == "window"
    assert result.per_query["ndcg@10"]["t2"] > 0


@pytest.mark.slow
def test_cli_run_json_stores_runs_and_per_query_scores(beir_suite, workspace):
    out = CliRunner().invoke(runner_app(), ["run", "--suite", str(beir_suite), "--json", "-w", str(workspace.root)])
    assert out.exit_code == 0, out.output
    (result,) = json.loads(out.stdout)["results"]
    assert result["suite"] == "tiny_law" and result["n_queries"] == 3
    with workspace.db() as con:
        stored = load_result(con, result["eval_id"])
    assert stored.metrics == pytest.approx(result["metrics"])
    assert stored.per_query["ndcg@10"] == pytest.approx(result["per_query"]["ndcg@10"])


def runner_app():
    from evals.cli import app

    return app


class ReverseAlphabetReranker:
    """Scripted reranker (control flow only): prefers doc ids later in the alphabet."""

    version = "scripted"

    def score(self, query, texts):
        return [float(ord(text[-1])) for text in texts]


def test_rerank_reorders_only_the_top_rerank_k():
    run = {"q": {"a": 0.9, "b": 0.8, "c": 0.7, "d": 0.1}}
    texts = {d: f"text {d}" for d in "abcd"}
    reranked = rerank_run(run, {"q": "?"}, texts, ReverseAlphabetReranker(), rerank_k=3)
    order = sorted(reranked["q"], key=reranked["q"].get, reverse=True)
    assert order == ["c", "b", "a", "d"]  # head reversed by the reranker, tail stays below
