"""The training loop end to end on a miniature of the shared data: real DuckDB, MiniLM, faiss,
trainers, evals and gate; a scripted LLM stands in for the agent (control flow only).

Checks: every step of every cycle finishes and is recorded once; a crash in the middle of a cycle
resumes at the unfinished step without duplicating traces or models; the registry stays
consistent; the report is written.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import pytest

from tests.fakes import ScriptedLLM

CONTRACT_CHARS = 2500  # the head of each contract keeps embedding cheap


class JudgingLLM(ScriptedLLM):
    """Also a pointwise judge: a deterministic, spread-out P(yes) per passage, so the harvest yields
    positives and negatives and both trainers and the gate run (control flow, not judgement)."""

    def choice_probabilities(self, messages, choices):
        p = (zlib.crc32(messages[-1]["content"].encode()) % 1000) / 1000
        return {"yes": p, "no": 1 - p}


def _mini_data(shared: Path, root: Path) -> Path:
    cuad = root / "cuad"
    (cuad / "contracts").mkdir(parents=True)
    for split, n_contracts in (("train", 7), ("dev", 2)):
        contracts = [json.loads(line) for line in (shared / "cuad" / f"contracts_{split}.jsonl").read_text().splitlines()][:n_contracts]
        keep = {c["doc_id"] for c in contracts}
        for c in contracts:
            text = (shared / "cuad" / c["file"]).read_text()[:CONTRACT_CHARS]
            (cuad / c["file"]).write_text(text)
        (cuad / f"contracts_{split}.jsonl").write_text("\n".join(json.dumps(c) for c in contracts) + "\n")
        tasks = []
        for line in (shared / "cuad" / f"tasks_{split}.jsonl").read_text().splitlines():
            task = json.loads(line)
            text = (cuad / f"contracts/{task['doc_id']}.txt").read_text() if task["doc_id"] in keep else ""
            # dev tasks need evidence inside the kept head to be measurable
            if task["doc_id"] in keep and (split == "train" or any(e and e in text for e in task["evidence"])):
                tasks.append(task)
        (cuad / f"tasks_{split}.jsonl").write_text("\n".join(json.dumps(t) for t in tasks) + "\n")
    law = root / "mteb_law" / "tiny_statutes"
    (law / "qrels").mkdir(parents=True)
    source = shared / "mteb_law" / "aila_statutes"
    qrels = [line.split("\t") for line in (source / "qrels" / "test.tsv").read_text().splitlines()[1:]][:12]
    docs = {d for _, d, _ in qrels}
    queries = {q for q, _, _ in qrels}
    corpus = [json.loads(line) for line in (source / "corpus.jsonl").read_text().splitlines()]
    corpus = [d for d in corpus if d["_id"] in docs] + [d for d in corpus if d["_id"] not in docs][:6]
    (law / "corpus.jsonl").write_text("\n".join(json.dumps(d | {"text": d["text"][:600]}) for d in corpus) + "\n")
    all_queries = [json.loads(line) for line in (source / "queries.jsonl").read_text().splitlines()]
    (law / "queries.jsonl").write_text("\n".join(json.dumps(q | {"text": q["text"][:400]}) for q in all_queries if q["_id"] in queries) + "\n")
    (law / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "\n".join("\t".join(r) for r in qrels) + "\n")
    return root


@pytest.fixture()
def loop_ws(tmp_path, shared_data):
    from rag_agent.workspace import Workspace

    data = _mini_data(shared_data, tmp_path / "data")
    overrides = [
        f"data_dir={data}",
        "feedback.judge.backend=llm",
        "feedback.judge.mode=pointwise",
        "training.loop.tasks_per_cycle=4",
        "training.loop.contracts_per_cycle=2",
        "training.loop.probe_contracts=1",
        "training.loop.probe_tasks=2",
        "training.loop.guard_suites=mteb_law/tiny_statutes",
        "training.embedder.max_steps=2",
        "training.embedder.batch_size=4",
        "training.embedder.max_seq_length=64",
        "training.reranker.max_steps=2",
        "training.reranker.batch_size=4",
        "training.reranker.max_length=64",
        "training.bce.min_positives=1",
        "training.loop.reranker_min_lists=0",  # a reranker from every cycle's few lists
        "agent.retrieve_k=5",  # the depth the agent and the gate rerank
        "gate.bootstrap_samples=200",
    ]
    return Workspace.open(tmp_path / "ws", overrides=overrides)


def _count(ws, sql: str, params=()):
    with ws.db() as con:
        return con.execute(sql, list(params)).fetchall()


@pytest.mark.slow
def test_loop_runs_resumes_and_keeps_registry_consistent(loop_ws, monkeypatch):
    from training import loop_steps, registry
    from training.loop import STEPS, TrainingLoop
    from training.report import write_report

    llm = JudgingLLM(answer={"answer": "Yes", "citations": [1]})
    loop = TrainingLoop(loop_ws, llm=llm, progress=False)
    loop.run(1)

    # A crash in cycle 2 after training: the rerun must not retrain or rerun the agent.
    real_evaluate = loop_steps.step_evaluate
    monkeypatch.setattr(loop_steps, "step_evaluate", lambda ctx: (_ for _ in ()).throw(RuntimeError("killed")))
    with pytest.raises(RuntimeError):
        loop.run(2)
    versions_before = _count(loop_ws, "SELECT count(*) FROM model_versions")[0][0]
    monkeypatch.setattr(loop_steps, "step_evaluate", real_evaluate)
    rows = TrainingLoop(loop_ws, llm=llm, progress=False).run(2)

    steps = _count(loop_ws, "SELECT cycle, count(*), count(DISTINCT step) FROM loop_steps GROUP BY 1 ORDER BY 1")
    assert steps == [(1, len(STEPS), len(STEPS)), (2, len(STEPS), len(STEPS))]
    assert _count(loop_ws, "SELECT count(*) FROM model_versions")[0][0] == versions_before  # nothing retrained
    dupes = _count(loop_ws, "SELECT run_id, task_id FROM tasks GROUP BY 1, 2 HAVING count(*) > 1")
    assert dupes == []
    cycle_runs = _count(loop_ws, "SELECT run_id, count(*) FROM tasks WHERE run_id LIKE 'loop-%' GROUP BY 1 ORDER BY 1")
    assert cycle_runs == [("loop-1", 4), ("loop-2", 4)]
    # Fresh tasks every cycle.
    overlap = _count(loop_ws, "SELECT count(*) FROM tasks a JOIN tasks b USING (task_id) WHERE a.run_id='loop-1' AND b.run_id='loop-2'")
    assert overlap == [(0,)]

    assert registry.check_invariants(loop_ws) == []
    # What only cycle 1 pays (the base's suite scores) is recorded for the planner; cycle 2 read
    # its champion's scores from disk (the champion was scored as a cycle-1 candidate or is the base).
    one_off = [json.loads(p)["one_off_s"] for (p,) in _count(loop_ws, "SELECT payload FROM loop_steps WHERE step = 'evaluate' ORDER BY cycle")]
    assert one_off[0] > 0 and one_off[1] == 0.0
    trained = dict(_count(loop_ws, "SELECT kind, count(*) FROM model_versions WHERE parent_id IS NOT NULL GROUP BY 1"))
    assert trained.get("embedder", 0) >= 1 and trained.get("reranker", 0) >= 1  # both trainers and the gate ran
    # training.loop.reranker_min_lists: with one list more than the feedback holds, no reranker is
    # trained, and the reason names the count; with exactly as many, it is.
    from training.data import load_scored_lists_from_workspace

    runs = [r for (r,) in _count(loop_ws, "SELECT DISTINCT run_id FROM tasks WHERE run_id LIKE 'loop-%'")]
    n_lists = len(load_scored_lists_from_workspace(loop_ws, runs)[0])
    assert n_lists > 0
    loop_ws.config.set("training.loop.reranker_min_lists", n_lists + 1)
    refused = loop_steps._too_little_for_a_reranker(loop_ws, runs)
    assert refused["version_id"] is None and f"{n_lists} usable judged lists" in refused["reason"]
    loop_ws.config.set("training.loop.reranker_min_lists", n_lists)
    assert loop_steps._too_little_for_a_reranker(loop_ws, runs) is None
    statuses = dict(_count(loop_ws, "SELECT version_id, status FROM model_versions"))
    assert all(s in ("champion", "rejected", "retired") for s in statuses.values())  # every candidate decided
    for row in rows:
        assert row.decision and row.reason
        assert row.verdict.startswith(f"cycle {row.cycle}: ") and row.rerank_depth == 5
        assert row.dev_champion is not None and 0.0 <= row.dev_champion <= 1.0
    reasons = _count(loop_ws, "SELECT reason FROM model_versions WHERE status IN ('rejected', 'retired', 'champion') AND parent_id IS NOT NULL")
    # a decided candidate carries the gate's statistics; one trained but left unjudged says so
    # (a reranker fitted over an embedder that was not promoted, or over one that was replaced)
    assert all("dev ndcg@10" in r or r.endswith(": not judged") for (r,) in reasons)
    assert trained["reranker"] >= 3  # cycle 2 fitted one over the champion and one over its embedder candidate

    # Nothing is scored twice: evaluating cycle 2's candidates again (against whatever is champion
    # now) finds every dev result on disk.
    from training.loop_gate import evaluate_cycle

    again = evaluate_cycle(loop_ws, loop.done_steps(2)["train"])
    assert [e for e in again.evaluated_now if e.startswith("cuad:")] == []

    report = write_report(loop.rows(), loop_ws.root / "report")
    assert report.exists() and (loop_ws.root / "report" / "ndcg_per_suite.png").stat().st_size > 1000
    assert (loop_ws.root / "report" / "stage_seconds.png").stat().st_size > 1000
    assert "<h2>Decisions</h2>" in report.read_text()
    assert any(row.losses for row in loop.rows())  # the loss curves behind the decisions
    assert (loop_ws.root / "report" / "training_loss.png").stat().st_size > 1000
