"""Scripted fakes for unit tests of the agent's control flow (not for behaviour of real parts)."""

from __future__ import annotations

import json
from collections import Counter

from rag_agent.errors import LLMError
from rag_agent.graph.prompts import GRADE_QUESTION
from rag_agent.protocols import Reply, WebHit
from rag_agent.types import RankedChunk


class ScriptedLLM:
    """Answers by the kind of request (recognised by its JSON schema's required key).

    `replies` maps a kind ('relevant', 'query', 'answer', 'grounded') to a value or a callable
    (messages -> value); the value is the parsed JSON object, or the exception to raise. The
    first-token readings are kinds too: 'grade' (the grade step's P(yes)) and 'ground' (the
    groundedness check's P(yes)), each a float, a callable (messages -> float) or an exception.
    """

    name = "fake:scripted"

    def __init__(self, **replies):
        self.replies = {
            "relevant": {"relevant": [1]},
            "query": {"query": "rewritten query"},
            "answer": {"answer": "Yes", "citations": [1]},
            "grounded": {"grounded": True},
            "grade": 0.9,
            "ground": 0.9,
        } | replies
        self.calls: Counter = Counter()
        self.messages: list[list[dict]] = []

    def _reply(self, kind, messages):
        self.calls[kind] += 1
        self.messages.append(messages)
        value = self.replies[kind]
        value = value(messages) if callable(value) else value
        if isinstance(value, Exception):
            raise value
        return value

    def complete(self, messages, schema=None, max_tokens=None) -> Reply:
        value = self._reply(schema["required"][0], messages)
        return Reply(text=json.dumps(value), parsed=value, tokens_in=10, tokens_out=3, seconds=0.0, model=self.name)

    def choice_probabilities(self, messages, choices):
        assert choices == ["yes", "no"], choices
        p = self._reply("grade" if GRADE_QUESTION in messages[-1]["content"] else "ground", messages)
        return {"yes": p, "no": 1 - p}


def invalid_json_error() -> LLMError:
    return LLMError("LLM reply 'not json'", "JSON matching the requested schema", "use a better model")


class FakeRetriever:
    embedder_version = "fake-embedder@0"
    reranker_version = "none"

    def __init__(self, docs: dict[str, list[str]]):
        self.chunks = [
            RankedChunk(chunk_id=f"{doc}:{i * 100}-{i * 100 + len(text)}", doc_id=doc, text=text, retrieval_score=1.0 - i * 0.1)
            for doc, texts in docs.items() for i, text in enumerate(texts)
        ]
        self.queries: list[str] = []

    def retrieve(self, query, k, scope=None):
        self.queries.append(query)
        return [c for c in self.chunks if scope is None or c.doc_id in scope][:k]

    def rerank(self, query, chunks, k):
        return list(reversed(chunks))[:k]


class FakeWeb:
    name = "fake-web"

    def __init__(self, hits=None):
        self.hits = hits or []
        self.calls = 0

    def search(self, query, k):
        self.calls += 1
        return [WebHit(title=t, url=f"https://example.org/{i}", text=t) for i, t in enumerate(self.hits[:k])]
