"""The one rule that splits the CUAD dev contracts into a tuning half and a reporting half.

Rules and thresholds (judge formulations, grading rules, the agent's grade threshold) are chosen
on the tuning half only; figures are reported on the reporting half, so no reported figure comes
from the tasks a rule was tuned on. The split is by contract (tasks of one contract share text)
and deterministic: the last hex digit of sha256(doc_id) even -> tuning, odd -> reporting.
"""

from __future__ import annotations

import hashlib
from typing import Literal

Half = Literal["tuning", "reporting"]
HALVES: tuple[Half, Half] = ("tuning", "reporting")


def dev_half(doc_id: str) -> Half:
    """Which half of the dev split a contract belongs to."""
    last = int(hashlib.sha256(doc_id.encode("utf-8")).hexdigest()[-1], 16)
    return "tuning" if last % 2 == 0 else "reporting"


def in_half(doc_id: str, half: str | None) -> bool:
    """True when `half` is None/"all" or the contract lies in that half."""
    if half in (None, "", "all"):
        return True
    if half not in HALVES:
        from rag_agent.errors import ConfigError

        raise ConfigError(f"half={half!r}", "one of tuning, reporting, all", "pass --half tuning|reporting")
    return dev_half(doc_id) == half
