"""`feedback stats`: what the harvest produced, and how far its signals agree with each other."""

from __future__ import annotations

from feedback.signals import RELEVANT_GRADE


def collect(con) -> dict:
    """Plain data (tests read it; `render` prints it)."""
    q = lambda sql: con.execute(sql).fetchall()  # noqa: E731
    out: dict = {
        "tasks": q("SELECT status, count(*) FROM harvest_state GROUP BY 1 ORDER BY 1"),
        "labels": q("SELECT signal, grade, count(*) FROM judge_labels GROUP BY 1, 2 ORDER BY 1, 2"),
        "pairs": q(
            "SELECT signal, count(*), avg(weight), count(*) FILTER (WHERE overruled IS NOT NULL) FROM pairs GROUP BY 1 ORDER BY 1"
        ),
        "negatives": q("SELECT signal, count(*), avg(weight) FROM negatives GROUP BY 1 ORDER BY 1"),
        "rewards": q("SELECT kind, stage, count(*), avg(value), avg(coverage) FROM rewards GROUP BY 1, 2 ORDER BY 1, 2"),
        "skips": q(
            "SELECT coalesce(sum(tasks_skipped), 0), coalesce(sum(judge_invalid), 0), coalesce(sum(chunks_unlabeled), 0), "
            "coalesce(sum(judge_calls), 0), coalesce(sum(judge_cache_hits), 0) FROM harvest_log"
        )[0],
    }
    agreement = []
    # How often cited chunks (successful tasks) are judged relevant by the LLM alone.
    agreement.append(_rate(con, "cited chunks the LLM judge grades >= 2",
                           f"SELECT judge_grade >= {RELEVANT_GRADE} FROM judge_labels WHERE cited AND judge_grade IS NOT NULL"))
    agreement.append(_rate(con, "answer-containing chunks the LLM judge grades >= 2",
                           f"SELECT judge_grade >= {RELEVANT_GRADE} FROM judge_labels WHERE answer_hit AND judge_grade IS NOT NULL"))
    agreement.append(_rate(con, "LLM-judged >= 2 chunks that contain the verified answer",
                           f"SELECT answer_hit FROM judge_labels WHERE judge_grade >= {RELEVANT_GRADE} AND answer_hit IS NOT NULL"))
    agreement.append(_rate(
        con, "agent-grader verdicts matching the label (>= 2 vs < 2)",
        f"SELECT g.relevant = (l.grade >= {RELEVANT_GRADE}) FROM grades g JOIN judge_labels l "
        "ON l.run_id = g.run_id AND l.task_id = g.task_id AND l.chunk_id = g.chunk_id",
    ))
    for signal in [r[0] for r in out["pairs"] if r[0] != "judge_graded"]:
        agreement.append(_rate(
            con, f"{signal} pairs the labels order the same way (of pairs with both labelled, unequal)",
            "SELECT lc.grade > lr.grade FROM pairs p "
            "JOIN judge_labels lc ON lc.run_id = p.run_id AND lc.task_id = p.task_id AND lc.chunk_id = p.chosen_chunk_id "
            "JOIN judge_labels lr ON lr.run_id = p.run_id AND lr.task_id = p.task_id AND lr.chunk_id = p.rejected_chunk_id "
            f"WHERE p.signal = '{signal}' AND lc.grade <> lr.grade",
        ))
    out["agreement"] = agreement
    return out


def _rate(con, name: str, sql: str) -> tuple[str, int, float | None]:
    values = [bool(r[0]) for r in con.execute(sql).fetchall() if r[0] is not None]
    return name, len(values), (sum(values) / len(values) if values else None)


def render(data: dict, console=None) -> None:
    from rag_agent.cli_common import table_console
    from rich.table import Table

    console = console or table_console()

    def table(title: str, columns: list[str], rows: list) -> None:
        t = Table(title=title)
        for c in columns:
            t.add_column(c)
        for row in rows:
            t.add_row(*[_fmt(v) for v in row])
        console.print(t)

    table("harvested tasks", ["status", "tasks"], data["tasks"])
    table("judge labels", ["signal", "grade", "count"], data["labels"])
    table("preference pairs", ["signal", "pairs", "mean weight", "won a conflict"], data["pairs"])
    table("hard negatives", ["signal", "count", "mean weight"], data["negatives"])
    table("rewards", ["kind", "stage", "count", "mean value", "mean label coverage"], data["rewards"])
    table("skipped / cache", ["malformed tasks", "invalid judge batches", "chunks unlabeled", "judge calls", "cache hits"], [data["skips"]])
    table("agreement between signals", ["measure", "n", "rate"], data["agreement"])


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)
