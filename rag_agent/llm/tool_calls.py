"""Tool calling for any ChatLLM through a JSON-schema grammar (used by RagloopChatModel.bind_tools).

The reply schema is an `anyOf` of one object per bound tool, `{"tool": <name>, "arguments":
<that tool's parameter schema>}`, plus `{"tool": "final_answer", "answer": <string>}` unless a
tool call is required. A grammar-constrained backend (llama.cpp) therefore cannot emit an unknown
tool or arguments of the wrong shape; the parsed object becomes an AIMessage with `tool_calls`
(LangChain's standard), which prebuilt agents and ToolNode understand.

Repeated calls: when the model asks again for a call (same tool, same arguments) whose result is
already in the conversation, the call would return what it returned before, so the model is asked
once more with only the final answer allowed. Small local models otherwise loop on the same
search until the agent's step limit (measured: the 0.5B repeated its first search in 3 of 3 ReAct
runs and never answered).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage

from rag_agent.errors import LLMError

FINAL = "final_answer"


def tool_call_schema(tools: list[dict], tool_choice: str | None = None) -> dict:
    names = [t["name"] for t in tools]
    if tool_choice not in (None, "auto", "any", "required", "none") and tool_choice not in names:
        raise LLMError(f"tool_choice={tool_choice!r}", f"auto, any, required, none or one of {names}", "pass a bound tool's name")
    options = []
    if tool_choice != "none":
        for tool in tools:
            if tool_choice in (None, "auto", "any", "required") or tool_choice == tool["name"]:
                params = tool.get("parameters") or {"type": "object", "properties": {}}
                options.append({"type": "object", "properties": {"tool": {"const": tool["name"]}, "arguments": params},
                                "required": ["tool", "arguments"], "additionalProperties": False})
    if tool_choice in (None, "auto", "none"):
        options.append({"type": "object", "properties": {"tool": {"const": FINAL}, "answer": {"type": "string"}},
                        "required": ["tool", "answer"], "additionalProperties": False})
    return options[0] if len(options) == 1 else {"anyOf": options}


def tool_prompt(messages: list[dict], tools: list[dict]) -> list[dict]:
    """Tell the model which tools exist and how to answer (a system message in front)."""
    lines = [f"- {t['name']}: {t.get('description', '').strip()} arguments: {json.dumps(t.get('parameters', {}).get('properties', {}))}"
             for t in tools]
    guide = ("You can call one tool per reply. Tools:\n" + "\n".join(lines) +
             f'\nReply with JSON: {{"tool": <tool name>, "arguments": {{...}}}} to call a tool, or '
             f'{{"tool": "{FINAL}", "answer": <text>}} when the tool results already answer the question.')
    if messages and messages[0]["role"] == "system":
        return [{"role": "system", "content": messages[0]["content"] + "\n\n" + guide}] + messages[1:]
    return [{"role": "system", "content": guide}] + messages


def tool_message_text(message: BaseMessage) -> dict | None:
    """A tool result or an assistant tool call as a plain chat message (None for other messages)."""
    if message.type == "tool":
        content = message.content if isinstance(message.content, str) else json.dumps(message.content)
        return {"role": "user", "content": f"Result of tool {getattr(message, 'name', '') or ''}:\n{content}"}
    calls = getattr(message, "tool_calls", None) if message.type == "ai" else None
    if calls:
        return {"role": "assistant", "content": json.dumps({"tool": calls[0]["name"], "arguments": calls[0]["args"]})}
    return None


def to_ai_message(reply: Any, tools: list[dict]) -> AIMessage:
    parsed = reply.parsed
    if parsed is None:
        try:
            parsed = json.loads(reply.text)
        except (TypeError, ValueError) as exc:
            raise LLMError(f"LLM reply {reply.text[:80]!r}", "a JSON tool call or final answer", "use a grammar-constrained backend (llm.backend)") from exc
    usage = {"input_tokens": reply.tokens_in or 0, "output_tokens": reply.tokens_out or 0,
             "total_tokens": (reply.tokens_in or 0) + (reply.tokens_out or 0)}
    meta = {"model_name": reply.model, "seconds": reply.seconds}
    name = parsed.get("tool") if isinstance(parsed, dict) else None
    if name == FINAL:
        return AIMessage(content=str(parsed.get("answer") or ""), usage_metadata=usage, response_metadata=meta)
    if name not in {t["name"] for t in tools}:
        raise LLMError(f"tool {name!r}", f"one of {[t['name'] for t in tools]} or {FINAL}", "use a grammar-constrained backend (llm.backend)")
    args = parsed.get("arguments") if isinstance(parsed.get("arguments"), dict) else {}
    call = {"name": name, "args": args, "id": f"call_{uuid.uuid4().hex[:12]}", "type": "tool_call"}
    return AIMessage(content="", tool_calls=[call], usage_metadata=usage, response_metadata=meta)


def _answered_calls(messages: list[BaseMessage]) -> list[tuple[str, dict]]:
    """(tool name, args) of the calls in the conversation that already have a tool result."""
    answered = {getattr(m, "tool_call_id", None) for m in messages if m.type == "tool"}
    return [(c["name"], c["args"]) for m in messages if m.type == "ai" for c in (getattr(m, "tool_calls", None) or []) if c.get("id") in answered]


def complete_with_tools(llm, messages: list[BaseMessage], chat: list[dict], tools: list[dict], tool_choice: str | None,
                        max_tokens: int | None) -> AIMessage:
    """One grammar-constrained tool-or-answer reply (see the module docstring for repeated calls)."""
    prompt = tool_prompt(chat, tools)
    reply = llm.complete(prompt, schema=tool_call_schema(tools, tool_choice), max_tokens=max_tokens)
    message = to_ai_message(reply, tools)
    call = message.tool_calls[0] if message.tool_calls else None
    if call is None or tool_choice not in (None, "auto") or (call["name"], call["args"]) not in _answered_calls(messages):
        return message
    nudge = [{"role": "assistant", "content": json.dumps({"tool": call["name"], "arguments": call["args"]})},
             {"role": "user", "content": "You already have that result above. Using it, answer the question in your own words."}]
    again = llm.complete(prompt + nudge, schema=tool_call_schema(tools, "none"), max_tokens=max_tokens)
    final = to_ai_message(again, tools)
    usage = {k: message.usage_metadata[k] + final.usage_metadata[k] for k in ("input_tokens", "output_tokens", "total_tokens")}
    seconds = (reply.seconds or 0.0) + (again.seconds or 0.0)
    return AIMessage(content=final.content, usage_metadata=usage, response_metadata={"model_name": again.model, "seconds": seconds})
