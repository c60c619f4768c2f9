"""RagloopChatModel: a ChatLLM inside a LangChain chain (scripted fake, then the real 0.5B)."""

from __future__ import annotations

import pytest
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

from rag_agent.config import LLMConfig
from rag_agent.llm.langchain_adapter import RagloopChatModel
from rag_agent.protocols import Reply

PROMPT = ChatPromptTemplate.from_messages([("system", "You extract governing law."), ("human", "Clause: {clause}")])
CLAUSE = "This Agreement shall be governed by the laws of the State of New York."


class EchoLLM:
    """A scripted ChatLLM that records what it was sent."""

    name = "echo"

    def __init__(self):
        self.sent: list[tuple[list[dict], dict | None]] = []

    def complete(self, messages, schema=None, max_tokens=None):
        self.sent.append((messages, schema))
        text = '{"law": "New York"}' if schema else "New York. END more"
        return Reply(text=text, parsed={"law": "New York"} if schema else None, tokens_in=11, tokens_out=4, seconds=0.5, model="echo")

    def choice_probabilities(self, messages, choices):
        return {c: 1 / len(choices) for c in choices}


def test_chain_with_scripted_llm_maps_roles_and_usage():
    fake = EchoLLM()
    chat = RagloopChatModel(llm=fake)
    message = (PROMPT | chat).invoke({"clause": CLAUSE})
    assert message.content == "New York. END more"
    assert fake.sent[0][0] == [{"role": "system", "content": "You extract governing law."}, {"role": "user", "content": f"Clause: {CLAUSE}"}]
    assert message.usage_metadata == {"input_tokens": 11, "output_tokens": 4, "total_tokens": 15}
    assert message.response_metadata["model_name"] == "echo"
    assert (PROMPT | chat.bind(stop=["END"]) | StrOutputParser()).invoke({"clause": CLAUSE}) == "New York. "


def test_schema_bound_per_call_reaches_the_llm_and_comes_back_parsed():
    fake = EchoLLM()
    schema = {"type": "object", "properties": {"law": {"type": "string"}}, "required": ["law"]}
    message = (PROMPT | RagloopChatModel(llm=fake).bind(schema=schema)).invoke({"clause": CLAUSE})
    assert fake.sent[0][1] == schema and message.additional_kwargs["parsed"] == {"law": "New York"}


@pytest.mark.llm
def test_chain_with_the_real_tiny_model():
    pytest.importorskip("llama_cpp")
    from rag_agent.llm import load_llm

    llm = load_llm(LLMConfig(backend="tiny", n_ctx=1024))
    schema = {"type": "object", "properties": {"state": {"type": "string"}}, "required": ["state"], "additionalProperties": False}
    chain = PROMPT | RagloopChatModel(llm=llm, json_schema=schema, max_tokens=24)
    message = chain.invoke({"clause": CLAUSE})
    assert "new york" in message.additional_kwargs["parsed"]["state"].lower()
    assert message.usage_metadata["input_tokens"] > 0 and message.usage_metadata["output_tokens"] > 0
    assert message.response_metadata["model_name"] == "llama-cpp:qwen2.5-coder-0.5b"
