"""The typed records the promotion policy reads and returns (evals/promotion.py decides).

Inputs: `SuiteGate` (one suite's paired bootstrap, evals/gate.py), `ProbeStats` (the agent probe's
paired McNemar result, training/loop_probe.py). Results: `GateDecision` (`evals gate`),
`KindEvaluation` / `CycleEvaluation` (the loop's `evaluate` step), `ProbeResult` (`probe`),
`KindDecision` / `CycleDecision` (`decide`).

The loop stores these in `loop_steps.payload` (json) with `to_dict`; `from_dict` reads them back.
The json keeps the flat shape the loop wrote before this module existed (`embedder_pass`,
`reranker_reason`, `candidate`, ...), so workspaces written by older versions are read as they
are: fields they lack (the outcome, the per-suite comparisons) are derived or left empty.
"""

from __future__ import annotations

from enum import Enum
from typing import Optional

from pydantic import BaseModel, ConfigDict, Field

KINDS = ("embedder", "reranker")
SCORES_KEY = {"embedder": "candidate", "reranker": "reranked"}  # payload key of each kind's suite scores


class Record(BaseModel):
    model_config = ConfigDict(extra="ignore")  # a payload may carry keys of other versions

    def to_dict(self) -> dict:
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, data: dict):
        return cls.model_validate(data)


class Outcome(str, Enum):
    """Why a candidate ends where it does (stored by value in the payloads)."""

    NO_CANDIDATE = "no_candidate"  # train produced none (too little feedback)
    DEV_NOT_SIGNIFICANT = "dev_not_significant"  # the dev suite's 95% CI of the rise does not lie above 0
    REGRESSED_VS_CHAMPION = "regressed_vs_champion"  # a law task dropped significantly against the current pipeline
    REGRESSED_VS_BASE = "regressed_vs_base"  # ... against the base models (training.loop.guard_against_base)
    RETRIEVAL_PASSED = "retrieval_passed"  # evaluate's verdict before the probe
    PROBE_DROP = "probe_drop"  # the agent probe found a significant drop
    PROMOTED = "promoted"

    @property
    def regressed(self) -> bool:
        return self in (Outcome.REGRESSED_VS_CHAMPION, Outcome.REGRESSED_VS_BASE)


# ---- inputs: statistics ---------------------------------------------------------------------------
class SuiteGate(Record):
    """One suite, candidate vs baseline, over the queries both scored (evals/gate.py)."""

    suite: str  # "<suite>/<split>"
    metric: str
    n_queries: int  # queries both results scored
    baseline: float  # mean over the shared queries
    candidate: float
    delta: float
    ci_low: float
    ci_high: float
    p_not_worse: float  # bootstrap P(mean delta >= -tolerance)
    regressed: bool  # PromotionPolicy.suite_regressed


class ProbeStats(Record):
    """The agent probe: both pipelines on the same held-back tasks (training/loop_probe.py)."""

    tasks: int  # tasks both pipelines have an outcome for
    champion_successes: int
    proposed_successes: int
    only_champion: int  # b
    only_proposed: int  # c
    difference: float  # (c - b) / tasks: proposed - champion success rate
    ci_low: float
    ci_high: float
    p_drop: float  # exact one-sided McNemar p-value for "proposed is worse"
    veto: bool  # PromotionPolicy.probe_vetoes

    @property
    def text(self) -> str:
        return (f"probe {self.proposed_successes}/{self.tasks} vs champion {self.champion_successes}/{self.tasks}: "
                f"difference {self.difference:+.2f} (95% CI [{self.ci_low:+.2f}, {self.ci_high:+.2f}], p(drop)={self.p_drop:.3g})")


# ---- `evals gate` ---------------------------------------------------------------------------------
class GateDecision(Record):
    passed: bool
    tolerance: float
    alpha: float
    suites: list[SuiteGate] = []
    unpaired: list[str] = []  # suites only one side has (not gated)

    @property
    def message(self) -> str:
        failed = [s for s in self.suites if s.regressed]
        if not failed:
            return f"gate passed: no suite dropped by more than {self.tolerance} with significance (alpha {self.alpha})"
        worst = ", ".join(f"{s.suite} {s.metric} {s.baseline:.4f} -> {s.candidate:.4f} (delta {s.delta:+.4f}, p={s.p_not_worse:.3g})" for s in failed)
        return f"gate FAILED: {worst}"

    def to_dict(self) -> dict:
        return super().to_dict() | {"message": self.message}


# ---- the loop's `evaluate` step -------------------------------------------------------------------
class Candidate(Record):
    """What `train` produced for one kind: a registered version, or why there is none."""

    kind: str
    version_id: Optional[str] = None
    reason: str = ""  # why there is no candidate

    @classmethod
    def from_train(cls, kind: str, train: dict) -> Candidate:
        """From the `train` step's payload ({kind: ModelVersion.to_dict() or {version_id: None, reason}})."""
        entry = train.get(kind) or {}
        version_id = entry.get("version_id")
        return cls(kind=kind, version_id=version_id, reason="" if version_id else entry.get("reason", "no data"))

    @property
    def short(self) -> str:
        """'0003' of 'embedder-0003-a1b2c3'."""
        version = self.version_id or ""
        return version.split("-")[1] if version.count("-") >= 2 else version


