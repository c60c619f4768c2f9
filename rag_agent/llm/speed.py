"""How fast the loaded LLM reads a prompt here: what `training loop --minutes` plans its first cycle
from (training/loop_plan.py), before any cycle has measured itself."""

from __future__ import annotations

import time

# A contract-like passage; its exact words do not matter, only that it tokenises like the agent's
# documents (about 4 characters a token for English legal text).
_TEXT = ("This Agreement shall be governed by and construed in accordance with the laws of the State of "
         "Delaware, without regard to its conflict of laws principles. Either party may terminate this "
         "Agreement upon thirty (30) days prior written notice to the other party. ")


def prompt_tokens_per_second(llm, n_tokens: int = 300, tokens: list[int] | None = None, keep: bool = False, repeats: int = 3) -> float | None:
    """Prompt tokens evaluated per second by an embedded llama.cpp model (None for other backends,
    e.g. an OpenAI-compatible server, whose speed is not ours to measure). Evaluates `tokens` (by
    default `n_tokens` of contract-like text) fresh, `repeats` times, and returns the fastest: a
    short burst of other work on the 2 cores halves one reading (a fresh-clone run of 2026-12-07
    read 38.6 tokens/s while another process was busy for a few seconds, then ran its agent at the
    speed of a 70-tokens/s machine, and planned 2 tasks for its first cycle). Leaves the KV cache
    empty, as a new task would find it (`keep=True`: leaves the prompt in it, for a caller that
    times generation next)."""
    loaded = getattr(llm, "_loaded", None)
    if loaded is None:
        return None
    llama = loaded.llama
    if tokens is None:
        tokens = llama.tokenize((_TEXT * (n_tokens // 40 + 1)).encode("utf-8"), add_bos=True, special=False)[:n_tokens]
    best = None
    with loaded.lock:
        # An 8-token warm-up first, so the timing never includes paging the memory-mapped weights in
        # (slow disks). On this project's 2-core VM it made no difference (69.8 tokens/s cold, 71.5
        # warm, 2026-12-06): this 300-token probe reads ~70 where the agent's ~850-token prompts
        # read 89-105, which is why training/loop_plan.py pairs its reference with this probe.
        llama.reset()
        llama.eval(tokens[:8])
        for _ in range(max(repeats, 1)):
            llama.reset()
            started = time.perf_counter()
            llama.eval(tokens)
            seconds = time.perf_counter() - started
            if seconds > 0:
                best = max(best or 0.0, len(tokens) / seconds)
        if not keep:
            llama.reset()
    return best
