"""A corpus of bad input, generated here, through the real CLIs as subprocesses: every bad item is
reported by name, no good file is lost, no command prints a traceback, and a command that could
do nothing useful exits non-zero."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
GOOD = {
    "lease.txt": "The tenant shall pay rent on the first day of each month. " * 5,
    "nda.txt": "The receiving party shall keep all confidential information secret. " * 5,
}


def make_bad_corpus(root: Path) -> dict[str, str]:
    """Writes good and bad files under root/corpus; returns {bad name: what its skip line must say}."""
    corpus = root / "corpus"
    corpus.mkdir()
    for name, text in GOOD.items():
        (corpus / name).write_text(text)
    (corpus / "binary.txt").write_bytes(bytes(range(256)) * 4)
    (corpus / "empty.txt").write_text("")
    (corpus / "latin1.txt").write_bytes("Le locataire paiera le loyer à échéance.".encode("latin-1"))
    (corpus / "nul.txt").write_bytes(b"text with a NUL\x00 byte")
    with open(corpus / "huge.txt", "w") as fh:  # a 20 MB one-liner: over chunking.max_document_bytes
        fh.write("x" * 20_000_001)
    os.symlink("loop_b.txt", corpus / "loop_a.txt")
    os.symlink("loop_a.txt", corpus / "loop_b.txt")
    os.symlink("nowhere.txt", corpus / "dangling.txt")
    (corpus / "x.txt").mkdir()
    return {
        "binary.txt": "binary", "empty.txt": "empty", "latin1.txt": "not UTF-8", "nul.txt": "NUL",
        "huge.txt": "20,000,001 bytes", "loop_a.txt": "symlink loop", "loop_b.txt": "symlink loop",
        "dangling.txt": "dangling symlink", "x.txt": "directory",
    }


def cli(cwd: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO), COLUMNS="250", OMP_NUM_THREADS="1", RAGLOOP_CACHE=os.environ.get("RAGLOOP_CACHE", ""))
    if not env["RAGLOOP_CACHE"]:
        del env["RAGLOOP_CACHE"]
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def no_traceback(result: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout, result.stderr[-3000:]


def one_error_line(result: subprocess.CompletedProcess) -> str:
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode != 0 and len(lines) == 1, (result.returncode, result.stderr[-2000:])
    return lines[0]


@pytest.mark.slow
def test_the_bad_input_corpus_is_reported_by_name_and_nothing_good_is_lost(tmp_path):
    bad = make_bad_corpus(tmp_path)
    ws = tmp_path / "ws"
    ingest = cli(tmp_path, "rag_agent", "ingest", str(tmp_path / "corpus"), "-w", str(ws))
    no_traceback(ingest)
    assert ingest.returncode == 0, ingest.stderr[-2000:]
    skip_lines = [" ".join(line.split()) for line in ingest.stdout.splitlines() if line.startswith("skipped")]
    for name, says in bad.items():
        matching = [line for line in skip_lines if f"{name}:" in line]
        assert len(matching) == 1 and says in matching[0], (name, skip_lines)
    assert len(skip_lines) == len(bad)  # 100 % reported, each once

    from rag_agent.workspace import Workspace

    workspace = Workspace.open(ws, create=False)
    with workspace.db(read_only=True) as con:
        docs = sorted(r[0] for r in con.execute("SELECT doc_id FROM documents").fetchall())
        chunks = con.execute("SELECT count(*) FROM chunks").fetchone()[0]
    assert docs == ["lease", "nda"] and chunks >= 2  # 0 good files lost
    from rag_agent.retrieval.factory import open_index

    from rag_agent.retrieval.embedder import SentenceTransformerEmbedder

    emb = SentenceTransformerEmbedder.from_spec("bundled:all-MiniLM-L6-v2")
    assert len(open_index(workspace, emb.version, emb.dim)) == chunks

    # A task file that is not UTF-8: one line naming the file and the line.
    tasks = tmp_path / "tasks_latin1.jsonl"
    tasks.write_bytes(json.dumps({"id": "a", "question": "Who pays rent?"}).encode() + b"\n"
                      + json.dumps({"id": "b", "question": "Qui paie?"}).replace("?", "\xe0?").encode("latin-1") + b"\n")
    run = cli(tmp_path, "rag_agent", "run", "--tasks", str(tasks), "-w", str(ws))
    no_traceback(run)
    assert f"{tasks}:2" in one_error_line(run)

    # --limit below 1 is refused, not silently dropping the last task.
    limited = cli(tmp_path, "rag_agent", "run", "--tasks", str(tasks), "--limit", "-1", "-w", str(ws))
    no_traceback(limited)
    assert "--limit -1" in one_error_line(limited)

    # A workspace path under a regular file.
    under_file = cli(tmp_path, "rag_agent", "ingest", str(tmp_path / "corpus" / "lease.txt"), "-w", str(tmp_path / "corpus" / "lease.txt" / "ws"))
    no_traceback(under_file)
    assert "regular file" in one_error_line(under_file)


def write_beir(folder: Path, qrels: str | None) -> Path:
    folder.mkdir(parents=True)
    (folder / "corpus.jsonl").write_text("".join(json.dumps({"_id": f"d{i}", "title": "", "text": f"Clause {i} about rent."}) + "\n" for i in range(3)))
    (folder / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "rent clause"}) + "\n")
    if qrels is not None:
        (folder / "qrels").mkdir()
        (folder / "qrels" / "test.tsv").write_text(qrels)
    return folder


@pytest.mark.slow
def test_suites_without_evaluable_queries_are_errors_and_store_nothing(tmp_path):
    from rag_agent.workspace import Workspace

    ws = Workspace.open(tmp_path / "ws")
    ws.connect().close()
    no_qrels = write_beir(tmp_path / "beir_no_qrels", None)
    header_only = write_beir(tmp_path / "beir_header_only", "query-id\tcorpus-id\tscore\n")

    missing = cli(tmp_path, "evals", "run", "--suite", str(no_qrels), "-w", str(ws.root))
    no_traceback(missing)
    line = one_error_line(missing)
    assert "qrels missing" in line and str(no_qrels) in line

    empty = cli(tmp_path, "evals", "run", "--suite", str(header_only), "-w", str(ws.root))
    no_traceback(empty)
    assert "0 evaluable queries" in one_error_line(empty)
    with ws.db(read_only=True) as con:
        assert con.execute("SELECT count(*) FROM eval_runs").fetchone()[0] == 0  # never a stored score
