"""Soft-label data for distillation, the listwise KL, the refusal of unusable feedback, and the
reranker <-> embedder pairing in the registry: real DuckDB workspaces, no model weights needed."""

from __future__ import annotations

import json
import math

import pytest
import torch

from rag_agent.errors import DataError
from training import data, registry
from training.losses.listwise_kl import listwise_kl, pad_lists, teacher_confidence

from tests.test_training_data import insert_chunks

CHUNKS = {f"c:{i}0-{i + 1}0": f"Clause number {i} of the test contract." for i in range(5)}
Q1, Q2, Q3 = "Which law governs?", "When does it end?", "Who are the parties?"


def _fill(ws, labels) -> None:
    """labels: (run, task, query, chunk_id, score or None)."""
    with ws.db() as con:
        insert_chunks(con, CHUNKS)
        for run, task, query, chunk, score in labels:
            con.execute(
                "INSERT INTO judge_labels (run_id, task_id, query, chunk_id, grade, score, signal) VALUES (?, ?, ?, ?, 1, ?, 'llm_judge')",
                [run, task, query, chunk, score],
            )


IDS = list(CHUNKS)
MIXED = [
    ("r1", "t1", Q1, IDS[0], 0.9), ("r1", "t1", Q1, IDS[1], 0.2), ("r1", "t1", Q1, IDS[2], 0.4),  # usable
    ("r1", "t2", Q2, IDS[0], 0.3), ("r1", "t2", Q2, IDS[3], 0.3),  # all equal: skipped
    ("r1", "t3", Q3, IDS[4], 0.7), ("r1", "t3", Q3, IDS[1], None),  # one scored chunk: skipped
]


def test_scored_lists_keep_soft_scores_and_count_what_they_skip(workspace):
    _fill(workspace, MIXED)
    lists, counts = data.load_scored_lists_from_workspace(workspace)
    assert [(g.query, g.scores, g.origin) for g in lists] == [(Q1, [0.9, 0.2, 0.4], "r1/t1")]
    assert lists[0].texts == [CHUNKS[IDS[0]], CHUNKS[IDS[1]], CHUNKS[IDS[2]]]
    assert lists[0].weight == pytest.approx(0.7)  # spread of the judge's scores
    assert (counts.queries, counts.usable, counts.all_equal, counts.single_candidate, counts.labels_without_score) == (3, 1, 1, 1, 1)
    assert data.load_scored_lists_from_workspace(workspace, run_ids=["r9"])[0] == []


def test_a_task_whose_checked_answer_says_the_clause_is_absent_gives_no_soft_target(workspace):
    absent = [("r1", "t4", Q2, IDS[2], 0.8), ("r1", "t4", Q2, IDS[3], 0.1)]  # scores spread: usable but for the verdict
    _fill(workspace, MIXED + absent)
    with workspace.db() as con:
        con.execute("INSERT INTO harvest_state (run_id, task_id, status, clause_exists) VALUES "
                    "('r1', 't1', 'harvested', TRUE), ('r1', 't4', 'harvested', FALSE)")
    lists, counts = data.load_scored_lists_from_workspace(workspace)
    assert [g.origin for g in lists] == ["r1/t1"]
    assert counts.clause_absent == 1 and "1 whose clause is absent" in counts.line()
    kept, counts = data.load_scored_lists_from_workspace(workspace, need_clause=False)
    assert [g.origin for g in kept] == ["r1/t1", "r1/t4"] and counts.clause_absent == 0


def test_the_harvest_records_the_checked_answers_word_on_the_clause(tmp_path):
    from feedback.synthetic import TaskSpec, insert_task
    from tests.test_feedback_harvest import build, harvest

    ws = build(tmp_path / "ws")  # text tasks: the clause is there (they have an answer)
    order = [f"c1:{120 * i}-{120 * (i + 1)}" for i in range(6)]
    with ws.db() as con:
        for task_id, said, success in (("no-ok", "No", True), ("yes-failed", "Yes", False), ("yes-ok", "Yes", True)):
            insert_task(con, TaskSpec(task_id, "Is there a non-compete clause?", {(0, "retrieve"): order}, doc_id="c1",
                                      answer_type="yes_no", answer=said, success=success))
    harvest(ws)
    with ws.db() as con:
        verdicts = dict(con.execute("SELECT task_id, clause_exists FROM harvest_state WHERE status = 'harvested'").fetchall())
    assert verdicts["no-ok"] is False and verdicts["yes-failed"] is False  # verified negatives
    assert verdicts["yes-ok"] is True and verdicts["t0"] is True


