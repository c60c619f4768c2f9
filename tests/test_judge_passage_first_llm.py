"""Passage-first judging with the real 0.5B GGUF: asking a second question about the same chunk
re-reads only the question (the [system][chunk] prefix stays in llama.cpp's KV cache), while the
question-first prompt shares no more than the system prompt."""

from __future__ import annotations

import pytest

from rag_agent.config import LLMConfig

from feedback.judge import JudgeSettings, LLMJudge

CHUNK = (
    "12.3 Governing Law. This Agreement and any dispute arising out of it shall be governed by and construed in "
    "accordance with the laws of the State of Delaware, without regard to its conflict of laws principles. "
    "12.4 Notices. All notices under this Agreement shall be in writing and delivered by courier to the addresses below."
)
QUESTIONS = ["Which state's law governs this agreement?", "How must notices be delivered under this agreement?"]


@pytest.mark.llm
def test_second_question_about_a_chunk_reuses_the_chunk_prefix():
    from rag_agent.llm.factory import load_llm

    llm = load_llm(LLMConfig(backend="tiny"))
    reused = {}
    for mode in ("pointwise", "passage-first"):
        judge = LLMJudge(llm, JudgeSettings(mode=mode))
        judge.grade("An unrelated question to clear the cache?", [("x:0-1", "Unrelated text.")])
        judge.grade(QUESTIONS[0], [("c:0-1", CHUNK)])
        total, before = llm.prompt_tokens_total, llm.prompt_tokens_reused
        label = judge.grade(QUESTIONS[1], [("c:0-1", CHUNK)])[0]
        assert 0.0 <= label.score <= 1.0
        reused[mode] = (llm.prompt_tokens_reused - before, llm.prompt_tokens_total - total)
    chunk_tokens = len(llm._loaded.llama.tokenize(CHUNK.encode(), add_bos=False))
    pf_reused, pf_total = reused["passage-first"]
    qf_reused, _ = reused["pointwise"]
    assert pf_reused >= chunk_tokens, f"passage-first reused {pf_reused} of {pf_total} tokens; the chunk alone is {chunk_tokens}"
    # Question-first shares the system prompt (and "Question:"), not the chunk behind the question.
    assert pf_reused - qf_reused >= 0.9 * chunk_tokens, f"question-first reused {qf_reused}, passage-first {pf_reused}"
