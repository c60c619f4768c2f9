"""The embedded llama-cpp backend with the real bundled Qwen2.5-Coder-0.5B (one load per module)."""

from __future__ import annotations

import math
import threading

import pytest

from rag_agent.config import LLMConfig
from rag_agent.errors import LLMError
from rag_agent.protocols import ChatLLM

pytest.importorskip("llama_cpp")

pytestmark = pytest.mark.llm

SCHEMA = {
    "type": "object",
    "properties": {
        "governing_law": {"type": "string"},
        "renewal_years": {"type": "integer", "minimum": 0, "maximum": 99},
        "auto_renews": {"type": "boolean"},
    },
    "required": ["governing_law", "renewal_years", "auto_renews"],
    "additionalProperties": False,
}
CLAUSE = (
    "This Agreement shall be governed by the laws of the State of Delaware. It renews automatically "
    "for successive one (1) year periods unless either party gives ninety (90) days' notice."
)
# Small context: the tests' prompts are short and a smaller KV cache loads faster.
CFG = LLMConfig(backend="tiny", n_ctx=1024, max_tokens=80)


@pytest.fixture(scope="module")
def tiny():
    from rag_agent.llm import load_llm

    return load_llm(CFG)


def test_tiny_conforms_to_protocol_and_is_loaded_once(tiny):
    from rag_agent.llm import load_llm

    assert isinstance(tiny, ChatLLM) and tiny.name == "llama-cpp:qwen2.5-coder-0.5b"
    again = load_llm(CFG)
    assert again is not tiny and again._loaded is tiny._loaded  # same model in memory


def test_json_schema_reply_parses_and_conforms(tiny):
    import jsonschema

    calls_before, out_before = tiny.calls, tiny.tokens_out
    reply = tiny.complete(
        [{"role": "system", "content": "Extract facts from contract clauses as JSON."}, {"role": "user", "content": CLAUSE}],
        schema=SCHEMA,
    )
    jsonschema.validate(reply.parsed, SCHEMA)
    assert reply.tokens_in > 40 and reply.tokens_out > 5 and reply.seconds > 0
    assert reply.model == tiny.name
    assert "delaware" in reply.parsed["governing_law"].lower()
    assert tiny.calls == calls_before + 1 and tiny.tokens_out == out_before + reply.tokens_out


def test_free_text_reply(tiny):
    reply = tiny.complete([{"role": "user", "content": CLAUSE + "\nWhich state's law governs? Answer with the state's name only."}], max_tokens=10)
    assert reply.parsed is None and reply.tokens_out > 0
    assert "delaware" in reply.text.lower()


def test_choice_probabilities_grade_obvious_questions(tiny):
    def yes_no(question: str) -> dict[str, float]:
        return tiny.choice_probabilities([{"role": "user", "content": question + " Answer yes or no."}], ["yes", "no"])

    true_fact = yes_no("Is Paris the capital of France?")
    false_fact = yes_no("Is the moon made of cheese?")
    assert set(true_fact) == {"yes", "no"} and math.isclose(sum(true_fact.values()), 1.0)
    assert true_fact["yes"] > 0.5
    assert false_fact["no"] > 0.5


def test_choice_probabilities_agree_with_the_greedy_reply(tiny):
    """The distribution is read at the reply's first position: its favourite is what greedy decoding says."""
    messages = [{"role": "user", "content": "Passage: 'The cat sat on the mat.'\nDoes this passage mention a dog? Answer yes or no."}]
    probs = tiny.choice_probabilities(messages, ["yes", "no"])
    first_word = tiny.complete(messages, max_tokens=3).text.strip().lower()
    assert first_word.startswith(max(probs, key=probs.get))


def test_concurrent_calls_from_threads_are_serialised(tiny):
    replies, errors = [], []

    def ask(n: int) -> None:
        try:
            replies.append(tiny.complete([{"role": "user", "content": f"Write the number {n} as a word."}], max_tokens=8))
        except Exception as exc:  # surfaced below; a thread cannot fail the test itself
            errors.append(exc)

    threads = [threading.Thread(target=ask, args=(n,)) for n in (3, 7)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(replies) == 2 and all(r.tokens_out > 0 for r in replies)


def test_prompt_longer_than_context_is_one_clear_error(tiny):
    with pytest.raises(LLMError, match="llm.n_ctx") as info:
        tiny.complete([{"role": "user", "content": "clause " * 3000}], max_tokens=5)
    assert "\n" not in str(info.value)
    with pytest.raises(LLMError, match="llm.n_ctx"):
        tiny.choice_probabilities([{"role": "user", "content": "clause " * 3000}], ["yes", "no"])


def test_prompt_speed_probe_reads_real_tokens_and_leaves_the_cache_empty(tiny):
    from rag_agent.llm.speed import prompt_tokens_per_second

    tiny.complete([{"role": "user", "content": "Say yes."}], max_tokens=2)  # something in the KV cache
    tps = prompt_tokens_per_second(tiny, n_tokens=120)
    assert tps is not None and 1.0 < tps < 100_000
    assert tiny._loaded.llama.n_tokens == 0  # a task after the probe finds a fresh context
    assert prompt_tokens_per_second(object()) is None  # not an embedded model: nothing to measure
