"""llm stage of rag_agent."""
