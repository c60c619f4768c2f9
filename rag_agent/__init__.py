"""ragloop's agent side: workspace, ingestion, retrieval, LLMs and the LangGraph agent."""

__version__ = "0.1.0"
