"""The OpenAI-compatible backend against a real `python -m llama_cpp.server` serving the bundled
SmolLM2-135M, plus the same model in-process through the llama-cpp backend (plumbing: a 135M
model only produces schema-valid JSON because the grammar forces it)."""

from __future__ import annotations

import math

import pytest

from rag_agent.config import LLMConfig
from tests.servers import llama_server

pytest.importorskip("llama_cpp")
pytest.importorskip("uvicorn")  # the server extra

pytestmark = [pytest.mark.llm, pytest.mark.slow]  # a llama_cpp.server process, and the model in-process

SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string"}, "confidence": {"type": "number"}},
    "required": ["answer", "confidence"],
    "additionalProperties": False,
}
QUESTION = [{"role": "user", "content": "Is Paris the capital of France? Answer yes or no."}]
READY_WAIT_S = 90  # model load on a busy 2-core machine; the fixture fails (never hangs) after this
N_CTX = 1024  # the server keeps logits for every position (for logprobs): keep the context small


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with llama_server(N_CTX, tmp_path_factory.mktemp("server") / "server.log", READY_WAIT_S, pytest.fail) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def remote(server):
    from rag_agent.llm import load_llm

    return load_llm(LLMConfig(backend="openai", base_url=server, model="smol", timeout_s=120, max_tokens=60))


@pytest.fixture(scope="module")
def local():
    from rag_agent.llm import load_llm

    return load_llm(LLMConfig(backend="smol", n_ctx=N_CTX, max_tokens=60))


def test_complete_without_schema(remote):
    reply = remote.complete([{"role": "user", "content": "Say hello."}], max_tokens=12)
    assert reply.text.strip() and reply.parsed is None
    assert reply.tokens_in > 0 and 0 < reply.tokens_out <= 12
    assert reply.model == "openai:smol" and remote.calls == 1


def test_complete_with_schema_falls_back_to_what_the_server_supports(remote):
    import jsonschema

    reply = remote.complete([{"role": "user", "content": "Which law governs: 'governed by the laws of Delaware'?"}], schema=SCHEMA)
    jsonschema.validate(reply.parsed, SCHEMA)
    # llama_cpp.server rejects type=json_schema; its grammar-backed json_object+schema works.
    assert remote._schema_mode == 1


def test_choice_probabilities_match_the_in_process_model(remote, local):
    """The server's top-20 logprobs and the in-process full distribution describe the same model."""
    over_http = remote.choice_probabilities(QUESTION, ["yes", "no"])
    in_process = local.choice_probabilities(QUESTION, ["yes", "no"])
    assert math.isclose(sum(over_http.values()), 1.0)
    assert over_http["yes"] == pytest.approx(in_process["yes"], abs=0.03)


def test_smol_in_process_schema_plumbing(local):
    import jsonschema

    reply = local.complete([{"role": "user", "content": "Which law governs: 'governed by the laws of Delaware'?"}], schema=SCHEMA)
    jsonschema.validate(reply.parsed, SCHEMA)
    assert reply.tokens_in > 0 and reply.tokens_out > 0 and reply.model == "llama-cpp:smollm2-135m"
    assert local.usage()["calls"] >= 1
