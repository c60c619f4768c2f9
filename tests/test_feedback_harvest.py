"""Harvest end to end on hand-made traces in a real DuckDB workspace: idempotence, resume after a
crash, invalid judge output skipped and counted, judge cache, hard negatives (real MiniLM + faiss)."""

from __future__ import annotations

from functools import partial

import pytest

from rag_agent.workspace import Workspace

from feedback.harvest import Harvester
from feedback.judge import JudgeSettings, LLMJudge
from feedback.negatives import NegativeMiner
from feedback.synthetic import TaskSpec, insert_document, insert_task
from tests import fakes

CLAUSES = [
    "This Agreement is entered into by Acme Corp and Beta LLC for the supply of widgets to retail stores nationwide. ",
    "This Agreement shall be governed by and construed in accordance with the laws of the State of Delaware. ",
    "Either party may terminate this Agreement upon ninety (90) days prior written notice to the other party. ",
    "The Supplier shall invoice the Buyer monthly and the Buyer shall pay each invoice within thirty days. ",
    "All notices must be in writing and delivered by courier or certified mail to the addresses set out below. ",
    "Neither party may assign this Agreement without the prior written consent of the other party hereto. ",
]
CLAUSES = [clause.ljust(120) for clause in CLAUSES]  # one clause per 120-character chunk: c1:<120i>-<120(i+1)>
TABLES = ("judge_labels", "pairs", "rewards", "negatives", "harvest_state")


class NoMining(NegativeMiner):
    """Control-flow tests do not need the embedder; negatives have their own test below."""

    def mine(self, *args, **kwargs):
        return []


ScriptedLLM = partial(fakes.ScriptedLLM, name="scripted:judge")  # replies by kind: the quote judge's "grades"


def build(root) -> Workspace:
    ws = Workspace.open(root)
    con = ws.connect()
    ids = insert_document(con, "c1", "".join(CLAUSES), size=120)
    questions = ["Which law governs?", "How can the agreement be terminated?", "When are invoices paid?", "Who are the parties?"]
    for t, question in enumerate(questions):
        order = ids[t:] + ids[:t]
        insert_task(con, TaskSpec(
            f"t{t}", question, {(0, "retrieve"): order, (0, "rerank"): order[:4]}, doc_id="c1",
            cited={order[0]: 1}, ignored={c: r for r, c in enumerate(order[1:3], start=2)},
            answer=["Delaware", "90 days", "thirty days", "Acme Corp"][t], success=t != 3,
            rewrites=[(1, question, question + " clause")] if t == 2 else [],
        ))
    insert_task(con, TaskSpec("broken", "Q?", {(0, "retrieve"): ids[:2]}, cited={"nope:0-1": 1}))  # malformed
    con.close()
    return ws


def harvest(ws, llm=None, **kw):
    with ws.db() as con:
        judge = LLMJudge(llm, JudgeSettings(mode="quote", batch=2)) if llm is not None else None
        return Harvester(ws, con, judge, NoMining(ws)).run(**kw)


def snapshot(ws) -> dict[str, list]:
    with ws.db() as con:
        out = {}
        for table in TABLES:
            cols = [c for (c,) in con.execute(f"SELECT column_name FROM (DESCRIBE {table})").fetchall() if c != "harvested_at"]
            out[table] = sorted(con.execute(f"SELECT {', '.join(cols)} FROM {table}").fetchall(), key=repr)
        return out


def test_two_harvests_equal_one_and_products_make_sense(tmp_path):
    ws = build(tmp_path / "ws")
    first = harvest(ws, ScriptedLLM())
    assert first.tasks_harvested == 4 and first.tasks_skipped == 1
    once = snapshot(ws)
    second = harvest(ws, ScriptedLLM())
    assert second.tasks_harvested == 0 and second.judge_calls == 0
    assert snapshot(ws) == once
    # Provenance: every product row names its trace and signal; LLM labels name model + prompt version.
    with ws.db() as con:
        assert con.execute("SELECT count(*) FROM judge_labels WHERE signal = 'llm_judge' AND (judge_model <> 'scripted:judge' "
                           "OR prompt_version <> 'quote-v1')").fetchone()[0] == 0
        governing = con.execute("SELECT grade, answer_hit FROM judge_labels WHERE task_id = 't0' AND chunk_id = 'c1:120-240'").fetchone()
        assert governing == (3, True)  # quote verified + answer "Delaware" in the chunk
        # The judge grades the invoice clause 0, but it contains the verified answer "thirty days": 2 (3 needs more).
        assert con.execute("SELECT grade, judge_grade FROM judge_labels WHERE task_id = 't2' AND chunk_id = 'c1:360-480'").fetchone() == (2, 0)
        assert con.execute("SELECT count(*) FROM rewards WHERE kind = 'task' AND task_id = 't3' AND value < 0.5").fetchone()[0] == 1
        assert con.execute("SELECT count(*) FROM pairs WHERE signal NOT IN ('judge_graded', 'cited_vs_ignored', "
                           "'rewrite_success', 'agent_grader')").fetchone()[0] == 0
        assert con.execute("SELECT count(*) FROM harvest_state WHERE status = 'skipped'").fetchone()[0] == 1


