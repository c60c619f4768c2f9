"""The promotion policy: the one place that decides what is promoted, and why.

It reads statistics computed elsewhere (per suite: evals/gate.py's paired bootstrap over queries;
for the agent: training/loop_probe.py's exact McNemar test over probe tasks) and returns typed
verdicts (evals/promotion_records.py). The conditions:

  a suite regresses  mean delta (candidate - baseline) < -tolerance AND bootstrap
                     P(mean delta >= -tolerance) < `gate.alpha`              (`suite_regressed`)
  `evals gate`       passes when no suite regresses
  dev rises          the 95% bootstrap CI of the dev suite's mean delta lies above 0 (`dev_rose`)
  a law task holds   it regresses neither against the current pipeline nor, with
                     `training.loop.guard_against_base`, against the base models (`guard_holds`):
                     each cycle may lose a little within the tolerance, so without the anchor
                     forgetting could creep
  the probe vetoes   the proposed pipeline lost more probe tasks than it won AND the one-sided
                     McNemar p < `training.loop.probe_alpha`                      (`probe_vetoes`)
  a candidate (embedder, reranker) is promoted when dev rises, every law task holds and the probe
  does not veto (`decide`).
  a pair passes      an embedder whose dev rose but a law task regressed (`pair_needed`) passes
                     when the pipeline with the reranker fitted over it passes against the current
                     pipeline; the two are promoted together (`paired_verdicts`; the loop asks it
                     in training/loop_gate.choose_candidates)

Every setting it needs is read in `PromotionPolicy.from_config`, and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass

from evals.promotion_records import (
    KINDS,
    Candidate,
    CycleDecision,
    CycleEvaluation,
    GateDecision,
    GuardCheck,
    KindDecision,
    KindEvaluation,
    Outcome,
    ProbeResult,
    ProbeRun,
    ProbeStats,
    ProposedPipeline,
    SuiteGate,
)

__all__ = ["KINDS", "Candidate", "CycleDecision", "CycleEvaluation", "GateDecision", "GuardCheck", "KindDecision", "KindEvaluation",
           "Outcome", "ProbeResult", "ProbeRun", "ProbeStats", "PromotionPolicy", "ProposedPipeline", "SuiteGate", "dev_note", "dev_rose", "guard_note",
           "kind_line", "kinds_of", "probe_vetoes", "suite_regressed", "verdict_text"]


# ---- the conditions ---------------------------------------------------------------------------------
def suite_regressed(delta: float, p_not_worse: float, tolerance: float, alpha: float) -> bool:
    """Worse by more than the tolerance, and significantly so (noise and improvements pass)."""
    return bool(delta < -tolerance and p_not_worse < alpha)


def dev_rose(dev: SuiteGate) -> bool:
    return dev.ci_low > 0


def probe_vetoes(only_champion: int, only_proposed: int, p_drop: float, alpha: float) -> bool:
    """Only a significant drop vetoes: with 4 probe tasks nothing can (0.5^4 > 0.05)."""
    return bool(only_champion > only_proposed and p_drop < alpha)


# What the verdict line says for each outcome (a legacy payload's unknown outcome shows its reason).
LINE_WORDS = {
    Outcome.PROMOTED: "law tasks held",
    Outcome.DEV_NOT_SIGNIFICANT: "dev did not rise significantly",
    Outcome.REGRESSED_VS_CHAMPION: "a law task regressed",
    Outcome.REGRESSED_VS_BASE: "a law task regressed",
    Outcome.PROBE_DROP: "retrieval gate passed, agent probe vetoed",
}


@dataclass(frozen=True)
class PromotionPolicy:
    tolerance: float  # gate.tolerance: largest acceptable drop of a law task (dev: must rise, tolerance 0)
    alpha: float  # gate.alpha: significance of a drop; the CIs are (1 - alpha)
    bootstrap_samples: int  # gate.bootstrap_samples
    seed: int  # gate.seed: the bootstrap's seed
    guard_against_base: bool  # training.loop.guard_against_base: law tasks also checked against the base models
    probe_tasks: int  # training.loop.probe_tasks: 0 = no agent probe (the retrieval gate decides alone)
    probe_alpha: float  # training.loop.probe_alpha
    probe_seed: int  # training.loop.seed: the probe bootstrap's seed

    @classmethod
    def from_config(cls, cfg=None) -> PromotionPolicy:
        """The policy of a RagloopConfig (or of its `gate` section alone, the rest default; None:
        all defaults). The only place the policy's settings are read."""
        from rag_agent.config import GateConfig, RagloopConfig, TrainingConfig

        if isinstance(cfg, PromotionPolicy):
            return cfg
        if cfg is None or isinstance(cfg, GateConfig):
            gate, training = cfg or GateConfig(), TrainingConfig().loop
        elif isinstance(cfg, RagloopConfig):
            gate, training = cfg.gate, cfg.training.loop
        else:
            from rag_agent.errors import ConfigError

            raise ConfigError(type(cfg).__name__, "a RagloopConfig, GateConfig or PromotionPolicy", "pass the workspace's config")
        return cls(tolerance=gate.tolerance, alpha=gate.alpha, bootstrap_samples=gate.bootstrap_samples, seed=gate.seed,
                   guard_against_base=training.guard_against_base, probe_tasks=training.probe_tasks, probe_alpha=training.probe_alpha,
                   probe_seed=training.seed)

    # ---- suites (`evals gate`, the loop's retrieval gate) ----------------------------------------------
    def suite_regressed(self, delta: float, p_not_worse: float, tolerance: float | None = None) -> bool:
        return suite_regressed(delta, p_not_worse, self.tolerance if tolerance is None else tolerance, self.alpha)

    def gate_decision(self, suites: list[SuiteGate], tolerance: float, unpaired: list[str]) -> GateDecision:
        return GateDecision(passed=not any(s.regressed for s in suites), tolerance=tolerance, alpha=self.alpha, suites=suites, unpaired=unpaired)

    def dev_rose(self, dev: SuiteGate) -> bool:
        return dev_rose(dev)

    def guard_holds(self, check: GuardCheck) -> bool:
        return not check.vs_current.regressed and not (check.vs_base is not None and check.vs_base.regressed)

    def retrieval_verdict(self, dev: SuiteGate, checks: list[GuardCheck], names: list[str], anchored: bool,
                          scores: dict[str, float], kind: str = "", version_id: str | None = None) -> KindEvaluation:
        """One candidate's retrieval verdict from the comparisons scored so far. `names`: every law
        task (those after `checks` were left unscored, the verdict being decided); `anchored`:
        the law tasks were also compared with the base models."""
        verdict = KindEvaluation(kind=kind, version_id=version_id, scores=scores, tolerance=self.tolerance, dev=dev)
        if not self.dev_rose(dev):
            tail = f"; law tasks not scored ({', '.join(names)}): dev decided" if names else ""
            return verdict.model_copy(update=dict(outcome=Outcome.DEV_NOT_SIGNIFICANT, reason=f"{dev_note(dev)}; dev did not rise significantly{tail}",
                                                  skipped=list(names)))
        held = all(self.guard_holds(c) for c in checks)
        reason = f"{dev_note(dev)}; {guard_note(checks, anchored)}" + ("" if held else "; a law task regressed")
        skipped = names[len(checks):]
        if skipped:
            reason += f"; not scored: {', '.join(skipped)} (decided)"
        outcome = (Outcome.RETRIEVAL_PASSED if held else
                   Outcome.REGRESSED_VS_CHAMPION if any(c.vs_current.regressed for c in checks) else Outcome.REGRESSED_VS_BASE)
        return verdict.model_copy(update=dict(passed=held, outcome=outcome, reason=reason, skipped=skipped, guards=list(checks)))

    # ---- an embedder gated with the reranker fitted over it -------------------------------------------
    def pair_needed(self, alone: KindEvaluation) -> bool:
        """Dev rose but a law task regressed: the pipeline with its reranker is judged next."""
        return not alone.passed and alone.outcome.regressed

    def paired_verdicts(self, alone: KindEvaluation, together: KindEvaluation, pair: Candidate) -> tuple[KindEvaluation, KindEvaluation] | None:
        """(embedder, reranker) verdicts when the pair passed, promoted together; None when it did not.
        The embedder keeps its own scores and, in the reason, its alone-verdict."""
        if not together.passed:
            return None
        short = Candidate(kind="embedder", version_id=alone.version_id).short
        embedder = alone.model_copy(update=dict(
            passed=True, outcome=together.outcome, paired_with=pair.version_id,
            reason=f"alone: {alone.reason}; with reranker {pair.short} fitted over it, against the current pipeline: {together.reason}"))
        reranker = together.model_copy(update=dict(kind="reranker", version_id=pair.version_id, reason=f"gated together with embedder {short}: {together.reason}"))
        return embedder, reranker

    # ---- the agent probe ---------------------------------------------------------------------------
    def probe_vetoes(self, only_champion: int, only_proposed: int, p_drop: float) -> bool:
        return probe_vetoes(only_champion, only_proposed, p_drop, self.probe_alpha)

    def probe_skip(self, evaluation: CycleEvaluation) -> ProbeResult | None:
        """The probe's result when it need not run; None when it must."""
        if not evaluation.any_passed:
            return ProbeResult(passed=False, skipped="no candidate passed the retrieval gate")
        if self.probe_tasks <= 0:
            return ProbeResult(passed=True, skipped="training.loop.probe_tasks = 0")
        return None

    def probe_result(self, champion: ProbeRun, proposed: ProbeRun, stats: ProbeStats) -> ProbeResult:
        return ProbeResult(passed=not stats.veto, champion=champion, proposed=proposed, stats=stats, text=stats.text)

    # ---- the cycle's decision ------------------------------------------------------------------------
    def decide(self, cycle: int, evaluation: CycleEvaluation, probe: ProbeResult) -> CycleDecision:
        """Per kind: promoted when its retrieval verdict passed and the probe did not veto."""
        kinds = [self._decide_kind(evaluation.kind(kind), evaluation, probe) for kind in KINDS]
        summary = ", ".join(f"{k.kind}: no candidate" if k.version_id is None else f"{k.kind} {'promoted' if k.promoted else 'rejected'}" for k in kinds)
        return CycleDecision(summary=summary, reason=" | ".join(f"{k.kind}: {k.reason}" for k in kinds), verdict=verdict_text(cycle, kinds), kinds=kinds)

    def _decide_kind(self, ev: KindEvaluation, evaluation: CycleEvaluation, probe: ProbeResult) -> KindDecision:
        if ev.version_id is None:
            return KindDecision(kind=ev.kind, reason=ev.no_candidate_reason or "no data", line=f"{ev.kind}: no candidate")
        promoted = ev.passed and probe.passed
        probe_note = "" if probe.passed else f"; agent probe: {probe.skipped or probe.summary}"
        probe_seen = f"; agent {probe.summary}" if probe.passed and probe.stats is not None else ""
        reason = ev.reason + (probe_seen if promoted else "" if not ev.passed else probe_note)
        outcome = Outcome.PROMOTED if promoted else ev.outcome if not ev.passed else Outcome.PROBE_DROP
        return KindDecision(kind=ev.kind, version_id=ev.version_id, promoted=promoted, outcome=outcome, reason=reason,
                            line=kind_line(ev, evaluation, promoted, outcome))


