"""What every ChatLLM backend shares: schema validation with bounded repair retries, transport
retries with exponential backoff, choice probabilities from first-token log-probabilities, and
cumulative usage counters.

A backend implements two small hooks:
  `_complete_once(messages, schema, max_tokens, attempt) -> Reply` (one raw call, `parsed` unset)
  `_first_token_logprobs(messages, choices) -> (candidates, tokens_in, seconds)`, candidates being
   (token text, logprob) pairs for the reply's first token
and raises `TransientError` for failures worth retrying (connection refused, timeout, 5xx).
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

from rag_agent.config import LLMConfig
from rag_agent.errors import LLMError, LLMUnavailableError
from rag_agent.protocols import Reply

log = logging.getLogger(__name__)

T = TypeVar("T")

# How much of a bad reply an error message quotes: enough to recognise it, short enough for one line.
QUOTE_CHARS = 120


class TransientError(Exception):
    """A failure that may pass on its own (network, timeout, overloaded server): retried with backoff."""

    def __init__(self, what: str, expected: str, fix: str, status: int | None = None):
        super().__init__(what)
        self.what, self.expected, self.fix = what, expected, fix
        self.status = status  # HTTP status when there was one


class LogprobsUnavailable(LLMError):
    """The backend cannot give token log-probabilities at all (a server without logprobs support).

    Unlike one malformed reply (skipped and counted), this fails every later call the same way:
    callers that judge many items stop at once on it instead of finishing with nothing."""


@dataclass
class Usage:
    """Cumulative usage of one LLM object (all threads together)."""

    calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    seconds: float = 0.0


def quote(text: str, limit: int = QUOTE_CHARS) -> str:
    """One-line, truncated repr of a model reply for error messages."""
    flat = " ".join(str(text).split())
    return repr(flat if len(flat) <= limit else flat[:limit] + "…")


def parse_json_reply(text: str, schema: dict) -> tuple[Any, str | None]:
    """(parsed, None) when `text` is JSON conforming to `schema`, else (None, what is wrong)."""
    import jsonschema

    body = _strip_code_fence(text)
    try:
        parsed = json.loads(body)
    except json.JSONDecodeError as exc:
        return None, f"not JSON ({exc.msg} at char {exc.pos})"
    try:
        jsonschema.validate(parsed, schema)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "top level"
        return None, f"schema violation at {where}: {exc.message[:QUOTE_CHARS]}"
    return parsed, None


def _strip_code_fence(text: str) -> str:
    # Chat models outside grammar mode like to wrap JSON in ```json fences; the content is still JSON.
    body = text.strip()
    if body.startswith("```"):
        body = body.split("\n", 1)[1] if "\n" in body else body[3:]
        if body.rstrip().endswith("```"):
            body = body.rstrip()[:-3]
    return body.strip()


def schema_instruction(schema: dict) -> str:
    """The prompt text that asks for JSON when the backend cannot enforce the schema itself."""
    return "Reply with only a JSON object (no prose, no code fence) that conforms to this JSON schema:\n" + json.dumps(schema)


class BaseChatLLM:
    """Shared control flow of every backend; see the module docstring for the hooks."""

    name: str = "base"

    def __init__(self, cfg: LLMConfig, name: str, sleep: Callable[[float], None] = time.sleep):
        self.cfg = cfg
        self.name = name
        self._sleep = sleep  # injectable so control-flow tests do not wait
        self._usage = Usage()
        self._usage_lock = threading.Lock()

    # ---- usage --------------------------------------------------------------------------------
    @property
    def calls(self) -> int:
        return self._usage.calls

    @property
    def tokens_in(self) -> int:
        return self._usage.tokens_in

    @property
    def tokens_out(self) -> int:
        return self._usage.tokens_out

    @property
    def seconds(self) -> float:
        return self._usage.seconds

    def usage(self) -> dict[str, float]:
        with self._usage_lock:
            u = self._usage
            return {"calls": u.calls, "tokens_in": u.tokens_in, "tokens_out": u.tokens_out, "seconds": round(u.seconds, 3)}

    def _record(self, tokens_in: int, tokens_out: int, seconds: float) -> None:
        with self._usage_lock:
            self._usage.calls += 1
            self._usage.tokens_in += tokens_in
            self._usage.tokens_out += tokens_out
            self._usage.seconds += seconds

    # ---- protocol -----------------------------------------------------------------------------
    def complete(self, messages: list[dict], schema: dict | None = None, max_tokens: int | None = None) -> Reply:
        _check_messages(messages)
        if schema is not None and not isinstance(schema, dict):
            raise LLMError(f"schema={schema!r}", "a JSON schema dict or None", "pass the schema as a dict")
        limit = max_tokens or self.cfg.max_tokens
        attempts = max(1, self.cfg.max_retries + 1)
        asked = list(messages)
        spent = Reply(text="", model=self.name)
        problem, text = "", ""
        for attempt in range(attempts):
            reply = self._with_transport_retries(lambda: self._complete_once(asked, schema, limit, attempt))
            self._record(reply.tokens_in, reply.tokens_out, reply.seconds)
            # A reply's usage covers every attempt it took: callers see the real cost of a call.
            spent.tokens_in += reply.tokens_in
            spent.tokens_out += reply.tokens_out
            spent.seconds += reply.seconds
            if schema is None:
                return _merged(reply, spent, None)
            parsed, problem_or_none = parse_json_reply(reply.text, schema)
            if problem_or_none is None:
                return _merged(reply, spent, parsed)
            problem, text = problem_or_none, reply.text
            log.warning("%s: reply %s attempt %d/%d: %s", self.name, quote(text, 60), attempt + 1, attempts, problem)
            if attempt + 1 < attempts:
                # Re-ask with the validation error: repeating the same prompt at temperature 0
                # would only reproduce the same bad reply.
                asked = list(messages) + [
                    {"role": "assistant", "content": text[:2000]},
                    {"role": "user", "content": f"That reply was invalid: {problem}. {schema_instruction(schema)}"},
                ]
                self._sleep(self.cfg.backoff_s * (2**attempt))
        raise LLMError(
            f"{self.name} replied {quote(text)}",
            f"JSON conforming to the requested schema ({problem}; {attempts} attempts)",
            "raise llm.max_tokens if the reply was cut off, raise llm.max_retries, or use a stronger model (llm.backend=llama-cpp or openai)",
        )

    def choice_probabilities(self, messages: list[dict], choices: list[str]) -> dict[str, float]:
        _check_messages(messages)
        if len(choices) < 2 or any(not c.strip() for c in choices) or len({c.strip().lower() for c in choices}) != len(choices):
            raise LLMError(f"choices={choices!r}", "two or more distinct, non-empty choices", 'pass e.g. ["yes", "no"]')
        candidates, tokens_in, seconds = self._with_transport_retries(lambda: self._first_token_logprobs(messages, choices))
        self._record(tokens_in, 0, seconds)
        return choice_distribution(candidates, choices, self.name)

    # ---- hooks --------------------------------------------------------------------------------
    def _complete_once(self, messages: list[dict], schema: dict | None, max_tokens: int, attempt: int) -> Reply:
        raise NotImplementedError

    def _first_token_logprobs(self, messages: list[dict], choices: list[str]) -> tuple[list[tuple[str, float]], int, float]:
        """((token text, logprob) candidates for the reply's first token, prompt tokens, seconds);
        `choices` lets a backend with the full distribution look up just the tokens it needs."""
        raise NotImplementedError

    # ---- retries ------------------------------------------------------------------------------
    def _with_transport_retries(self, call: Callable[[], T]) -> T:
        attempts = max(1, self.cfg.max_retries + 1)
        for attempt in range(attempts):
            try:
                return call()
            except TransientError as exc:
                if attempt + 1 >= attempts:
                    raise LLMUnavailableError(exc.what, exc.expected, exc.fix) from None
                delay = self.cfg.backoff_s * (2**attempt)
                log.warning("%s: %s; retry %d/%d in %.1fs", self.name, exc.what, attempt + 1, attempts - 1, delay)
                self._sleep(delay)
        raise AssertionError("unreachable")


def choice_distribution(candidates: list[tuple[str, float]], choices: list[str], who: str) -> dict[str, float]:
    """Sum the probability of candidate first tokens per choice and renormalise over the choices.

    A token counts for a choice when, stripped and lower-cased, it is a non-empty prefix of the
    choice ("Yes", " yes", "Y" for "yes") or the choice is a prefix of it ("Yes," for "yes"); a token
    spelling a choice exactly counts for that choice only ("no" for "no" when "not" is a choice too).
    A token that fits two choices tells them apart by nothing, so it counts for neither.
    """
    keys = [c.strip().lower() for c in choices]
    mass = dict.fromkeys(choices, 0.0)
    for token, logprob in candidates:
        t = token.strip().lower()
        if not t:
            continue
        fits = [c for c, k in zip(choices, keys) if k == t] or [c for c, k in zip(choices, keys) if k.startswith(t) or t.startswith(k)]
        if len(fits) == 1:
            mass[fits[0]] += math.exp(logprob)
    total = sum(mass.values())
    if total <= 0.0:
        seen = ", ".join(repr(t) for t, _ in candidates[:8])
        raise LLMError(
            f"{who} first tokens [{seen}]",
            f"a reply starting with one of {choices}",
            "say in the prompt to answer with exactly one of the choices",
        )
    return {c: m / total for c, m in mass.items()}


def _merged(reply: Reply, spent: Reply, parsed: Any) -> Reply:
    return Reply(
        text=reply.text,
        parsed=parsed,
        tokens_in=spent.tokens_in,
        tokens_out=spent.tokens_out,
        seconds=spent.seconds,
        model=reply.model,
        logprobs=reply.logprobs,
    )


def _check_messages(messages: list[dict]) -> None:
    if not isinstance(messages, list) or not messages:
        raise LLMError(f"messages={messages!r:.80}", "a non-empty list of {role, content} dicts", "pass e.g. [{'role': 'user', 'content': '...'}]")
    for m in messages:
        if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant") or not isinstance(m.get("content"), str):
            raise LLMError(f"message {m!r:.80}", "{role: system|user|assistant, content: str}", "fix the message list")
