"""Text evidence checks that need no LLM: answer containment and quote verification.

Both work on normalised tokens (lowercase, alphanumerics only), so punctuation, line breaks and
"ninety (90) days" vs "90 days" do not matter.
"""

from __future__ import annotations

import difflib
import re
from datetime import date, datetime

_TOKEN = re.compile(r"[a-z0-9]+")
MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december"]
_DATE_FORMATS = ("%m/%d/%y", "%m/%d/%Y", "%Y-%m-%d", "%B %d, %Y", "%B %d %Y", "%d %B %Y", "%b %d, %Y", "%d %b %Y")
# An answer longer than this is a sentence, not an extractable value: containment says nothing.
MAX_ANSWER_TOKENS = 12
# Extra tokens allowed between an answer's tokens ("successive one (1) year" for "successive 1 year").
WINDOW_SLACK = 4


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def normalise(text: str) -> str:
    return " ".join(tokens(text))


def _ordinal(day: int) -> str:
    suffix = "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def _parse_date(text: str) -> date | None:
    cleaned = re.sub(r"(\d)(st|nd|rd|th)\b", r"\1", text.strip())
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(cleaned, fmt).date()
        except ValueError:
            continue
    return None


def answer_variants(answer: str | None, answer_type: str | None) -> list[list[str]] | None:
    """Token sequences any of which, found in a chunk, means the chunk states the answer.

    None when containment is not applicable: no answer, a yes/no answer (the words "yes"/"no"
    say nothing about a clause), or a sentence-long answer.
    """
    if not answer or not answer.strip() or (answer_type or "").lower() == "yes_no":
        return None
    if normalise(answer) in ("yes", "no"):
        return None
    if (answer_type or "").lower() == "date":
        parsed = _parse_date(answer)
        if parsed is not None:
            month, day, year = MONTHS[parsed.month - 1], str(parsed.day), str(parsed.year)
            return [
                [month, day, year],
                [day, month, year],
                [_ordinal(parsed.day), month, year],
                [str(parsed.month), day, year],
                [f"{parsed.month:02d}", f"{parsed.day:02d}", year],
            ]
    toks = [t for t in tokens(answer) if t not in ("the", "a", "an")]
    if not toks or len(toks) > MAX_ANSWER_TOKENS or len("".join(toks)) < 3:
        return None
    return [toks]


def contains_sequence(haystack: list[str], needle: list[str], slack: int = WINDOW_SLACK) -> bool:
    """`needle` occurs in order in `haystack` within a window of len(needle) + slack tokens."""
    if not needle:
        return False
    first = needle[0]
    limit = len(needle) + slack
    for start, tok in enumerate(haystack):
        if tok != first:
            continue
        pos, ok = start, True
        for want in needle[1:]:
            try:
                pos = haystack.index(want, pos + 1, start + limit)
            except ValueError:
                ok = False
                break
        if ok:
            return True
    return False


def contains_answer(chunk_text: str, variants: list[list[str]] | None) -> bool | None:
    if variants is None:
        return None
    chunk_tokens = tokens(chunk_text)
    return any(contains_sequence(chunk_tokens, v) for v in variants)


def quote_match(quote: str, chunk_text: str, min_chars: int) -> float:
    """Share of the (normalised) quote found verbatim in the chunk, 0..1; 0 for too-short quotes.

    Exact substrings score 1; otherwise difflib's matching blocks measure how much of the quote
    the chunk really contains, so small transcription slips still verify but invented text does not.
    """
    q, c = normalise(quote), normalise(chunk_text)
    if len(q) < min_chars:
        return 0.0
    if q in c:
        return 1.0
    matcher = difflib.SequenceMatcher(None, q, c, autojunk=False)
    # Only blocks of a few characters count: single letters match anywhere.
    matched = sum(block.size for block in matcher.get_matching_blocks() if block.size >= 4)
    return matched / len(q)