def test_listwise_kl_matches_the_formula_and_ignores_padding():
    student, mask = pad_lists([torch.tensor([2.0, 0.0, 1.0]), torch.tensor([0.5, 0.1])])
    teacher, _ = pad_lists([[0.9, 0.2, 0.4], [0.3, 0.6]])
    tau = 0.1

    def kl(s, t):
        p = [math.exp(x / tau) for x in t]
        p = [x / sum(p) for x in p]
        r = [math.exp(x) for x in s]
        r = [x / sum(r) for x in r]
        return sum(a * math.log(a / b) for a, b in zip(p, r))

    expected = [kl([2.0, 0.0, 1.0], [0.9, 0.2, 0.4]), kl([0.5, 0.1], [0.3, 0.6])]
    weights = torch.tensor([0.7, 0.3])
    got = listwise_kl(student, teacher, mask, tau, weights)
    assert float(got) == pytest.approx((0.7 * expected[0] + 0.3 * expected[1]) / 1.0, rel=1e-5)
    # A student that already is the teacher's distribution has zero loss.
    assert float(listwise_kl(teacher / tau, teacher, mask, tau)) == pytest.approx(0.0, abs=1e-6)
    assert teacher_confidence([0.3, 0.3]) == 0.0 and teacher_confidence([0.1, 0.9, 0.5]) == pytest.approx(0.8)


@pytest.mark.parametrize("labels", [[], [l for l in MIXED if l[1] != "t1"]], ids=["no labels", "no usable query"])
def test_unusable_feedback_is_refused_in_one_line_and_nothing_is_registered(workspace, labels):
    from training.candidates import train_reranker_candidate

    _fill(workspace, labels)
    before = registry.list_versions(workspace)
    with pytest.raises(DataError) as error:
        train_reranker_candidate(workspace, "distill", run_ids=["r1"])
    message = str(error.value)
    assert "\n" not in message and "judged queries" in message and "fix:" in message and "judge.mode=pointwise" in message
    if labels:
        assert "1 with all-equal scores" in message and "1 with < 2 scored candidates" in message
    assert registry.list_versions(workspace) == before
    assert not list(workspace.models_dir.rglob("config.json"))  # no model folder was written either


def _fake_reranker(ws, version_id: str, embedder, status_parent: str = "reranker-none") -> registry.ModelVersion:
    """A residual-looking reranker folder bound to `embedder` (the registry never loads weights)."""
    folder = registry.version_dir(ws, "reranker", version_id)
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / "residual.json").write_text(json.dumps({"embedder_version": embedder.content_version}))
    config = {"algo": "distill", "embedder_id": embedder.version_id, "embedder_version": embedder.content_version}
    return registry.register_candidate(ws, "reranker", version_id, status_parent, config, {"source": "test"}, {})


def _fake_embedder(ws, version_id: str, content_version: str) -> registry.ModelVersion:
    folder = registry.version_dir(ws, "embedder", version_id)
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    with ws.db() as con:  # register_candidate would hash real weights; the pairing only reads content_version
        con.execute(
            "INSERT INTO model_versions (version_id, kind, parent_id, path, content_version, config, trained_on, metrics, status, reason) "
            "VALUES (?, 'embedder', 'embedder-base', ?, ?, '{}', '{}', '{}', 'candidate', 'test')",
            [version_id, str(folder), content_version],
        )
    return registry.get_version(ws, version_id)


@pytest.mark.slow
def test_a_reranker_serves_only_with_its_embedder_and_rollback_restores_the_pair(workspace):
    base = registry.champion(workspace, "embedder")
    reranker = _fake_reranker(workspace, "reranker-0001-aaaaaa", base)
    registry.promote(workspace, reranker.version_id, reason="gate")
    assert registry.champion_specs(workspace) == (base.path, reranker.path)

    new = _fake_embedder(workspace, "embedder-0001-bbbbbb", "model@000000000001")
    registry.promote(workspace, new.version_id, reason="gate")
    assert registry.champion_specs(workspace) == (new.path, "none")  # bound to the old embedder: not served
    assert not registry.serves_with(registry.champion(workspace, "reranker"), new)

    registry.rollback(workspace, "embedder")
    assert registry.champion_specs(workspace) == (base.path, reranker.path)  # the pair is back together

    registry.promote(workspace, new.version_id, reason="gate again")
    rebound = registry.rebind(workspace, reranker.version_id, reason="gated on top of the new embedder")
    assert rebound.config["served_with"] == [base.version_id, new.version_id]
    assert registry.champion_specs(workspace) == (new.path, reranker.path)
    assert ("reranker", reranker.version_id, reranker.version_id, "rebind") in [(k, f, t, a) for _, k, f, t, a, _, _ in registry.promotions(workspace)]
    assert registry.check_invariants(workspace) == []


def test_promoting_a_reranker_binds_it_to_the_embedder_champion_of_that_moment(workspace):
    base = registry.champion(workspace, "embedder")
    new = _fake_embedder(workspace, "embedder-0001-bbbbbb", "model@000000000001")
    reranker = _fake_reranker(workspace, "reranker-0001-aaaaaa", base)  # trained over the base embedder
    registry.promote(workspace, new.version_id, reason="gate")
    registry.promote(workspace, reranker.version_id, reason="gated on top of the new embedder")
    assert registry.get_version(workspace, reranker.version_id).config["served_with"] == [new.version_id]
    assert registry.champion_specs(workspace) == (new.path, reranker.path)
