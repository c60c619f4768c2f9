"""Real processes for tests: a server on a free loopback port, started and waited for until it
answers, then stopped; the bundled GGUF served by `llama_cpp.server`; a process that holds a
DuckDB file's lock."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(command: list[str], ready_url: str, log_path: Path, wait_s: float, env: dict, give_up: Callable[[str], None]) -> subprocess.Popen:
    """Start `command` and return it once `ready_url` answers 2xx (bounded by `wait_s`);
    `give_up(reason)` is pytest.skip or pytest.fail, called after the process is killed. The log
    is appended to, so a server restarted on the same log keeps its whole story."""
    with open(log_path, "ab") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + wait_s
    while True:
        try:
            with urllib.request.urlopen(ready_url, timeout=2) as response:
                if 200 <= response.status < 300:
                    return process
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            stop(process)
            give_up(f"{Path(command[0]).name} not ready (exit {process.poll()}) after {wait_s}s: {log_path.read_text(errors='replace')[-1500:]}")
        time.sleep(0.3)


def stop(process: subprocess.Popen, wait_s: float = 15) -> None:
    """Terminate, then kill if it has not gone within `wait_s`."""
    process.terminate()
    try:
        process.wait(timeout=wait_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def serve(command: list[str], ready_url: str, log_path: Path, wait_s: float, env: dict, give_up: Callable[[str], None]) -> Iterator[None]:
    """`start` for the length of a with-block; the process is stopped when the block ends."""
    process = start(command, ready_url, log_path, wait_s, env, give_up)
    try:
        yield
    finally:
        stop(process)


def llama_server_command(port: int, n_ctx: int) -> list[str]:
    """`python -m llama_cpp.server` serving the bundled SmolLM2-135M as model "smol" on one thread."""
    from rag_agent.models import gguf_path

    return [
        sys.executable, "-m", "llama_cpp.server", "--model", str(gguf_path("smollm2-135m")), "--host", "127.0.0.1",
        "--port", str(port), "--n_ctx", str(n_ctx), "--n_threads", "1", "--model_alias", "smol",
    ]


def start_llama_server(port: int, n_ctx: int, log_path: Path, wait_s: float, give_up: Callable[[str], None]) -> subprocess.Popen:
    """The llama server on `port`, once its /v1/models answers (model load: allow for a busy machine)."""
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
    return start(llama_server_command(port, n_ctx), f"http://127.0.0.1:{port}/v1/models", log_path, wait_s, env, give_up)


@contextmanager
def llama_server(n_ctx: int, log_path: Path, wait_s: float, give_up: Callable[[str], None]) -> Iterator[str]:
    """A llama server on a free port for the with-block; yields its OpenAI base URL."""
    port = free_port()
    process = start_llama_server(port, n_ctx, log_path, wait_s, give_up)
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        stop(process)


@contextmanager
def duckdb_lock_holder(db_path: Path, scratch: Path, hold_s: int = 60) -> Iterator[subprocess.Popen]:
    """Another process that opens `db_path` (taking DuckDB's file lock) and keeps it for the
    with-block (at most `hold_s`); entered only once the lock is taken."""
    marker = scratch / "locked"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import duckdb, pathlib, time; con = duckdb.connect(%r); pathlib.Path(%r).touch(); time.sleep(%d)"
        % (str(db_path), str(marker), hold_s))])
    try:
        deadline = time.time() + 60
        while not marker.exists() and time.time() < deadline:
            time.sleep(0.1)
        assert marker.exists(), f"the lock holder did not open {db_path} within 60 s"
        yield holder
    finally:
        holder.kill()
        holder.wait()
