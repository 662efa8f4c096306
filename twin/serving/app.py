"""The Ray Serve application: an LLM deployment, a RAG deployment and the Gateway (the HTTP
ingress), wired together once per deployment of the app.

    serve run serve.app:build_app          # development (see serve/config.yaml for deploy)
    twin serve                             # the same on the local Ray head

Routes: ``POST /v1/posts`` (and ``/v1/posts/stream``, Server-Sent Events), OpenAI-compatible
``POST /v1/chat/completions`` and ``GET /v1/models``, ``GET /v1/library``, ``/v1/search``,
``/v1/model-versions`` and ``GET /healthz``. An API key (settings) guards every route but the
health check; bodies are size-limited on the bytes read; chats are checked (roles, sizes, the
prompt's tokens against the engine's window) before any generation; a request that runs past
its deadline (``serve.request_timeout_s`` or its own ``timeout_s``) answers 504 and its work
stops; a full queue answers 503.

The served model is resolved here, once, and given to every deployment with only the settings
it uses: a moved serving alias changes nothing until the app is deployed again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from twin.llm.served import ServedModel
from twin.serving.gateway import Gateway
from twin.serving.llm_deployment import LLMDeployment
from twin.serving.model import engine_options, resolve_served_model, scoped_settings
from twin.serving.rag_deployment import RAGDeployment
from twin.settings import Settings

__all__ = ["Gateway", "LLMDeployment", "RAGDeployment", "app_for", "build_app",
           "deployment_args"]


@dataclass(frozen=True)
class DeploymentArgs:
    """What each deployment is constructed with (besides the handles)."""

    served: ServedModel
    llm: tuple[Any, ...]
    rag: tuple[Any, ...]
    gateway: tuple[Any, ...]


def deployment_args(settings: Settings, served: ServedModel | None = None) -> DeploymentArgs:
    """The served model (resolved now unless given) and each deployment's arguments: the LLM
    gets the sampling settings and its engine options, RAG the groups it reads, the Gateway
    the serve settings (its API key) and the answer's default budget."""
    served = served or resolve_served_model(settings)
    return DeploymentArgs(
        served=served,
        llm=(served, settings.llm, engine_options(settings), settings.log_level),
        rag=(served, scoped_settings(settings)),
        gateway=(served, settings.serve, settings.llm))


def build_app(args: dict[str, Any] | None = None) -> Any:
    """The Serve application; ``args`` may carry ``settings`` overrides (serve config YAML)."""
    from twin.settings import get_settings, with_overrides

    return app_for(with_overrides(get_settings(), (args or {}).get("settings")))


def app_for(settings: Settings) -> Any:
    """The Serve application for ``settings``: replicas, resources, queue limits and
    autoscaling included. The Gateway takes every request at once (each on its own deadline);
    the LLM's queue is bounded, so a request past it is a 503 at once, not a long wait."""
    s = settings.serve
    args = deployment_args(settings)
    llm_options: dict[str, Any] = {
        "ray_actor_options": {"num_cpus": s.llm_num_cpus, "num_gpus": s.llm_num_gpus},
        "max_ongoing_requests": s.llm_max_ongoing_requests,
        "max_queued_requests": s.llm_max_queued_requests}
    if s.autoscaling_max_replicas and s.autoscaling_max_replicas > s.llm_replicas:
        llm_options["autoscaling_config"] = {
            "min_replicas": s.llm_replicas, "max_replicas": s.autoscaling_max_replicas,
            "target_ongoing_requests": min(2, s.llm_max_ongoing_requests)}
    else:
        llm_options["num_replicas"] = s.llm_replicas
    llm = LLMDeployment.options(**llm_options).bind(*args.llm)
    rag = RAGDeployment.options(num_replicas=s.rag_replicas,
                                ray_actor_options={"num_cpus": s.rag_num_cpus}).bind(
        *args.rag, llm)
    return Gateway.options(ray_actor_options={"num_cpus": 0.1},
                           max_ongoing_requests=s.max_ongoing_requests,
                           max_queued_requests=s.max_queued_requests).bind(
        llm, rag, *args.gateway)
