"""The one promotion policy (evals/promotion.py): each reason a candidate can end with, from
comparisons built by hand (no models, no bootstrap), and the payloads it stores and reads back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.promotion import (
    CycleDecision,
    CycleEvaluation,
    GuardCheck,
    KindEvaluation,
    Outcome,
    ProbeResult,
    ProbeRun,
    ProbeStats,
    PromotionPolicy,
    ProposedPipeline,
    SuiteGate,
    kinds_of,
    probe_vetoes,
    suite_regressed,
)
from rag_agent.config import GateConfig, RagloopConfig

LAW = ["aila_statutes", "lobbying"]


def _suite(suite: str, baseline: float, candidate: float, ci_low: float, ci_high: float, regressed: bool = False) -> SuiteGate:
    return SuiteGate(suite=suite, metric="ndcg@10", n_queries=100, baseline=baseline, candidate=candidate, delta=candidate - baseline,
                     ci_low=ci_low, ci_high=ci_high, p_not_worse=0.001 if regressed else 0.9, regressed=regressed)


RISE = _suite("cuad/dev", 0.531, 0.571, 0.012, 0.068)
FLAT = _suite("cuad/dev", 0.531, 0.535, -0.010, 0.018)
HOLD = _suite("aila_statutes/None", 0.20, 0.21, -0.01, 0.03)
DROP = _suite("lobbying/None", 0.86, 0.80, -0.08, -0.04, regressed=True)


@pytest.fixture()
def policy() -> PromotionPolicy:
    return PromotionPolicy.from_config(RagloopConfig())


def _evaluation(embedder: KindEvaluation, reranker: KindEvaluation | None = None) -> CycleEvaluation:
    return CycleEvaluation(dev_suite="cuad", champion={"cuad": 0.531, "aila_statutes": 0.20, "lobbying": 0.86},
                           embedder=embedder.model_copy(update={"kind": "embedder", "version_id": "embedder-0003-a1b2c3"}),
                           reranker=reranker or KindEvaluation(kind="reranker", no_candidate_reason="2 positives: too few"),
                           proposed=ProposedPipeline(embedder_path="/m/e3", reranker_path="none"))


def _probe(lost: int, won: int, tasks: int = 8) -> ProbeResult:
    from training.loop_probe import mcnemar_p_drop

    p = mcnemar_p_drop(lost, won)
    stats = ProbeStats(tasks=tasks, champion_successes=tasks - won, proposed_successes=tasks - lost, only_champion=lost, only_proposed=won,
                       difference=(won - lost) / tasks, ci_low=-0.9, ci_high=0.1, p_drop=p, veto=probe_vetoes(lost, won, p, 0.05))
    runs = ProbeRun(run_id="probe-a", successes=tasks - won, labelled=tasks), ProbeRun(run_id="probe-b", successes=tasks - lost, labelled=tasks)
    return PromotionPolicy.from_config(RagloopConfig()).probe_result(*runs, stats)


def test_the_conditions_at_their_edges():
    assert suite_regressed(-0.02, 0.01, tolerance=0.01, alpha=0.05)
    assert not suite_regressed(-0.02, 0.06, tolerance=0.01, alpha=0.05)  # not significant: noise
    assert not suite_regressed(-0.01, 0.0, tolerance=0.01, alpha=0.05)  # within the tolerance
    assert probe_vetoes(5, 0, 1 / 32, alpha=0.05) and not probe_vetoes(4, 0, 1 / 16, alpha=0.05)
    assert not probe_vetoes(3, 3, 0.01, alpha=0.05)  # as many won as lost: never a drop


def test_dev_not_significant_is_rejected_and_the_law_tasks_go_unscored(policy):
    verdict = policy.retrieval_verdict(FLAT, [], LAW, anchored=True, scores={"cuad": 0.535})
    assert (verdict.passed, verdict.outcome, verdict.held, verdict.skipped) == (False, Outcome.DEV_NOT_SIGNIFICANT, None, LAW)
    assert verdict.reason == ("dev ndcg@10 0.5310 -> 0.5350 (delta +0.0040, 95% CI [-0.0100, +0.0180]); dev did not rise significantly; "
                              "law tasks not scored (aila_statutes, lobbying): dev decided")
    (kind, _) = policy.decide(1, _evaluation(verdict), _probe(0, 0)).kinds
    assert not kind.promoted and kind.outcome == Outcome.DEV_NOT_SIGNIFICANT
    assert kind.line == "embedder 0003 rejected: dev 0.5310 -> 0.5350, dev did not rise significantly (2 law task(s) not scored)"


def test_a_law_task_regressing_against_the_champion_is_rejected(policy):
    checks = [GuardCheck(name="aila_statutes", vs_current=HOLD, vs_base=HOLD), GuardCheck(name="lobbying", vs_current=DROP, vs_base=HOLD)]
    verdict = policy.retrieval_verdict(RISE, checks, LAW, anchored=True, scores={"cuad": 0.571})
    assert (verdict.passed, verdict.outcome, verdict.held, verdict.skipped) == (False, Outcome.REGRESSED_VS_CHAMPION, False, [])
    assert "lobbying 0.8600 -> 0.8000 REGRESSED; vs base: aila_statutes 0.2000 -> 0.2100; lobbying" in verdict.reason
    assert verdict.reason.endswith("; a law task regressed")
    assert "a law task regressed" in policy.decide(1, _evaluation(verdict), _probe(0, 0)).verdict


def test_a_law_task_regressing_against_the_base_is_rejected_and_the_rest_unscored(policy):
    checks = [GuardCheck(name="aila_statutes", vs_current=HOLD, vs_base=DROP)]
    verdict = policy.retrieval_verdict(RISE, checks, LAW, anchored=True, scores={"cuad": 0.571})
    assert (verdict.passed, verdict.outcome, verdict.skipped) == (False, Outcome.REGRESSED_VS_BASE, ["lobbying"])
    assert verdict.reason.endswith("; a law task regressed; not scored: lobbying (decided)")
    without_anchor = GuardCheck(name="aila_statutes", vs_current=HOLD)
    assert policy.guard_holds(without_anchor) and not policy.guard_holds(checks[0])


def test_a_significant_probe_drop_vetoes_a_candidate_the_retrieval_gate_passed(policy):
    checks = [GuardCheck(name=n, vs_current=HOLD, vs_base=HOLD) for n in LAW]
    verdict = policy.retrieval_verdict(RISE, checks, LAW, anchored=True, scores={"cuad": 0.571})
    assert verdict.passed and verdict.outcome == Outcome.RETRIEVAL_PASSED
    evaluation = _evaluation(verdict)
    assert policy.probe_skip(evaluation) is None  # a candidate passed: the probe runs
    probe = _probe(lost=5, won=0)
    assert not probe.passed
    decision = policy.decide(2, evaluation, probe)
    embedder, reranker = decision.kinds
    assert not embedder.promoted and embedder.outcome == Outcome.PROBE_DROP
    assert embedder.reason == verdict.reason + "; agent probe: " + probe.stats.text
    assert decision.summary == "embedder rejected, reranker: no candidate"
    assert decision.verdict == ("cycle 2: embedder 0003 rejected: dev 0.5310 -> 0.5710, retrieval gate passed, agent probe vetoed; "
                                "reranker: no candidate")
    assert reranker.reason == "2 positives: too few" and decision.reason.endswith(" | reranker: 2 positives: too few")


def test_a_candidate_that_rises_holds_and_survives_the_probe_is_promoted(policy):
    checks = [GuardCheck(name=n, vs_current=HOLD, vs_base=HOLD) for n in LAW]
    verdict = policy.retrieval_verdict(RISE, checks, LAW, anchored=True, scores={"cuad": 0.571, "aila_statutes": 0.21})
    probe = _probe(lost=1, won=0, tasks=4)  # one lost task measures, never vetoes
    decision = policy.decide(2, _evaluation(verdict), probe)
    embedder = decision.kind("embedder")
    assert embedder.promoted and embedder.outcome == Outcome.PROMOTED
    assert embedder.line == "embedder 0003 promoted: dev 0.5310 -> 0.5710, law tasks held"
    assert embedder.reason == verdict.reason + "; agent " + probe.stats.text
    assert decision.summary == "embedder promoted, reranker: no candidate"


def test_the_probe_is_skipped_when_nothing_passed_or_no_probe_tasks(policy):
    rejected = _evaluation(policy.retrieval_verdict(FLAT, [], LAW, anchored=True, scores={}))
    assert policy.probe_skip(rejected) == ProbeResult(passed=False, skipped="no candidate passed the retrieval gate")
    passed = _evaluation(policy.retrieval_verdict(RISE, [], [], anchored=False, scores={}))
    cfg = RagloopConfig()
    cfg.training.loop.probe_tasks = 0
    assert PromotionPolicy.from_config(cfg).probe_skip(passed).passed


def test_every_setting_comes_from_the_config_in_one_place():
    cfg = RagloopConfig()
    cfg.gate.tolerance, cfg.gate.alpha, cfg.training.loop.probe_alpha, cfg.training.loop.guard_against_base = 0.02, 0.1, 0.2, False
    policy = PromotionPolicy.from_config(cfg)
    assert (policy.tolerance, policy.alpha, policy.probe_alpha, policy.guard_against_base) == (0.02, 0.1, 0.2, False)
    assert PromotionPolicy.from_config(GateConfig(tolerance=0.03)).tolerance == 0.03
    assert PromotionPolicy.from_config(None) == PromotionPolicy.from_config(RagloopConfig())
    assert PromotionPolicy.from_config(policy) is policy


def test_payloads_round_trip_through_json(policy):
    checks = [GuardCheck(name=n, vs_current=HOLD, vs_base=HOLD) for n in LAW]
    evaluation = _evaluation(policy.retrieval_verdict(RISE, checks, LAW, anchored=True, scores={"cuad": 0.571}))
    probe = _probe(1, 0, tasks=4)
    decision = policy.decide(1, evaluation, probe)
    assert CycleEvaluation.from_dict(json.loads(json.dumps(evaluation.to_dict()))) == evaluation
    assert ProbeResult.from_dict(json.loads(json.dumps(probe.to_dict()))) == probe
    assert CycleDecision.from_dict(json.loads(json.dumps(decision.to_dict()))) == decision
    skipped = ProbeResult(passed=True, skipped="training.loop.probe_tasks = 0")
    assert skipped.to_dict() == {"skipped": "training.loop.probe_tasks = 0", "pass": True}


def test_payloads_written_before_the_policy_module_are_read():
    """The recorded cycles' evaluate payloads (flat keys, no outcomes) and a decide payload of
    that time (summary only): outcomes come from the reason texts, candidates from train."""
    recorded = json.loads((Path(__file__).parent / "data" / "loop_gate_cycles.json").read_text())
    train = {"embedder": {"version_id": "embedder-0001-aaaaaa"}, "reranker": {"version_id": "reranker-0001-bbbbbb"}}
    evaluation = CycleEvaluation.from_dict(recorded["cycles"][0]["evaluate"], train)
    assert evaluation.embedder.outcome == Outcome.DEV_NOT_SIGNIFICANT and not evaluation.embedder.passed
    assert evaluation.reranker.version_id == "reranker-0001-bbbbbb" and evaluation.reranker.outcome == Outcome.DEV_NOT_SIGNIFICANT
    old = {"embedder_pass": False, "embedder_reason": "dev ...; x 0.7 -> 0.7; vs base: x 0.8 -> 0.7 REGRESSED; a law task regressed",
           "candidate": {"cuad": 0.6}, "reranker_pass": True, "reranker_reason": "dev ...", "reranked": {"cuad": 0.7}, "dev_suite": "cuad",
           "champion": {"cuad": 0.5}}
    evaluation = CycleEvaluation.from_dict(old, train)
    assert evaluation.embedder.outcome == Outcome.REGRESSED_VS_BASE and evaluation.reranker.outcome == Outcome.RETRIEVAL_PASSED
    embedder, reranker = kinds_of(CycleDecision.from_dict({"summary": "embedder rejected, reranker rejected", "reason": "r"}), evaluation)
    assert embedder.line == "embedder 0001 rejected: dev 0.5000 -> 0.6000, a law task regressed"
    assert reranker.outcome == Outcome.PROBE_DROP and reranker.line.endswith("retrieval gate passed, agent probe vetoed")
    assert ProbeResult.from_dict({"champion": {"successes": 3, "labelled": 4}, "proposed": {"successes": 2, "labelled": 4}, "pass": False}).summary == \
        "proposed 2/4 vs champion 3/4"
