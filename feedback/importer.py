"""`feedback import --format openinference|jsonl FILE`: traces from other tools become trace rows.

`feedback` never writes a trace table itself: a file is parsed and validated here into
`ObservedTask`s, which `rag_agent.tracer_rows.write_tasks` writes through rag_agent's trace store
(the same path and the same rows as `RagloopTracer`).

All-or-nothing per file: the whole file is parsed and checked (including that every document the
workspace lacks comes with its content) before anything is written, so a malformed file gives one
line naming its line number and the missing attribute, and imports nothing. Writing is then one
transaction per IMPORT_BATCH tasks (each task whole); an import interrupted while writing is
finished by running it again (tasks already present under the run id are skipped).

openinference: one span per line, as Phoenix / OpenTelemetry export them: `context.trace_id`,
`context.span_id`, `parent_id`, `start_time`/`end_time` (ISO text or ns), and `attributes`, flat
(`retrieval.documents.0.document.id`) or nested; the kind in `openinference.span.kind` (or
`span_kind`). One task per trace: the root span's `input.value` is the question and its
`output.value` the answer (else the last LLM span's). RETRIEVER spans (`input.value`,
`retrieval.documents.{i}.document.{id,score,content,metadata}`) are attempts; a RERANKER span
(`reranker.query`, `reranker.input_documents.{i}...`, `reranker.output_documents.{i}...`) adds the
rerank stage to the attempt with the same query (or the latest one). LLM spans give tokens
(`llm.token_count.prompt|completion`) and seconds; TOOL spans whose `tool.name` contains
"search" or "web" are web fallbacks.

jsonl: one task per line, see docs/integrate.md ("Plain JSONL traces").
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from pathlib import Path
from typing import List, Optional  # noqa: F401  (typer resolves the command's string annotations here)

from rag_agent.errors import DataError
from rag_agent.tracer_rows import ObservedDoc, ObservedRetrieval, ObservedTask, content_id

log = logging.getLogger(__name__)

FORMATS = ("openinference", "jsonl")
SEARCH_TOOL_WORDS = ("search", "web")
# Tasks per write transaction: one transaction per task took ~180 ms each on the shared 2-core
# machine (10,000 spans in 7.5 min); column-wise batches of this size make it seconds, while a
# crash loses at most one batch (a re-run resumes: present tasks are skipped).
IMPORT_BATCH = 1000


class Malformed(Exception):
    def __init__(self, attribute: str):
        super().__init__(attribute)
        self.attribute = attribute


def flatten(value, prefix: str = "") -> dict:
    """Nested dicts/lists -> dotted keys (`a.0.b`), so flat and nested exports read alike."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}{key}."))
        return out
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        out = {}
        for i, item in enumerate(value):
            out.update(flatten(item, f"{prefix}{i}."))
        return out
    return {prefix[:-1]: value}


def _documents(attrs: dict, prefix: str) -> list[ObservedDoc]:
    docs = []
    lead = prefix + "."
    indexes = {int(k[len(lead):].split(".", 1)[0]) for k in attrs if k.startswith(lead) and k[len(lead):].split(".", 1)[0].isdigit()}
    for i in range(max(indexes) + 1 if indexes else 0):
        base = f"{prefix}.{i}.document."
        doc_id, content = attrs.get(base + "id"), attrs.get(base + "content")
        if doc_id is None and not content:
            raise Malformed(base + "id")
        meta = attrs.get(base + "metadata") or {k[len(base) + 9:]: v for k, v in attrs.items() if k.startswith(base + "metadata.")}
        if isinstance(meta, str):
            try:
                meta = json.loads(meta)
            except ValueError:
                meta = {}
        score = attrs.get(base + "score")
        docs.append(ObservedDoc(id=str(doc_id) if doc_id is not None else content_id(content), content=content or "",
                                score=float(score) if isinstance(score, (int, float)) else None,
                                doc_id=meta.get("doc_id") or meta.get("source") if isinstance(meta, dict) else None))
    return docs


def _time(value) -> float | None:
    if isinstance(value, (int, float)):
        return value / 1e9 if value > 1e12 else float(value)
    if isinstance(value, str) and value:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    return None


def _span(line: str) -> dict:
    try:
        span = json.loads(line)
    except ValueError as exc:
        raise Malformed(f"valid JSON ({exc.msg})") from exc
    if not isinstance(span, dict):
        raise Malformed("a JSON object per span")
    attrs = flatten(span.get("attributes") or {})
    context = span.get("context") or {}
    trace_id = context.get("trace_id") or span.get("trace_id")
    if not trace_id:
        raise Malformed("context.trace_id")
    kind = str(attrs.get("openinference.span.kind") or span.get("span_kind") or "").upper()
    if not kind:
        raise Malformed("attributes.openinference.span.kind")
    start, end = _time(span.get("start_time")), _time(span.get("end_time"))
    return {"trace": str(trace_id), "parent": span.get("parent_id"), "kind": kind, "name": span.get("name", ""),
            "attrs": attrs, "start": start, "seconds": (end - start) if start is not None and end is not None else 0.0}


