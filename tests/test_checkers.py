"""Answer checkers on real CUAD gold answers and hand-written paraphrases, negatives included."""

from __future__ import annotations

import json
import random

import pytest

from rag_agent.checkers import check, extract_dates, normalize_text

# (gold as CUAD writes it, prediction, expected success)
DATE_CASES = [
    ("5/8/14", "5/8/14", True),
    ("5/8/14", "05/08/2014", True),
    ("5/8/14", "May 8, 2014", True),
    ("5/8/14", "This Agreement is made on the 8th day of May, 2014.", True),
    ("5/8/14", "the 8th of May 2014", True),
    ("5/8/14", "2014-05-08", True),
    ("5/8/14", "Effective as of May 8th 2014", True),
    ("8/16/12", "16 day of August. 2012", True),  # real CUAD evidence text
    ("1/1/96", "(1st)  day of January, 1996", True),  # real CUAD evidence text
    ("4/7/20", "7t h day of April, 2020.", True),  # real CUAD evidence text (PDF split)
    ("8/1/11", "1 August 2011", True),
    ("3/31/98", "dated the thirty-first day of March, 1998", True),
    ("6/11/15", "The agreement was signed on June 11, 2015, and runs two years.", True),
    ("2/28/50", "February 28, 1950", True),  # pivot: 50 -> 1900s
    ("2/28/49", "February 28, 2049", True),  # pivot: 49 -> 2000s
    ("02/[]/2017", "February ____, 2017", True),  # day left blank in the contract
    ("02/[]/2017", "February 2017", True),
    ("[]/[]/2004", "this ___ day of _________, 2004", True),
    ("09/01/2006; 8/31/2007", "August 31, 2007", True),  # any alternative
    ("perpetual", "The agreement continues in perpetuity.", True),
    ("09/05/2019; perpetual", "It runs indefinitely.", True),
    # negatives
    ("5/8/14", "May 9, 2014", False),  # wrong day
    ("5/8/14", "August 5, 2014", False),  # day/month swapped
    ("5/8/14", "8/5/14", False),  # numeric dates are month first
    ("5/8/14", "May 8, 2015", False),  # wrong year
    ("5/8/14", "May 8, 1914", False),
    ("02/[]/2017", "March 2017", False),
    ("5/8/14", "The contract does not state a date.", False),
    ("perpetual", "December 31, 2020", False),
    ("[]/[]/2004", "2005", False),
]

YES_NO_CASES = [
    ("Yes", "Yes", True),
    ("Yes", "yes, the supplier may not assign the agreement without consent", True),
    ("No", "No.", True),
    ("No", "No - there is no non-compete clause.", True),
    ("Yes", "True", True),
    ("No", "false", True),
    ("Yes", "No", False),
    ("No", "Yes, section 4.2 restricts it.", False),
    ("No", "The contract does not contain such a clause.", False),  # never says yes or no
    ("Yes", "", False),
    ("No", "N/A", False),
]

TEXT_CASES = [
    ("Delaware", "Delaware", True),
    ("Delaware", "The agreement is governed by the laws of the State of Delaware.", True),
    ("New York", "the laws of the State of New York", True),
    ("New York", "New York State", True),
    ("successive 1 year", "It renews automatically for successive one (1) year periods.", True),
    ("successive 1 year", "successive one-year terms", True),
    ("successive 1 year", "successive twelve (12) month periods", True),
    ("succesive 1 year", "successive 1 year", True),  # typo in the CUAD gold
    ("90 days", "ninety (90) days", True),
    ("30 days", "at least thirty (30) days' written notice before the end of the term", True),
    ("three (3) years", "3 years", True),
    ("People's Republic of China", "the laws of the PRC", True),
    ("Ontario, Canada", "Ontario", True),
    ("England, United Kingdom; Wales, United Kingdom", "England", True),
    ("180 days / 6 months", "six months", True),
    ("Yes", "Yes, there is a warranty.", True),  # yes/no gold among text tasks
    ("perpetual", "The license is perpetual.", True),
    # negatives
    ("90 days", "30 days", False),
    ("90 days", "ninety (90) months", False),
    ("60 days", "six (6) days", False),
    ("successive 1 year", "successive 2 years", False),
    ("Delaware", "New York", False),
    ("New York", "New Jersey", False),
    ("New York", "York", False),
    ("California", "", False),
    ("Yes", "No", False),
]


@pytest.mark.parametrize(("gold", "predicted", "expected"), DATE_CASES)
def test_date(gold, predicted, expected):
    result = check("date", predicted, gold)
    assert result.success is expected, result