def test_resume_after_crash_matches_clean_run(tmp_path, monkeypatch):
    clean = build(tmp_path / "clean")
    harvest(clean, ScriptedLLM())
    crashed = build(tmp_path / "crashed")
    original, written = Harvester._write_task, []

    def write_then_crash(self, trace, products):
        original(self, trace, products)  # rows are written inside the transaction ...
        written.append(trace.task_id)
        if len(written) == 2:
            raise RuntimeError("simulated kill")  # ... and must be rolled back

    monkeypatch.setattr(Harvester, "_write_task", write_then_crash)
    with pytest.raises(RuntimeError):
        harvest(crashed, ScriptedLLM())
    monkeypatch.setattr(Harvester, "_write_task", original)
    with crashed.db() as con:
        assert con.execute("SELECT count(*) FROM harvest_state WHERE status = 'harvested'").fetchone()[0] == 1
    harvest(crashed, ScriptedLLM())
    assert snapshot(crashed) == snapshot(clean)


def test_invalid_judge_output_is_skipped_and_counted(tmp_path):
    ws = build(tmp_path / "ws")
    report = harvest(ws, ScriptedLLM(broken_every=2))
    assert report.tasks_harvested == 4
    assert report.judge_invalid > 0 and report.chunks_unlabeled >= report.judge_invalid
    with ws.db() as con:
        assert con.execute("SELECT sum(judge_invalid) FROM harvest_log").fetchone()[0] == report.judge_invalid


def test_judge_cache_serves_a_second_run_of_the_same_tasks(tmp_path):
    ws = build(tmp_path / "ws")
    llm = ScriptedLLM()
    harvest(ws, llm)
    calls = llm.calls
    with ws.db() as con:  # the agent runs the same tasks again under a new run id
        for row in con.execute("SELECT task_id FROM tasks WHERE run_id = 'run-1'").fetchall():
            for table in ("tasks", "retrievals", "citations", "ignored", "rewrites", "answers", "outcomes"):
                cols = [c for (c,) in con.execute(f"SELECT column_name FROM (DESCRIBE {table})").fetchall() if c != "run_id"]
                con.execute(f"INSERT INTO {table} (run_id, {', '.join(cols)}) SELECT 'run-2', {', '.join(cols)} FROM {table} "
                            "WHERE run_id = 'run-1' AND task_id = ?", [row[0]])
    report = harvest(ws, llm, run_id="run-2")
    assert report.tasks_harvested == 4
    assert llm.calls == calls and report.judge_calls == 0 and report.judge_cache_hits > 0


def test_judge_none_derives_labels_without_llm(tmp_path):
    ws = build(tmp_path / "ws")
    report = harvest(ws)
    assert report.judge_calls == 0 and report.labels > 0 and report.pairs > 0
    with ws.db() as con:
        assert con.execute("SELECT DISTINCT signal FROM judge_labels").fetchall() == [("answer_containment",)]
        # "Which law governs?" (answer Delaware): the Delaware chunk contains the answer (2: not cited);
        # the chunk the agent cited does not contain it (0, although cited).
        grades = dict(con.execute("SELECT chunk_id, grade FROM judge_labels WHERE task_id = 't0'").fetchall())
        assert grades["c1:120-240"] == 2 and grades["c1:0-120"] == 0


@pytest.mark.slow
def test_hard_negatives_respect_exclusions_and_margin(tmp_path, embedder):
    from rag_agent.retrieval.factory import build_index

    ws = build(tmp_path / "ws")
    with ws.db() as con:
        rows = con.execute("SELECT chunk_id, doc_id, text FROM chunks ORDER BY ordinal").fetchall()
    build_index(ws, embedder, rows)
    with ws.db() as con:
        report = Harvester(ws, con, None, NegativeMiner(ws, embedder=embedder)).run()
        assert report.negatives > 0
        mined = con.execute("SELECT task_id, chunk_id, score, positive_score, embedder_version FROM negatives WHERE signal = 'mined'").fetchall()
        relevant = set(con.execute("SELECT task_id, chunk_id FROM judge_labels WHERE grade >= 2 OR cited").fetchall())
    assert mined
    for task_id, chunk_id, score, positive_score, version in mined:
        assert (task_id, chunk_id) not in relevant
        assert score <= positive_score - ws.config.feedback.negative_margin
        assert version == embedder.version
    # A margin wider than any similarity gap leaves nothing to mine.
    wide = Workspace.open(tmp_path / "ws", overrides=["feedback.negative_margin=2.0"])
    with wide.db() as con:
        task = con.execute("SELECT question, doc_id FROM tasks WHERE task_id = 't0'").fetchone()
    assert NegativeMiner(wide, embedder=embedder).mine(task[0], task[1], ("c1:120-240", CLAUSES[1]), set()) == []
