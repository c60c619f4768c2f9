"""The `feedback` section of the one config: `feedback.judge` (the LLM judge's own settings object)
and the rules that turn judged traces into labels, pairs and rewards (feedback/harvest.py)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from rag_agent.config_section import Section


class JudgeSettings(Section):
    """`feedback.judge`: how the LLM judge grades (feedback/judge.py, docs/feedback.md). `LLMJudge`
    receives this object itself, and the harvester reads the mode of the judge it is given."""

    section_path = "feedback.judge"

    backend: Literal["llm", "none"] = "llm"
    """"llm": the workspace's LLM judges harvested chunks; "none": no judge (labels from task
    evidence only)."""
    mode: Literal["quote", "pointwise", "quote+pointwise", "passage-first"] = "passage-first"
    """"quote" asks for the clause verbatim and verifies it (listwise "is it relevant?" marked 123/125
    chunks relevant with the 1.5B: no signal); "pointwise" (question-first) uses P(yes) from token
    log-probabilities; "quote+pointwise" does both; "passage-first" is pointwise with the chunk before
    the question, judged chunk-major so consecutive prompts share the [system][chunk] KV prefix.
    Default passage-first (since 2026-12-07): the two pointwise formulations tie on the tuning half
    (AUC 0.929 each, best kappa 0.53 vs 0.49), and on the loop's own 296 judgments passage-first
    cost 0.33x question-first (1.05 vs 3.22 s a judgment, bench/rejudge.py; docs/feedback.md)."""
    batch: int = 4
    """Chunks per judge call in the batched "quote" mode."""
    depth: int = 5
    """Judge the top N of each served ranking (the chunks the agent was shown)."""
    quote_min_match: float = 0.85
    """Share of a quote that must occur in the chunk to count as verified."""
    quote_min_chars: int = 12
    """Shorter quotes ("the Company") verify anywhere, so they do not count."""
    pointwise_relevant: float = 0.7
    """Absolute grading: P(yes) at or above this is grade 2."""
    pointwise_related: float = 0.4
    """Absolute grading: P(yes) at or above this is grade 1."""
    max_tokens_per_chunk: int = 90
    """Quote mode's generation budget per chunk: a quote sentence and a short reason."""


class FeedbackConfig(Section):
    section_path = "feedback"

    judge: JudgeSettings = Field(default_factory=JudgeSettings)
    """The LLM relevance judge."""
    negatives_per_query: int = 8
    """Mined hard negatives kept per query."""
    negative_margin: float = 0.05
    """A mined negative must score this much below the positive."""
    pointwise_grading: Literal["consensus", "relative", "absolute", "calibrated"] = "calibrated"
    """How P(yes) becomes a grade. "absolute": the judge's pointwise thresholds. "relative": by where
    P(yes) stands among the chunks judged for the same question (the 1.5B's P(yes) spanned only
    0.12-0.36 on 36 train chunks, so absolute thresholds labelled nothing). "consensus": like
    relative, but grade 2 only for the question's best-scored chunk when the retriever also served it
    in its top `consensus_max_rank` (with positive_needs_clause, 50 dev tasks: precision 0.667,
    recall 0.571). "calibrated" (default since 2026-11-29): see positive_threshold. On 24 fresh
    TUNING-half dev tasks (bench/judge.py, question-first judge, top 5, 12 of 120 chunks
    gold-relevant) it gave precision 0.60 / recall 0.75 / kappa 0.625 against consensus 0.50 / 0.42 /
    0.40, and it can name a positive the retriever ranked below 2 (consensus never can)."""
    relative_margin: float = 0.1
    """"relative": P(yes) this far above the question's median is grade 2."""
    consensus_margin: float = 0.0
    """"consensus": the best P(yes) this far above the median..."""
    consensus_max_rank: int = 2
    """...and served by the retriever at this rank or better."""
    positive_needs_clause: bool = True
    """No positive from a task whose checked answer says the clause is absent (a verified "No", a
    failed "Yes"). Measured on 50 dev tasks: 16 of the 27 consensus positives sat on such tasks,
    every one of them wrong; on the other 16 tasks the picks were 8/12 gold-relevant."""
    judge_absent_clauses: bool = False
    """Send the LLM judge the chunks of tasks whose checked answer says the clause is absent (see
    positive_needs_clause). Off: nothing in such a contract can be the clause, so their chunks are
    labelled 0 without an LLM call (signal `verified_absent`): the verified negatives the answer
    already gives. In a 58-task loop run (2026-12-07) 33 such tasks took 210 of 388 judgments and
    gave no positive, no usable judged list and no trace-rule pair (their judged grade-1-vs-0 pairs
    compared two chunks that are both not the clause). On: judge them anyway (to measure the judge)."""
    verified_yes_positive: bool = False
    """Raise the judge's best-scored citation of a verified "Yes" to grade 2. Off: on 50 dev tasks it
    doubled recall (0.14 -> 0.29) but only 2 of its 7 picks were gold-relevant."""
    max_pairs_per_rule: int = 25
    """Per task and rule, so one long ranking cannot dominate the set."""
    reward_rewrite_penalty: float = 0.1
    """Task reward = success - min(cap, rewrites*a + fallbacks*b + tokens/1000*c): this is a. Success
    always outranks failure, and among equals the cheaper trajectory wins."""
    reward_fallback_penalty: float = 0.2
    """b of the task reward (per web/second-corpus fallback)."""
    reward_token_penalty: float = 0.01
    """c of the task reward (per 1,000 tokens)."""
    reward_penalty_cap: float = 0.5
    """The cap of the task reward's penalty, below 1 so success outranks failure."""
    fallback_negative_weight: float = 0.3
    """Shown chunks of a task that needed web search: weak negatives of this weight."""
    positive_threshold: float = 0.4
    """"calibrated" grading (calibrated_grades in feedback/judge.py) for the QUESTION-FIRST judge
    (feedback.judge.mode "pointwise"): grade 2 when P(yes) >= this and >= positive_relative x the
    question's best P(yes); no retriever-rank condition. Chosen on the tuning half of dev
    (bench/judge.py --grid over 0.3..0.8 x 0..1; best kappa at 0.4 / 0.9)."""
    positive_relative: float = 0.9
    """See positive_threshold."""
    passage_first_threshold: float = 0.6
    """The same rule for the PASSAGE-FIRST judge (the default mode), whose P(yes) sits on another
    scale: its best on the tuning half was 0.6 / 1.0 (kappa 0.52; docs/feedback.md). Each mode keeps
    its own bar, so switching feedback.judge.mode needs no re-tuning by hand."""
    passage_first_relative: float = 1.0
    """See passage_first_threshold (1.0: only the question's best-scored chunk can be a positive)."""

    def calibrated_rule(self, mode: str | None) -> tuple[float, float]:
        """(P(yes) bar, share of the question's best) of the calibrated rule for judge `mode`."""
        if mode == "passage-first":
            return self.passage_first_threshold, self.passage_first_relative
        return self.positive_threshold, self.positive_relative