@pytest.mark.parametrize(("gold", "predicted", "expected"), YES_NO_CASES)
def test_yes_no(gold, predicted, expected):
    result = check("yes_no", predicted, gold)
    assert result.success is expected, result


@pytest.mark.parametrize(("gold", "predicted", "expected"), TEXT_CASES)
def test_text(gold, predicted, expected):
    result = check("text", predicted, gold)
    assert result.success is expected, result


@pytest.mark.parametrize(
    ("answer_type", "gold"),
    [("date", None), ("text", ""), ("yes_no", "  "), ("date", "[]/[]/[]"), ("text", "[* * *]"), ("yes_no", "Maybe")],
)
def test_unscorable_gold_gives_no_label(answer_type, gold):
    result = check(answer_type, "May 8, 2014", gold)
    assert result.success is None and result.reason


def test_unknown_answer_type_is_rejected():
    with pytest.raises(ValueError, match="answer_type"):
        check("number", "1", "1")


def test_normalisation_details():
    assert normalize_text("thirty (30) days") == normalize_text("30 days") == ["30", "day"]
    assert normalize_text("one hundred twenty (120) days") == ["120", "day"]
    assert [str(d) for d in extract_dates("from 5/8/14 to December 31, 2020")] == ["2014-05-08", "2020-12-31"]
    assert extract_dates("see Section 1.2.14") == []
    result = check("date", "It was signed May 8, 2014.", "5/8/14")
    assert (result.normalized_predicted, result.normalized_gold) == ("2014-05-08", "2014-05-08")


def _sample(shared_data, answer_type: str, n: int) -> list[dict]:
    rows = [json.loads(line) for line in open(shared_data / "cuad" / "tasks_dev.jsonl")]
    rows = [r for r in rows if r["answer_type"] == answer_type and r["answer"]]
    return random.Random(0).sample(rows, min(n, len(rows)))


@pytest.mark.slow
@pytest.mark.parametrize("answer_type", ["date", "text", "yes_no"])
def test_real_cuad_golds_match_themselves(shared_data, answer_type):
    """Every scorable dev gold answer checks as correct against itself."""
    scored = 0
    for task in _sample(shared_data, answer_type, 60):
        result = check(answer_type, task["answer"], task["answer"])
        assert result.success in (True, None), (task["answer"], result)
        scored += result.success is True
    assert scored >= 50


@pytest.mark.slow
def test_real_cuad_dates_written_out_match_and_shifted_dates_do_not(shared_data):
    """Each dev gold date, rewritten as "the Nth day of Month, YYYY", passes; one day later fails."""
    import datetime as dt

    months = "January February March April May June July August September October November December".split()
    checked = 0
    for task in _sample(shared_data, "date", 80):
        dates = extract_dates(task["answer"])
        if ";" in task["answer"] or len(dates) != 1 or None in (dates[0].year, dates[0].month, dates[0].day):
            continue
        day = dt.date(dates[0].year, dates[0].month, dates[0].day)
        later = day + dt.timedelta(days=1)
        assert check("date", f"the {day.day}th day of {months[day.month - 1]}, {day.year}", task["answer"]).success is True
        assert check("date", f"{months[later.month - 1]} {later.day}, {later.year}", task["answer"]).success is False
        checked += 1
    assert checked >= 20


# Dev golds that differ as strings but do answer each other: CUAD's own typos, a jurisdiction
# and its qualified form, "5 years" inside "2 (terms of) 5 years", a redacted number.
SAME_MEANING = [
    {"successive 1 year", "sucessive 1 year"},
    {"England", "England; Wales", "England, United Kingdom; Wales, United Kingdom"},
    {"2 5 years", "5 year"},
    {"successive [] years", "successive * years"},
]


@pytest.mark.slow
def test_real_cuad_text_golds_do_not_match_other_golds(shared_data):
    """A dev text gold checks as correct against a different gold of its category only when
    the two are listed as meaning the same."""
    tasks = [t for t in _sample(shared_data, "text", 78) if t["answer"].strip().lower() not in ("yes", "no")]
    compared, unexpected = 0, []
    for task in tasks:
        for other in {t["answer"] for t in tasks if t["category"] == task["category"] and t["answer"] != task["answer"]}:
            compared += 1
            same = any({task["answer"], other} <= group for group in SAME_MEANING)
            if check("text", other, task["answer"]).success and not same:
                unexpected.append((task["answer"], other))
    assert compared > 500 and unexpected == []
