"""Embedded GGUF chat models through llama-cpp-python (pinned 0.3.36).

A model file is loaded once per process (keyed by path and context size) and shared by every
LlamaCppLLM that asks for it; one lock per loaded model serialises calls, because a llama.cpp
context holds one KV cache and is not safe to use from two threads at once.

JSON-schema replies are grammar-constrained (`response_format={"type": "json_object", "schema": ...}`),
so even a 135M model emits syntactically valid, schema-shaped JSON unless it runs out of tokens.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rag_agent.config import LLMConfig
from rag_agent.errors import LLMError
from rag_agent.llm.base import BaseChatLLM
from rag_agent.llm.prefix_states import PrefixStates, shared_prefix
from rag_agent.protocols import Reply

log = logging.getLogger(__name__)


@dataclass
class _Loaded:
    llama: Any  # llama_cpp.Llama
    lock: threading.Lock
    formatter: Any  # llama_chat_format.Jinja2ChatFormatter or None
    states: PrefixStates  # KV of recent prompts (llm.prefix_states), one store per llama.cpp context


_MODELS: dict[tuple[str, int], _Loaded] = {}
_MODELS_LOCK = threading.Lock()


def _load(path: Path, cfg: LLMConfig) -> _Loaded:
    key = (str(Path(path).resolve()), cfg.n_ctx)
    with _MODELS_LOCK:
        if key in _MODELS:
            return _MODELS[key]
        # Spinning OpenMP workers starve the other processes on a small shared machine; llama.cpp
        # threads stall without this on some VMs. Set before the library starts its thread pool.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise LLMError("llama_cpp", "llama-cpp-python==0.3.36 installed", "pip install llama-cpp-python==0.3.36, or set llm.backend=openai") from exc
        started = time.perf_counter()
        try:
            llama = Llama(
                model_path=str(path),
                n_ctx=cfg.n_ctx,
                n_threads=cfg.n_threads,
                n_threads_batch=cfg.n_threads,
                seed=cfg.seed,
                verbose=False,
            )
        except (ValueError, RuntimeError) as exc:
            raise LLMError(str(path), f"a loadable GGUF model ({exc})", "check the file, or lower llm.n_ctx if memory is short") from exc
        loaded = _Loaded(llama=llama, lock=threading.Lock(), formatter=_chat_formatter(llama), states=PrefixStates(cfg.prefix_states))
        log.info("loaded %s (n_ctx=%d) in %.1fs", Path(path).name, cfg.n_ctx, time.perf_counter() - started)
        _MODELS[key] = loaded
        return loaded


def _chat_formatter(llama: Any) -> Any:
    """The model's own chat template (from the GGUF metadata), used to build prompts token by token."""
    from llama_cpp import llama_chat_format

    template = llama.metadata.get("tokenizer.chat_template")
    if not template:
        return None
    eos_id, bos_id = llama.token_eos(), llama.token_bos()
    return llama_chat_format.Jinja2ChatFormatter(
        template=template,
        eos_token=llama._model.token_get_text(eos_id) if eos_id != -1 else "",
        bos_token=llama._model.token_get_text(bos_id) if bos_id != -1 else "",
        stop_token_ids=[eos_id],
    )


