"""LLM Twin: learn to write like one person from their public writing."""
