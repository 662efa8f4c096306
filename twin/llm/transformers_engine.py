"""transformers ``generate`` with a streamer thread (CPU, any machine); LoRA merged into the
base weights."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

from twin.llm.chat import Generation, GenParams, StreamingEngine, TokenizerFormat, past
from twin.llm.engines import EngineOptions, hf_describe
from twin.llm.served import ServedModel


class TransformersEngine(StreamingEngine, TokenizerFormat):
    """One generation at a time per replica; stops at the next token when cancelled or late."""

    name = "transformers"

    def __init__(self, served: ServedModel, options: EngineOptions | None = None,
                 device: str = "cpu") -> None:
        from twin.llm.models import load_causal_lm

        self.served = served
        self.model, tokenizer = load_causal_lm(served.base_model, served.cache_dir, device,
                                               served.adapter)
        TokenizerFormat.__init__(self, tokenizer, served.window, served.chat_template)
        self._lock = threading.Lock()  # one generate at a time per replica

    @classmethod
    def describe(cls, base_model: str, adapter: str | None, cache_dir: str,
                 options: EngineOptions) -> tuple[int, str | None]:
        """The model's own window and template."""
        return hf_describe(base_model, adapter, cache_dir)

    @classmethod
    def prompt_format(cls, served: ServedModel) -> TokenizerFormat:
        """The served tokenizer and template."""
        return TokenizerFormat.for_served(served)

    def stream_blocking(self, prompt: str, params: GenParams,
                        stop_event: threading.Event | None = None) -> Iterator[str]:
        """Text pieces as they are generated, until ``stop_event`` is set or the deadline
        passes (checked at every token); nothing when either comes first."""
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        def stopped() -> bool:
            return bool(stop_event and stop_event.is_set()) or past(params.deadline)

        class _Stop(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> bool:
                return stopped()

        inputs = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
        self.check_fits(int(inputs["input_ids"].shape[-1]), params.max_new_tokens)
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True,
                                        skip_special_tokens=True, timeout=600)
        sampling = params.temperature > 0
        kwargs = dict(**inputs, max_new_tokens=params.max_new_tokens, streamer=streamer,
                      do_sample=sampling, temperature=params.temperature or None,
                      top_p=params.top_p if sampling else None,
                      repetition_penalty=params.repetition_penalty,
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

    async def stream(self, prompt: str, params: GenParams) -> AsyncIterator[str]:
        """The blocking stream run in a producer thread; closing this generator (a cancelled
        request) stops generation at the next token, so the engine is free again."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        stop = threading.Event()

        def put(item: Any) -> None:
            with contextlib.suppress(RuntimeError):  # the loop may be gone at shutdown
                loop.call_soon_threadsafe(queue.put_nowait, item)

        def produce() -> None:
            try:
                for piece in self.stream_blocking(prompt, params, stop):
                    put(piece)
            except Exception as exc:  # noqa: BLE001 - re-raised in the request
                put(exc)
            finally:
                put(None)

        threading.Thread(target=produce, daemon=True).start()
        try:
            while (item := await queue.get()) is not None:
                if isinstance(item, Exception):
                    raise item
                yield item
        finally:
            stop.set()

    async def generate_many(self, prompt: str, params: GenParams, n: int) -> list[Generation]:
        """``n`` sampled answers in one ``generate`` call (``num_return_sequences``): one
        prefill, one batch of ``n`` rows. Greedy decoding has one answer: it is given once."""
        if n <= 1 or params.temperature <= 0:
            return [await self.generate(prompt, params)]
        return await asyncio.to_thread(self._generate_many, prompt, params, n)

    def _generate_many(self, prompt: str, params: GenParams, n: int) -> list[Generation]:
        import time

        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList

        class _Late(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> bool:
                return past(params.deadline)

        inputs = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
        length = int(inputs["input_ids"].shape[-1])
        self.check_fits(length, params.max_new_tokens)
        sampling = params.temperature > 0
        start = time.monotonic()
        with self._lock, torch.no_grad():
            out = self.model.generate(
                **inputs, max_new_tokens=params.max_new_tokens, do_sample=sampling,
                num_return_sequences=n, temperature=params.temperature or None,
                top_p=params.top_p if sampling else None,
                repetition_penalty=params.repetition_penalty,
                pad_token_id=self.tokenizer.pad_token_id,
                stopping_criteria=StoppingCriteriaList([_Late()]))
        seconds = round(time.monotonic() - start, 3)
        answers = []
        for row in out[:, length:]:
            ids = [int(t) for t in row if int(t) != self.tokenizer.pad_token_id]
            text = self.tokenizer.decode(ids, skip_special_tokens=True).strip()
            answers.append(Generation(text=text, prompt_tokens=length,
                                      completion_tokens=len(ids), ttft_s=seconds,
                                      generate_s=seconds))
        return answers

    def _generate(self, kwargs: dict[str, Any], streamer: Any,
                  failed: list[BaseException]) -> None:
        import torch

        try:
            with torch.no_grad():
                self.model.generate(**kwargs)
        except BaseException as exc:  # noqa: BLE001 - raised again in the request
            failed.append(exc)
            streamer.end()  # the reader would otherwise wait for the streamer's timeout
