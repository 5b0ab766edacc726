"""FastAPI app for the TwelveLabs v1.3 embed routes (docs/CONTRACT.md §1-§3, §8).

Every route is served under both ``/v1.3`` and the root, since SDK generations build different
paths from the same base URL. Forms are parsed by hand: ``""`` means absent, a text parameter may
also arrive as a small file part (SDK 0.4.x), and scopes repeat. Every response is JSON; errors
are flat ``{code, message}`` bodies with 400 for validation (never 422), except under
``/embed-v2``, where every error is nested (``responses.nests_errors``).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from vidembed.api.assets.operations import AssetService
from vidembed.api.compose import Services
from vidembed.api.embed.operations import TaskService
from vidembed.errors import ApiError
from vidembed.server.auth import ApiKeys
from vidembed.server.responses import error_body, error_responses, nests_errors
from vidembed.server.routes.assets import assets_router
from vidembed.server.routes.embed import embed_router
from vidembed.server.routes.embed_v2 import v2_router
from vidembed.server.routes.index_tasks import index_tasks_router
from vidembed.server.routes.indexes import indexes_router
from vidembed.server.routes.search import search_router
from vidembed.version import __version__

log = logging.getLogger("vidembed.http")

HTTP_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def uvicorn_options(host: str, port: int) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.run(app, ...)`` (``vidembed serve``).

    uvicorn's access log is off: the app logs one JSON line per request itself
    (``vidembed.http``), so uvicorn's line would log every request twice.
    """
    return {
        "host": host,
        "port": port,
        "log_level": "info",
        "access_log": False,
        "timeout_graceful_shutdown": 10,
    }


def _unusable_dependency(service: TaskService, assets: AssetService) -> str | None:
    """What a server cannot reach now (for ``/ready``: a load balancer then sends requests
    elsewhere), or None. Each check is one cheap round trip."""
    checks: list[tuple[str, Callable[[], object]]] = [
        ("The task database", lambda: service.store.count_active("")),
        ("The asset database", lambda: assets.store.get("ready-check")),
        ("The media store", service.media_store.check),
    ]
    for name, check in checks:
        try:
            check()
        except Exception as exc:  # any failure means not ready; the reason goes to the caller
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            return f"{name} cannot be used: {reason}"
    return None


def create_app(services: Services, keys: ApiKeys | None = None, preload_models: bool = True) -> FastAPI:
    """The app over ``services`` (``vidembed.api.compose``); whoever composed them closes them."""
    service = services.embed
    assets = services.assets
    if assets is None:
        raise ValueError("the server serves /assets: compose its services with assets")
    keys = keys or ApiKeys(set())
    readiness = {"models": not preload_models, "search": not preload_models}
    app = FastAPI(
        title="vidembed",
        version=__version__,
        description="Self-hosted video embeddings; TwelveLabs Embed API v1.3 compatible.",
    )
    app.state.service = service
    app.state.assets = assets
    if keys.open:
        log.warning("no API keys configured: the server is OPEN to anyone who can reach it")

    if preload_models:

        def preload() -> None:
            for name in service.catalog.configs:  # every stack's text encoder answers queries here
                service.catalog.text_encoder(name)
            readiness["models"] = True
            try:
                if services.search is not None:  # then what the first searches would read and open
                    started = time.monotonic()
                    warmed = services.search.warm()
                    log.info("search ready for %d indexes in %.1f s", warmed, time.monotonic() - started)
            finally:
                readiness["search"] = True

        threading.Thread(target=preload, name="preload-models", daemon=True).start()

    def owner(request: Request) -> str:
        return keys.authenticate(request.headers.get("x-api-key"))

    router = embed_router(service, owner)
    app.include_router(router, prefix="/v1.3")
    app.include_router(router)
    asset_routes = assets_router(assets, owner)
    app.include_router(asset_routes, prefix="/v1.3")
    app.include_router(asset_routes)
    embed_v2 = v2_router(services.embed_v2, owner)
    app.include_router(embed_v2, prefix="/v1.3")
    app.include_router(embed_v2)
    if services.indexes is not None:
        index_routes = indexes_router(services.indexes, owner)
        app.include_router(index_routes, prefix="/v1.3")
        app.include_router(index_routes)
    max_upload = services.settings.max_upload_bytes
    if services.index_tasks is not None:
        task_routes = index_tasks_router(services.index_tasks, owner, max_upload)
        app.include_router(task_routes, prefix="/v1.3")
        app.include_router(task_routes)
    if services.search is not None:
        search_routes = search_router(services.search, owner, max_upload)
        app.include_router(search_routes, prefix="/v1.3")
        app.include_router(search_routes)
    _install_prefixed_docs(app, "/v1.3")
    _drop_validation_responses(app)

    @app.get("/health", summary="Liveness")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/ready",
        responses=error_responses(503),
        summary="Readiness: databases and media store reachable, text encoders loaded",
    )
    async def ready() -> JSONResponse:
        problem = await run_in_threadpool(_unusable_dependency, service, assets)
        if problem is not None:
            return JSONResponse({"code": "not_ready", "message": problem}, status_code=503)
        if not readiness["models"]:
            return JSONResponse({"code": "not_ready", "message": "Models are loading."}, status_code=503)
        if not readiness["search"]:
            message = (
                "The search indexes are being read (the first searches after a start would wait for it)."
            )
            return JSONResponse({"code": "not_ready", "message": message}, status_code=503)
        return JSONResponse({"status": "ready"})

    _install_error_handlers(app)
    _install_access_log(app)
    return app


