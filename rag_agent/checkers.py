"""Task answer checkers: does a predicted answer mean the same as the gold answer?

`check(answer_type, predicted, gold)` never sees evidence, only the two answers. `success` is
None when the task cannot be scored (no gold, or a gold that names nothing checkable).

date    Every date written in the prediction (numeric US M/D/Y, ISO Y-M-D, "May 8, 2014",
        "8th day of May, 2014", "the 8th of May 2014", "May 2014" ...) is extracted; success if one
        equals the gold on every component the gold gives. CUAD gold is M/D/YY with "[]" for a
        component the contract left blank ("02/[]/2017"), "perpetual", or alternatives joined by
        ";" (any one suffices). Numeric dates are read month first (CUAD is US), unless the first
        number cannot be a month. Two-digit years pivot: 00-49 -> 2000s, 50-99 -> 1900s.
yes_no  The first yes/no word of the prediction ("yes", "no", "true", "false"). A prediction
        that never says yes or no fails; negations in prose ("does not") are not guessed at.
text    Both sides are normalised (lower case, no punctuation or articles, number words -> digits,
        "thirty (30)" -> "30", plural "s" dropped); success if the gold phrase occurs in the
        prediction, the prediction occurs in the gold covering at least MIN_COVERAGE of it, or
        the gold occurs in the prediction word by word with each word at least WORD_SIMILARITY
        alike (typos such as "succesive"). Numbers must match exactly ("30 days" is not
        "90 days"). Gold alternatives joined by ";" or " / " each suffice, and so does the first
        comma part of one ("Ontario" for "Ontario, Canada").
        A gold of only "Yes"/"No" is checked as yes_no.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

# A prediction found inside the gold must carry more than half of its words: "1 year" for
# "successive 1 year" passes, "York" for "New York" does not. ("Ontario" for "Ontario, Canada"
# passes through the first-comma-part rule, not this one.)
MIN_COVERAGE = 0.6
# difflib ratio two words need to count as the same word: catches one-letter typos in words of
# 6+ letters ("succesive"/"successive" 0.95, "sucessive" 0.95) but not "month"/"months" merges
# (handled by plural stripping) nor different words ("york"/"work" 0.75).
WORD_SIMILARITY = 0.85
TWO_DIGIT_PIVOT = 50  # YY < 50 -> 20YY, else 19YY


@dataclass
class CheckResult:
    success: bool | None
    reason: str
    normalized_predicted: str = ""
    normalized_gold: str = ""


def check(answer_type: str, predicted: str | None, gold: str | None) -> CheckResult:
    if gold is None or not str(gold).strip():
        return CheckResult(None, "task has no gold answer", _flat(predicted), "")
    predicted = "" if predicted is None else str(predicted)
    if answer_type == "date":
        return check_date(predicted, gold)
    if answer_type == "yes_no":
        return check_yes_no(predicted, gold)
    if answer_type == "text":
        return check_text(predicted, gold)
    raise ValueError(f"answer_type {answer_type!r}: expected date, yes_no or text")


# ---- yes/no --------------------------------------------------------------------------------------
_YES = {"yes", "true"}
_NO = {"no", "false"}  # not "n": "N/A" is no answer


def yes_no_of(text: str) -> str | None:
    """'yes' or 'no' from the first yes/no word of `text`; None if it never says either."""
    for word in re.findall(r"[a-z]+", text.lower()):
        if word in _YES:
            return "yes"
        if word in _NO:
            return "no"
    return None


def check_yes_no(predicted: str, gold: str) -> CheckResult:
    want = yes_no_of(gold)
    if want is None:
        return CheckResult(None, f"gold {gold!r} is not yes/no", _flat(predicted), _flat(gold))
    got = yes_no_of(predicted)
    if got is None:
        return CheckResult(False, "prediction says neither yes nor no", "", want)
    return CheckResult(got == want, f"predicted {got}, gold {want}", got, want)


# ---- dates ---------------------------------------------------------------------------------------
_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"), ("may",), ("june", "jun"),
            ("july", "jul"), ("august", "aug"), ("september", "sep", "sept"), ("october", "oct"), ("november", "nov"), ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
_ORDINAL_WORDS = {
    w: i
    for i, w in enumerate(
        "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth thirteenth fourteenth fifteenth "
        "sixteenth seventeenth eighteenth nineteenth twentieth".split(),
        start=1,
    )
}
_ORDINAL_WORDS.update({f"twenty-{w}": 20 + i for w, i in list(_ORDINAL_WORDS.items())[:9]})
_ORDINAL_WORDS.update({"thirtieth": 30, "thirty-first": 31})

_MONTH = r"(?P<month>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\b\.?"
# "(1st)" and "7t h" (a PDF-extraction split) occur in CUAD contracts and so in quoting answers.
_DAY = r"\(?(?P<day>\d{1,2}|" + "|".join(sorted(_ORDINAL_WORDS, key=len, reverse=True)) + r")(?:st|nd|rd|th|t\sh)?\)?"
_YEAR = r"(?P<year>\d{4}|'\d{2})"
_BLANK = r"(?:_+|\[\s*\]|\*+)"  # a blank left in the contract ("____ day of")
_DATE_PATTERNS = [
    # ISO 2014-05-08 / 2014/05/08
    re.compile(r"\b(?P<year>\d{4})[-/](?P<month>\d{1,2})[-/](?P<day>\d{1,2})\b"),
    # numeric, month first: 5/8/14, 05-08-2014, 02/[]/2017 (not "1.2.14": that is a section number)
    re.compile(r"(?<![\d/])(?P<month>\d{1,2}|\[\])[/-](?P<day>\d{1,2}|\[\])[/-](?P<year>\d{4}|\d{2}|\[\])(?![\d/])"),
    # the 8th (day) of May, 2014 / 16 day of August. 2012 / ____ day of May 2014
    re.compile(r"\b(?:" + _DAY + r"|" + _BLANK + r")\s*(?:day\s+)?(?:of\s+)?" + _MONTH + r"[\s,.]*(?:in\s+the\s+year\s+)?" + _YEAR, re.I),
    # May 8, 2014 / May 8th 2014 / May ___, 2014
    re.compile(r"\b" + _MONTH + r"\s*(?:" + _DAY + r"|" + _BLANK + r")?[\s,.]+(?:" + _YEAR + r")", re.I),
    # a bare year: only ever agrees with a gold that gives the year alone ("[]/[]/2004")
    re.compile(r"(?<![\d/])(?P<year>(?:19|20)\d{2})(?![\d/])"),
]


@dataclass(frozen=True)
class PartialDate:
    """A calendar date with None for what was left blank."""

    year: int | None
    month: int | None
    day: int | None

    def __str__(self) -> str:
        def part(v: int | None, width: int) -> str:
            return "?" * width if v is None else str(v).zfill(width)

        return f"{part(self.year, 4)}-{part(self.month, 2)}-{part(self.day, 2)}"

    def agrees_with(self, gold: PartialDate) -> bool:
        """Equal on every component the gold gives; a component the prediction omits never agrees."""
        return all(g is None or g == p for g, p in ((gold.year, self.year), (gold.month, self.month), (gold.day, self.day)))

    @property
    def empty(self) -> bool:
        return self.year is None and self.month is None and self.day is None


def _year(text: str | None) -> int | None:
    if not text or "[" in text:
        return None
    digits = text.lstrip("'")
    value = int(digits)
    if len(digits) == 2:
        value += 2000 if value < TWO_DIGIT_PIVOT else 1900
    return value


def _number(text: str | None) -> int | None:
    if not text or "[" in text or "_" in text or "*" in text:
        return None
    low = text.lower()
    if low in _MONTHS:
        return _MONTHS[low]
    if low in _ORDINAL_WORDS:
        return _ORDINAL_WORDS[low]
    return int(re.sub(r"\D", "", text)) if re.search(r"\d", text) else None


def extract_dates(text: str) -> list[PartialDate]:
    """Every date written in `text`, in order of appearance (impossible dates dropped)."""
    found: list[tuple[int, PartialDate]] = []
    taken: list[range] = []
    for pattern in _DATE_PATTERNS:
        for m in pattern.finditer(text):
            span = range(m.start(), m.end())
            if any(span.start < t.stop and t.start < span.stop for t in taken):
                continue  # a more specific pattern already read this stretch
            fields = m.groupdict()
            month, day, year = _number(fields.get("month")), _number(fields.get("day")), _year(fields.get("year"))
            if month is not None and month > 12 and day is not None and day <= 12 and pattern is _DATE_PATTERNS[1]:
                month, day = day, month  # 25/12/2014 can only be day first
            date = PartialDate(year, month, day)
            if (month is not None and not 1 <= month <= 12) or (day is not None and not 1 <= day <= 31) or date.empty:
                continue
            taken.append(span)
            found.append((m.start(), date))
    return [d for _, d in sorted(found, key=lambda pair: pair[0])]


_PERPETUAL = re.compile(r"\b(perpetual\w*|perpetuity|indefinite\w*|in\s+perpetuum)\b", re.I)


def check_date(predicted: str, gold: str) -> CheckResult:
    alternatives = [a.strip() for a in gold.split(";") if a.strip()]
    gold_dates: list[PartialDate] = []
    wants_perpetual = False
    for alternative in alternatives:
        if _PERPETUAL.search(alternative):
            wants_perpetual = True
        gold_dates += [d for d in extract_dates(alternative) if d.year is not None or d.month is not None or d.day is not None]
    predicted_dates = extract_dates(predicted)
    norm_pred = ", ".join(map(str, predicted_dates)) + (" perpetual" if _PERPETUAL.search(predicted) else "")
    norm_gold = ", ".join(map(str, gold_dates)) + (" perpetual" if wants_perpetual else "")
    if not gold_dates and not wants_perpetual:
        return CheckResult(None, f"gold {gold!r} names no checkable date", norm_pred, norm_gold)
    if wants_perpetual and _PERPETUAL.search(predicted):
        return CheckResult(True, "both say perpetual", norm_pred, norm_gold)
    for got in predicted_dates:
        for want in gold_dates:
            if got.agrees_with(want):
                return CheckResult(True, f"predicted date {got} matches gold {want}", norm_pred, norm_gold)
    if not predicted_dates:
        return CheckResult(False, "no date found in the prediction", norm_pred, norm_gold)
    return CheckResult(False, f"predicted {norm_pred} does not match gold {norm_gold}", norm_pred, norm_gold)


# ---- free text -----------------------------------------------------------------------------------
_UNITS = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split()
_TENS = {w: 10 * i for i, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split(), start=2)}
_NUMBER_WORDS = {w: i for i, w in enumerate(_UNITS)} | _TENS
_ARTICLES = {"a", "an", "the"}
# Words that carry no meaning of their own in CUAD text answers: "the State of Delaware" means
# "Delaware". Dropped from both sides before matching.
_FILLER = _ARTICLES | {"of", "state", "commonwealth", "province", "laws", "law", "and", "or", "each", "period", "periods", "term", "terms"}
# Same meaning, different words; applied to both sides.
_ALIASES = {
    "prc": "people republic china", "uk": "united kingdom", "usa": "united states", "us": "united states",
    "english": "england", "annual": "1 year", "annually": "1 year", "yearly": "1 year",
    "perpetuity": "perpetual", "perpetually": "perpetual", "indefinite": "perpetual", "indefinitely": "perpetual",
}


def normalize_text(text: str) -> list[str]:
    """Lower-cased words without punctuation, number words as digits, repeated numbers merged
    ("thirty (30)" -> "30"), plural "s" dropped, aliases expanded."""
    text = text.lower().replace("-", " ").replace("'s", "")
    words = re.findall(r"[a-z]+|\d+(?:\.\d+)?", text)
    words = _merge_number_words(words)
    out: list[str] = []
    for word in words:
        if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
            word = word[:-1]
        for part in _ALIASES.get(word, word).split():
            if out and part.isdigit() and out[-1] == part:
                continue  # "one (1) year" -> "1 1 year" -> "1 year"
            if part == "month" and out and out[-1].isdigit() and int(out[-1]) % 12 == 0 and int(out[-1]) > 0:
                out[-1], part = str(int(out[-1]) // 12), "year"  # "12 months" is "1 year", both sides
            out.append(part)
    return out


def _merge_number_words(words: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        if word in _NUMBER_WORDS:
            value = _NUMBER_WORDS[word]
            if word in _TENS and i + 1 < len(words) and words[i + 1] in _UNITS[1:10]:
                value += _NUMBER_WORDS[words[i + 1]]
                i += 1
            if i + 1 < len(words) and words[i + 1] == "hundred":
                value *= 100
                i += 1
                if i + 1 < len(words) and words[i + 1] in _NUMBER_WORDS:
                    rest = _merge_number_words(words[i + 1 : i + 3])[0]
                    if rest.isdigit():
                        value += int(rest)
                        i += 2 if words[i + 1] in _TENS and i + 2 < len(words) and words[i + 2] in _UNITS[1:10] else 1
            out.append(str(value))
        else:
            out.append(word)
        i += 1
    return out


def _content(words: list[str]) -> list[str]:
    return [w for w in words if w not in _FILLER]


def _contains(haystack: list[str], needle: list[str]) -> bool:
    n = len(needle)
    return n > 0 and any(haystack[i : i + n] == needle for i in range(len(haystack) - n + 1))


def _contains_alike(haystack: list[str], needle: list[str]) -> bool:
    """`needle` occurs in `haystack` word by word in order, each word alike (numbers equal)."""
    n = len(needle)
    return any(all(_same_word(w, h) for w, h in zip(needle, haystack[i : i + n])) for i in range(len(haystack) - n + 1))


def _same_word(a: str, b: str) -> bool:
    if a.isdigit() or b.isdigit():
        return a == b
    return a == b or (min(len(a), len(b)) >= 5 and difflib.SequenceMatcher(None, a, b).ratio() >= WORD_SIMILARITY)


def check_text(predicted: str, gold: str) -> CheckResult:
    if gold.strip().lower().rstrip(".") in ("yes", "no"):
        return check_yes_no(predicted, gold)
    pred = _content(normalize_text(predicted))
    alternatives = []
    for alternative in re.split(r";|\s/\s", gold):
        # "England, United Kingdom": the first comma part is the specific answer, the rest qualifies it.
        for variant in (alternative, alternative.split(",")[0]):
            words = _content(normalize_text(variant))
            if words and words not in alternatives:
                alternatives.append(words)
    norm_pred, norm_gold = " ".join(pred), " | ".join(" ".join(a) for a in alternatives)
    if not alternatives:
        return CheckResult(None, f"gold {gold!r} names nothing checkable", norm_pred, norm_gold)
    if not pred:
        return CheckResult(False, "prediction is empty after normalisation", norm_pred, norm_gold)
    for want in alternatives:
        label = " ".join(want)
        if _contains(pred, want):
            return CheckResult(True, f"gold {label!r} occurs in the prediction", norm_pred, norm_gold)
        if _contains(want, pred) and len(pred) / len(want) >= MIN_COVERAGE:
            return CheckResult(True, f"prediction occurs in gold {label!r}", norm_pred, norm_gold)
        if _contains_alike(pred, want):
            return CheckResult(True, f"gold {label!r} occurs in the prediction up to typos", norm_pred, norm_gold)
    return CheckResult(False, f"prediction {norm_pred[:80]!r} does not contain gold {norm_gold[:80]!r}", norm_pred, norm_gold)


def _flat(text: str | None) -> str:
    return " ".join(str(text or "").split())
