"""`feedback export`: the harvested pairs and negatives as training files for the target libraries.

* sentence-transformers: a HF `datasets` Dataset (`save_to_disk`) with columns anchor, positive,
  negative: one triplet per preference pair and per (query, primary positive, mined negative).
  MultipleNegativesRankingLoss reads exactly these columns (extra columns would become inputs).
* flagembedding: JSONL `{"query", "pos": [...], "neg": [...]}`, one line per query with at least
  one positive and one negative (FlagEmbedding's fine-tuning format).
* trl: JSONL `{"prompt", "chosen", "rejected"}`, trl's standard (non-conversational) preference
  format: prompt = the query, chosen/rejected = the passages.
Positives are chunks labelled >= 2, cited in successful tasks, or chosen in a pair; a chunk that is
a positive for a query is never exported as its negative.
"""

from __future__ import annotations

import json
from pathlib import Path

from rag_agent.errors import ConfigError

from feedback.signals import RELEVANT_GRADE

FORMATS = ("sentence-transformers", "flagembedding", "trl")


def _texts(con, chunk_ids: set[str]) -> dict[str, str]:
    if not chunk_ids:
        return {}
    rows = con.execute("SELECT chunk_id, text FROM chunks WHERE chunk_id IN (SELECT unnest(?))", [sorted(chunk_ids)]).fetchall()
    return dict(rows)


def _positives(con, min_weight: float) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for query, chunk_id in con.execute(
        f"SELECT query, chunk_id FROM judge_labels WHERE grade >= {RELEVANT_GRADE} OR cited "
        "UNION SELECT query, chosen_chunk_id FROM pairs WHERE weight >= ?",
        [min_weight],
    ).fetchall():
        out.setdefault(query, set()).add(chunk_id)
    return out


def triplets(con, min_weight: float = 0.0) -> list[tuple[str, str, str]]:
    """(query, positive chunk id, negative chunk id), deduplicated, stable order."""
    positives = _positives(con, min_weight)
    rows = con.execute("SELECT query, chosen_chunk_id, rejected_chunk_id FROM pairs WHERE weight >= ? ORDER BY 1, 2, 3", [min_weight]).fetchall()
    rows += con.execute(
        "SELECT query, positive_chunk_id, chunk_id FROM negatives WHERE signal = 'mined' AND weight >= ? ORDER BY 1, 2, rank",
        [min_weight],
    ).fetchall()
    seen, out = set(), []
    for query, pos, neg in rows:
        if pos is None or neg in positives.get(query, set()) or (query, pos, neg) in seen:
            continue
        seen.add((query, pos, neg))
        out.append((query, pos, neg))
    return out


def export(con, fmt: str, out_dir: Path | str, min_weight: float = 0.0) -> tuple[Path, int]:
    """Write `fmt` into `out_dir`; returns (the path to load, number of rows)."""
    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt}", f"one of {', '.join(FORMATS)}", "pick one of those formats")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    trips = triplets(con, min_weight)
    texts = _texts(con, {c for _, p, n in trips for c in (p, n)})
    trips = [(q, p, n) for q, p, n in trips if p in texts and n in texts]
    if fmt == "sentence-transformers":
        from datasets import Dataset

        dataset = Dataset.from_dict(
            {"anchor": [q for q, _, _ in trips], "positive": [texts[p] for _, p, _ in trips], "negative": [texts[n] for _, _, n in trips]}
        )
        target = out_dir / "sentence-transformers"
        dataset.save_to_disk(str(target))
        return target, len(trips)
    if fmt == "trl":
        target = out_dir / "trl_preference.jsonl"
        rows = [{"prompt": q, "chosen": texts[p], "rejected": texts[n]} for q, p, n in trips]
        return _write_jsonl(target, rows), len(rows)
    positives = _positives(con, min_weight)
    grouped: dict[str, tuple[dict[str, None], dict[str, None]]] = {}
    for q, p, n in trips:
        pos, neg = grouped.setdefault(q, ({}, {}))
        pos[p] = None
        neg[n] = None
    pos_texts = _texts(con, {c for q in grouped for c in positives.get(q, set())})
    rows = []
    for query, (pos, neg) in grouped.items():
        all_pos = list(pos) + sorted(c for c in positives.get(query, set()) if c not in pos and c in pos_texts)
        texts.update(pos_texts)
        rows.append({"query": query, "pos": [texts[c] for c in all_pos], "neg": [texts[c] for c in neg]})
    target = out_dir / "flagembedding.jsonl"
    return _write_jsonl(target, rows), len(rows)


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    tmp = path.with_suffix(".partial")
    with open(tmp, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    tmp.replace(path)
    return path
