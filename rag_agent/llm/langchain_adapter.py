"""Any ChatLLM as a LangChain chat model, so ragloop's LLM drops into LangChain chains.

    from rag_agent.llm import load_llm
    from rag_agent.llm.langchain_adapter import RagloopChatModel
    chat = RagloopChatModel(llm=load_llm(cfg.llm))
    (prompt | chat | StrOutputParser()).invoke({...})

`schema` (a JSON schema) and `max_tokens` can be bound per call (`chat.bind(schema=...)`); with a
schema the parsed reply is in `message.additional_kwargs["parsed"]`. Token usage and latency
come back as `usage_metadata` and `response_metadata`.
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import ConfigDict

from rag_agent.errors import LLMError
from rag_agent.protocols import ChatLLM

_ROLES = {"system": "system", "human": "user", "ai": "assistant"}


def to_chat_messages(messages: list[BaseMessage]) -> list[dict]:
    """LangChain messages -> ChatLLM messages ({role, content} with string content)."""
    out = []
    for message in messages:
        role = _ROLES.get(message.type)
        if role is None:
            raise LLMError(f"message type {message.type!r}", "system, human or ai messages", "convert tool/function messages to text before the chat model")
        content = message.content if isinstance(message.content, str) else message.text
        out.append({"role": role, "content": content})
    return out


class RagloopChatModel(BaseChatModel):
    """LangChain `BaseChatModel` over a ragloop ChatLLM (`_generate` -> `ChatLLM.complete`)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    llm: Any  # a ChatLLM; typed loosely because pydantic cannot validate a Protocol
    json_schema: dict | None = None  # default JSON schema for every call (None: free text)
    max_tokens: int | None = None

    @property
    def _llm_type(self) -> str:
        return "ragloop"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model": self.llm.name, "max_tokens": self.max_tokens}

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if not isinstance(self.llm, ChatLLM):
            raise LLMError(type(self.llm).__name__, "an object implementing rag_agent.protocols.ChatLLM", "pass llm=load_llm(cfg.llm)")
        schema = kwargs.get("schema", self.json_schema)
        reply = self.llm.complete(to_chat_messages(messages), schema=schema, max_tokens=kwargs.get("max_tokens", self.max_tokens))
        text = reply.text
        if stop:
            # ChatLLM has no stop sequences; cutting afterwards keeps LangChain's contract.
            cuts = [text.find(s) for s in stop if s in text]
            text = text[: min(cuts)] if cuts else text
        message = AIMessage(
            content=text,
            additional_kwargs={"parsed": reply.parsed} if schema is not None else {},
            usage_metadata={"input_tokens": reply.tokens_in, "output_tokens": reply.tokens_out, "total_tokens": reply.tokens_in + reply.tokens_out},
            response_metadata={"model_name": reply.model, "seconds": reply.seconds},
        )
        return ChatResult(generations=[ChatGeneration(message=message)], llm_output={"model_name": reply.model})
