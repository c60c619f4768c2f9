"""`python -m rag_agent.llm.decode_check`: does this machine's llama-cpp-python build decode at all?

`make setup` runs it last. A llama.cpp build can load a model and still crash on the first decode:
the native build's AMX kernels did exactly that on this project's Sapphire Rapids VMs
(SIGSEGV in ggml_backend_amx_mul_mat, 2026-12-05), which killed every test and command that uses an
LLM with no Python traceback. The decode runs in a child process, so a crash becomes one line
naming the signal and the fix instead of a dead interpreter.
"""

from __future__ import annotations

import signal
import subprocess
import sys

_CHILD = """
from llama_cpp import Llama
from rag_agent.models import gguf_path
llama = Llama(model_path=str(gguf_path("smollm2-135m")), n_ctx=256, n_threads=1, verbose=False)
llama.eval(llama.tokenize(b"This Agreement is governed by the laws of Delaware.", add_bos=True))
"""

FIX = (
    "rebuild it without AMX: rm -rf ~/.cache/ragloop/wheels/llama-cpp-python-* .venv/.ragloop-installed && make setup "
    "(the Makefile builds it with -mno-amx-*)"
)


def check(timeout_s: float = 120.0) -> str | None:
    """None when a short decode with the bundled SmolLM2 succeeds, else the one-line error."""
    try:
        done = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return f"error: llama-cpp-python took over {timeout_s:.0f} s to decode 12 tokens with SmolLM2-135M: expected well under a second; {FIX}"
    if done.returncode == 0:
        return None
    if done.returncode < 0:
        name = signal.Signals(-done.returncode).name
        return f"error: llama-cpp-python died with {name} decoding 12 tokens with SmolLM2-135M: expected a working decode; {FIX}"
    last = (done.stderr.strip().splitlines() or ["no output"])[-1]
    return f"error: llama-cpp-python failed to decode 12 tokens with SmolLM2-135M ({last[:160]}): expected a working decode; {FIX}"


def main() -> int:
    problem = check()
    if problem:
        print(problem, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
