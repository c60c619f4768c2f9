"""Chat models behind the ChatLLM protocol: `load_llm(cfg.llm)` picks the backend."""

from rag_agent.llm.factory import load_llm

__all__ = ["load_llm"]
