"""Evaluation suites on disk: BEIR retrieval folders and CUAD-style contract task folders.

BEIR (MTEB's retrieval layout and the public BEIR zips): `corpus.jsonl`, `queries.jsonl` (either
may be gzipped), qrels in `qrels/<split>.tsv` (or `<split>.tsv` beside them) with or without the
`query-id corpus-id score` header; TREC's four-column `qid 0 docid rel` lines are read too.
A document is embedded as MTEB builds it: `(title + " " + text).strip()` when the title is
non-empty, else `text.strip()`; a query is its text unchanged.

CUAD-style: `contracts_<S>.jsonl` (`doc_id`, `title`, `file` relative to the folder, or inline
`text`) + `tasks_<S>.jsonl` (`id`, `doc_id`, `question`, `evidence`: list of verbatim clauses).
Only tasks with non-empty evidence are retrieval queries. Each evidence string is located in its
contract (exact match first, then a whitespace- and case-insensitive match mapped back to the
original offsets). CUAD joins the pieces of some clauses with `<omitted>`: by default (as in the
published reference figures) those count as unlocated; `eval.omitted_evidence = "parts"` locates
them piece by piece. Unlocated strings are counted and dropped, and a task with no located span is
dropped too.
"""

from __future__ import annotations

import gzip
import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Literal

from rag_agent.errors import DataError
from rag_agent.types import Chunk, Document

log = logging.getLogger(__name__)
_UNLOCATED_SAID: set[tuple[str, str, int]] = set()  # (suite path, split, count) already logged at INFO

BEIR_DEFAULT_SPLIT = "test"
CUAD_DEFAULT_SPLIT = "dev"
_MAX_DEPTH = 3  # how deep a folder of suites is searched for suites


@dataclass(frozen=True)
class SuiteRef:
    """A suite found on disk: what kind, where, and which split to read."""

    kind: Literal["beir", "cuad"]
    path: Path
    split: str

    @property
    def name(self) -> str:
        return self.path.name


@dataclass
class BeirSuite:
    name: str
    split: str
    corpus: dict[str, str]  # doc id -> text as the model reads it
    queries: dict[str, str]  # query id -> text (only queries that have qrels)
    qrels: dict[str, dict[str, int]]


@dataclass
class CuadTask:
    task_id: str
    doc_id: str
    question: str
    spans: list[tuple[int, int]]  # located gold evidence, [start, end) in the contract text


@dataclass
class CuadSuite:
    name: str
    split: str
    contracts: dict[str, Document]
    tasks: list[CuadTask]
    evidence_total: int = 0
    evidence_exact: int = 0
    evidence_normalised: int = 0
    evidence_in_parts: int = 0  # clauses with <omitted> markers, located part by part
    evidence_unlocated: int = 0
    tasks_without_span: int = 0
    # Tasks whose gold names no evidence: the clause asked about is not in the contract.
    absent_task_ids: list[str] = field(default_factory=list)
    unlocated_examples: list[str] = field(default_factory=list)
    # Contracts with any evidence-bearing task, located or not: the chunked set does not depend on
    # how evidence is located, so cached embeddings stay valid across location rules.
    evidence_doc_ids: set[str] = field(default_factory=set)

    def details(self) -> dict:
        return {
            "evidence_total": self.evidence_total,
            "evidence_exact": self.evidence_exact,
            "evidence_normalised": self.evidence_normalised,
            "evidence_in_parts": self.evidence_in_parts,
            "evidence_unlocated": self.evidence_unlocated,
            "tasks_without_located_evidence": self.tasks_without_span,
        }


