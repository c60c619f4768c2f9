"""Relative pointwise grading: a poorly calibrated P(yes) still labels by its order per question."""

from __future__ import annotations

from feedback.harvest import Harvester
from feedback.judge import JudgeSettings, LLMJudge, relative_grades
from tests.test_feedback_harvest import NoMining, build


def test_relative_grades_by_distance_from_the_median():
    grades = relative_grades({"a": 0.36, "b": 0.20, "c": 0.18, "d": 0.15, "e": 0.12}, margin=0.1)
    assert grades == {"a": 2, "b": 1, "c": 0, "d": 0, "e": 0}
    assert relative_grades({"a": 0.3, "b": 0.3}, margin=0.1) == {"a": 0, "b": 0}  # no spread, no signal
    assert relative_grades({"a": 0.9}, margin=0.1) == {"a": 0}  # nothing to compare with


class LowConfidenceLLM:
    """P(yes) never reaches the absolute thresholds, but is higher on the governing-law clause."""

    name = "scripted:low-confidence"

    def choice_probabilities(self, messages, choices):
        return {"yes": 0.35 if "governed" in messages[-1]["content"] else 0.15, "no": 0.6}


def _labels(tmp_path, grading: str) -> dict[str, int]:
    ws = build(tmp_path / grading)
    ws.config.feedback.judge.mode = "pointwise"
    ws.config.feedback.pointwise_grading = grading
    with ws.db() as con:
        Harvester(ws, con, LLMJudge(LowConfidenceLLM(), JudgeSettings(mode="pointwise")), NoMining(ws)).run()
        rows = con.execute("SELECT c.text, l.judge_grade FROM judge_labels l JOIN chunks c USING (chunk_id) WHERE l.task_id = 't0'").fetchall()
    return {text: grade for text, grade in rows}


def test_relative_grading_finds_what_absolute_thresholds_miss(tmp_path):
    absolute, relative = _labels(tmp_path, "absolute"), _labels(tmp_path, "relative")
    assert set(absolute.values()) == {0}
    governed = [g for text, g in relative.items() if "governed" in text]
    others = [g for text, g in relative.items() if "governed" not in text]
    assert governed and min(governed) == 2 and max(others) == 0


class FlatLLM:
    """P(yes) barely higher on the governing-law clause: below the relative margin."""

    name = "scripted:flat"

    def choice_probabilities(self, messages, choices):
        return {"yes": 0.2 if "governed" in messages[-1]["content"] else 0.15, "no": 0.6}


def test_a_verified_yes_makes_its_best_scored_citation_a_positive(tmp_path):
    from feedback.synthetic import TaskSpec, insert_document, insert_task
    from rag_agent.workspace import Workspace
    from tests.test_feedback_harvest import CLAUSES

    ws = Workspace.open(tmp_path / "ws", overrides=["feedback.judge.mode=pointwise", "feedback.pointwise_grading=relative", "feedback.verified_yes_positive=true"])
    con = ws.connect()
    ids = insert_document(con, "c1", "".join(CLAUSES), size=120)
    common = dict(rankings={(0, "rerank"): ids[:4]}, doc_id="c1", answer_type="yes_no", cited={ids[0]: 1, ids[1]: 2})
    insert_task(con, TaskSpec("yes", "Does the contract name a governing law?", answer="Yes", success=True, **common))
    insert_task(con, TaskSpec("no", "Does the contract name a governing law?", answer="No", success=True, **common))
    con.close()
    with ws.db() as con:
        Harvester(ws, con, LLMJudge(FlatLLM(), JudgeSettings(mode="pointwise")), NoMining(ws)).run()
        rows = con.execute("SELECT task_id, c.text, l.grade, l.signal FROM judge_labels l JOIN chunks c USING (chunk_id) WHERE l.signal = 'verified_yes'").fetchall()
    assert len(rows) == 1  # only the verified Yes names a chunk, and only one
    task_id, text, grade, _ = rows[0]
    assert task_id == "yes" and grade == 2 and "governed" in text


