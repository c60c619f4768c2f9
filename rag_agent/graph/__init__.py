"""graph stage of rag_agent."""