def parse_openinference(lines: list[str]) -> list[ObservedTask]:
    traces: dict[str, list[tuple[int, dict]]] = {}
    for no, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            span = _span(line)
            _check_kind(span)
        except Malformed as exc:
            raise DataError(f"line {no}", f"an OpenInference span with {exc.attribute}", "fix or drop that span; nothing was imported") from None
        traces.setdefault(span["trace"], []).append((no, span))
    return [_task(trace_id, spans) for trace_id, spans in traces.items()]


def _check_kind(span: dict) -> None:
    attrs = span["attrs"]
    if span["kind"] == "RETRIEVER":
        if not isinstance(attrs.get("input.value"), str):
            raise Malformed("input.value (the query) on a RETRIEVER span")
        span["docs"] = _documents(attrs, "retrieval.documents")
    elif span["kind"] == "RERANKER":
        if not isinstance(attrs.get("reranker.query"), str):
            raise Malformed("reranker.query on a RERANKER span")
        span["inputs"] = _documents(attrs, "reranker.input_documents")
        span["outputs"] = _documents(attrs, "reranker.output_documents")


def _task(trace_id: str, spans: list[tuple[int, dict]]) -> ObservedTask:
    spans = sorted(spans, key=lambda item: (item[1]["start"] or 0.0, item[0]))
    root = next((s for _, s in spans if not s["parent"]), spans[0][1])
    task = ObservedTask(task_id=trace_id, question=str(root["attrs"].get("input.value") or ""), seconds=root["seconds"])
    last_llm_output = None
    for _, span in spans:
        attrs, kind = span["attrs"], span["kind"]
        if kind == "RETRIEVER":
            task.retrievals.append(ObservedRetrieval(attrs["input.value"], span["docs"], span["seconds"]))
            task.steps.append({"node": "retrieve", "seconds": span["seconds"], "llm_seconds": 0.0, "tokens_in": 0, "tokens_out": 0})
        elif kind == "RERANKER":
            scores = {d.id: d.score for d in span["outputs"]}
            reranked = [ObservedDoc(d.id, d.content, d.score, scores.get(d.id), d.doc_id) for d in span["outputs"]]
            query = attrs["reranker.query"]
            target = next((r for r in reversed(task.retrievals) if r.query == query), task.retrievals[-1] if task.retrievals else None)
            if target is None:  # a reranker without a retriever span: its inputs are the retrieve stage
                target = ObservedRetrieval(query, span["inputs"])
                task.retrievals.append(target)
            target.reranked = reranked
            task.steps.append({"node": "rerank", "seconds": span["seconds"], "llm_seconds": 0.0, "tokens_in": 0, "tokens_out": 0})
        elif kind == "LLM":
            task.steps.append({"node": "llm", "seconds": span["seconds"], "llm_seconds": span["seconds"],
                               "tokens_in": int(attrs.get("llm.token_count.prompt") or 0),
                               "tokens_out": int(attrs.get("llm.token_count.completion") or 0)})
            last_llm_output = attrs.get("output.value", last_llm_output)
        elif kind == "TOOL":
            name = str(attrs.get("tool.name") or span["name"])
            if any(w in name.lower() for w in SEARCH_TOOL_WORDS):
                output = attrs.get("output.value")
                task.web.append({"query": str(attrs.get("input.value") or ""), "backend": f"tool:{name}",
                                 "n_results": 1 if output else 0, "results": [{"text": str(output)[:500]}] if output else []})
    answer = root["attrs"].get("output.value")
    task.answer = str(answer) if answer is not None else (str(last_llm_output) if last_llm_output is not None else None)
    if not task.question and task.retrievals:
        task.question = task.retrievals[0].query
    if root["attrs"].get("exception.message") or str(root["attrs"].get("status_code", "")).upper() == "ERROR":
        task.status, task.error = "failed", str(root["attrs"].get("exception.message") or "error")
    return task


def _jsonl_docs(items, where: str) -> list[ObservedDoc]:
    if not isinstance(items, list):
        raise Malformed(where)
    docs = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or (item.get("id") is None and not item.get("content")):
            raise Malformed(f"{where}[{i}].id")
        score, rerank = item.get("score"), item.get("rerank_score")
        docs.append(ObservedDoc(str(item["id"]) if item.get("id") is not None else content_id(item["content"]), item.get("content") or "",
                                float(score) if isinstance(score, (int, float)) else None,
                                float(rerank) if isinstance(rerank, (int, float)) else None, item.get("doc_id")))
    return docs


