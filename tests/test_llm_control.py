"""Control flow of the shared LLM layer, with scripted fakes (no model): schema repair retries,
transport retries and their bound, error lines, usage counters, choice renormalisation."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from rag_agent.config import LLMConfig
from rag_agent.errors import LLMError
from rag_agent.llm.base import choice_distribution
from rag_agent.llm.openai_backend import OpenAICompatLLM
from rag_agent.protocols import ChatLLM

from tests.fakes import ScriptedLLM

SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string"}, "confidence": {"type": "number"}},
    "required": ["answer", "confidence"],
    "additionalProperties": False,
}
USER = [{"role": "user", "content": "What is the governing law?"}]


def test_scripted_llm_conforms_to_protocol():
    assert isinstance(ScriptedLLM([]), ChatLLM)


def test_garbage_once_then_valid_succeeds_and_counts_both_attempts():
    llm = ScriptedLLM(["this is not json", '{"answer": "Delaware", "confidence": 0.9}'])
    reply = llm.complete(USER, schema=SCHEMA)
    assert reply.parsed == {"answer": "Delaware", "confidence": 0.9}
    assert (reply.tokens_in, reply.tokens_out) == (20, 6)
    assert llm.usage()["calls"] == 2 and llm.tokens_out == 6
    assert llm.sleeps == [0.5]
    # The repair turn quotes the bad reply and the validation error.
    repair = llm.messages[1]
    assert repair[-2] == {"role": "assistant", "content": "this is not json"}
    assert "not JSON" in repair[-1]["content"] and '"confidence"' in repair[-1]["content"]


def test_schema_violation_is_retried_like_garbage():
    llm = ScriptedLLM(['{"answer": "Delaware"}', '```json\n{"answer": "Delaware", "confidence": 1}\n```'])
    assert llm.complete(USER, schema=SCHEMA).parsed == {"answer": "Delaware", "confidence": 1}
    assert "confidence" in llm.messages[1][-1]["content"]


def test_garbage_every_time_raises_one_line_llm_error_after_bounded_retries():
    llm = ScriptedLLM(["nope " * 100] * 5)
    with pytest.raises(LLMError) as info:
        llm.complete(USER, schema=SCHEMA)
    message = str(info.value)
    assert "\n" not in message and "3 attempts" in message and "fix:" in message
    assert "nope nope" in message and len(message) < 600  # the bad reply is quoted, truncated
    assert llm.sleeps == [0.5, 1.0]  # exponential backoff between the 3 attempts
    assert len(llm.script) == 2  # no more calls than max_retries + 1


def test_without_schema_text_is_returned_unparsed():
    reply = ScriptedLLM(["plain words"]).complete(USER)
    assert reply.text == "plain words" and reply.parsed is None


def test_transient_errors_are_retried_then_become_llm_error():
    llm = ScriptedLLM(["DOWN", '{"answer": "x", "confidence": 0}'])
    assert llm.complete(USER, schema=SCHEMA).parsed["answer"] == "x"
    llm = ScriptedLLM(["DOWN", "DOWN", "DOWN", "never reached"])
    with pytest.raises(LLMError, match="endpoint unreachable.*fix: start it"):
        llm.complete(USER)
    assert llm.script == ["never reached"] and llm.sleeps == [0.5, 1.0]


def test_bad_messages_and_choices_are_rejected_with_a_fix():
    llm = ScriptedLLM([])
    with pytest.raises(LLMError, match="fix:"):
        llm.complete([{"role": "robot", "content": "hi"}])
    with pytest.raises(LLMError, match="distinct"):
        llm.choice_probabilities(USER, ["yes", "Yes"])


def test_choice_distribution_merges_spellings_and_renormalises():
    candidates = [("Yes", math.log(0.5)), (" yes", math.log(0.1)), ("No", math.log(0.2)), ("The", math.log(0.15))]
    probs = choice_distribution(candidates, ["yes", "no"], "t")
    assert probs["yes"] == pytest.approx(0.6 / 0.8) and probs["no"] == pytest.approx(0.2 / 0.8)
    # "n" would fit both "no" and "not": it tells them apart by nothing, so it counts for neither.
    probs = choice_distribution([("n", 0.0), ("not", math.log(0.3)), ("no", math.log(0.1))], ["no", "not"], "t")
    assert probs["not"] == pytest.approx(0.75)
    with pytest.raises(LLMError, match="answer with exactly one"):
        choice_distribution([("The", 0.0)], ["yes", "no"], "t")


# ---- the OpenAI-compatible backend with a fake client (schema-mode fallback) -----------------
class FakeCompletions:
    def __init__(self, reject_modes: set[str]):
        self.reject_modes = reject_modes
        self.requests: list[dict] = []

    def create(self, **request):
        import httpx
        import openai

        self.requests.append(request)
        mode = request.get("response_format", {}).get("type")
        if mode in self.reject_modes:
            response = httpx.Response(422, request=httpx.Request("POST", "http://fake/v1/chat/completions"))
            raise openai.UnprocessableEntityError("unsupported response_format", response=response, body={"detail": f"{mode} not supported"})
        message = SimpleNamespace(content='{"answer": "New York", "confidence": 0.5}')
        usage = SimpleNamespace(prompt_tokens=12, completion_tokens=7)
        return SimpleNamespace(choices=[SimpleNamespace(message=message, finish_reason="stop")], usage=usage, model="fake")


def test_openai_backend_falls_back_from_json_schema_and_remembers():
    completions = FakeCompletions(reject_modes={"json_schema"})
    client = SimpleNamespace(chat=SimpleNamespace(completions=completions))
    llm = OpenAICompatLLM(LLMConfig(backend="openai", base_url="http://fake/v1", model="m"), client=client)
    assert llm.complete(USER, schema=SCHEMA).parsed["answer"] == "New York"
    assert llm.complete(USER, schema=SCHEMA).parsed["answer"] == "New York"
    kinds = [r.get("response_format", {}).get("type") for r in completions.requests]
    assert kinds == ["json_schema", "json_object", "json_object"]  # rejected once, then remembered
    assert completions.requests[1]["response_format"]["schema"] == SCHEMA
    assert "JSON schema" in completions.requests[1]["messages"][-1]["content"]
    assert llm.usage() == {"calls": 2, "tokens_in": 24, "tokens_out": 14, "seconds": pytest.approx(llm.seconds, abs=1e-3)}


def test_unreachable_endpoint_is_one_fast_line():
    cfg = LLMConfig(backend="openai", base_url="http://127.0.0.1:9/v1", model="m", timeout_s=2.0, max_retries=1, backoff_s=0.05)
    llm = OpenAICompatLLM(cfg)
    with pytest.raises(LLMError) as info:
        llm.complete(USER)
    message = str(info.value)
    assert message.startswith("http://127.0.0.1:9/v1: endpoint unreachable (connection refused)")
    assert "fix: start it or set llm.base_url" in message and "\n" not in message
    assert info.value.__cause__ is None and info.value.__suppress_context__
    with pytest.raises(LLMError, match="endpoint unreachable"):
        llm.choice_probabilities(USER, ["yes", "no"])


def test_openai_backend_without_url_or_key_says_what_to_set(monkeypatch):
    monkeypatch.delenv("RAGLOOP_TEST_NO_KEY", raising=False)
    with pytest.raises(LLMError, match="set llm.base_url"):
        OpenAICompatLLM(LLMConfig(backend="openai", api_key_env="RAGLOOP_TEST_NO_KEY"))
