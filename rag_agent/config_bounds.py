"""Which values each numeric config field accepts, checked by every section (rag_agent.config_section)
for every value from a TOML file, `--set` or the Python API.

Every int and float must be finite. Its range comes from `BOUNDS` when the key is listed there,
else from generic rules on the field's name and type, so a field added later is covered without
an entry here: `*_s` durations and `*tolerance*` are >= 0, alphas, fractions, ratios and shares
are in [0, 1], learning rates are > 0, seeds are any integer, other integers are counts >= 0.
An entry in `BOUNDS` is needed only where a count must be >= 1 or a range is narrower.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Range:
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False  # True: lo itself is refused (e.g. a learning rate of 0)
    hi_open: bool = False  # True: hi itself is refused (e.g. a PPO clip of 1 clips nothing)
    why: str = ""  # said in the error, when the range is not self-evident

    def admits(self, value: float) -> bool:
        if self.lo is not None and (value < self.lo or (self.lo_open and value == self.lo)):
            return False
        return self.hi is None or value < self.hi or (value == self.hi and not self.hi_open)

    def describe(self) -> str:
        low = "" if self.lo is None else f"{'>' if self.lo_open else '>='} {self.lo:g}"
        if self.hi is None:
            return f"a number {low}" if low else "a finite number"
        if self.lo is None:
            return f"a number {'<' if self.hi_open else '<='} {self.hi:g}"
        return (f"a number between {self.lo:g}{' (excluded)' if self.lo_open else ''}"
                f" and {self.hi:g}{' (excluded)' if self.hi_open else ''}")


AT_LEAST_1 = Range(1)
COUNT = Range(0)
POSITIVE = Range(0, lo_open=True)
UNIT = Range(0, 1)
ANY = Range()

# Keys whose range the generic rules would get wrong (mostly counts that must be >= 1).
BOUNDS: dict[str, Range] = {
    "chunking.size": AT_LEAST_1,
    "chunking.commit_chunks": AT_LEAST_1,
    "chunking.max_document_bytes": AT_LEAST_1,
    "models.batch_size": AT_LEAST_1,
    "index.hnsw_m": Range(2, why="HNSW needs at least 2 links per node"),
    "index.hnsw_ef_construction": AT_LEAST_1,
    "index.hnsw_ef_search": AT_LEAST_1,
    "llm.temperature": Range(0, 2),
    "llm.max_tokens": AT_LEAST_1,
    "llm.n_ctx": Range(256, why="a prompt with one chunk needs a few hundred tokens"),
    "llm.n_threads": AT_LEAST_1,
    "llm.timeout_s": POSITIVE,
    "agent.retrieve_k": AT_LEAST_1,
    "agent.context_k": AT_LEAST_1,
    "agent.workers": AT_LEAST_1,
    "agent.passage_chars": AT_LEAST_1,
    "agent.web_timeout_s": POSITIVE,
    "agent.answer_max_tokens": AT_LEAST_1,
    "agent.max_consecutive_failures": AT_LEAST_1,
    "eval.k": AT_LEAST_1,
    "eval.retrieve_k": AT_LEAST_1,
    "eval.overlap_fraction": Range(0, 1, lo_open=True),
    "gate.bootstrap_samples": AT_LEAST_1,
    "gate.alpha": Range(0, 1, lo_open=True),
    "feedback.judge.batch": AT_LEAST_1,
    "feedback.judge.depth": AT_LEAST_1,
    "feedback.judge.quote_min_match": UNIT,
    "feedback.judge.pointwise_relevant": UNIT,
    "feedback.judge.pointwise_related": UNIT,
    "feedback.judge.max_tokens_per_chunk": AT_LEAST_1,
    "feedback.consensus_max_rank": AT_LEAST_1,
    "feedback.relative_margin": UNIT,
    "feedback.consensus_margin": UNIT,
    "feedback.negative_margin": COUNT,
    "feedback.reward_penalty_cap": Range(0, 1, why="success must outrank failure"),
    "feedback.fallback_negative_weight": UNIT,
    "training.embedder.epochs": AT_LEAST_1,
    "training.embedder.batch_size": Range(2, why="the other examples of a batch are its negatives"),
    "training.embedder.temperature": POSITIVE,
    "training.embedder.max_seq_length": AT_LEAST_1,
    "training.embedder.distill_weight": COUNT,
    "training.reranker.epochs": AT_LEAST_1,
    "training.reranker.max_length": AT_LEAST_1,
    "training.reranker.batch_size": AT_LEAST_1,
    "training.reranker.base_temperature": POSITIVE,
    "training.reranker.head_lr_scale": POSITIVE,
    "training.distill.teacher_temperature": POSITIVE,
    "training.distill.queries_per_step": AT_LEAST_1,
    "training.dpo.beta": POSITIVE,
    "training.ppo.clip": Range(0, 1, lo_open=True, hi_open=True),
    "training.ppo.kl_coef": COUNT,
    "training.ppo.samples": Range(2, why="the baseline averages over the sampled group"),
    "training.ppo.top_k": AT_LEAST_1,
    "training.ppo.epochs": AT_LEAST_1,
    "training.ppo.queries_per_step": AT_LEAST_1,
    "training.lexical.k1": COUNT,
    "training.lexical.b": UNIT,
    "training.lexical.steps": AT_LEAST_1,
    "training.lexical.pair_margin": UNIT,
    "training.data.positive_grade": Range(0, 3, why="judge grades run 0..3"),
    "feedback.positive_threshold": Range(0, 1, why="a P(yes)"),
    "feedback.positive_relative": Range(0, 1, why="a share of the question's best P(yes)"),
    "feedback.passage_first_threshold": Range(0, 1, why="a P(yes)"),
    "feedback.passage_first_relative": Range(0, 1, why="a share of the question's best P(yes)"),
    "training.data.supervised_top_k": AT_LEAST_1,
    "training.loop.tasks_per_cycle": AT_LEAST_1,
    "training.loop.contracts_per_cycle": AT_LEAST_1,
}

_UNIT_WORDS = ("alpha", "fraction", "ratio", "share", "probability")


def bound_for(key: str, kind: type) -> Range:
    """The accepted range of numeric config key `key` (`section.name`) of type `kind`."""
    if key in BOUNDS:
        return BOUNDS[key]
    name = key.rsplit(".", 1)[-1]
    if name == "seed" or name.endswith("_seed"):
        return ANY
    if name == "lr" or name.endswith("_lr"):
        return POSITIVE
    if any(word in name.split("_") for word in _UNIT_WORDS):  # words, not substrings: max_regene-ratio-ns is a count
        return UNIT
    if name.endswith("_s") or "tolerance" in name or kind is int:
        return COUNT
    return ANY  # other floats: finite is all we can say


def check_number(key: str, value: int | float, kind: type) -> str | None:
    """What is wrong with `value` for `key` (to be said in a ConfigError), or None when it is fine."""
    if isinstance(value, float) and not math.isfinite(value):
        return "a finite number"
    bound = bound_for(key, kind)
    if bound.admits(value):
        return None
    return bound.describe() + (f" ({bound.why})" if bound.why else "")


def check_consistency(cfg) -> tuple[str, str, str] | None:
    """(value, expected, fix) for a combination of fields that cannot work together, else None."""
    chunking = cfg.chunking
    if chunking.overlap >= chunking.size:
        return (
            f"chunking.overlap={chunking.overlap} with chunking.size={chunking.size}",
            "an overlap smaller than the chunk size",
            "lower chunking.overlap or raise chunking.size",
        )
    return None


def nearest_keys(dotted: str, keys: list[str], n: int = 3) -> list[str]:
    """The `n` known keys nearest to `dotted`, by the whole key and then by its last part alone
    (`agent.worker` and `workers` both find `agent.workers`)."""
    near = difflib.get_close_matches(dotted, keys, n=n, cutoff=0.5)
    leaves = {key.rsplit(".", 1)[-1]: key for key in keys}
    for leaf in difflib.get_close_matches(dotted.rsplit(".", 1)[-1], list(leaves), n=n, cutoff=0.5):
        if len(near) < n and leaves[leaf] not in near:
            near.append(leaves[leaf])
    return near or difflib.get_close_matches(dotted, keys, n=n, cutoff=0.0)
