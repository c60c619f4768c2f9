"""Export files load in their target libraries; stats and calibrate tables on a harvested workspace."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from feedback.calibrate import calibrate, cohen_kappa
from feedback.cli import app
from feedback.stats import collect
from test_feedback_harvest import CLAUSES, ScriptedLLM, build, harvest

GOLD_CHUNK = {"t0": "c1:120-240", "t1": "c1:240-360", "t2": "c1:360-480", "t3": "c1:0-120"}


@pytest.fixture(scope="module")
def harvested(tmp_path_factory):
    ws = build(tmp_path_factory.mktemp("export") / "ws")
    harvest(ws, ScriptedLLM())
    return ws


@pytest.mark.slow
def test_sentence_transformers_export_loads_with_datasets(harvested, tmp_path):
    from datasets import load_from_disk

    result = CliRunner().invoke(app, ["export", "--format", "sentence-transformers", "--out", str(tmp_path), "-w", str(harvested.root)])
    assert result.exit_code == 0, result.output
    dataset = load_from_disk(str(tmp_path / "sentence-transformers"))
    assert dataset.column_names == ["anchor", "positive", "negative"]
    with harvested.db() as con:
        n_pairs = con.execute("SELECT count(*) FROM pairs").fetchone()[0]
    assert 0 < len(dataset) <= n_pairs  # no mined negatives here; positives never reappear as negatives
    assert all(row["positive"] != row["negative"] for row in dataset)


def test_flagembedding_export_format(harvested, tmp_path):
    from datasets import load_dataset

    from feedback.export import export

    with harvested.db() as con:
        path, rows = export(con, "flagembedding", tmp_path)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert rows == len(lines) > 0
    for line in lines:
        assert set(line) == {"query", "pos", "neg"} and line["pos"] and line["neg"]
        assert not set(line["pos"]) & set(line["neg"])
    dataset = load_dataset("json", data_files=str(path), split="train")
    assert set(dataset.column_names) == {"query", "pos", "neg"}


@pytest.mark.slow
def test_trl_export_is_a_standard_preference_dataset(harvested, tmp_path):
    from datasets import load_dataset
    from trl.data_utils import is_conversational, maybe_apply_chat_template, maybe_extract_prompt, maybe_unpair_preference_dataset

    from feedback.export import export

    with harvested.db() as con:
        path, rows = export(con, "trl", tmp_path)
    dataset = load_dataset("json", data_files=str(path), split="train")
    assert dataset.column_names == ["prompt", "chosen", "rejected"] and len(dataset) == rows > 0
    example = dataset[0]
    assert not is_conversational(example)
    assert maybe_extract_prompt(example) == example  # explicit prompt: nothing to extract
    assert maybe_apply_chat_template(example, processing_class=None) == example  # standard format passes through
    unpaired = maybe_unpair_preference_dataset(dataset)  # trl recognises chosen/rejected
    assert len(unpaired) == 2 * rows and {"prompt", "completion", "label"} <= set(unpaired.column_names)


def test_stats_reports_signals_and_agreement(harvested):
    with harvested.db() as con:
        data = collect(con)
        n_pairs = con.execute("SELECT count(*) FROM pairs").fetchone()[0]
    assert sum(row[1] for row in data["pairs"]) == n_pairs
    assert data["skips"][0] == 1  # the malformed trace
    names = [a[0] for a in data["agreement"]]
    assert any(name.startswith("cited chunks") for name in names)
    result = CliRunner().invoke(app, ["stats", "-w", str(harvested.root)])
    assert result.exit_code == 0 and "preference pairs" in result.output


def test_cohen_kappa_by_hand():
    # p_o = 0.7, p_e = (25*30 + 25*20) / 50^2 = 0.5 -> kappa = 0.4
    assert cohen_kappa(20, 5, 10, 15) == pytest.approx(0.4)
    assert cohen_kappa(0, 0, 0, 0) is None


def test_calibrate_against_gold_evidence(harvested, tmp_path):
    suite = tmp_path / "cuad"
    suite.mkdir()
    (suite / "c1.txt").write_text("".join(CLAUSES))
    (suite / "contracts_dev.jsonl").write_text(json.dumps({"doc_id": "c1", "title": "c1", "file": "c1.txt"}) + "\n")
    evidence = {t: CLAUSES[int(c.split(":")[1].split("-")[0]) // 120].strip() for t, c in GOLD_CHUNK.items()}
    (suite / "tasks_dev.jsonl").write_text("".join(
        json.dumps({"id": t, "doc_id": "c1", "category": "x", "question": "q", "answer": "a", "answer_type": "text", "evidence": [e]}) + "\n"
        for t, e in evidence.items()
    ))
    with harvested.db() as con:
        result = calibrate(con, suite, "dev")
        labels = con.execute("SELECT task_id, chunk_id, grade FROM judge_labels").fetchall()
        pairs = con.execute("SELECT task_id, chosen_chunk_id, rejected_chunk_id FROM pairs").fetchall()
    assert result["tasks"] == 4
    final = next(p for p in result["predictors"] if p.name == "final label >= 2")
    tp = sum(1 for t, c, g in labels if g >= 2 and GOLD_CHUNK[t] == c)
    fp = sum(1 for t, c, g in labels if g >= 2 and GOLD_CHUNK[t] != c)
    fn = sum(1 for t, c, g in labels if g < 2 and GOLD_CHUNK[t] == c)
    assert (final.tp, final.fp, final.fn, final.n) == (tp, fp, fn, len(labels))
    informative = [(t, a, b) for t, a, b in pairs if (GOLD_CHUNK[t] == a) != (GOLD_CHUNK[t] == b)]
    assert sum(s.informative for s in result["pairs"]) == len(informative)
    assert sum(s.correct for s in result["pairs"]) == sum(1 for t, a, _ in informative if GOLD_CHUNK[t] == a)


def test_calibrate_counts_every_chunk_of_an_absent_clause_task_as_irrelevant(harvested, tmp_path):
    suite = tmp_path / "cuad"
    suite.mkdir()
    (suite / "c1.txt").write_text("".join(CLAUSES))
    (suite / "contracts_dev.jsonl").write_text(json.dumps({"doc_id": "c1", "title": "c1", "file": "c1.txt"}) + "\n")
    # t0's gold names no evidence (a gold "No"): whatever was labelled relevant there is wrong.
    (suite / "tasks_dev.jsonl").write_text(json.dumps(
        {"id": "t0", "doc_id": "c1", "category": "x", "question": "q", "answer": "No", "answer_type": "yes_no", "evidence": []}) + "\n")
    with harvested.db() as con:
        result = calibrate(con, suite, "dev")
        labels = con.execute("SELECT grade FROM judge_labels WHERE task_id = 't0'").fetchall()
    assert (result["tasks"], result["absent"]) == (1, 1)
    final = next(p for p in result["predictors"] if p.name == "final label >= 2")
    assert final.tp == 0 and final.fn == 0
    assert final.fp == sum(1 for (g,) in labels if g >= 2) and final.n == len(labels)
