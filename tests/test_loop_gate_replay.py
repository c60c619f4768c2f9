"""The incremental gate decides exactly as the old score-everything gate did.

tests/data/loop_gate_cycles.json holds the gate inputs (per-query NDCG@10 of every suite result
compared) and the decisions of two real miniature loop cycles (real MiniLM, trainers, faiss,
DuckDB; scripted agent and judge), recorded with the gate code before evaluation became lazy.
Replaying them through `judge_candidate` must give the same verdicts and the same CIs; where the
new code stops early, the reason it gives must start with the same dev statistics.
"""

from __future__ import annotations

import json
from pathlib import Path

from evals.results import SuiteResult
from rag_agent.config import RagloopConfig
from training.loop_gate import Guard, judge_candidate

FIXTURE = Path(__file__).parent / "data" / "loop_gate_cycles.json"


def _result(data: dict) -> SuiteResult:
    return SuiteResult(suite=data["suite"], split=data["split"], metrics=data["metrics"], per_query=data["per_query"])


def _decisions():
    """(kind, rise call, guards call or None, old pass, old reason) per judged candidate."""
    recorded = json.loads(FIXTURE.read_text())
    cfg = RagloopConfig()
    for key, value in recorded["gate"].items():
        setattr(cfg.gate, key, value)
    out = []
    for cycle in recorded["cycles"]:
        calls, evaluation = list(cycle["calls"]), cycle["evaluate"]
        for kind in ("embedder", "reranker"):
            if evaluation[f"{kind}_reason"] == "no candidate":
                continue
            rise, guards = calls.pop(0), calls.pop(0)  # the old code always scored both, in this order
            out.append((kind, rise, guards, evaluation[f"{kind}_pass"], evaluation[f"{kind}_reason"], cfg))
    return out


def _replay(rise: dict, guards: dict, cfg, counter: list | None = None):
    def lazy(data):
        def get():
            if counter is not None:
                counter.append(data["suite"])
            return _result(data)

        return get

    anchors = guards["anchor"] or [None] * len(guards["candidates"])
    guard_list = [Guard(lazy(c), lazy(b), lazy(a) if a is not None else None) for c, b, a in zip(guards["candidates"], guards["current"], anchors)]
    return judge_candidate(lazy(rise["candidate"]), lazy(rise["baseline"]), guard_list, cfg, [g["suite"] for g in guards["candidates"]])


def test_recorded_cycles_get_the_same_verdicts_and_confidence_intervals():
    decisions = _decisions()
    assert decisions, "the fixture records at least one judged candidate"
    for kind, rise, guards, old_pass, old_reason, cfg in decisions:
        verdict = _replay(rise, guards, cfg)
        assert verdict.passed == old_pass, kind
        dev_note = rise["out"][1]  # "dev ndcg@10 a -> b (delta, 95% CI [lo, hi])" of the old code
        assert verdict.reason.startswith(dev_note), (verdict.reason, dev_note)
        if verdict.held is not None and not verdict.skipped:  # everything scored: the very same text
            assert verdict.reason == old_reason


def test_a_candidate_that_fails_dev_scores_no_law_task():
    cfg = RagloopConfig()
    cfg.gate.bootstrap_samples = 200
    base = {"suite": "cuad", "split": "dev", "metrics": {"ndcg@10": 0.5}, "per_query": {"ndcg@10": {f"q{i}": 0.5 + 0.01 * (i % 3) for i in range(30)}}}
    law = {"suite": "law", "split": "test", "metrics": {"ndcg@10": 0.8}, "per_query": {"ndcg@10": {f"l{i}": 0.8 for i in range(30)}}}
    worse = {"suite": "law", "split": "test", "metrics": {"ndcg@10": 0.5}, "per_query": {"ndcg@10": {f"l{i}": 0.5 for i in range(30)}}}
    better = json.loads(json.dumps(base))
    better["per_query"]["ndcg@10"] = {q: v + 0.05 for q, v in base["per_query"]["ndcg@10"].items()}
    scored: list = []
    guards = {"candidates": [law, law], "current": [law, law], "anchor": None}
    verdict = _replay({"candidate": base, "baseline": base}, guards, cfg, scored)
    assert not verdict.passed and verdict.held is None and scored == ["cuad", "cuad"]  # dev only
    assert "law tasks not scored" in verdict.reason
    scored.clear()
    verdict = _replay({"candidate": better, "baseline": base}, {"candidates": [worse, law], "current": [law, law], "anchor": None}, cfg, scored)
    assert not verdict.passed and verdict.held is False
    assert scored == ["cuad", "cuad", "law", "law"]  # the first law task regressed: the second was never scored
    assert verdict.skipped == ["law"] and "REGRESSED" in verdict.reason
    scored.clear()
    verdict = _replay({"candidate": better, "baseline": base}, guards, cfg, scored)
    assert verdict.passed and len(scored) == 6 and not verdict.skipped


def test_the_gate_reranks_at_the_agents_depth():
    from training.loop_gate import rerank_depth

    cfg = RagloopConfig()
    cfg.agent.retrieve_k = 17
    cfg.training.loop.rerank_k = 3  # deprecated: ignored
    assert rerank_depth(cfg) == 17
