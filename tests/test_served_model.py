"""The served model is resolved once and handed to every deployment with only the settings it
uses; one engine interface with a registry; prompts never exceed the engine's own window.

No Ray here: the deployments' classes are built directly (as a replica builds them), with the
fake engine or the real small model's tokenizer. The live app's version consistency, with a
moved alias and a restarted replica, is tested in tests/test_serve.py (it shares that app)."""

from __future__ import annotations

import asyncio
import json
import pickle
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from twin.llm.chat import GenParams, WordFormat
from twin.llm.engines import (
    ENGINES,
    Engine,
    EngineOptions,
    describe_model,
    engine_type,
    load_engine,
    prompt_format,
)
from twin.rag.prompt import ContextChunk, build_messages
from twin.settings import Settings

SECRETS = {"ray": {"auth_token": "ray-SECRET-1"}, "milvus": {"token": "milvus-SECRET-2"},
           "teacher": {"api_key": "teacher-SECRET-3"},
           "platforms": {"github_token": "ghp_SECRET4"},
           "serve": {"api_key": "serve-SECRET-5", "engine": "fake"},
           "ui": {"storage_secret": "ui-SECRET-6"},
           "evaluate": {"judge_api_key": "judge-SECRET-7"},
           "warehouse": {"storage_options": {"aws_secret_access_key": "s3-SECRET-8"}}}


def _register(registry, settings: Settings, folder: Path, run: str) -> int:
    from twin.registry import hyperparameters
    from twin.train.common import TrainResult

    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text(json.dumps({"r": 4}))
    result = TrainResult(adapter_dir=folder, run=run, steps=0,
                         info={"stage": "sft", "base_model": settings.llm.base_model})
    return registry.register(result, hyperparameters(settings, result, 1), "test").version