def test_consensus_grades_need_the_judge_and_the_retriever_to_agree():
    from feedback.judge import consensus_grades

    scores = {"a": 0.40, "b": 0.30, "c": 0.20, "d": 0.15, "e": 0.10}
    # The judge's best chunk, served first: the only 2; above the median: 1.
    assert consensus_grades(scores, {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5}, margin=0.03, max_rank=2) == {
        "a": 2, "b": 1, "c": 0, "d": 0, "e": 0}
    # The judge overrules the retriever (its pick was served 4th): no positive at all.
    assert consensus_grades(scores, {"a": 4, "b": 1, "c": 2, "d": 3, "e": 5}, margin=0.03, max_rank=2) == {
        "a": 1, "b": 1, "c": 0, "d": 0, "e": 0}
    # Too close to the median: no positive.
    assert consensus_grades(scores, {"a": 1}, margin=0.25, max_rank=2)["a"] == 1
    assert consensus_grades({"a": 0.9}, {"a": 1}, margin=0.03, max_rank=2) == {"a": 0}


def test_consensus_harvest_gives_at_most_one_positive_per_task_served_near_the_top(tmp_path):
    ws = build(tmp_path / "consensus")
    ws.config.feedback.judge.mode = "pointwise"
    ws.config.feedback.pointwise_grading = "consensus"
    ws.config.feedback.consensus_max_rank = 2
    with ws.db() as con:
        Harvester(ws, con, LLMJudge(LowConfidenceLLM(), JudgeSettings(mode="pointwise")), NoMining(ws)).run()
        per_task = con.execute(
            "SELECT task_id, count(*) FILTER (WHERE judge_grade = 2), count(*) FROM judge_labels GROUP BY 1").fetchall()
        positives = con.execute(
            """SELECT l.task_id, min(r.rank) FROM judge_labels l JOIN retrievals r
               ON r.run_id = l.run_id AND r.task_id = l.task_id AND r.chunk_id = l.chunk_id
               WHERE l.judge_grade = 2 GROUP BY 1""").fetchall()
    assert per_task and all(n2 <= 1 for _, n2, _ in per_task)
    assert positives, "the governing-law clause, best scored and served on top, must become a positive"
    assert all(rank <= 2 for _, rank in positives)


def test_clause_exists_is_read_off_the_checker_verdict():
    from feedback.traces import TaskTrace

    def trace(answer_type, predicted, success):
        return TaskTrace("r", "t", "q", "d", answer_type, "done", 0, predicted=predicted, success=success)

    assert trace("yes_no", "Yes, section 4.", True).clause_exists() is True
    assert trace("yes_no", "No.", True).clause_exists() is False  # a verified "No"
    assert trace("yes_no", "Yes", False).clause_exists() is False  # a failed "Yes"
    assert trace("yes_no", "No", False).clause_exists() is True  # a failed "No": it is there
    assert trace("yes_no", "I cannot tell", False).clause_exists() is None
    assert trace("date", "1/1/99", False).clause_exists() is True
    assert trace("yes_no", "Yes", None).clause_exists() is None  # no checker verdict


def _yes_and_no_tasks(tmp_path, *overrides):
    """Two tasks asking the same over the same ranking: one verified "Yes", one verified "No"."""
    from feedback.synthetic import TaskSpec, insert_document, insert_task
    from rag_agent.workspace import Workspace
    from tests.test_feedback_harvest import CLAUSES

    ws = Workspace.open(tmp_path / "ws", overrides=["feedback.judge.mode=pointwise", "feedback.pointwise_grading=consensus", *overrides])
    con = ws.connect()
    ids = insert_document(con, "c1", "".join(CLAUSES), size=120)
    governed = next(i for i, text in zip(ids, CLAUSES) if "governed" in text)
    order = [governed] + [i for i in ids if i != governed][:3]  # the judge's favourite, served first
    common = dict(rankings={(0, "rerank"): order}, doc_id="c1", answer_type="yes_no", cited={order[0]: 1})
    insert_task(con, TaskSpec("yes", "Does the contract name a governing law?", answer="Yes", success=True, **common))
    insert_task(con, TaskSpec("no", "Does the contract name a governing law?", answer="No", success=True, **common))
    con.close()
    return ws


