"""The HTTP API's FastAPI app, built by a factory: the guard, the error handlers, ``/healthz``
and the route modules (posts, OpenAI-compatible, library)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError

from twin.serving import library_routes, openai_api, post_routes
from twin.serving.guard import Guard
from twin.serving.http import GatewayDep, failed, invalid
from twin.settings import ServeSettings

TITLE = "LLM Twin"
DESCRIPTION = ("Ask the twin for a LinkedIn post in the author's voice, grounded in their "
               "writing and any links you give it.")


async def healthz(gw: GatewayDep) -> dict[str, Any]:
    """Liveness: the model version and engine once the model has loaded (nothing more: this
    route is open without the key)."""
    info = await gw.model_info()
    return {"status": "ok", "model_version": info["model_version"], "engine": info["engine"]}


def create_api(serve: ServeSettings, gateway: Any = None) -> FastAPI:
    """The app for one Gateway replica: ``serve`` bounds every request (key, body size);
    routes reach ``gateway`` (its handles, checks and deadlines) as a dependency."""
    app = FastAPI(title=TITLE, version="0.1.0", description=DESCRIPTION)
    app.state.gateway = gateway
    app.add_middleware(Guard, serve=serve)
    app.add_exception_handler(Exception, failed)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_api_route("/healthz", healthz, methods=["GET"])
    for module in (post_routes, library_routes, openai_api):
        app.include_router(module.router)
    return app
