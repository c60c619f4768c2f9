"""ragloop's agent side: workspace, ingestion, retrieval, LLMs and the LangGraph agent."""

__version__ = "0.1.0"


def __getattr__(name: str):
    """`from rag_agent import RagloopTracer, record_outcome` without importing LangChain/DuckDB up front."""
    if name == "record_outcome":
        from rag_agent.outcomes import record_outcome

        return record_outcome
    if name == "RagloopTracer":
        from rag_agent.tracer import RagloopTracer

        return RagloopTracer
    raise AttributeError(f"module 'rag_agent' has no attribute {name!r}")
