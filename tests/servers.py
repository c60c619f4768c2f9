"""Start a real server process on a free loopback port for a test, wait until it answers, stop it."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serve(command: list[str], ready_url: str, log_path: Path, wait_s: float, env: dict, give_up: Callable[[str], None]) -> Iterator[None]:
    """Run `command` until `ready_url` answers 2xx (bounded by `wait_s`); `give_up(reason)` is
    pytest.skip or pytest.fail. The process is terminated (then killed) when the block ends."""
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                with urllib.request.urlopen(ready_url, timeout=2) as response:
                    if 200 <= response.status < 300:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                give_up(f"{Path(command[0]).name} not ready (exit {process.poll()}) after {wait_s}s: {log_path.read_text(errors='replace')[-1500:]}")
            time.sleep(0.3)
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
