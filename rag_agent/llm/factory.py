"""`load_llm(cfg)`: the one way the rest of ragloop gets a ChatLLM."""

from __future__ import annotations

from rag_agent.config import LLMConfig
from rag_agent.errors import LLMError
from rag_agent.protocols import ChatLLM


def load_llm(cfg: LLMConfig) -> ChatLLM:
    """llama-cpp / tiny / smol: a bundled GGUF model run in-process (loaded once per process);
    openai: an OpenAI-compatible endpoint at `cfg.base_url` serving `cfg.model`."""
    from rag_agent.models import BACKEND_MODELS, gguf_path

    if cfg.backend in BACKEND_MODELS:
        from rag_agent.llm.llama_cpp_backend import LlamaCppLLM

        model = BACKEND_MODELS[cfg.backend]
        return LlamaCppLLM(gguf_path(model), cfg, name=f"llama-cpp:{model}")
    if cfg.backend == "openai":
        from rag_agent.llm.openai_backend import OpenAICompatLLM

        return OpenAICompatLLM(cfg)
    raise LLMError(f"llm.backend={cfg.backend!r}", f"one of {', '.join([*BACKEND_MODELS, 'openai'])}", "set llm.backend to one of those")