# ---- discovery ------------------------------------------------------------------------------------
def discover(path: Path | str, split: str | None = None) -> list[SuiteRef]:
    """Every suite at or under `path`. `split=None` picks each suite's default split."""
    root = Path(path)
    if not root.is_dir():
        raise DataError(str(root), "a suite folder (BEIR or CUAD-style) or a folder of suites", "pass --suite pointing to one")
    found = list(_walk(root, split, depth=0))
    if not found:
        raise DataError(
            str(root),
            "corpus.jsonl + queries.jsonl + qrels/<split>.tsv, or contracts_<split>.jsonl + tasks_<split>.jsonl",
            "point --suite at a folder holding one of those layouts",
        )
    with_split = [ref for ref in found if _has_split(ref)]
    if not with_split:
        bare = [ref for ref in found if not available_splits(ref.kind, ref.path)]
        if bare and bare[0].kind == "beir":
            raise DataError(f"{bare[0].path}", "qrels/<split>.tsv beside corpus.jsonl and queries.jsonl (qrels missing)", "add the suite's qrels folder")
        available = sorted({s for ref in found for s in available_splits(ref.kind, ref.path)})
        raise DataError(f"--split {split}", f"a split present in {root} ({', '.join(available) or 'none'})", "pick one of those")
    for ref in found:
        if ref not in with_split:
            log.warning("skipping %s: it has no split %r", ref.path, ref.split)
    return with_split


def _walk(folder: Path, split: str | None, depth: int) -> Iterator[SuiteRef]:
    kind = suite_kind(folder)
    if kind is not None:
        yield SuiteRef(kind, folder, split or _default_split(kind, folder))
        return
    if depth >= _MAX_DEPTH:
        return
    for child in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        yield from _walk(child, split, depth + 1)


def suite_kind(folder: Path) -> Literal["beir", "cuad"] | None:
    if _first_existing(folder, "corpus.jsonl", "corpus.jsonl.gz") and _first_existing(folder, "queries.jsonl", "queries.jsonl.gz"):
        return "beir"
    if available_splits("cuad", folder):
        return "cuad"
    return None


def available_splits(kind: str, folder: Path) -> list[str]:
    if kind == "beir":
        names = [p.name for p in (folder / "qrels").glob("*.tsv")] + [p.name for p in folder.glob("*.tsv")]
        return sorted({n[: -len(".tsv")] for n in names})
    contracts = {p.name[len("contracts_") : -len(".jsonl")] for p in folder.glob("contracts_*.jsonl")}
    tasks = {p.name[len("tasks_") : -len(".jsonl")] for p in folder.glob("tasks_*.jsonl")}
    return sorted(contracts & tasks)


def _default_split(kind: str, folder: Path) -> str:
    splits = available_splits(kind, folder)
    preferred = BEIR_DEFAULT_SPLIT if kind == "beir" else CUAD_DEFAULT_SPLIT
    if preferred in splits or len(splits) != 1:
        return preferred
    return splits[0]


def _has_split(ref: SuiteRef) -> bool:
    return ref.split in available_splits(ref.kind, ref.path)


def _first_existing(folder: Path, *names: str) -> Path | None:
    for name in names:
        if (folder / name).is_file():
            return folder / name
    return None


