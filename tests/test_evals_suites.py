"""Suite loading: BEIR layouts, MTEB's document text, CUAD evidence location and chunk relevance."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.suites import SuiteRef, discover, load_beir, load_cuad, locate, mteb_document_text, relevant_chunks
from rag_agent.errors import DataError
from rag_agent.types import Chunk


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


def _beir(folder: Path, qrels_text: str, qrels_at: str = "qrels/test.tsv") -> Path:
    folder.mkdir(parents=True)
    _write_jsonl(folder / "corpus.jsonl", [
        {"_id": "d1", "title": "Statute", "text": " text one "},
        {"_id": "d2", "title": "", "text": " text two "},
    ])
    _write_jsonl(folder / "queries.jsonl", [{"_id": "q1", "text": " what? "}, {"_id": "q2", "text": "unjudged"}])
    (folder / qrels_at).parent.mkdir(parents=True, exist_ok=True)
    (folder / qrels_at).write_text(qrels_text)
    return folder


def test_document_text_is_built_exactly_as_mteb_builds_it():
    import ast
    import importlib.util

    # MTEB's _corpus_to_dict, compiled from its installed source (importing mteb is slow).
    package = Path(importlib.util.find_spec("mteb").submodule_search_locations[0])
    tree = ast.parse((package / "_create_dataloaders.py").read_text())
    function = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "_corpus_to_dict")
    namespace: dict = {}
    exec(compile(ast.fix_missing_locations(ast.Module(body=[function], type_ignores=[])), "mteb", "exec"), namespace)
    for title, text in [("Statute", " text one "), ("", " text two "), ("T", ""), ("  ", "x")]:
        row = {"id": "d", "title": title, "text": text}
        assert mteb_document_text(title, text) == namespace["_corpus_to_dict"](row)["text"]


def test_beir_folder_with_header_and_only_judged_queries(tmp_path):
    folder = _beir(tmp_path / "law", "query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td2\t0\n")
    suite = load_beir(discover(folder)[0])
    assert suite.name == "law" and suite.split == "test"
    assert suite.corpus == {"d1": "Statute  text one", "d2": "text two"}  # MTEB: title + " " + text, then strip
    assert suite.queries == {"q1": " what? "}  # queries are used verbatim; unjudged ones dropped
    assert suite.qrels == {"q1": {"d1": 1, "d2": 0}}


def test_beir_trec_qrels_beside_the_corpus_and_missing_split(tmp_path):
    folder = _beir(tmp_path / "orig", "q1 0 d2 2\n", qrels_at="dev.tsv")
    assert load_beir(SuiteRef("beir", folder, "dev")).qrels == {"q1": {"d2": 2}}
    with pytest.raises(DataError, match="dev"):
        discover(folder, "test")


def test_a_folder_of_suites_is_discovered_with_each_default_split(tmp_path):
    _beir(tmp_path / "group" / "a", "q1\td1\t1\n")
    cuad = tmp_path / "group" / "cuad"
    cuad.mkdir()
    _write_jsonl(cuad / "contracts_dev.jsonl", [{"doc_id": "c", "text": "x"}])
    _write_jsonl(cuad / "tasks_dev.jsonl", [])
    refs = discover(tmp_path / "group")
    assert [(r.kind, r.name, r.split) for r in refs] == [("beir", "a", "test"), ("cuad", "cuad", "dev")]


def test_locate_exact_normalised_and_omitted_parts():
    text = "1. Term.\nThe  Agreement shall\n  continue for TWO years.\n-- page 3 --\nunless terminated."
    span, how = locate(text, "continue for TWO years.")
    assert how == "exact" and text[span[0][0] : span[0][1]] == "continue for TWO years."
    spans, how = locate(text, "the agreement shall continue")  # whitespace and case differ
    assert how == "normalised" and text[spans[0][0] : spans[0][1]] == "The  Agreement shall\n  continue"
    spans, how = locate(text, "continue for TWO years. <omitted> unless terminated.")
    assert spans == [(text.index("continue"), len(text))]
    spans, _ = locate(text, "Term. <omitted> unless terminated.", join_gap=10)  # far apart: two spans
    assert [text[s:e] for s, e in spans] == ["Term.", "unless terminated."]
    assert locate(text, "not in the contract") == ([], "unlocated")


def test_cuad_loader_counts_unlocated_evidence_and_drops_tasks_without_any(tmp_path):
    folder = tmp_path / "cuad"
    (folder / "contracts").mkdir(parents=True)
    (folder / "contracts" / "c1.txt").write_text("Governing law: Delaware.\nTerm: two years.")
    _write_jsonl(folder / "contracts_x.jsonl", [{"doc_id": "c1", "title": "C1", "file": "contracts/c1.txt"}])
    _write_jsonl(folder / "tasks_x.jsonl", [
        {"id": "t1", "doc_id": "c1", "question": "law?", "evidence": ["Delaware", "Mars"]},
        {"id": "t2", "doc_id": "c1", "question": "term?", "evidence": ["Neptune"]},
        {"id": "t3", "doc_id": "c1", "question": "no answer", "evidence": []},
    ])
    suite = load_cuad(discover(folder, "x")[0])
    assert [t.task_id for t in suite.tasks] == ["t1"]
    assert suite.tasks[0].spans == [(15, 23)]
    assert suite.details() | {} == {
        "evidence_total": 3, "evidence_exact": 1, "evidence_normalised": 0, "evidence_in_parts": 0,
        "evidence_unlocated": 2, "tasks_without_located_evidence": 1,
    }


def test_unlocated_evidence_is_logged_once_per_suite_at_info(tmp_path, caplog):
    """The loop loads dev twice a cycle: the same dropped-evidence count is said once, then DEBUG."""
    import logging

    folder = tmp_path / "cuad"
    (folder / "contracts").mkdir(parents=True)
    (folder / "contracts" / "c1.txt").write_text("Governing law: Delaware.")
    _write_jsonl(folder / "contracts_x.jsonl", [{"doc_id": "c1", "title": "C1", "file": "contracts/c1.txt"}])
    _write_jsonl(folder / "tasks_x.jsonl", [{"id": "t1", "doc_id": "c1", "question": "law?", "evidence": ["Delaware", "Mars"]}])
    with caplog.at_level(logging.DEBUG, logger="evals.suites"):
        for _ in range(3):
            load_cuad(discover(folder, "x")[0])
    said = [r.levelno for r in caplog.records if "evidence strings not found" in r.getMessage()]
    assert said == [logging.INFO, logging.DEBUG, logging.DEBUG]


def test_relevance_needs_half_of_the_shorter_of_chunk_and_span():
    chunks = [Chunk("d", 0, 100, "x" * 100), Chunk("d", 80, 180, "x" * 100), Chunk("d", 160, 260, "x" * 100)]
    # Span 90..110 (length 20): chunk 0 overlaps 10 (= half of 20: relevant), chunk 1 overlaps 20.
    assert relevant_chunks(chunks, [(90, 110)], 0.5) == {"d:0-100", "d:80-180"}
    # Span 91..111: chunk 0 overlaps 9 < 10.
    assert relevant_chunks(chunks, [(91, 111)], 0.5) == {"d:80-180"}
    # A long span (0..400) holds every chunk entirely.
    assert len(relevant_chunks(chunks, [(0, 400)], 0.5)) == 3
    assert relevant_chunks(chunks, [(300, 400)], 0.5) == set()


def test_omitted_evidence_is_dropped_by_default_and_located_by_parts_on_request(tmp_path):
    folder = tmp_path / "cuad"
    folder.mkdir()
    text = "Assignment. Neither party may assign\n-- Page 4 --\nthis Agreement without consent."
    _write_jsonl(folder / "contracts_dev.jsonl", [{"doc_id": "c", "text": text}])
    _write_jsonl(folder / "tasks_dev.jsonl", [
        {"id": "t", "doc_id": "c", "question": "assign?", "evidence": ["Neither party may assign<omitted>this Agreement without consent."]},
    ])
    ref = discover(folder)[0]
    dropped = load_cuad(ref)
    assert dropped.tasks == [] and dropped.evidence_unlocated == 1 and dropped.tasks_without_span == 1
    by_parts = load_cuad(ref, omitted="parts")
    assert by_parts.tasks[0].spans == [(text.index("Neither"), len(text))] and by_parts.evidence_in_parts == 1
