"""ingest stage of rag_agent."""
