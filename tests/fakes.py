"""Scripted fakes for unit tests of control flow (not for behaviour of real parts): one chat model,
a retriever and a web search."""

from __future__ import annotations

import json
from collections import Counter

from rag_agent.config import LLMConfig
from rag_agent.errors import LLMError
from rag_agent.graph.prompts import GRADE_QUESTION
from rag_agent.llm.base import BaseChatLLM, TransientError
from rag_agent.protocols import Reply, WebHit
from rag_agent.types import RankedChunk


def quote_grades(messages) -> dict:
    """The judge's quote prompt answered deterministically: each passage that mentions 'governed' or
    'terminate' is quoted (its first 60 characters) and graded 3, every other passage 0."""
    grades = []
    for i, part in enumerate(messages[-1]["content"].split("<<<PASSAGE ")[1:], start=1):
        text = part.split(">>>\n", 1)[1].split("\n<<<END PASSAGE", 1)[0]
        hit = "governed" in text or "terminate" in text
        grades.append({"id": i, "quote": text[:60] if hit else "", "grade": 3 if hit else 0, "reason": "scripted"})
    return {"grades": grades}


class ScriptedLLM(BaseChatLLM):
    """The one scripted chat model of the tests, scripted in one of two ways.

    By kind (the default): a request's kind is its JSON schema's first required key ('relevant',
    'query', 'answer', 'grounded' for the agent, 'grades' for the quote judge); `replies` maps a
    kind to the parsed reply, a callable (messages -> reply) or an exception to raise. The reply is
    handed back as the parsed object without schema validation, as a backend's output the caller
    must check itself. The first-token readings are kinds too: 'grade' (the agent's grade step,
    recognised by GRADE_QUESTION) and 'ground' (any other yes/no question), each P(yes) as a float,
    a callable (messages -> float) or an exception. `broken_every=n` answers every n-th request
    with a schema-shaped but empty reply ({kind: []}).

    By `script` (a list of raw reply texts, used in order): the requests go through the real
    BaseChatLLM layer (schema validation, repair turns, transport retries with backoff recorded in
    `sleeps` instead of slept); the text "DOWN" raises a TransientError (an unreachable endpoint).

    Either way `calls` counts requests by kind (a copy, so a test can compare before and after;
    'text' for a request without a schema) and `messages` keeps every message list sent.
    """

    DEFAULT_REPLIES = {
        "relevant": {"relevant": [1]},
        "query": {"query": "rewritten query"},
        "answer": {"answer": "Yes", "citations": [1]},
        "grounded": {"grounded": True},
        "grades": quote_grades,
        "grade": 0.9,
        "ground": 0.9,
    }

    def __init__(self, script: list[str] | None = None, *, cfg: LLMConfig | None = None, name: str = "fake:scripted",
                 broken_every: int = 0, **replies):
        self.sleeps: list[float] = []
        super().__init__(cfg or LLMConfig(max_retries=2, backoff_s=0.5), name, sleep=self.sleeps.append)
        self.script = None if script is None else list(script)
        self.replies = self.DEFAULT_REPLIES | replies
        self.broken_every = broken_every
        self.messages: list[list[dict]] = []
        self._calls: Counter = Counter()

    @property
    def calls(self) -> Counter:
        return Counter(self._calls)

    def _count(self, kind: str, messages: list[dict]) -> int:
        self._calls[kind] += 1
        self.messages.append(messages)
        return sum(self._calls.values())

    def _reply(self, kind, messages):
        n = self._count(kind, messages)
        if self.broken_every and n % self.broken_every == 0:
            return {kind: []}
        value = self.replies[kind]
        value = value(messages) if callable(value) else value
        if isinstance(value, Exception):
            raise value
        return value

    def complete(self, messages, schema=None, max_tokens=None) -> Reply:
        if self.script is not None:
            return super().complete(messages, schema, max_tokens)
        value = self._reply(schema["required"][0], messages)
        return Reply(text=json.dumps(value), parsed=value, tokens_in=10, tokens_out=3, seconds=0.0, model=self.name)

    def choice_probabilities(self, messages, choices):
        if self.script is not None:
            return super().choice_probabilities(messages, choices)
        assert choices == ["yes", "no"], choices
        p = self._reply("grade" if GRADE_QUESTION in messages[-1]["content"] else "ground", messages)
        return {"yes": p, "no": 1 - p}

    def _complete_once(self, messages, schema, max_tokens, attempt) -> Reply:
        self._count(schema["required"][0] if schema else "text", messages)
        text = self.script.pop(0)
        if text == "DOWN":
            raise TransientError("scripted: endpoint unreachable", "a running server", "start it")
        return Reply(text=text, tokens_in=10, tokens_out=3, seconds=0.01, model=self.name)


def invalid_json_error() -> LLMError:
    return LLMError("LLM reply 'not json'", "JSON matching the requested schema", "use a better model")


def add_fake_documents(ws, docs: dict[str, list[str]]):
    """Bare `documents` rows for a FakeRetriever's documents, so that traces citing them fit the
    workspace schema; returns `ws`."""
    with ws.db() as con:
        for doc_id in docs:
            con.execute("INSERT INTO documents (doc_id, source, sha256, n_chars, text) VALUES (?, 'test', 'x', 1, 'x')", [doc_id])
    return ws


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
