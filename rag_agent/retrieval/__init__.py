"""Retrieval stack: embedder -> vector index -> reranker."""