@pytest.fixture(scope="module")
def registered(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A real (MLflow) registry with two versions, the first marked for serving; secrets in
    every group of the settings."""
    from twin.registry import Registry

    root = tmp_path_factory.mktemp("served")
    settings = Settings(home=root / "home", **SECRETS)
    registry = Registry(settings)
    first = _register(registry, settings, root / "a1", "first")
    second = _register(registry, settings, root / "a2", "second")
    registry.set_serving(first)
    return {"settings": settings, "registry": registry, "first": first, "second": second}


def test_the_served_model_is_resolved_once_and_a_moved_alias_reaches_no_replica(
        registered: dict) -> None:
    from twin.serving.app import deployment_args
    from twin.serving.llm_deployment import LLMDeployment

    settings, registry = registered["settings"], registered["registry"]
    registry.set_serving(registered["first"])
    args = deployment_args(settings)
    served = args.served
    assert (served.version, served.label, served.engine) == (1, "twin-v1", "fake")
    assert served.adapter == str(registry.adapter_path(registry.get(1)))
    assert served.window == settings.serve.vllm_max_model_len  # the fake engine's window
    with pytest.raises(Exception, match="frozen"):
        served.label = "twin-v2"  # type: ignore[misc]
    # Every deployment is given that one value.
    assert args.llm[0] is served and args.rag[0] is served and args.gateway[0] is served

    registry.set_serving(registered["second"])
    try:
        # A replica built now (restarted, or added by the autoscaler) from the app's
        # arguments serves what the app was deployed with, not what the alias says.
        replica = LLMDeployment.func_or_class(*args.llm)
        assert replica.info()["model_version"] == "twin-v1"
        answer = asyncio.run(replica.generate([{"role": "user", "content": "a b c"}], 8, 0.0))
        assert answer["model_version"] == "twin-v1" and answer["text"].startswith("[twin-v1]")
        # A new deployment of the app resolves again.
        assert deployment_args(settings).served.label == "twin-v2"
    finally:
        registry.set_serving(registered["first"])


def test_each_deployment_gets_only_the_secrets_it_uses(registered: dict) -> None:
    """The LLM replicas get no secret at all; the Gateway only the API key it checks; RAG only
    what retrieval and the warehouse use (Milvus, storage): never the owner's GitHub token."""
    from twin.serving.app import deployment_args

    args = deployment_args(registered["settings"])
    values = [v for group in SECRETS.values() for k, v in group.items() if k != "engine"]
    secrets = {v if isinstance(v, str) else v["aws_secret_access_key"] for v in values}
    assert len(secrets) == 8

    def held(part: tuple) -> set[str]:
        data = pickle.dumps(part)
        return {s for s in secrets if s.encode() in data}

    assert held(args.llm) == set()
    assert held(args.gateway) == {"serve-SECRET-5"}
    # A caller's links are fetched without the owner's GitHub token.
    assert held(args.rag) == {"milvus-SECRET-2", "s3-SECRET-8"}
    rag_settings = args.rag[1]
    assert rag_settings.teacher.api_key is None and rag_settings.serve.api_key is None
    assert rag_settings.milvus_uri == registered["settings"].milvus_uri
    assert rag_settings.warehouse_uri == registered["settings"].warehouse_uri
    assert rag_settings.tracking_uri == registered["settings"].tracking_uri


def test_the_engine_registry_picks_by_name_and_every_engine_has_the_interface() -> None:
    from twin.llm.engines import choose_engine

    assert set(ENGINES) == {"transformers", "vllm", "vllm-server", "fake"}
    for name in ENGINES:  # importing the vLLM module does not import vLLM
        kind = engine_type(name)
        assert kind.name == name
        for method in ("render", "count_tokens", "truncate", "stream", "generate", "close",
                       "describe", "prompt_format"):
            assert callable(getattr(kind, method)), (name, method)
    assert choose_engine("fake") == "fake" and choose_engine("transformers") == "transformers"
    with pytest.raises(ValueError, match="unknown engine"):
        engine_type("gpt-9")


def test_the_fake_engine_is_deterministic_and_keeps_the_limits() -> None:
    served = describe_model("fake", "any", None, label="base", version=None, cache_dir="/none",
                            options=EngineOptions(max_model_len=64))
    engine = load_engine(served)
    assert isinstance(engine, Engine) and engine.window == 64
    prompt = engine.render([{"role": "user", "content": "one two three"}])
    first = asyncio.run(engine.generate(prompt, GenParams(4)))
    assert first == asyncio.run(engine.generate(prompt, GenParams(4)))
    assert first.text == "[base] <|assistant|> three two" and first.completion_tokens == 4
    assert first.prompt_tokens == engine.count_tokens(prompt) == 5

    async def collect(params: GenParams) -> list[str]:
        return [piece async for piece in engine.stream(prompt, params)]

    assert asyncio.run(collect(GenParams(50, deadline=time.monotonic() - 1))) == []
    with pytest.raises(ValueError, match="window of 64"):
        asyncio.run(collect(GenParams(60)))


# A prompt never exceeds the engine's window.


def _chunks(n: int, words: int) -> list[ContextChunk]:
    text = ("Schema drift: the partner's int64 column became a timestamp — naïve façade "
            "`df.cast(pl.Datetime)` 数据质量 ✓ ")
    return [ContextChunk(text=(f"chunk {i}. " + text * (words // 12 + 1)), title=f"Piece {i}",
                         url=f"https://x.test/{i}", platform="medium", score=1 - i / 1000)
            for i in range(n)]


def _history(turns: int, words: int) -> list[dict[str, str]]:
    said = ["our", "partner", "files", "drift", "and", "the", "pipeline", "breaks", "at",
            "night"]
    return [{"role": "user" if i % 2 == 0 else "assistant",
             "content": " ".join(said[j % len(said)] for j in range(words))}
            for i in range(turns)]


@pytest.fixture(scope="module")
def vllm_served(tmp_path_factory: pytest.TempPathFactory):
    """The small model as vLLM would serve it with max_model_len 1024: a window far under
    the model's own 8192, the one RAG must size prompts by."""
    settings = Settings(home=tmp_path_factory.mktemp("w") / "home")
    return describe_model("vllm-server", settings.llm.base_model, None, label="base",
                          version=None, cache_dir=str(settings.models_dir),
                          options=EngineOptions(max_model_len=1024))


def test_rag_sizes_prompts_by_the_engines_window_not_the_models(vllm_served) -> None:
    from twin.llm.engines import hf_describe

    assert hf_describe(vllm_served.base_model, None, vllm_served.cache_dir)[0] == 8192
    assert vllm_served.window == 1024 and vllm_served.chat_template
    big = describe_model("vllm-server", vllm_served.base_model, None, label="base",
                         version=None, cache_dir=vllm_served.cache_dir,
                         options=EngineOptions(max_model_len=100_000))
    assert big.window == 8192  # never more than the model's own


@pytest.mark.parametrize(("chunks", "words", "turns", "max_new"), [
    (40, 400, 0, 300), (40, 400, 6, 200), (5, 3000, 10, 64), (200, 30, 3, 512),
    (1, 10, 0, 900),
])
def test_a_prompt_never_exceeds_the_engines_window(vllm_served, chunks: int, words: int,
                                                   turns: int, max_new: int) -> None:
    """Many long retrieved chunks and a long history, counted with the real tokenizer and
    template: the rendered chat and the answer's budget fit the engine's window."""
    fmt = prompt_format(vllm_served)
    history = _history(turns, 40)
    request = "Write a LinkedIn post about schema drift"
    bare, _ = build_messages(request, [], fmt, vllm_served.window, max_new, max_words=120,
                             history=history)
    assert fmt.rendered_tokens(history + bare) + max_new <= vllm_served.window  # it can fit
    messages, used = build_messages(request, _chunks(chunks, words), fmt, vllm_served.window,
                                    max_new, max_words=120, history=history)
    tokens = fmt.rendered_tokens(history + messages)
    assert tokens + max_new <= vllm_served.window, (tokens, max_new)
    assert [c.url for c in used] == [f"https://x.test/{i}" for i in range(len(used))]
    if max_new <= 300 and turns <= 6:
        assert used  # context was added where there is room for it


@hsettings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(window=st.integers(200, 4000), max_new=st.integers(1, 600),
       chunks=st.lists(st.tuples(st.integers(0, 900), st.text(min_size=0, max_size=12)),
                       max_size=30),
       turns=st.integers(0, 8), turn_words=st.integers(0, 120))
def test_any_prompt_fits_the_fake_engines_window(window: int, max_new: int,
                                                 chunks: list[tuple[int, str]], turns: int,
                                                 turn_words: int) -> None:
    """Whatever the chunks, the history and the budget: when the chat without context fits,
    the chat with context fits too."""
    fmt = WordFormat(window)
    history = _history(turns, turn_words)
    context = [ContextChunk(text=(word + " ") * n, title=word, url=f"u{i}", platform="web",
                            score=0.5) for i, (n, word) in enumerate(chunks)]
    messages, used = build_messages("a post about tests", context, fmt, window, max_new,
                                    history=history)
    bare, _ = build_messages("a post about tests", [], fmt, window, max_new, history=history)
    if fmt.rendered_tokens(history + bare) + max_new <= window:
        assert fmt.rendered_tokens(history + messages) + max_new <= window
    else:
        assert used == []
