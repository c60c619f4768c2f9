"""Loaders: doc_id rules per input kind, and one `Skipped` (never an exception) per bad input."""

from __future__ import annotations

import json
import os

import pytest

from rag_agent.errors import DataError
from rag_agent.ingest.loaders import Skipped, iter_documents
from rag_agent.types import Document


def split(items):
    items = list(items)
    return [i for i in items if isinstance(i, Document)], [i for i in items if isinstance(i, Skipped)]


def test_folder_is_recursive_sorted_and_ids_are_relative_paths(tmp_path):
    (tmp_path / "b" / "deep").mkdir(parents=True)
    (tmp_path / "z.txt").write_text("zeta text")
    (tmp_path / "a.md").write_text("# alpha")
    (tmp_path / "b" / "deep" / "a.txt").write_text("nested alpha")
    (tmp_path / "ignored.pdf").write_bytes(b"%PDF")
    docs, skipped = split(iter_documents([tmp_path]))
    assert [d.doc_id for d in docs] == ["a", "b/deep/a", "z"]
    assert not skipped
    single, _ = split(iter_documents([tmp_path / "b" / "deep" / "a.txt"]))
    assert single[0].doc_id == "a" and single[0].text == "nested alpha"


@pytest.mark.slow
def test_cuad_manifest_reads_real_contracts(shared_data):
    docs, skipped = split(iter_documents([shared_data / "cuad" / "contracts_dev.jsonl"]))
    assert len(docs) == 57 and not skipped
    first = json.loads((shared_data / "cuad" / "contracts_dev.jsonl").read_text().splitlines()[0])
    assert docs[0].doc_id == first["doc_id"] and docs[0].title == first["title"]
    assert docs[0].text == (shared_data / "cuad" / first["file"]).read_text(encoding="utf-8")


@pytest.mark.slow
def test_beir_corpus_joins_title_and_text(tmp_path, shared_data):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(
        json.dumps({"_id": "d1", "title": "Act", "text": "Body one."}) + "\n" + json.dumps({"_id": "d2", "title": "", "text": "Body two."}) + "\n"
    )
    docs, _ = split(iter_documents([corpus]))
    assert [(d.doc_id, d.text) for d in docs] == [("d1", "Act\n\nBody one."), ("d2", "Body two.")]
    real, skipped = split(iter_documents([shared_data / "mteb_law" / "aila_statutes" / "corpus.jsonl"]))
    assert len(real) == 82 and not skipped


def test_every_bad_input_is_skipped_with_a_reason(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "good.txt").write_text("A good contract. It has text.")
    (folder / "binary.txt").write_bytes(b"PK\x03\x04\x00\x00binary")
    (folder / "empty.txt").write_text("")
    (folder / "blank.md").write_text("  \n\t \n")
    (folder / "latin1.txt").write_bytes("Société générale, café".encode("latin-1"))
    (folder / "bom.txt").write_bytes("\ufeffWith a BOM.".encode("utf-8"))
    manifest = tmp_path / "contracts_x.jsonl"
    manifest.write_text(
        "\n".join(
            [
                json.dumps({"doc_id": "m1", "title": "M1", "file": "docs/good.txt"}),
                "{not json",
                json.dumps({"doc_id": "m2", "title": "M2", "file": "docs/missing.txt"}),
                json.dumps({"doc_id": "good", "title": "dup", "file": "docs/bom.txt"}),  # id used by the folder
                json.dumps({"title": "no id"}),
            ]
        )
        + "\n"
    )
    docs, skipped = split(iter_documents([folder, manifest]))
    assert sorted(d.doc_id for d in docs) == ["bom", "good", "m1"]
    assert next(d for d in docs if d.doc_id == "bom").text == "With a BOM."  # BOM dropped
    reasons = {s.source: s.reason for s in skipped}
    assert "binary" in reasons[str(folder / "binary.txt")]
    assert "empty" in reasons[str(folder / "empty.txt")]
    assert "empty" in reasons[str(folder / "blank.md")]
    assert "UTF-8" in reasons[str(folder / "latin1.txt")]
    assert "malformed JSON" in reasons[f"{manifest}:2"]
    assert "not found" in reasons[f"{manifest}:3"]
    assert "duplicate doc_id 'good'" in reasons[str(folder / "bom.txt")]
    assert "doc_id" in reasons[f"{manifest}:5"]
    assert len(skipped) == 8


def test_unreadable_file_is_skipped(tmp_path):
    locked = tmp_path / "locked.txt"
    locked.write_text("secret terms")
    locked.chmod(0)
    try:
        if os.access(locked, os.R_OK):
            pytest.skip("running as root: chmod 000 does not make the file unreadable")
        docs, skipped = split(iter_documents([locked]))
        assert not docs and "unreadable" in skipped[0].reason
    finally:
        locked.chmod(0o644)


def test_missing_path_is_a_data_error_naming_it(tmp_path):
    with pytest.raises(DataError, match="no-such-folder"):
        iter_documents([tmp_path / "no-such-folder"])
