"""Retrieval-augmented generation: expand, self-query, search, re-rank, build the prompt."""
