"""Turn paths into `Document`s, skipping (never raising on) individual bad inputs.

Accepted inputs and how each document's `doc_id` is formed:

* a ``.txt`` / ``.md`` file: doc_id = the file stem (``contracts/a.txt`` -> ``a``);
* a folder: every ``.txt`` / ``.md`` file below it, recursively, in sorted path order;
  doc_id = the path relative to that folder without its extension, with ``/`` separators
  (``corpus/leases/a.txt`` given ``corpus`` -> ``leases/a``), so files with the same name in
  different sub-folders stay distinct;
* a CUAD manifest (``contracts_*.jsonl``, or any ``.jsonl`` whose lines carry ``file``): one
  ``{"doc_id", "title", "file"}`` per line, ``file`` relative to the manifest's folder;
* a BEIR corpus (``corpus.jsonl``, or any ``.jsonl`` whose lines carry ``_id``): one
  ``{"_id", "title", "text"}`` per line; text = title + "\\n\\n" + text when the title is non-empty.

A path that does not exist is a user error (`DataError`, raised before anything is read). Every
other problem is local to one input and becomes one `Skipped(source, reason)`: binary files
(NUL bytes), empty or whitespace-only text, text that is not UTF-8, unreadable files, a
manifest line that is not JSON or lacks its keys, a doc_id already seen in this ingest, a file
larger than `chunking.max_document_bytes`, and, inside a folder, dangling symlinks, symlink loops
and directories named like text files (``x.txt/``). A large corpus with a few broken files should ingest everything else and say what it left out.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from rag_agent.errors import DataError
from rag_agent.types import Document

TEXT_SUFFIXES = (".txt", ".md")


@dataclass(frozen=True)
class Skipped:
    """An input left out of the ingest: `source` (file, or file:line) and why, in words."""

    source: str
    reason: str


def iter_documents(paths: Iterable[Path | str], max_bytes: int | None = None) -> Iterator[Document | Skipped]:
    """Documents (and `Skipped` notes) from `paths`, in order; raises `DataError` for a missing path.

    `max_bytes`: larger files (and BEIR texts) are skipped with their size (None: no limit).
    """
    resolved = [Path(p) for p in paths]
    for path in resolved:
        if not path.exists():
            raise DataError(str(path), "an existing file or folder", "check the path (folders, .txt/.md, contracts_*.jsonl, corpus.jsonl)")
    return _dedupe(_iter_all(resolved, max_bytes))


def _iter_all(paths: list[Path], max_bytes: int | None) -> Iterator[Document | Skipped]:
    for path in paths:
        if path.is_dir():
            for file in sorted(p for p in path.rglob("*") if p.suffix.lower() in TEXT_SUFFIXES):
                odd = _not_a_text_file(file)
                if odd:
                    yield Skipped(str(file), odd)
                    continue
                yield _load_text_file(file, file.relative_to(path).with_suffix("").as_posix(), max_bytes=max_bytes)
        elif path.suffix.lower() in TEXT_SUFFIXES:
            yield _load_text_file(path, path.stem, max_bytes=max_bytes)
        elif path.suffix.lower() == ".jsonl":
            yield from _load_jsonl(path, max_bytes)
        else:
            yield Skipped(str(path), f"unsupported file type {path.suffix or '(none)'!r}; expected .txt, .md, a folder, contracts_*.jsonl or corpus.jsonl")


def _dedupe(items: Iterator[Document | Skipped]) -> Iterator[Document | Skipped]:
    first_source: dict[str, str] = {}
    for item in items:
        if isinstance(item, Document):
            if item.doc_id in first_source:
                yield Skipped(item.source, f"duplicate doc_id {item.doc_id!r} (already read from {first_source[item.doc_id]}); rename one")
                continue
            first_source[item.doc_id] = item.source
        yield item


def _not_a_text_file(path: Path) -> str | None:
    """Why a folder entry named *.txt/*.md is not a readable file, or None when it is one."""
    try:
        if path.is_symlink():
            try:
                path.resolve(strict=True)
            except RuntimeError:  # Python < 3.13 reports a loop this way
                return "symlink loop; remove the link"
            except OSError as exc:
                if "loop" in str(exc).lower() or getattr(exc, "errno", None) == 40:
                    return "symlink loop; remove the link"
                return f"dangling symlink (target {os.readlink(path)!r} does not exist); fix or remove the link"
        if path.is_dir():
            return "a directory named like a text file, not a file (text files inside it are read like any sub-folder's)"
        if not path.is_file():
            return "not a regular file (device, pipe or socket)"
    except OSError as exc:
        return f"unreadable ({exc.strerror or exc})"
    return None


def _too_big(size: int, max_bytes: int | None) -> str | None:
    if max_bytes is None or size <= max_bytes:
        return None
    return f"{size:,} bytes, over chunking.max_document_bytes={max_bytes:,}; split the file or raise that limit"


def _load_text_file(path: Path, doc_id: str, title: str = "", source: str | None = None,
                    max_bytes: int | None = None) -> Document | Skipped:
    source = source or str(path)
    try:
        too_big = _too_big(path.stat().st_size, max_bytes)
        if too_big:
            return Skipped(source, too_big)  # checked before reading: a huge file is never loaded
        raw = path.read_bytes()
    except OSError as exc:
        return Skipped(source, f"unreadable ({exc.strerror or exc})")
    text = _decode(raw)
    if isinstance(text, str):
        return Document(doc_id=doc_id, text=text, source=source, title=title)
    return Skipped(source, text.reason)


@dataclass(frozen=True)
class _Bad:
    reason: str


def _decode(raw: bytes) -> str | _Bad:
    if b"\x00" in raw:
        return _Bad("binary file (contains NUL bytes); convert it to UTF-8 text first")
    try:
        text = raw.decode("utf-8-sig")  # -sig drops a BOM, which would otherwise start chunk 0
    except UnicodeDecodeError as exc:
        return _Bad(f"not UTF-8 text (byte {exc.start}); re-save it as UTF-8")
    if not text.strip():
        return _Bad("empty or whitespace-only text")
    return text


def _load_jsonl(path: Path, max_bytes: int | None = None) -> Iterator[Document | Skipped]:
    try:
        handle = open(path, "rb")
    except OSError as exc:
        yield Skipped(str(path), f"unreadable ({exc.strerror or exc})")
        return
    kind = "beir" if path.name == "corpus.jsonl" else "manifest" if path.name.startswith("contracts_") else None
    with handle:
        for line_number, raw_line in enumerate(handle, start=1):
            where = f"{path}:{line_number}"
            if not raw_line.strip():
                continue
            try:
                record = json.loads(raw_line.decode("utf-8-sig"))
            except (UnicodeDecodeError, ValueError) as exc:
                yield Skipped(where, f"malformed JSON line ({exc})")
                continue
            if not isinstance(record, dict):
                yield Skipped(where, "malformed JSON line (expected an object)")
                continue
            if kind is None:  # another .jsonl name: the first object decides the format
                kind = "beir" if "_id" in record else "manifest" if "file" in record else None
                if kind is None:
                    yield Skipped(str(path), "unknown .jsonl format; expected manifest lines with 'file' or BEIR lines with '_id'")
                    return
            yield _beir_document(record, path, where, max_bytes) if kind == "beir" else _manifest_document(record, path, where, max_bytes)


def _manifest_document(record: dict, manifest: Path, where: str, max_bytes: int | None = None) -> Document | Skipped:
    doc_id, file = record.get("doc_id"), record.get("file")
    if not isinstance(doc_id, str) or not doc_id or not isinstance(file, str) or not file:
        return Skipped(where, "manifest line needs string 'doc_id' and 'file'")
    target = manifest.parent / file
    if not target.is_file():
        return Skipped(where, f"file {file!r} not found next to the manifest ({target})")
    return _load_text_file(target, doc_id, title=str(record.get("title") or ""), max_bytes=max_bytes)


def _beir_document(record: dict, corpus: Path, where: str, max_bytes: int | None = None) -> Document | Skipped:
    doc_id = record.get("_id")
    body, title = record.get("text") or "", record.get("title") or ""
    if not isinstance(doc_id, (str, int)) or doc_id == "" or not isinstance(body, str) or not isinstance(title, str):
        return Skipped(where, "BEIR line needs '_id' and string 'text'/'title'")
    text = f"{title}\n\n{body}" if title.strip() else body
    if not text.strip():
        return Skipped(where, "empty or whitespace-only text")
    too_big = _too_big(len(text.encode("utf-8")), max_bytes)
    if too_big:
        return Skipped(where, too_big)
    return Document(doc_id=str(doc_id), text=text, source=str(corpus), title=title)
