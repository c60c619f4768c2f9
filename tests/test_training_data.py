"""Loaders over real feedback tables in a real DuckDB, and the supervised reference builder."""

from __future__ import annotations

import pytest

from rag_agent.config import ChunkingConfig
from rag_agent.errors import DataError
from training import data

CHUNKS = {
    "c:0-10": "The governing law is the State of New York.",
    "c:10-20": "This Agreement is dated May 8, 2014.",
    "c:20-30": "Either party may terminate on 90 days notice.",
    "c:30-40": "Payment is due within thirty days of invoice.",
}
Q1, Q2 = "Which law governs?", "When does it end?"


def insert_chunks(con, chunks: dict[str, str]) -> None:
    """`chunks` rows of document 'c' from {"c:<start>-<end>": text}, in order."""
    for ordinal, (chunk_id, text) in enumerate(chunks.items()):
        start, end = map(int, chunk_id.split(":")[1].split("-"))
        con.execute(
            "INSERT INTO chunks (chunk_id, doc_id, ordinal, start_char, end_char, text, content_hash) VALUES (?, 'c', ?, ?, ?, ?, 'h')",
            [chunk_id, ordinal, start, end, text],
        )


def fill_feedback(ws) -> None:
    """A tiny harvest: what `feedback harvest` would leave after two tasks."""
    with ws.db() as con:
        insert_chunks(con, CHUNKS)
        labels = [("r1", "t1", Q1, "c:0-10", 3), ("r1", "t1", Q1, "c:10-20", 0), ("r1", "t1", Q1, "c:30-40", 1),
                  ("r1", "t2", Q2, "c:20-30", 2), ("r1", "t2", Q2, "c:30-40", 0), ("r2", "t1", Q1, "c:0-10", 1)]
        for run, task, query, chunk, grade in labels:
            con.execute(
                "INSERT INTO judge_labels (run_id, task_id, query, chunk_id, grade, signal) VALUES (?, ?, ?, ?, ?, 'llm_judge')",
                [run, task, query, chunk, grade],
            )
        con.execute(
            "INSERT INTO pairs (run_id, task_id, query, chosen_chunk_id, rejected_chunk_id, weight, signal) "
            "VALUES ('r1', 't1', ?, 'c:0-10', 'c:10-20', 0.9, 'judge'), ('r1', 't2', ?, 'c:20-30', 'c:30-40', 0.2, 'judge')",
            [Q1, Q2],
        )
        con.execute(
            "INSERT INTO negatives (run_id, task_id, query, chunk_id, rank, weight, signal) VALUES ('r1', 't1', ?, 'c:20-30', 1, 1.0, 'mined')",
            [Q1],
        )
        con.execute(
            "INSERT INTO rewards (run_id, task_id, kind, attempt, stage, value) VALUES ('r1', 't1', 'task', -1, '', 1.0)"
        )


def test_loaders_join_chunk_texts_and_keep_provenance(workspace):
    fill_feedback(workspace)
    labels = data.load_labels_from_workspace(workspace)
    by_key = {(x.query, x.text): x for x in labels}
    assert by_key[(Q1, CHUNKS["c:0-10"])].label == pytest.approx((3 + 1) / 2 / 3)  # two runs average
    assert len(labels) == 5 and all(0.0 <= x.label <= 1.0 for x in labels)
    assert len(data.load_labels_from_workspace(workspace, run_ids=["r2"])) == 1

    pairs = data.load_pairs_from_workspace(workspace, min_weight=0.5)
    assert [(p.chosen, p.rejected, p.weight, p.origin) for p in pairs] == [(CHUNKS["c:0-10"], CHUNKS["c:10-20"], 0.9, "r1/t1")]

    lists = {g.origin: g for g in data.load_graded_lists_from_workspace(workspace)}
    assert lists["r1/t1"].grades == [3.0, 0.0, 1.0] and lists["r1/t1"].task_reward == 1.0
    assert lists["r1/t2"].task_reward is None and "r2/t1" not in lists  # one label: no ranking to learn

    examples = data.load_embedder_examples_from_workspace(workspace, positive_grade=2)
    by_query = {e.query: e for e in examples}
    assert by_query[Q1].positive == CHUNKS["c:0-10"]
    # mined negative first, then the judged-irrelevant chunk the agent saw
    assert by_query[Q1].negatives == [CHUNKS["c:20-30"], CHUNKS["c:10-20"]]
    assert by_query[Q2].negatives == [CHUNKS["c:30-40"]]
    assert data.summarize(examples, "feedback")["n"] == 2


@pytest.mark.slow
def test_supervised_reference_uses_train_gold_only_and_is_labelled(shared_data, embedder):
    from training.supervised import SOURCE, build_supervised_reference

    ref = build_supervised_reference(shared_data / "cuad", ChunkingConfig(), embedder, max_tasks=6, top_k=10)
    assert ref.n_tasks == 6 and ref.n_contracts == 1
    assert ref.summary()["source"] == "supervised-reference" and ref.summary()["split"] == "train"
    assert all(item.origin.startswith(f"{SOURCE}:cuad-train-") for item in ref.examples + ref.labels + ref.pairs + ref.lists)
    for example in ref.examples:
        assert example.positive not in example.negatives and 0 < len(example.negatives) <= 10
    assert {x.label for x in ref.labels} == {0.0, 1.0}
    assert all(max(g.grades) == 3.0 and min(g.grades) == 0.0 for g in ref.lists)
    with pytest.raises(DataError):
        build_supervised_reference(shared_data / "cuad", ChunkingConfig(), embedder, split="dev")
