"""Saved llama.cpp KV states of recent prompts, so a prompt can resume from the longest one it shares.

llama.cpp keeps one KV cache: a new prompt reuses only what it shares with the prompt evaluated
last. The agent's answer call, when no attempt passed, shows the best-scored attempt's documents,
which is usually not the last attempt graded, so it re-read ~850 prompt tokens (~9 s at 95 tokens/s
on 2 cores; measured +19 s a task at 35 tokens/s, 2026-11-30). Keeping the KV of the last few
prompts lets that call, and a judge that returns to an earlier chunk, start from the saved prefix.

Only sequence 0's KV cells are saved (`llama_state_seq_get_data`), not llama-cpp-python's own
`save_state`, which also copies its n_batch x vocabulary logits buffer (~300 MB for Qwen2.5 at
n_batch 512) per state. A restored state never serves its logits: callers evaluate at least the
last prompt token afresh (see `LlamaCppLLM._eval_reusing_prefix`).
"""

from __future__ import annotations

import ctypes
import logging
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)


@dataclass
class SavedPrefix:
    tokens: np.ndarray  # the prompt tokens whose KV is saved, in order
    kv: bytes  # llama_state_seq_get_data of sequence 0


def shared_prefix(a: np.ndarray, b: np.ndarray) -> int:
    """Length of the common prefix of two token arrays."""
    n = min(len(a), len(b))
    if n == 0:
        return 0
    differ = np.flatnonzero(a[:n] != b[:n])
    return int(differ[0]) if len(differ) else n


class PrefixStates:
    """At most `capacity` saved prompt states, least recently used dropped first."""

    def __init__(self, capacity: int):
        self.capacity = max(0, int(capacity))
        self._states: OrderedDict[bytes, SavedPrefix] = OrderedDict()
        self.restored_tokens = 0  # prompt tokens served from a saved state instead of re-read

    def __len__(self) -> int:
        return len(self._states)

    def save(self, llama) -> None:
        """Save the KV of what `llama` has evaluated (its `_input_ids`) under those tokens."""
        if self.capacity == 0 or llama.n_tokens == 0:
            return
        from llama_cpp import llama_cpp as lib

        tokens = np.array(llama._input_ids, dtype=np.int32)
        key = tokens.tobytes()
        size = lib.llama_state_seq_get_size(llama._ctx.ctx, 0)
        buffer = (ctypes.c_uint8 * size)()
        written = lib.llama_state_seq_get_data(llama._ctx.ctx, buffer, size, 0)
        if written == 0:
            log.debug("llama_state_seq_get_data wrote nothing; prefix not saved")
            return
        self._states.pop(key, None)
        self._states[key] = SavedPrefix(tokens, bytes(buffer)[:written])
        while len(self._states) > self.capacity:
            self._states.popitem(last=False)

    def best(self, tokens: np.ndarray) -> tuple[bytes | None, int]:
        """The saved state sharing the longest prefix with `tokens`, and that length."""
        best_key, best_len = None, 0
        for key, saved in self._states.items():
            length = shared_prefix(saved.tokens, tokens)
            if length > best_len:
                best_key, best_len = key, length
        return best_key, best_len

    def restore_if_longer(self, llama, tokens: list[int]) -> int:
        """Load the saved state that shares more of `tokens` than the live KV cache does (keeping at
        least the last token to evaluate); returns the prefix length now in the KV cache that
        matches `tokens` (0 when nothing matches)."""
        wanted = np.asarray(tokens[:-1], dtype=np.int32)
        live = shared_prefix(np.asarray(llama._input_ids, dtype=np.int32), wanted)
        key, length = self.best(wanted) if self.capacity else (None, 0)
        if key is None or length <= live:
            return live
        from llama_cpp import llama_cpp as lib

        saved = self._states[key]
        self._states.move_to_end(key)
        data = (ctypes.c_uint8 * len(saved.kv)).from_buffer_copy(saved.kv)
        if lib.llama_state_seq_set_data(llama._ctx.ctx, data, len(saved.kv), 0) == 0:
            log.debug("llama_state_seq_set_data refused a saved prefix; evaluating afresh")
            llama.reset()
            return 0
        n = len(saved.tokens)
        llama.input_ids[:n] = saved.tokens
        llama.n_tokens = n
        # The context's logits are still the last live decode's: make llama-cpp-python's generate()
        # re-evaluate at least one token instead of sampling from them ("exact prompt cached").
        llama._requires_eval = True
        self.restored_tokens += length - live
        return length
