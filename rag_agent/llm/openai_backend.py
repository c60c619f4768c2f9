"""Any OpenAI-compatible chat endpoint (OpenAI, vLLM, `python -m llama_cpp.server`, Ollama...).

JSON schemas are requested the strictest way the server accepts, remembered per LLM object:
  1. `response_format={"type": "json_schema", "json_schema": {..., "strict": True}}` (OpenAI, vLLM);
  2. `{"type": "json_object", "schema": schema}` + schema in the prompt (llama.cpp's server);
  3. `{"type": "json_object"}` + schema in the prompt (anything else with a JSON mode).
A server rejecting a mode with 400/422 moves to the next; so does a 500, because some servers
(llama_cpp.server among them) report a request they cannot validate as an internal error. The
reply is validated against the schema either way.

Transport failures (refused, timeout, 429, 5xx) are retried with exponential backoff and end as
one LLMError line naming the endpoint and the fix; the client's own retries are off so the
bound is ours (`llm.max_retries`, `llm.backoff_s`, `llm.timeout_s`).
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from rag_agent.config import LLMConfig
from rag_agent.errors import LLMError
from rag_agent.llm.base import BaseChatLLM, LogprobsUnavailable, TransientError, schema_instruction
from rag_agent.protocols import Reply

log = logging.getLogger(__name__)

SCHEMA_MODES = ("json_schema", "json_object+schema", "json_object")
# OpenAI returns at most 20 alternatives per token; fewer would miss a choice's spelling variants.
TOP_LOGPROBS = 20
# Placeholder key for local servers that ignore it (the client refuses to start without one).
NO_KEY = "sk-no-key-required"


class OpenAICompatLLM(BaseChatLLM):
    """ChatLLM over an OpenAI-compatible HTTP endpoint; `name` is "openai:<model>"."""

    def __init__(self, cfg: LLMConfig, client: Any = None, **kwargs: Any):
        if not cfg.base_url and client is None and not os.environ.get(cfg.api_key_env):
            raise LLMError("llm.base_url=''", "an OpenAI-compatible endpoint URL, or an API key for api.openai.com", f"set llm.base_url (e.g. http://127.0.0.1:8000/v1) or export {cfg.api_key_env}")
        super().__init__(cfg, f"openai:{cfg.model or 'default'}", **kwargs)
        self.endpoint = cfg.base_url or "https://api.openai.com/v1"
        self._client = client or self._make_client()
        self._schema_mode = 0  # index into SCHEMA_MODES; moves forward when the server rejects a mode

    def _make_client(self) -> Any:
        from openai import OpenAI

        return OpenAI(
            base_url=self.endpoint,
            api_key=os.environ.get(self.cfg.api_key_env) or NO_KEY,
            timeout=self.cfg.timeout_s,
            max_retries=0,
        )

    # ---- complete -----------------------------------------------------------------------------
    def _complete_once(self, messages: list[dict], schema: dict | None, max_tokens: int, attempt: int) -> Reply:
        while True:
            mode = SCHEMA_MODES[self._schema_mode] if schema is not None else None
            request = self._request(messages, schema, mode, max_tokens, attempt)
            started = time.perf_counter()
            can_downgrade = mode is not None and self._schema_mode + 1 < len(SCHEMA_MODES)
            try:
                response = self._call(request)
            except _Rejected as exc:
                if not can_downgrade:
                    raise LLMError(f"{self.endpoint} rejected the request", f"a server that accepts chat completions ({exc})", "check llm.model and the server's supported options") from None
                self._downgrade(mode, str(exc))
                continue
            except TransientError as exc:
                if not (can_downgrade and exc.status == 500):
                    raise
                self._downgrade(mode, exc.what)
                continue
            seconds = time.perf_counter() - started
            choice = response.choices[0]
            usage = getattr(response, "usage", None)
            return Reply(
                text=choice.message.content or "",
                tokens_in=int(getattr(usage, "prompt_tokens", 0) or 0),
                tokens_out=int(getattr(usage, "completion_tokens", 0) or 0),
                seconds=seconds,
                model=f"openai:{getattr(response, 'model', None) or self.cfg.model}",
            )

    def _downgrade(self, mode: str | None, why: str) -> None:
        log.info("%s: server refused response_format %s (%s); trying %s", self.name, mode, why, SCHEMA_MODES[self._schema_mode + 1])
        self._schema_mode += 1

    def _request(self, messages: list[dict], schema: dict | None, mode: str | None, max_tokens: int, attempt: int) -> dict:
        request: dict[str, Any] = {
            "model": self.cfg.model or "default",
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": self.cfg.temperature,
            "seed": self.cfg.seed + attempt,
        }
        if mode == "json_schema":
            request["response_format"] = {"type": "json_schema", "json_schema": {"name": "reply", "schema": schema, "strict": True}}
        elif mode is not None:
            # Without server-side enforcement the model must be told the shape.
            request["messages"] = list(messages) + [{"role": "system", "content": schema_instruction(schema or {})}]
            request["response_format"] = {"type": "json_object", "schema": schema} if mode == "json_object+schema" else {"type": "json_object"}
        return request

    # ---- choice probabilities -----------------------------------------------------------------
    def _first_token_logprobs(self, messages: list[dict], choices: list[str]) -> tuple[list[tuple[str, float]], int, float]:
        request = {
            "model": self.cfg.model or "default",
            "messages": messages,
            "max_tokens": 1,
            "temperature": 0.0,
            "seed": self.cfg.seed,
            "logprobs": True,
            "top_logprobs": TOP_LOGPROBS,
        }
        started = time.perf_counter()
        try:
            response = self._call(request)
        except _Rejected as exc:
            raise LogprobsUnavailable(f"{self.endpoint} rejected logprobs", f"a server that returns token log-probabilities ({exc})", "use a server with logprobs support (llama_cpp.server, vLLM, OpenAI)") from None
        seconds = time.perf_counter() - started
        logprobs = getattr(response.choices[0], "logprobs", None)
        content = getattr(logprobs, "content", None) if logprobs is not None else None
        if not content:
            raise LogprobsUnavailable(f"{self.endpoint} reply without logprobs", "token log-probabilities in the reply", "use a server with logprobs support (llama_cpp.server, vLLM, OpenAI)")
        first = content[0]
        candidates = [(alt.token, float(alt.logprob)) for alt in (first.top_logprobs or [])]
        if not candidates:
            candidates = [(first.token, float(first.logprob))]
        usage = getattr(response, "usage", None)
        return candidates, int(getattr(usage, "prompt_tokens", 0) or 0), seconds

    # ---- transport ----------------------------------------------------------------------------
    def _call(self, request: dict) -> Any:
        import openai

        try:
            return self._client.chat.completions.create(**request)
        except openai.APITimeoutError:
            raise TransientError(f"{self.endpoint}: no reply within llm.timeout_s={self.cfg.timeout_s:g}s", "a responsive OpenAI-compatible server", "check the server's load or raise llm.timeout_s") from None
        except openai.APIConnectionError as exc:
            raise TransientError(f"{self.endpoint}: endpoint unreachable ({_connection_cause(exc)})", "a running OpenAI-compatible server", "start it or set llm.base_url") from None
        except openai.AuthenticationError:
            raise LLMError(f"{self.endpoint}: API key refused (401)", f"a valid key in ${self.cfg.api_key_env}", f"export {self.cfg.api_key_env}=<key> or set llm.api_key_env") from None
        except openai.NotFoundError as exc:
            raise LLMError(f"{self.endpoint}: model {self.cfg.model!r} or route not found (404)", f"a model the server serves ({_status_detail(exc)})", "set llm.model to a served model and llm.base_url to the /v1 root") from None
        except (openai.BadRequestError, openai.UnprocessableEntityError) as exc:
            raise _Rejected(_status_detail(exc)) from None
        except (openai.RateLimitError, openai.InternalServerError) as exc:
            raise TransientError(
                f"{self.endpoint}: server busy or failing (HTTP {exc.status_code}: {_status_detail(exc)[:80]})",
                "a healthy OpenAI-compatible server",
                "wait and retry, or raise llm.max_retries / llm.backoff_s",
                status=exc.status_code,
            ) from None
        except openai.APIStatusError as exc:
            raise LLMError(f"{self.endpoint}: HTTP {exc.status_code}", f"a successful chat completion ({_status_detail(exc)})", "check llm.base_url, llm.model and the server log") from None


class _Rejected(Exception):
    """The server refused the request's shape (400/422): try a plainer request, or give up."""


def _status_detail(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error")
        message = (error.get("message") if isinstance(error, dict) else error) or body.get("message") or body.get("detail")
        if message:
            return " ".join(str(message).split())[:160]
    return " ".join(str(exc).split())[:160]


def _connection_cause(exc: BaseException) -> str:
    cause = exc.__cause__ or exc.__context__
    text = str(cause or exc).lower()
    if "refused" in text:
        return "connection refused"
    if "name or service not known" in text or "nodename nor servname" in text or "getaddrinfo" in text:
        return "host not found"
    return " ".join(str(cause or exc).split())[:100] or type(cause or exc).__name__
