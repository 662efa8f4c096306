"""Read-only routes for the UI and `twin search`: the library, the knowledge base's search,
the registered model versions and which one is served."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query

from twin.serving.http import GatewayDep, error

router = APIRouter()


@router.get("/v1/library")
async def library(gw: GatewayDep,
                  author_id: str | None = Query(default=None, max_length=200),
                  limit: int = Query(default=50, ge=1, le=500)) -> Any:
    """What the warehouse holds per platform, and its latest documents."""
    return await gw.timed(gw.rag.library.remote(author_id, limit))


@router.get("/v1/search")
async def search(gw: GatewayDep, q: str = Query(min_length=1, max_length=1000),
                 author_id: str | None = Query(default=None, max_length=200),
                 platform: str | None = Query(default=None, max_length=40),
                 kind: Literal["post", "article", "repository"] | None = None,
                 k: int = Query(default=5, ge=1, le=50),
                 mode: Literal["hybrid", "dense", "text"] = "hybrid") -> Any:
    """Nearest chunks of the knowledge base, with score, source and date."""
    if not q.strip():
        return error(422, "invalid request: q: the query is empty")
    try:
        return {"hits": await gw.rag.search.remote(q, author_id, platform, k, mode, kind)}
    except Exception as exc:  # noqa: BLE001 - an empty knowledge base is a 404, not a 503
        if "does not exist yet" in str(exc):
            return error(404, "the knowledge base is empty: collect and ingest first")
        raise


@router.get("/v1/model-versions")
async def model_versions(gw: GatewayDep) -> dict[str, Any]:
    """Registered model versions with their metrics; which is marked and which is served
    (its base model, adapter folder, window and the evaluation's choices in use under
    ``model``)."""
    info = await gw.model_info()
    return {"served": info["model_version"], "engine": info["engine"],
            "model": {k: info.get(k) for k in ("base_model", "adapter", "window", "choices")},
            "versions": await gw.rag.versions.remote()}