def _drop_validation_responses(app: FastAPI) -> None:
    """FastAPI documents a 422 for every route with a path parameter; we answer 400 instead."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        schema = build()  # cached by FastAPI, so this runs on the cached copy after the first call
        for operations in schema["paths"].values():
            for operation in operations.values():
                operation.get("responses", {}).pop("422", None)
        for name in ("HTTPValidationError", "ValidationError"):
            schema.get("components", {}).get("schemas", {}).pop(name, None)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _install_prefixed_docs(app: FastAPI, prefix: str) -> None:
    """The docs pages and the OpenAPI document under ``prefix`` too, like every API route."""
    openapi_url = f"{prefix}{app.openapi_url or '/openapi.json'}"

    # GET and HEAD, as Starlette's own /docs, /redoc and /openapi.json routes take.
    @app.api_route(openapi_url, methods=["GET", "HEAD"], include_in_schema=False)
    async def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.api_route(f"{prefix}{app.docs_url or '/docs'}", methods=["GET", "HEAD"], include_in_schema=False)
    async def swagger() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=openapi_url, title=f"{app.title} - Swagger UI")

    @app.api_route(f"{prefix}{app.redoc_url or '/redoc'}", methods=["GET", "HEAD"], include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url=openapi_url, title=f"{app.title} - ReDoc")


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route answers on this path (Starlette's 405 names only the first route's).

    Each method is tried against the routing table, so nested routers count and HEAD is listed
    only where a route really takes it.
    """
    allowed = []
    for method in HTTP_METHODS:
        scope = {
            "type": "http",
            "path": request.scope["path"],
            "root_path": request.scope.get("root_path", ""),
            "method": method,
        }
        if any(route.matches(scope)[0] is Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return allowed


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        body = exc.nested_body if nests_errors(request.url.path) else exc.body
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        message = "The request contains some invalid parameters."
        nested = nests_errors(request.url.path)
        return JSONResponse(error_body("parameter_invalid", message, nested=nested), status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {400: "parameter_invalid", 404: "not_found", 405: "method_not_allowed"}
        message = exc.detail if isinstance(exc.detail, str) else "Request failed."
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 404:
            message = "No such route. See /docs for the API."
        if exc.status_code == 405:
            allowed = _allowed_methods(request)
            headers["Allow"] = ", ".join(allowed)
            message = (
                f"The {request.method} method is not allowed on {request.url.path}; "
                f"it takes {', '.join(allowed)}."
            )
        code = codes.get(exc.status_code, "http_error")
        nested = nests_errors(request.url.path)
        return JSONResponse(
            error_body(code, message, nested=nested), status_code=exc.status_code, headers=headers
        )

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        message = "The server failed to handle the request."
        nested = nests_errors(request.url.path)
        return JSONResponse(error_body("internal_error", message, nested=nested), status_code=500)


def _install_access_log(app: FastAPI) -> None:
    @app.middleware("http")
    async def access_log(request: Request, call_next: Callable[[Request], Awaitable[Any]]) -> Any:
        started = time.perf_counter()
        response = await call_next(request)
        ids = getattr(request, "path_params", {})
        # the id a route names, or the one a create made (routes leave it in request.state)
        task_id = ids.get("task_id") or getattr(request.state, "task_id", None)
        asset_id = ids.get("asset_id") or getattr(request.state, "asset_id", None)
        index_id = ids.get("index_id") or getattr(request.state, "index_id", None)
        line = {
            "method": request.method,
            "path": request.url.path,
            "status": response.status_code,
            "ms": round((time.perf_counter() - started) * 1000, 1),
            "task_id": task_id,
        }
        if asset_id is not None:
            line["asset_id"] = asset_id
        if index_id is not None:
            line["index_id"] = index_id
        log.info(json.dumps(line))
        return response
