"""The serving prompt: the request plus as much retrieved context as fits.

The builder itself lives in :mod:`twin.prompting` (the core layer), so that training and
evaluation render dataset samples with the very function serving uses; this module keeps the
names the RAG deployment and its callers import.
"""

from __future__ import annotations

from twin.prompting import (
    MATERIAL_HEADER,
    ContextChunk,
    as_format,
    build_messages,
    rendered_tokens,
    window_problem,
    words_to_tokens,
)

__all__ = ["MATERIAL_HEADER", "ContextChunk", "as_format", "build_messages", "rendered_tokens",
           "window_problem", "words_to_tokens"]