class LlamaCppLLM(BaseChatLLM):
    """ChatLLM over a local GGUF file; `name` is e.g. "llama-cpp:qwen2.5-coder-0.5b"."""

    def __init__(self, model_path: Path, cfg: LLMConfig, name: str, **kwargs: Any):
        super().__init__(cfg, name, **kwargs)
        self.model_path = Path(model_path)
        self._loaded = _load(self.model_path, cfg)
        self._choice_tokens: dict[tuple[str, ...], list[tuple[int, str]]] = {}
        # Prompt tokens of choice_probabilities calls: all of them, and those served from the KV
        # cache of the previous prompt (what chunk-major judging saves; bench/judge.py prints both).
        self.prompt_tokens_total = 0
        self.prompt_tokens_reused = 0

    # ---- complete -----------------------------------------------------------------------------
    def _complete_once(self, messages: list[dict], schema: dict | None, max_tokens: int, attempt: int) -> Reply:
        kwargs: dict[str, Any] = {
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": self.cfg.temperature,
            # A new seed per repair attempt: the same seed at the same prompt repeats the same reply.
            "seed": self.cfg.seed + attempt,
        }
        if schema is not None:
            kwargs["response_format"] = {"type": "json_object", "schema": schema}
        started = time.perf_counter()
        with self._loaded.lock:
            # Resume from a saved prompt that shares more with this one than the live KV cache does
            # (the answer call after a rewrite shows the best-scored attempt's documents, not the last).
            self._loaded.states.restore_if_longer(self._loaded.llama, self._prompt_tokens(messages))
            try:
                out = self._loaded.llama.create_chat_completion(**kwargs)
            except ValueError as exc:
                raise self._as_llm_error(exc, messages) from None
        seconds = time.perf_counter() - started
        usage = out.get("usage") or {}
        text = out["choices"][0]["message"].get("content") or ""
        if out["choices"][0].get("finish_reason") == "length":
            log.info("%s: reply cut at max_tokens=%d", self.name, max_tokens)
        return Reply(
            text=text,
            tokens_in=int(usage.get("prompt_tokens", 0)),
            tokens_out=int(usage.get("completion_tokens", 0)),
            seconds=seconds,
            model=self.name,
        )

    def _as_llm_error(self, exc: Exception, messages: list[dict]) -> LLMError:
        text = str(exc)
        if "context window" in text or "exceed" in text:
            chars = sum(len(m["content"]) for m in messages)
            return LLMError(f"{self.name} prompt of {chars} characters", f"a prompt within llm.n_ctx={self.cfg.n_ctx} tokens ({text[:100]})", "raise llm.n_ctx or show fewer/shorter chunks (agent.context_k)")
        return LLMError(f"{self.name} request", f"a request llama.cpp accepts ({text[:120]})", "check the messages and the JSON schema")

    # ---- choice probabilities -----------------------------------------------------------------
    def _first_token_logprobs(self, messages: list[dict], choices: list[str]) -> tuple[list[tuple[str, float]], int, float]:
        """Evaluate the formatted prompt and read the full next-token distribution from the logits.

        The public completion API only returns log-probabilities for contexts created with
        `logits_all=True`, which costs n_ctx x vocab floats (~2.5 GB for Qwen at n_ctx 4096);
        the last row of logits is all a first-token distribution needs.
        """
        llama = self._loaded.llama
        tokens = self._prompt_tokens(messages)
        if len(tokens) >= self.cfg.n_ctx:
            raise LLMError(f"{self.name} prompt of {len(tokens)} tokens", f"at most llm.n_ctx={self.cfg.n_ctx} tokens", "raise llm.n_ctx or shorten the prompt")
        started = time.perf_counter()
        with self._loaded.lock:
            reused = self._eval_reusing_prefix(tokens)
            self.prompt_tokens_total += len(tokens)
            self.prompt_tokens_reused += reused
            pointer = llama._ctx.get_logits_ith(-1)
            logits = np.ctypeslib.as_array(pointer, shape=(llama.n_vocab(),)).astype(np.float64)
        top = logits.max()
        logprobs = logits - (top + np.log(np.exp(logits - top).sum()))
        candidates = [(text, float(logprobs[token_id])) for token_id, text in self._candidate_tokens(tuple(choices))]
        return candidates, len(tokens), time.perf_counter() - started

    def _candidate_tokens(self, choices: tuple[str, ...]) -> list[tuple[int, str]]:
        """First tokens of each choice as the model would spell it: as is, capitalised, upper, with a leading space."""
        if choices in self._choice_tokens:
            return self._choice_tokens[choices]
        llama = self._loaded.llama
        seen: dict[int, str] = {}
        for choice in choices:
            word = choice.strip()
            for variant in {word, word.lower(), word.capitalize(), word.upper()}:
                for spelled in (variant, " " + variant):
                    ids = llama.tokenize(spelled.encode("utf-8"), add_bos=False, special=False)
                    if ids:
                        seen[ids[0]] = llama.detokenize([ids[0]]).decode("utf-8", errors="replace")
        self._choice_tokens[choices] = list(seen.items())
        return self._choice_tokens[choices]

    def _prompt_tokens(self, messages: list[dict]) -> list[int]:
        llama = self._loaded.llama
        formatter = self._loaded.formatter
        if formatter is None:
            # No template in the file: a plain transcript still yields a usable first-token distribution.
            prompt = "".join(f"{m['role']}: {m['content']}\n" for m in messages) + "assistant:"
            return llama.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)
        result = formatter(messages=messages)
        return llama.tokenize(result.prompt.encode("utf-8"), add_bos=not result.added_special, special=True)

    def _eval_reusing_prefix(self, tokens: list[int]) -> int:
        """Evaluate `tokens`, keeping the KV cache for the prefix shared with the last prompt
        (the judge asks many questions behind the same system prompt, or, passage-first and
        chunk-major, behind the same [system][chunk]); returns how many tokens were reused."""
        llama = self._loaded.llama
        states = self._loaded.states
        states.restore_if_longer(llama, tokens)  # a saved prompt may share more than the live cache
        # At least one token is evaluated, so the logits read next are this prompt's own.
        shared = shared_prefix(np.asarray(llama._input_ids, dtype=np.int32), np.asarray(tokens[:-1], dtype=np.int32))
        if shared > 0 and llama._ctx.kv_cache_seq_rm(-1, shared, -1):
            llama.n_tokens = shared
        else:
            llama.reset()
        reused = llama.n_tokens
        llama.eval(tokens[llama.n_tokens :])
        states.save(llama)
        return reused
