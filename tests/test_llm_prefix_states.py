"""Saved KV prefixes (rag_agent/llm/prefix_states.py) with a real llama.cpp model: a prompt that
returns to an earlier prefix resumes from it, and what it computes equals a fresh evaluation."""

from __future__ import annotations

import pytest

from rag_agent.config import LLMConfig

pytest.importorskip("llama_cpp")

pytestmark = pytest.mark.llm

DOCS = " ".join(
    f"Section {i}. The Supplier shall deliver the Products to the Distributor within thirty days of each order, "
    "and this Agreement is governed by the laws of the State of Delaware." for i in range(1, 9)
)
OTHER = " ".join(f"Clause {i}. Either party may terminate on ninety days' written notice." for i in range(1, 9))


def messages(docs: str, question: str) -> list[dict]:
    return [{"role": "system", "content": "Answer about the documents with yes or no."},
            {"role": "user", "content": f"{docs}\n\nQuestion: {question} Answer yes or no."}]


@pytest.fixture(scope="module")
def smol():
    from rag_agent.llm import load_llm

    # A context size no other test module uses: this test owns the loaded model and its store.
    return load_llm(LLMConfig(backend="smol", n_ctx=1152, prefix_states=4, max_tokens=12))


@pytest.mark.slow
def test_the_decode_check_passes_on_this_build():
    from rag_agent.llm.decode_check import check

    assert check() is None


def test_returning_to_an_earlier_prefix_restores_it_and_scores_as_a_fresh_evaluation(smol):
    states = smol._loaded.states
    first = messages(DOCS, "Is the Agreement governed by Delaware law?")
    again = messages(DOCS, "Must the Supplier deliver within thirty days?")
    smol.choice_probabilities(first, ["yes", "no"])
    smol.choice_probabilities(messages(OTHER, "Can a party terminate?"), ["yes", "no"])  # the live cache moves on
    restored_before, reused_before = states.restored_tokens, smol.prompt_tokens_reused
    p_resumed = smol.choice_probabilities(again, ["yes", "no"])["yes"]
    reused = smol.prompt_tokens_reused - reused_before
    documents_tokens = len(smol._prompt_tokens(messages(DOCS, "")))
    assert states.restored_tokens > restored_before
    assert reused > documents_tokens * 0.8, "the DOCS prefix should come from the saved state"

    smol._loaded.llama.reset()
    capacity, states.capacity = states.capacity, 0  # nothing saved or restored: a fresh evaluation
    try:
        fresh_before = smol.prompt_tokens_reused
        p_fresh = smol.choice_probabilities(again, ["yes", "no"])["yes"]
        assert smol.prompt_tokens_reused == fresh_before
    finally:
        states.capacity = capacity
    assert p_resumed == pytest.approx(p_fresh, abs=2e-3)


def test_a_completion_resumes_from_a_saved_prompt_and_replies_as_it_would_fresh(smol):
    prompt = messages(DOCS, "Which state's law governs?")
    smol.choice_probabilities(prompt, ["yes", "no"])  # saved, as the agent's grade step would leave it
    smol.choice_probabilities(messages(OTHER, "Can a party terminate?"), ["yes", "no"])
    restored_before = smol._loaded.states.restored_tokens
    resumed = smol.complete(prompt, max_tokens=12).text
    assert smol._loaded.states.restored_tokens > restored_before

    smol._loaded.llama.reset()
    smol._loaded.states._states.clear()
    assert smol.complete(prompt, max_tokens=12).text == resumed