def _read_jsonl(path: Path) -> Iterator[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        for line_no, raw in enumerate(fh, start=1):
            line = _utf8(raw, path, line_no)
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{line_no}", f"one JSON object per line ({exc.msg})", "fix or regenerate the file") from exc


def _utf8(raw: bytes, path: Path, line_no: int) -> str:
    try:
        return raw.decode("utf-8-sig" if line_no == 1 else "utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}:{line_no}", f"UTF-8 text (byte {exc.start} of that line is not)", "re-save the file as UTF-8") from None


# ---- BEIR -----------------------------------------------------------------------------------------
def mteb_document_text(title: str | None, text: str | None) -> str:
    """The document text MTEB embeds (mteb._create_dataloaders._corpus_to_dict)."""
    text = text or ""
    return (title + " " + text).strip() if title else text.strip()


def load_beir(ref: SuiteRef) -> BeirSuite:
    folder = ref.path
    qrels = _read_qrels(_qrels_path(folder, ref.split))
    corpus = {
        str(row.get("_id", row.get("id"))): mteb_document_text(row.get("title"), row.get("text"))
        for row in _read_jsonl(_first_existing(folder, "corpus.jsonl", "corpus.jsonl.gz"))
    }
    all_queries = {
        str(row.get("_id", row.get("id"))): row.get("text") or ""
        for row in _read_jsonl(_first_existing(folder, "queries.jsonl", "queries.jsonl.gz"))
    }
    missing = sorted(set(qrels) - set(all_queries))
    if missing:
        raise DataError(f"qrels query id {missing[0]}", "an id present in queries.jsonl", f"fix {folder}")
    queries = {qid: all_queries[qid] for qid in all_queries if qid in qrels}
    if not queries:
        # A score over 0 queries is not a result: storing it would look like NDCG 0.0.
        raise DataError(f"{_qrels_path(folder, ref.split)}", "at least one query-id<TAB>corpus-id<TAB>score line (0 evaluable queries)", "fill the qrels file or pick another --split")
    return BeirSuite(ref.name, ref.split, corpus, queries, qrels)


def _qrels_path(folder: Path, split: str) -> Path:
    path = _first_existing(folder / "qrels", f"{split}.tsv") or _first_existing(folder, f"{split}.tsv")
    if path is None:
        available = ", ".join(available_splits("beir", folder)) or "none"
        raise DataError(f"split {split!r} of {folder}", f"a qrels file qrels/{split}.tsv (splits here: {available})", "pass --split")
    return path


def suite_files(ref: SuiteRef) -> list[Path]:
    """The files the loader reads for `ref.split`: BEIR corpus, queries and that split's qrels;
    CUAD contracts_<split>.jsonl, tasks_<split>.jsonl and every contract file the former names."""
    folder = ref.path
    if ref.kind == "beir":
        return [_first_existing(folder, "corpus.jsonl", "corpus.jsonl.gz"), _first_existing(folder, "queries.jsonl", "queries.jsonl.gz"),
                _qrels_path(folder, ref.split)]
    contracts = folder / f"contracts_{ref.split}.jsonl"
    named = sorted({folder / row["file"] for row in _read_jsonl(contracts) if row.get("text") is None and row.get("file")})
    return [contracts, folder / f"tasks_{ref.split}.jsonl", *named]


def _read_qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    with open(path, "rb") as fh:
        for line_no, raw in enumerate(fh, start=1):
            line = _utf8(raw, path, line_no)
            parts = line.rstrip("\n").split("\t") if "\t" in line else line.split()
            if not parts or not line.strip():
                continue
            if line_no == 1 and not _is_int(parts[-1]):
                continue  # header: query-id corpus-id score
            if len(parts) == 4:  # TREC: qid iteration docid rel
                parts = [parts[0], parts[2], parts[3]]
            if len(parts) != 3 or not _is_int(parts[2]):
                raise DataError(f"{path}:{line_no}", "query-id<TAB>corpus-id<TAB>integer score", "fix the qrels file")
            qrels.setdefault(parts[0], {})[parts[1]] = int(parts[2])
    return qrels


def _is_int(value: str) -> bool:
    try:
        int(value)
    except ValueError:
        return False
    return True


# ---- CUAD -----------------------------------------------------------------------------------------
def load_cuad(ref: SuiteRef, join_gap: int = 500, omitted: str = "drop") -> CuadSuite:
    """`omitted`: "drop" leaves `<omitted>`-joined evidence unlocated (the reference figures' rule),
    "parts" locates it piece by piece (see `locate`)."""
    folder, split = ref.path, ref.split
    contracts: dict[str, Document] = {}
    for row in _read_jsonl(folder / f"contracts_{split}.jsonl"):
        text = row.get("text")
        if text is None:
            file = folder / row["file"]
            if not file.is_file():
                raise DataError(str(file), f"the contract file named by contracts_{split}.jsonl", "restore the file")
            text = file.read_text(encoding="utf-8")
        contracts[row["doc_id"]] = Document(row["doc_id"], text, source=str(row.get("file", "")), title=row.get("title", ""))
    suite = CuadSuite(ref.name, split, contracts, [])
    for row in _read_jsonl(folder / f"tasks_{split}.jsonl"):
        evidence = [e for e in row.get("evidence") or [] if e and e.strip()]
        if not evidence:
            suite.absent_task_ids.append(row["id"])
            continue
        if row["doc_id"] not in contracts:
            raise DataError(f"task {row['id']} doc_id {row['doc_id']}", f"a doc_id in contracts_{split}.jsonl", "fix the task file")
        suite.evidence_doc_ids.add(row["doc_id"])
        text = contracts[row["doc_id"]].text
        spans = []
        for clause in evidence:
            suite.evidence_total += 1
            if OMISSION in clause and omitted == "drop":
                located, how = [], "unlocated"
            else:
                located, how = locate(text, clause, join_gap)
            if not located:
                suite.evidence_unlocated += 1
                if len(suite.unlocated_examples) < 5:
                    suite.unlocated_examples.append(f"{row['id']}: {clause[:80]!r}")
                continue
            suite.evidence_exact += how == "exact" and OMISSION not in clause
            suite.evidence_normalised += how == "normalised"
            suite.evidence_in_parts += OMISSION in clause and how != "unlocated"
            spans.extend(located)
        if not spans:
            suite.tasks_without_span += 1
            continue
        suite.tasks.append(CuadTask(row["id"], row["doc_id"], row["question"], spans))
    if suite.evidence_unlocated:
        # Once per suite and process at INFO: the loop loads dev twice a cycle, and the same count
        # repeated six times in its log said nothing new. Later loads log it at DEBUG.
        key = (str(ref.path), split, suite.evidence_unlocated)
        log.log(logging.DEBUG if key in _UNLOCATED_SAID else logging.INFO,
                "%s/%s: %d of %d evidence strings not found in their contract (dropped), e.g. %s",
                ref.name, split, suite.evidence_unlocated, suite.evidence_total, suite.unlocated_examples[0])
        _UNLOCATED_SAID.add(key)
    return suite


OMISSION = "<omitted>"  # CUAD joins the parts of a clause interrupted by page headers with this


def locate(text: str, clause: str, join_gap: int = 500) -> tuple[list[tuple[int, int]], str]:
    """Spans [start, end) of the first occurrence of `clause` in `text`, and how it was found.

    A clause with `<omitted>` markers is located part by part, in order. Parts at most `join_gap`
    characters apart merge into one span (the omitted text is page furniture inside a clause);
    farther parts stay separate spans (CUAD also joins distinct clauses pages apart this way).
    """
    parts = [part.strip() for part in clause.split(OMISSION)] if OMISSION in clause else [clause]
    parts = [part for part in parts if part]
    spans: list[tuple[int, int]] = []
    how, position = "exact", 0
    for part in parts:
        span, part_how = _locate_part(text, part, position)
        if span is None:
            return [], "unlocated"
        if spans and span[0] - spans[-1][1] <= join_gap:
            spans[-1] = (spans[-1][0], span[1])
        else:
            spans.append(span)
        position = span[1]
        if part_how != "exact":
            how = part_how
    return spans, how if spans else "unlocated"


def _locate_part(text: str, part: str, position: int) -> tuple[tuple[int, int] | None, str]:
    start = text.find(part, position)
    if start >= 0:
        return (start, start + len(part)), "exact"
    needle, _ = _normalise(part.strip())
    if not needle:
        return None, "unlocated"
    haystack, offsets = _normalise(text)
    at = next((i for i, offset in enumerate(offsets) if offset >= position), len(offsets))
    at = haystack.find(needle, at)
    if at < 0:
        return None, "unlocated"
    return (offsets[at], offsets[at + len(needle) - 1] + 1), "normalised"


_WS_RUN = re.compile(r"\s+")


def _normalise(text: str) -> tuple[str, list[int]]:
    """Lower-cased text with each whitespace run collapsed to one space, plus the original offset
    of every kept character (so a match maps back to an exact span of the original)."""
    chars: list[str] = []
    offsets: list[int] = []
    position = 0
    for match in _WS_RUN.finditer(text):
        for i in range(position, match.start()):
            chars.append(text[i].lower())
            offsets.append(i)
        chars.append(" ")
        offsets.append(match.start())
        position = match.end()
    for i in range(position, len(text)):
        chars.append(text[i].lower())
        offsets.append(i)
    # str.lower can change length for a few characters (e.g. 'İ'); keep one char per offset.
    return "".join(c[0] for c in chars), offsets


def relevant_chunks(chunks: list[Chunk], spans: list[tuple[int, int]], overlap_fraction: float) -> set[str]:
    """Chunk ids that overlap some gold span by at least `overlap_fraction` of the shorter of the two."""
    relevant = set()
    for chunk in chunks:
        for start, end in spans:
            overlap = min(chunk.end, end) - max(chunk.start, start)
            if overlap > 0 and overlap >= overlap_fraction * min(chunk.end - chunk.start, end - start):
                relevant.add(chunk.chunk_id)
                break
    return relevant