class CountingLowConfidenceLLM(LowConfidenceLLM):
    calls = 0

    def choice_probabilities(self, messages, choices):
        self.calls += 1
        return super().choice_probabilities(messages, choices)


def test_no_positive_where_the_checked_answer_says_the_clause_is_absent(tmp_path):
    ws = _yes_and_no_tasks(tmp_path, "feedback.judge_absent_clauses=true")  # judged anyway: the cap decides
    with ws.db() as con:
        Harvester(ws, con, LLMJudge(LowConfidenceLLM(), JudgeSettings(mode="pointwise")), NoMining(ws)).run()
        best = dict(con.execute("SELECT task_id, max(judge_grade) FROM judge_labels GROUP BY 1").fetchall())
    assert best == {"yes": 2, "no": 1}


def test_a_verified_absent_clause_is_labelled_without_the_judge(tmp_path):
    """By default the "No" task costs no judgment: its chunks are verified negatives (grade 0, no
    score, signal verified_absent), so it adds no soft-target list and no judged pair, and the
    "Yes" task is judged as before."""
    from feedback.harvest import VERIFIED_ABSENT

    ws = _yes_and_no_tasks(tmp_path)
    llm = CountingLowConfidenceLLM()
    with ws.db() as con:
        Harvester(ws, con, LLMJudge(llm, JudgeSettings(mode="pointwise")), NoMining(ws)).run()
        rows = con.execute("SELECT task_id, grade, judge_grade, score, signal, prompt_version FROM judge_labels ORDER BY 1").fetchall()
        pairs = dict(con.execute("SELECT task_id, count(*) FROM pairs GROUP BY 1").fetchall())
    no, yes = [r for r in rows if r[0] == "no"], [r for r in rows if r[0] == "yes"]
    assert llm.calls == len(yes) == 4  # the four served chunks of "yes" only
    assert len(no) == 4 and all(r[1:] == (0, None, None, VERIFIED_ABSENT, "verified-absent-v1") for r in no)
    assert max(r[2] for r in yes) == 2 and all(r[4] == "llm_judge" for r in yes)
    assert "no" not in pairs  # (and no score: training.data's soft-target lists skip unscored labels)


def test_a_failed_yes_is_verified_absent_and_its_citations_are_not_counted_as_cited(tmp_path):
    """judge_labels.cited means "cited in a successful task" (feedback calibrate's predictor), on
    verified-absent rows as on judged ones: a failed "Yes" cited a chunk, but the task failed."""
    from feedback.synthetic import TaskSpec, insert_task

    ws = _yes_and_no_tasks(tmp_path)
    with ws.db() as con:
        order = [c for (c,) in con.execute("SELECT chunk_id FROM retrievals WHERE task_id = 'no' ORDER BY rank").fetchall()]
        insert_task(con, TaskSpec("failed-yes", "Does the contract name a governing law?", rankings={(0, "rerank"): order}, doc_id="c1",
                                  answer_type="yes_no", cited={order[0]: 1}, answer="Yes", success=False))
        Harvester(ws, con, LLMJudge(CountingLowConfidenceLLM(), JudgeSettings(mode="pointwise")), NoMining(ws)).run()
        rows = dict(con.execute("SELECT task_id, bool_or(cited) FROM judge_labels WHERE signal = 'verified_absent' GROUP BY 1").fetchall())
    assert rows == {"no": True, "failed-yes": False}