class GuardCheck(Record):
    """One law task: the candidate against the current pipeline and (with the anchor) the base."""

    name: str  # the suite's name, as the reason shows it
    vs_current: SuiteGate
    vs_base: Optional[SuiteGate] = None


class KindEvaluation(Record):
    """The retrieval verdict on one kind's candidate (PromotionPolicy.retrieval_verdict)."""

    kind: str
    version_id: Optional[str] = None
    passed: bool = False
    outcome: Outcome = Outcome.NO_CANDIDATE
    reason: str = "no candidate"  # the statistics, recorded in the registry
    no_candidate_reason: str = ""  # why train produced no candidate (too little feedback ...)
    scores: Optional[dict[str, float]] = None  # NDCG@10 of the candidate's pipeline per scored suite; None: no candidate
    skipped: Optional[list[str]] = None  # law tasks left unscored once the verdict was decided
    tolerance: Optional[float] = None  # of the guard comparisons (dev is compared with tolerance 0)
    dev: Optional[SuiteGate] = None
    guards: list[GuardCheck] = []
    paired_with: Optional[str] = None  # an embedder that passed only together with this reranker (promoted with it)

    @property
    def held(self) -> bool | None:
        """Did every scored law task hold? None: they were not scored (no candidate, or dev decided)."""
        if self.outcome in (Outcome.NO_CANDIDATE, Outcome.DEV_NOT_SIGNIFICANT):
            return None
        return not self.outcome.regressed

    def to_flat(self) -> dict:
        """The payload keys of this kind (the loop's flat evaluate payload)."""
        k = self.kind
        out = {f"{k}_pass": self.passed, f"{k}_reason": self.reason, f"{k}_version": self.version_id, f"{k}_outcome": self.outcome.value,
               f"{k}_no_candidate": self.no_candidate_reason, f"{k}_paired_with": self.paired_with,
               f"{k}_gates": {"tolerance": self.tolerance, "dev": self.dev.to_dict() if self.dev else None,
                              "guards": [g.to_dict() for g in self.guards]}}
        if self.scores is not None:
            out[SCORES_KEY[k]] = self.scores
            out[f"{k}_skipped"] = self.skipped or []
        return out

    @classmethod
    def from_flat(cls, kind: str, data: dict, candidate: Candidate | None = None) -> KindEvaluation:
        reason = data.get(f"{kind}_reason", "no candidate")
        passed = bool(data.get(f"{kind}_pass", False))
        version_id = data.get(f"{kind}_version") or (candidate.version_id if candidate else None)
        gates = data.get(f"{kind}_gates") or {}
        outcome = data.get(f"{kind}_outcome") or _legacy_outcome(passed, reason, version_id is not None or SCORES_KEY[kind] in data)
        no_candidate = data.get(f"{kind}_no_candidate") or (candidate.reason if candidate else "")
        return cls(kind=kind, version_id=version_id, passed=passed, outcome=outcome, reason=reason, no_candidate_reason=no_candidate,
                   scores=data.get(SCORES_KEY[kind]),
                   skipped=data.get(f"{kind}_skipped"), tolerance=gates.get("tolerance"), dev=gates.get("dev"), guards=gates.get("guards", []),
                   paired_with=data.get(f"{kind}_paired_with"))


def _legacy_outcome(passed: bool, reason: str, judged: bool) -> Outcome:
    """The outcome of a payload written before outcomes were stored, read from its reason text
    (the wording the gate has always used)."""
    if passed:
        return Outcome.RETRIEVAL_PASSED
    if not judged:
        return Outcome.NO_CANDIDATE
    if "did not rise" in reason:
        return Outcome.DEV_NOT_SIGNIFICANT
    if "regressed" in reason:
        current, _, vs_base = reason.partition("vs base:")
        return Outcome.REGRESSED_VS_CHAMPION if "REGRESSED" in current or "REGRESSED" not in vs_base else Outcome.REGRESSED_VS_BASE
    return Outcome.NO_CANDIDATE


class ProposedPipeline(Record):
    """The pipeline the probe tries: the champions, with each candidate that passed in its place."""

    embedder_path: Optional[str] = None
    reranker_path: Optional[str] = None  # "none": no reranker