# ---- texts ----------------------------------------------------------------------------------------
def dev_note(dev: SuiteGate) -> str:
    return f"dev {dev.metric} {dev.baseline:.4f} -> {dev.candidate:.4f} (delta {dev.delta:+.4f}, 95% CI [{dev.ci_low:+.4f}, {dev.ci_high:+.4f}])"


def guard_note(checks: list[GuardCheck], anchored: bool) -> str:
    """'aila 0.2000 -> 0.2100; lobbying 0.8600 -> 0.8400 REGRESSED[; vs base: ...]'."""

    def notes(pairs) -> str:
        return "; ".join(f"{name} {s.baseline:.4f} -> {s.candidate:.4f}{' REGRESSED' if s.regressed else ''}" for name, s in pairs)

    note = notes((c.name, c.vs_current) for c in checks)
    return f"{note}; vs base: {notes((c.name, c.vs_base) for c in checks)}" if anchored else note


def kind_line(ev: KindEvaluation, evaluation: CycleEvaluation, promoted: bool, outcome: Outcome) -> str:
    """'embedder 0003 promoted: dev 0.5310 -> 0.5710, law tasks held'."""
    if ev.version_id is None:
        return f"{ev.kind}: no candidate"
    short = Candidate(kind=ev.kind, version_id=ev.version_id).short
    # "before" is what the candidate was compared with: for a reranker, the pipeline it would join
    # (this cycle's promoted embedder), not the old champion; that one made a loss read as a gain
    # ("reranker rejected: dev 0.5026 -> 0.5166" against 0.5308, 2026-12-06).
    before = ev.dev.baseline if ev.dev is not None else evaluation.champion.get(evaluation.dev_suite)
    after = (ev.scores or {}).get(evaluation.dev_suite)
    dev_text = f"dev {before:.4f} -> {after:.4f}" if before is not None and after is not None else "dev not scored"
    note = f" ({len(ev.skipped)} law task(s) not scored)" if ev.skipped else ""
    words = LINE_WORDS.get(outcome, ev.reason)
    if ev.paired_with:
        words += f" with reranker {Candidate(kind='reranker', version_id=ev.paired_with).short} (alone, a law task regressed)"
    return f"{ev.kind} {short} {'promoted' if promoted else 'rejected'}: {dev_text}, {words}{note}"


def verdict_text(cycle: int, kinds: list[KindDecision]) -> str:
    return f"cycle {cycle}: " + "; ".join(k.line for k in kinds)


def kinds_of(decision: CycleDecision, evaluation: CycleEvaluation) -> list[KindDecision]:
    """The typed decision per kind; for a payload written before they were stored, rebuilt from its
    summary ('embedder promoted, ...') and the evaluation."""
    if decision.kinds:
        return decision.kinds
    out = []
    for kind in KINDS:
        ev = evaluation.kind(kind)
        promoted = f"{kind} promoted" in decision.summary
        outcome = (Outcome.NO_CANDIDATE if ev.version_id is None else Outcome.PROMOTED if promoted
                   else ev.outcome if not ev.passed else Outcome.PROBE_DROP)
        out.append(KindDecision(kind=kind, version_id=ev.version_id, promoted=promoted, outcome=outcome, reason=ev.reason,
                                line=kind_line(ev, evaluation, promoted, outcome)))
    return out