def parse_jsonl(lines: list[str]) -> list[ObservedTask]:
    tasks = []
    for no, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise Malformed(f"valid JSON ({exc.msg})") from exc
            if not isinstance(row, dict):
                raise Malformed("a JSON object per line")
            for key in ("task_id", "question", "retrievals"):
                if not row.get(key) and row.get(key) != []:
                    raise Malformed(key)
            task = ObservedTask(task_id=str(row["task_id"]), question=str(row["question"]), doc_id=row.get("doc_id"),
                                answer_type=row.get("answer_type"), answer=row.get("answer"), citations=row.get("citations"),
                                status=row.get("status", "done"), error=row.get("error"), seconds=float(row.get("seconds") or 0.0),
                                success=row.get("success"))
            for i, call in enumerate(row["retrievals"]):
                if not isinstance(call, dict) or not isinstance(call.get("query"), str):
                    raise Malformed(f"retrievals[{i}].query")
                reranked = call.get("reranked")
                task.retrievals.append(ObservedRetrieval(call["query"], _jsonl_docs(call.get("documents"), f"retrievals[{i}].documents"),
                                                         reranked=_jsonl_docs(reranked, f"retrievals[{i}].reranked") if reranked is not None else None))
            for call in row.get("llm_calls") or []:
                seconds = float(call.get("seconds") or 0.0)
                task.steps.append({"node": "llm", "seconds": seconds, "llm_seconds": seconds,
                                   "tokens_in": int(call.get("tokens_in") or 0), "tokens_out": int(call.get("tokens_out") or 0)})
            for hit in row.get("web") or []:
                task.web.append({"query": str(hit.get("query") or task.question), "backend": str(hit.get("backend") or "web"),
                                 "n_results": int(hit.get("n_results") or len(hit.get("results") or [])), "results": hit.get("results") or []})
            if task.status not in ("done", "failed"):
                raise Malformed("status ('done' or 'failed')")
        except Malformed as exc:
            raise DataError(f"line {no}", f"a JSONL trace with {exc.attribute}", "fix or drop that line; nothing was imported") from None
        tasks.append(task)
    return tasks


def _check_contents(ws, tasks: list[ObservedTask], lines_of: dict[str, int]) -> None:
    """Every document the workspace lacks must bring its content (checked before writing)."""
    empty = {d.id: t.task_id for t in tasks for r in t.retrievals for d in r.docs + (r.reranked or []) if not d.content.strip()}
    if not empty:
        return
    with ws.db() as con:
        known = {r[0] for r in con.execute("SELECT chunk_id FROM chunks WHERE chunk_id IN (SELECT unnest(?))", [list(empty)]).fetchall()}
    for doc_id, task_id in empty.items():
        if doc_id not in known:
            raise DataError(f"line {lines_of.get(task_id, '?')}: document {doc_id!r}", "its document.content (the workspace does not hold it)",
                            "export spans with document contents; nothing was imported")


def import_file(ws, fmt: str, path: Path | str, run_id: str | None = None, progress: bool = False) -> tuple[str, int, int]:
    """Import one file; returns (run_id, tasks in the file, tasks newly written)."""
    from rag_agent.tracer_rows import write_tasks

    if fmt not in FORMATS:
        raise DataError(f"--format {fmt}", f"one of {', '.join(FORMATS)}", "pass --format openinference or --format jsonl")
    path = Path(path)
    if not path.is_file():
        raise DataError(str(path), "a readable span/trace file", "check the path")
    lines = path.read_text(encoding="utf-8").splitlines()
    tasks = parse_openinference(lines) if fmt == "openinference" else parse_jsonl(lines)
    _check_contents(ws, tasks, _first_lines(lines, fmt))
    run_id = run_id or f"import-{path.stem}"
    if not progress:
        return run_id, len(tasks), write_tasks(ws.db_path, run_id, tasks, llm=f"import:{fmt}", batch=IMPORT_BATCH)
    from rich.progress import Progress

    with Progress() as bar:
        job = bar.add_task(f"importing {path.name}", total=len(tasks))
        written = write_tasks(ws.db_path, run_id, tasks, llm=f"import:{fmt}", progress=lambda n: bar.advance(job, n), batch=IMPORT_BATCH)
    return run_id, len(tasks), written


def _first_lines(lines: list[str], fmt: str) -> dict[str, int]:
    """task id -> the first line it came from (for error messages after parsing)."""
    out: dict[str, int] = {}
    for no, line in enumerate(lines, start=1):
        try:
            row = json.loads(line)
            key = row.get("task_id") if fmt == "jsonl" else (row.get("context") or {}).get("trace_id") or row.get("trace_id")
        except (ValueError, AttributeError):
            continue
        if key is not None:
            out.setdefault(str(key), no)
    return out


def register(app) -> None:
    import typer

    from rag_agent.cli_common import SetOpt, VerboseOpt, WorkspaceOpt, open_workspace, setup_logging

    @app.command("import")
    def import_command(
        file: Path = typer.Argument(..., help="The span or trace file."),
        fmt: str = typer.Option(..., "--format", help="openinference | jsonl"),
        run_id: Optional[str] = typer.Option(None, "--run-id", help="Run id for the imported tasks (default: import-<file stem>)."),
        workspace: Path = WorkspaceOpt,
        overrides: Optional[List[str]] = SetOpt,
        verbose: bool = VerboseOpt,
    ) -> None:
        """Import traces from another tool (all-or-nothing per file) as trace rows, ready to harvest."""
        setup_logging(verbose)
        ws = open_workspace(workspace, overrides, create=True)
        run, total, written = import_file(ws, fmt, file, run_id, progress=True)
        typer.echo(f"imported {written} new task(s) of {total} into run {run}")
