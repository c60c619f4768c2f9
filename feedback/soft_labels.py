"""Graded soft targets for listwise training: every chunk the LLM judge scored for a query.

The judge's P(yes) per judged (query, chunk) is stored in `judge_labels.score` (and, raw, in
`judge_cache.score`). A listwise trainer builds a softmax target over one query's judged
candidates from these scores (e.g. softmax(score / T)), instead of a single hard positive.
Documented in docs/feedback.md ("Soft labels").
"""

from __future__ import annotations

SoftTarget = tuple[str, list[tuple[str, str, float]]]  # (query, [(chunk_id, chunk text, score)])


def load_soft_targets(con, run_ids: list[str] | None = None, min_candidates: int = 2) -> list[SoftTarget]:
    """One entry per query (sorted), its judged chunks best score first.

    Rows: `judge_labels` rows with a judge score (signal 'llm_judge' or 'verified_yes'; answer
    containment alone has no score), joined with `chunks` for the text (chunks re-ingested away are
    left out). A query judged in several tasks or runs lists each chunk once (the judge is
    deterministic per query and text, so its scores agree). Queries with fewer than
    `min_candidates` scored chunks are left out: a softmax over one candidate teaches nothing.
    """
    where = "l.score IS NOT NULL" + (" AND l.run_id IN (SELECT unnest(?))" if run_ids is not None else "")
    rows = con.execute(
        f"""SELECT l.query, l.chunk_id, any_value(c.text), max(l.score)
            FROM judge_labels l JOIN chunks c USING (chunk_id)
            WHERE {where}
            GROUP BY l.query, l.chunk_id
            ORDER BY l.query, max(l.score) DESC, l.chunk_id""",
        [list(run_ids)] if run_ids is not None else [],
    ).fetchall()
    grouped: dict[str, list[tuple[str, str, float]]] = {}
    for query, chunk_id, text, score in rows:
        grouped.setdefault(query, []).append((chunk_id, text, float(score)))
    return [(q, chunks) for q, chunks in grouped.items() if len(chunks) >= min_candidates]
