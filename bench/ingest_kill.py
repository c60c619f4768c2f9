"""kill -9 in the middle of ingesting one huge document, then re-run: what survives.

    python bench/ingest_kill.py [--mb 5] [--commit-chunks 2048] [--workspace DIR]

Generates a ~5 MB contract-like document (far larger than `chunking.commit_chunks` chunks, under
`chunking.max_document_bytes`) and a 20 MB one-line file, starts `python -m rag_agent ingest` on
them in a subprocess, and kills it with SIGKILL right after the first index checkpoint inside the
document appears on disk. Then it runs the same ingest again and prints: the chunks of the
document, the vectors saved before the kill, the chunks the re-run embedded (ideally chunks minus
saved), the final index count against the chunk rows, and the skip line of the 20 MB file.
Embedding thousands of chunks takes minutes on a small CPU, hence a bench, not a test.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
WORDS = ("party agreement term notice payment licensee licensor territory confidential obligation warranty "
         "indemnify breach termination assign governing law delaware royalty exclusive product services").split()


def make_document(path: Path, megabytes: float, seed: int = 0) -> None:
    rng = random.Random(seed)
    target = int(megabytes * 1_000_000)
    with open(path, "w") as fh:
        written, section = 0, 1
        while written < target:
            sentence = " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 25))).capitalize() + ". "
            if rng.random() < 0.05:
                sentence = f"\n\n{section}. SECTION {section}\n" + sentence
                section += 1
            fh.write(sentence)
            written += len(sentence)


def ingest_command(ws: Path, paths: list[Path], commit_chunks: int) -> list[str]:
    return [sys.executable, "-m", "rag_agent", "ingest", *map(str, paths), "-w", str(ws), "--set", f"chunking.commit_chunks={commit_chunks}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=float, default=5.0)
    parser.add_argument("--commit-chunks", type=int, default=2048)
    parser.add_argument("--workspace", type=Path, default=None, help="a new folder (default: a temporary one)")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="ingest-kill-"))
    ws_root = args.workspace or scratch / "ws"
    big, huge = scratch / "big_contract.txt", scratch / "one_line_20mb.txt"
    make_document(big, args.mb)
    huge.write_text("x" * 20_000_001)
    env = dict(os.environ, PYTHONPATH=str(REPO), COLUMNS="250")
    command = ingest_command(ws_root, [big, huge], args.commit_chunks)

    started = time.perf_counter()
    child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    meta = None
    while child.poll() is None:
        meta = next(iter((ws_root / "indexes").glob("*/meta.json")), None) if (ws_root / "indexes").is_dir() else None
        if meta is not None:  # the first checkpoint inside the document is on disk
            time.sleep(1.0)
            os.kill(child.pid, signal.SIGKILL)
            break
        time.sleep(0.2)
    child.wait()
    killed_after = time.perf_counter() - started
    if meta is None:
        print(f"ingest ended (exit {child.returncode}) before any checkpoint; raise --mb or lower --commit-chunks")
        return

    from rag_agent.retrieval.factory import load_index
    from rag_agent.workspace import Workspace

    ws = Workspace.open(ws_root, create=False)
    saved = len(load_index(meta.parent))
    with ws.db(read_only=True) as con:
        chunks = con.execute("SELECT count(*) FROM chunks").fetchone()[0]

    rerun_started = time.perf_counter()
    rerun = subprocess.run(command, env=env, capture_output=True, text=True)
    rerun_seconds = time.perf_counter() - rerun_started
    with ws.db(read_only=True) as con:
        chunks_after = con.execute("SELECT count(*) FROM chunks").fetchone()[0]
    final = len(load_index(meta.parent))
    embedded = re.search(r"(\d+) chunks in the database lack vectors", " ".join(rerun.stdout.split() + rerun.stderr.split()))
    skip = [" ".join(line.split()) for line in rerun.stdout.splitlines() if "one_line_20mb.txt" in line]

    print(f"document: {big.stat().st_size:,} bytes, {chunks_after:,} chunks (commit_chunks={args.commit_chunks})")
    print(f"killed (SIGKILL) after {killed_after:.1f}s: {chunks:,} chunk rows committed, {saved:,} vectors saved")
    print(f"re-run: exit {rerun.returncode}, embedded {embedded.group(1) if embedded else 0} chunks in {rerun_seconds:.1f}s "
          f"(would be {chunks_after:,} without the in-document checkpoints)")
    print(f"index count {final:,} vs chunk rows {chunks_after:,}: {'EQUAL' if final == chunks_after else 'MISMATCH'}")
    print(f"20 MB one-liner: {skip[0] if skip else 'NOT REPORTED'}")
    if args.workspace is None:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
