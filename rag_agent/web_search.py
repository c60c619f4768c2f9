"""Fallback search backends for when retrieval over the workspace finds nothing relevant.

    none          offline default: the attempt is recorded, nothing comes back
    corpus:PATH   a second local corpus: a workspace directory (its own index), or a folder of
                  .txt files / a JSONL file (`text`, optional `title`/`_id`/`doc_id`) embedded
                  into an in-memory faiss index with the project embedder
    web           DuckDuckGo's HTML endpoint over httpx (needs internet; not exercised offline)

`load_web_search(spec, ...)` turns the `agent.web_search` config value into a `WebSearch`.
"""

from __future__ import annotations

import html
import json
import logging
import re
from pathlib import Path

from rag_agent.errors import ConfigError, RagloopError
from rag_agent.protocols import WebHit, WebSearch

log = logging.getLogger(__name__)


class NoWebSearch:
    """Offline: nothing comes back (the agent still records that it tried)."""

    name = "none"

    def search(self, query: str, k: int) -> list[WebHit]:
        return []


class CorpusSearch:
    """A second local corpus searched by embedding similarity."""

    def __init__(self, name: str, search_fn):
        self.name = name
        self._search_fn = search_fn

    def search(self, query: str, k: int) -> list[WebHit]:
        return self._search_fn(query, k)

    @classmethod
    def from_path(cls, path: Path, embedder=None, cfg=None) -> CorpusSearch:
        if (path / "ragloop.duckdb").exists():
            return cls._from_workspace(path)
        return cls._from_documents(path, embedder, cfg)

    @classmethod
    def _from_workspace(cls, path: Path) -> CorpusSearch:
        from rag_agent.retrieval.searcher import WorkspaceRetriever
        from rag_agent.workspace import Workspace

        retriever = WorkspaceRetriever.open(Workspace.open(path, create=False))

        def search(query: str, k: int) -> list[WebHit]:
            chunks = retriever.rerank(query, retriever.retrieve(query, k), k)
            return [WebHit(title=c.doc_id, url=f"corpus:{c.chunk_id}", text=c.text) for c in chunks]

        return cls(f"corpus:{path}", search)

    @classmethod
    def _from_documents(cls, path: Path, embedder=None, cfg=None) -> CorpusSearch:
        import faiss

        from rag_agent.config import RagloopConfig
        from rag_agent.ingest.chunker import chunk_document

        cfg = cfg or RagloopConfig()
        if embedder is None:
            from rag_agent.retrieval.embedder import load_embedder

            embedder = load_embedder(cfg.models)  # device too: this one used to drop it
        chunks = [c for doc in _read_documents(path) for c in chunk_document(doc, cfg.chunking)]
        if not chunks:
            raise ConfigError(f"agent.web_search=corpus:{path}", "a corpus with at least one non-empty document", "point it at a folder of .txt files or a JSONL corpus")
        vectors = embedder.encode([c.text for c in chunks])
        index = faiss.IndexFlatIP(vectors.shape[1])
        index.add(vectors)
        log.info("corpus fallback %s: %d chunks indexed in memory", path, len(chunks))

        def search(query: str, k: int) -> list[WebHit]:
            scores, ids = index.search(embedder.encode([query], is_query=True), min(k, len(chunks)))
            return [WebHit(title=chunks[i].doc_id, url=f"corpus:{chunks[i].chunk_id}", text=chunks[i].text) for i in ids[0] if i >= 0]

        return cls(f"corpus:{path}", search)


def _read_documents(path: Path):
    from rag_agent.types import Document

    if path.is_dir():
        for file in sorted(path.rglob("*.txt")):
            yield Document(doc_id=file.stem, text=file.read_text(encoding="utf-8", errors="replace"), source=str(file))
    elif path.suffix == ".jsonl":
        with open(path, encoding="utf-8") as fh:
            for line_no, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                record = json.loads(line)
                doc_id = str(record.get("doc_id") or record.get("_id") or f"line-{line_no}")
                text = " ".join(p for p in (record.get("title"), record.get("text")) if p)
                if text:
                    yield Document(doc_id=doc_id, text=text, source=str(path), title=record.get("title") or "")
    else:
        raise ConfigError(f"agent.web_search=corpus:{path}", "a workspace directory, a folder of .txt files, or a .jsonl file", "fix the path")


class DuckDuckGoSearch:
    """DuckDuckGo's HTML results page; result snippets become the hit text."""

    name = "web:duckduckgo"
    URL = "https://html.duckduckgo.com/html/"
    _RESULT = re.compile(r'class="result__a"[^>]*href="(?P<url>[^"]+)"[^>]*>(?P<title>.*?)</a>.*?class="result__snippet"[^>]*>(?P<snippet>.*?)</a>', re.S)

    def __init__(self, timeout_s: float = 10.0):
        self.timeout_s = timeout_s

    def search(self, query: str, k: int) -> list[WebHit]:
        import httpx

        try:
            response = httpx.post(self.URL, data={"q": query}, timeout=self.timeout_s, headers={"User-Agent": "ragloop/0.1"})
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise RagloopError(f"web search at {self.URL} ({type(exc).__name__}: {exc})", "a reachable search endpoint", "go online or set agent.web_search=none (or corpus:PATH)") from exc
        hits = []
        for match in self._RESULT.finditer(response.text):
            hits.append(WebHit(title=_strip_tags(match["title"]), url=html.unescape(match["url"]), text=_strip_tags(match["snippet"])))
            if len(hits) >= k:
                break
        return hits


def _strip_tags(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", fragment)).strip()


def load_web_search(spec: str, *, embedder=None, cfg=None, timeout_s: float = 10.0) -> WebSearch:
    """`none` | `corpus:PATH` | `web`."""
    spec = (spec or "none").strip()
    if spec == "none":
        return NoWebSearch()
    if spec == "web":
        return DuckDuckGoSearch(timeout_s=timeout_s)
    if spec.startswith("corpus:"):
        path = Path(spec.split(":", 1)[1])
        if not path.exists():
            raise ConfigError(f"agent.web_search={spec}", "an existing corpus path", "point corpus: at a workspace, a folder of .txt files or a .jsonl file")
        return CorpusSearch.from_path(path, embedder=embedder, cfg=cfg)
    raise ConfigError(f"agent.web_search={spec}", "none, corpus:PATH or web", "set agent.web_search to one of those")
