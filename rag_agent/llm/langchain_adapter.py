"""Any ChatLLM as a LangChain chat model, so ragloop's LLM drops into LangChain chains.

    from rag_agent.llm import load_llm
    from rag_agent.llm.langchain_adapter import RagloopChatModel
    chat = RagloopChatModel(llm=load_llm(cfg.llm))
    (prompt | chat | StrOutputParser()).invoke({...})

`schema` (a JSON schema) and `max_tokens` can be bound per call (`chat.bind(schema=...)`); with a
schema the parsed reply is in `message.additional_kwargs["parsed"]`. Token usage and latency
come back as `usage_metadata` and `response_metadata`.

`bind_tools(tools)` makes it a tool-calling model for stock agents (langgraph's
`create_react_agent`): every reply is constrained by a JSON-schema grammar to either one call of
a bound tool with arguments matching its schema, or a final answer (see
`rag_agent.llm.tool_calls`); it comes back as an AIMessage with `tool_calls`, or with the answer
as content.
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
    """LangChain messages -> ChatLLM messages ({role, content} with string content); tool calls
    and tool results are rendered as text (the ChatLLM protocol has no tool roles)."""
    from rag_agent.llm.tool_calls import tool_message_text

    out = []
    for message in messages:
        rendered = tool_message_text(message)
        if rendered is not None:
            out.append(rendered)
            continue
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
        chat = to_chat_messages(messages)
        tools = kwargs.get("tools")
        if tools:
            from rag_agent.llm.tool_calls import complete_with_tools

            message = complete_with_tools(self.llm, messages, chat, tools, kwargs.get("tool_choice"), kwargs.get("max_tokens", self.max_tokens))
            return ChatResult(generations=[ChatGeneration(message=message)], llm_output={"model_name": message.response_metadata.get("model_name")})
        reply = self.llm.complete(chat, schema=schema, max_tokens=kwargs.get("max_tokens", self.max_tokens))
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

    def bind_tools(self, tools, *, tool_choice: str | None = None, **kwargs: Any):
        """Bind LangChain tools (or functions / pydantic models / OpenAI tool dicts): replies are
        grammar-constrained to one tool call or a final answer. `tool_choice`: None/"auto" (either),
        "any"/"required" (must call a tool), or a tool name (must call that tool)."""
        from langchain_core.utils.function_calling import convert_to_openai_tool

        specs = [convert_to_openai_tool(tool)["function"] for tool in tools]
        return self.bind(tools=specs, tool_choice=tool_choice, **kwargs)
