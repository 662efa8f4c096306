"""LLM engines and base-model loading."""