class CycleEvaluation(Record):
    """The `evaluate` step: the champion's scores and the verdict on each candidate."""

    dev_suite: str = ""
    rerank_depth: Optional[int] = None
    champion: dict[str, float] = {}  # NDCG@10 of the champion pipeline (before the cycle) per suite
    base: Optional[dict[str, float]] = None  # the base models, on the law tasks scored against them
    embedder: KindEvaluation = Field(default_factory=lambda: KindEvaluation(kind="embedder"))
    reranker: KindEvaluation = Field(default_factory=lambda: KindEvaluation(kind="reranker"))
    proposed: ProposedPipeline = Field(default_factory=ProposedPipeline)
    evaluated_now: list[str] = []  # suite results this step had to compute (the rest came from disk)
    unused: dict[str, str] = {}  # candidates trained but not judged (version id -> why): `decide` rejects them
    one_off_s: Optional[float] = None  # seconds spent scoring the champion and base pipelines (never repeated); None: not recorded

    def kind(self, kind: str) -> KindEvaluation:
        return self.embedder if kind == "embedder" else self.reranker

    @property
    def any_passed(self) -> bool:
        return self.embedder.passed or self.reranker.passed

    def registry_metrics(self, kind: str) -> dict:
        """What the registry records with the decision on `kind`."""
        return {"eval": self.kind(kind).scores or {}}

    def proposed_scores(self) -> dict[str, float]:
        """Suites of the proposed pipeline: the candidate reranker's if it passed, else the
        candidate embedder's, else the champion's; suites a decided candidate left unscored come
        from the champion."""
        for kind in ("reranker", "embedder"):
            if self.kind(kind).passed:
                return self.champion | (self.kind(kind).scores or {})
        return self.champion

    def to_dict(self) -> dict:
        out = {"dev_suite": self.dev_suite, "rerank_depth": self.rerank_depth, "champion": self.champion, "proposed": self.proposed.to_dict(),
               "metrics": {k: self.registry_metrics(k) for k in KINDS}, "evaluated_now": self.evaluated_now,
               "unused_candidates": self.unused, "one_off_s": self.one_off_s}
        if self.base is not None:
            out["base"] = self.base
        for kind in KINDS:
            out.update(self.kind(kind).to_flat())
        return out

    @classmethod
    def from_dict(cls, data: dict, train: dict | None = None) -> CycleEvaluation:
        """`train`: the cycle's train payload, naming the candidates (older payloads lack them)."""
        kinds = {k: KindEvaluation.from_flat(k, data, Candidate.from_train(k, train) if train is not None else None) for k in KINDS}
        return cls(dev_suite=data.get("dev_suite", ""), rerank_depth=data.get("rerank_depth"), champion=data.get("champion", {}),
                   base=data.get("base"), proposed=data.get("proposed") or {}, evaluated_now=data.get("evaluated_now", []),
                   unused=data.get("unused_candidates") or {}, one_off_s=data.get("one_off_s"), **kinds)


# ---- the loop's `probe` step ----------------------------------------------------------------------
class ProbeRun(Record):
    run_id: str = ""
    successes: int = 0
    labelled: int = 0


class ProbeResult(Record):
    """The agent probe's result; `passed` False vetoes every candidate of the cycle."""

    passed: bool
    skipped: str = ""  # why the probe did not run
    champion: Optional[ProbeRun] = None
    proposed: Optional[ProbeRun] = None
    stats: Optional[ProbeStats] = None
    text: str = ""

    @property
    def summary(self) -> str:
        """The paired result in words (older payloads may hold only the counts)."""
        if self.text or self.proposed is None or self.champion is None:
            return self.text
        return f"proposed {self.proposed.successes}/{self.proposed.labelled} vs champion {self.champion.successes}/{self.champion.labelled}"

    def to_dict(self) -> dict:
        if self.stats is None and self.champion is None:
            return {"skipped": self.skipped, "pass": self.passed}
        return {"champion": self.champion.to_dict() if self.champion else None, "proposed": self.proposed.to_dict() if self.proposed else None,
                "stats": self.stats.to_dict() if self.stats else None, "text": self.text, "pass": self.passed}

    @classmethod
    def from_dict(cls, data: dict) -> ProbeResult:
        return cls(passed=bool(data.get("pass", False)), skipped=data.get("skipped") or "", champion=data.get("champion"),
                   proposed=data.get("proposed"), stats=data.get("stats"), text=data.get("text") or "")


# ---- the loop's `decide` step ---------------------------------------------------------------------
class KindDecision(Record):
    kind: str
    version_id: Optional[str] = None
    promoted: bool = False
    outcome: Outcome = Outcome.NO_CANDIDATE
    reason: str = ""  # recorded in the registry: the statistics, and the probe's result
    line: str = ""  # one readable line, e.g. "embedder 0003 promoted: dev 0.5310 -> 0.5710, law tasks held"


class CycleDecision(Record):
    """The `decide` step. `summary`, `reason` and `verdict` are stored as written (older payloads
    have only those); `kinds` holds the typed decision per model kind."""

    summary: str = ""  # "embedder promoted, reranker rejected"
    reason: str = ""  # "embedder: <reason> | reranker: <reason>"
    verdict: str = ""  # "cycle 2: <embedder line>; <reranker line>"
    kinds: list[KindDecision] = []

    def kind(self, kind: str) -> KindDecision | None:
        return next((k for k in self.kinds if k.kind == kind), None)

    def to_dict(self) -> dict:
        return {"summary": self.summary, "reason": self.reason, "verdict": self.verdict, "kinds": [k.to_dict() for k in self.kinds]}

    @classmethod
    def from_dict(cls, data: dict) -> CycleDecision:
        return cls(summary=data.get("summary", ""), reason=data.get("reason", ""), verdict=data.get("verdict", ""), kinds=data.get("kinds", []))
