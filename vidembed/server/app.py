"""FastAPI app for the TwelveLabs v1.3 embed routes (docs/CONTRACT.md §1-§3, §8).

Every route is served under both ``/v1.3`` and the root, since SDK generations build different
paths from the same base URL. Forms are parsed by hand: ``""`` means absent, a text parameter may
also arrive as a small file part (SDK 0.4.x), and scopes repeat. Every response is JSON; errors
are flat ``{code, message}`` bodies with 400 for validation (never 422).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from typing import IO, Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import Message, Receive

from vidembed import __version__
from vidembed.api.embed_v2.operations import EmbedV2Service
from vidembed.errors import ApiError, BadRequestError, invalid
from vidembed.server.auth import ApiKeys
from vidembed.service.assets import AssetService
from vidembed.service.tasks import TaskService

log = logging.getLogger("vidembed.http")

CREATE_FIELDS = (
    "model_name",
    "video_url",
    "video_start_offset_sec",
    "video_end_offset_sec",
    "video_clip_length",
    "video_segmentation",
    "video_min_duration_sec",
)
TEXT_PART_MAX = 64 * 1024  # a "file" part this small may be a text parameter (SDK 0.4.x)
FORM_SLACK = 1024 * 1024  # multipart overhead allowed above the upload limit
FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
HTTP_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


class ErrorBody(BaseModel):
    """Every 4xx/5xx body: flat, as in TwelveLabs' v1.3 API (docs/CONTRACT.md §1.4)."""

    code: str = Field(examples=["parameter_invalid"])
    message: str = Field(examples=["The video_clip_length parameter is invalid."])


_ERROR_DESCRIPTIONS = {
    400: "`parameter_invalid` or `parameter_not_provided` (validation is always 400, never 422)",
    401: "`api_key_invalid`: no key, or an unknown key, in the `x-api-key` header (servers with keys only)",
    404: "`resource_not_exist`: no task with this id for this API key",
    429: "`too_many_requests`: too many tasks processing at once for this API key",
    503: "`not_ready`: the models are still loading, or a database or the media store cannot be used",
}


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the error statuses a route can answer."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        out[status] = {"model": ErrorBody, "description": _ERROR_DESCRIPTIONS[status]}
    if 429 in out:
        out[429]["headers"] = {
            "Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}
        }
    return out


def _multipart_body(
    properties: dict[str, Any], required: tuple[str, ...] = ("model_name",)
) -> dict[str, Any]:
    """OpenAPI for a route that parses its multipart form by hand (FastAPI cannot infer it)."""
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:  # an empty list is not valid OpenAPI
        schema["required"] = list(required)
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}}


_CREATE_SCHEMA = _multipart_body(
    {
        "model_name": {"type": "string", "example": "marengo3.0"},
        "video_file": {"type": "string", "format": "binary"},
        "video_url": {"type": "string"},
        "video_start_offset_sec": {"type": "number"},
        "video_end_offset_sec": {"type": "number"},
        "video_clip_length": {"type": "number", "minimum": 2, "maximum": 10, "default": 6},
        "video_embedding_scope": {"type": "array", "items": {"type": "string", "enum": ["clip", "video"]}},
        "embedding_option": {"type": "array", "items": {"type": "string"}},
        "video_segmentation": {
            "type": "string",
            "enum": ["fixed", "dynamic"],
            "default": "fixed",
            "description": "ours: dynamic cuts clips at shot boundaries",
        },
        "video_min_duration_sec": {"type": "number", "minimum": 2, "maximum": 5, "default": 4},
    }
)
_EMBED_SCHEMA = _multipart_body(
    {
        "model_name": {"type": "string", "example": "marengo3.0"},
        "text": {"type": "string", "description": "text, an image, or both"},
        "image_file": {"type": "string", "format": "binary", "description": "or image_url"},
        "image_url": {"type": "string", "description": "or image_file"},
        "audio_file": {"type": "string", "format": "binary", "description": "or audio_url"},
        "audio_url": {"type": "string", "description": "or audio_file"},
        "audio_start_offset_sec": {
            "type": "number",
            "default": 0,
            "description": "the 10 s of audio embedded start here",
        },
    }
)
EMBED_FIELDS = ("model_name", "text", "image_url", "audio_url", "audio_start_offset_sec")
SEARCH_FIELDS = ("query_text", "model_name", "task_id", "page_limit")
_SEARCH_SCHEMA = _multipart_body(
    {
        "query_text": {"type": "string", "description": "a text query, or query_image"},
        "query_image": {
            "type": "string",
            "format": "binary",
            "description": "an image query, or query_text: ranks the visual option only",
        },
        "model_name": {"type": "string", "default": "marengo3.0"},
        "task_id": {"type": "string", "description": "search only this task's clips"},
        "embedding_option": {"type": "array", "items": {"type": "string"}},
        "page_limit": {"type": "integer", "default": 5, "minimum": 1, "maximum": 100},
    },
    required=(),  # query_text or query_image
)


def _limited(receive: Receive, limit: int, upload_limit: int, field: str) -> Receive:
    """An ASGI receive that stops a body larger than ``limit`` while it streams in."""
    seen = 0

    async def receive_limited() -> Message:
        nonlocal seen
        message = await receive()
        seen += len(message.get("body", b""))
        if seen > limit:
            raise _too_large(upload_limit, field)
        return message

    return receive_limited


def _too_large(limit: int, field: str = "video_file") -> BadRequestError:
    return invalid(field, f"The upload is larger than the limit of {limit} bytes.")


def _check_form_type(request: Request) -> None:
    """A body that is not a form would parse as an empty form and give a misleading "not provided".

    No Content-Type with an empty body (the SDK's retried POST, CONTRACT.md §1.5) still goes on
    to the missing-parameter answer.
    """
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type in FORM_TYPES:
        return
    if media_type:
        sent = f"as {media_type[:100]}"
    elif request.headers.get("content-length", "0").strip() in ("", "0"):
        return
    else:
        sent = "with no Content-Type header"
    raise BadRequestError(
        f"This route takes {FORM_TYPES[0]} (or {FORM_TYPES[1]}); the request was sent {sent}.",
        "parameter_invalid",
    )


async def _read_form(request: Request, upload_limit: int, file_field: str = "video_file") -> FormData:
    """The form, refused while it streams in when larger than ``upload_limit`` (a message naming
    ``file_field``, the route's upload)."""
    _check_form_type(request)
    limit = upload_limit + FORM_SLACK
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(upload_limit, file_field)
    limited = Request(request.scope, _limited(request.receive, limit, upload_limit, file_field))
    # Files spool to disk past 1 MB (python-multipart), so an upload is never whole in memory.
    return await limited.form(max_files=8, max_fields=200)


async def _text(form: FormData, name: str) -> str | None:
    """The first non-empty text value; else the content of a small file part of that name."""
    values = form.getlist(name)
    for value in values:
        if isinstance(value, str) and value.strip():
            return value
    for value in values:
        if isinstance(value, UploadFile) and (value.size or 0) <= TEXT_PART_MAX:
            content = (await value.read()).decode("utf-8", errors="replace").strip()
            if content:
                return content
    return None


def _upload(form: FormData, name: str) -> UploadFile | None:
    for value in form.getlist(name):
        if isinstance(value, UploadFile):
            return value
    return None


def _file_only(form: FormData, name: str, hint: str) -> tuple[str, IO[bytes]] | None:
    """A parameter that is a file part only: its (file name, content); a text value is refused,
    and an empty part without a file name (a form's unused file field) is absent."""
    upload = _upload(form, name)
    if upload is not None and (upload.filename or upload.size):
        return (upload.filename or "upload", upload.file)
    if any(isinstance(v, str) and v.strip() for v in form.getlist(name)):
        raise invalid(name, f"Send {name} as a file part (multipart/form-data){hint}.")
    return None


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


def create_app(
    service: TaskService,
    keys: ApiKeys | None = None,
    preload_models: bool = True,
    assets: AssetService | None = None,
) -> FastAPI:
    """The app over ``service``; ``assets`` serves ``/assets`` (default: an AssetService built
    from ``service.settings``, with its workers, closed when the app shuts down)."""
    # imported here: the assets routes reuse this module's form helpers
    from vidembed.server.routes.assets import assets_router
    from vidembed.server.routes.embed_v2 import v2_router

    keys = keys or ApiKeys(set())
    if assets is None:
        assets = AssetService(service.settings)
        app_assets = assets
    else:
        app_assets = None
    readiness = {"models": not preload_models}
    app = FastAPI(
        title="vidembed",
        version=__version__,
        description="Self-hosted video embeddings; TwelveLabs Embed API v1.3 compatible.",
    )
    app.state.service = service
    app.state.assets = assets
    if app_assets is not None:
        app.router.add_event_handler("shutdown", app_assets.close)
    if keys.open:
        log.warning("no API keys configured: the server is OPEN to anyone who can reach it")

    if preload_models:

        def preload() -> None:
            for name in service.catalog.configs:  # every stack's text encoder answers queries here
                service.catalog.text_encoder(name)
            readiness["models"] = True

        threading.Thread(target=preload, name="preload-models", daemon=True).start()

    def owner(request: Request) -> str:
        return keys.authenticate(request.headers.get("x-api-key"))

    router = APIRouter()

    @router.post(
        "/embed/tasks",
        openapi_extra=_CREATE_SCHEMA,
        responses=_errors(400, 401, 429),
        summary="Create a video embedding task",
    )
    async def create_task(request: Request) -> dict[str, Any]:
        who = owner(request)
        form = await _read_form(request, service.settings.max_upload_bytes)
        fields = {name: await _text(form, name) for name in CREATE_FIELDS}
        scopes = [v for v in form.getlist("video_embedding_scope") if isinstance(v, str)]
        options = [v for v in form.getlist("embedding_option") if isinstance(v, str)]  # repeated, like scopes
        upload = _upload(form, "video_file")
        video_file = (upload.filename or "upload", upload.file) if upload is not None else None
        try:
            return await run_in_threadpool(
                service.create,
                owner=who,
                video_file=video_file,
                video_embedding_scope=scopes,
                embedding_option=options or None,
                **fields,
            )
        finally:
            await form.close()

    @router.get(
        "/embed/tasks/{task_id}/status", responses=_errors(401, 404), summary="Retrieve the status of a task"
    )
    async def task_status(task_id: str, request: Request) -> dict[str, Any]:
        return await run_in_threadpool(service.status, task_id, owner(request))

    @router.get(
        "/embed/tasks/{task_id}", responses=_errors(400, 401, 404), summary="Retrieve video embeddings"
    )
    async def retrieve_task(task_id: str, request: Request) -> dict[str, Any]:
        options = request.query_params.getlist("embedding_option") or None
        return await run_in_threadpool(service.retrieve, task_id, owner(request), options)

    @router.get("/embed/tasks", responses=_errors(400, 401), summary="List video embedding tasks")
    async def list_tasks(request: Request) -> dict[str, Any]:
        q = request.query_params
        return await run_in_threadpool(
            lambda: service.list(
                owner(request),
                started_at=q.get("started_at"),
                ended_at=q.get("ended_at"),
                status=q.get("status"),
                page=q.get("page"),
                page_limit=q.get("page_limit"),
            )
        )

    @router.post(
        "/embed",
        openapi_extra=_EMBED_SCHEMA,
        responses=_errors(400, 401),
        summary="Create text, image and audio embeddings",
    )
    async def embed(request: Request) -> dict[str, Any]:
        who = owner(request)
        form = await _read_form(request, service.settings.max_upload_bytes, "image_file")
        try:
            fields = {name: await _text(form, name) for name in EMBED_FIELDS}
            image_file = _file_only(form, "image_file", "; for an image on the web, use image_url")
            audio_file = _file_only(form, "audio_file", "; for audio on the web, use audio_url")
            return await run_in_threadpool(
                lambda: service.embed(owner=who, image_file=image_file, audio_file=audio_file, **fields)
            )
        finally:
            await form.close()

    @router.post(
        "/clips/search",
        openapi_extra=_SEARCH_SCHEMA,
        responses=_errors(400, 401, 404),
        summary="Rank stored clips against a text or image query (vidembed extension, not in the "
        "TwelveLabs API)",
    )
    async def search_clips(request: Request) -> dict[str, Any]:
        who = owner(request)
        form = await _read_form(request, service.settings.max_upload_bytes, "query_image")
        try:
            fields = {name: await _text(form, name) for name in SEARCH_FIELDS}
            options = [v for v in form.getlist("embedding_option") if isinstance(v, str)]
            image = _file_only(form, "query_image", "")
            return await run_in_threadpool(
                lambda: service.search_clips(
                    who, query_image=image, embedding_option=options or None, **fields
                )
            )
        finally:
            await form.close()

    @router.get(
        "/models", responses=_errors(401), summary="The model stacks served and what their vectors mean"
    )
    async def models(request: Request) -> dict[str, Any]:
        owner(request)
        # run in a thread: describing an image-text stack hashes its weight files (once)
        return {"data": await run_in_threadpool(service.models)}

    app.include_router(router, prefix="/v1.3")
    app.include_router(router)
    asset_routes = assets_router(assets, owner)
    app.include_router(asset_routes, prefix="/v1.3")
    app.include_router(asset_routes)
    embed_v2 = v2_router(EmbedV2Service(service, assets), owner)
    app.include_router(embed_v2, prefix="/v1.3")
    app.include_router(embed_v2)
    _install_prefixed_docs(app, "/v1.3")
    _drop_validation_responses(app)

    @app.get("/health", summary="Liveness")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/ready",
        responses=_errors(503),
        summary="Readiness: databases and media store reachable, text encoders loaded",
    )
    async def ready() -> JSONResponse:
        problem = await run_in_threadpool(_unusable_dependency, service, assets)
        if problem is not None:
            return JSONResponse({"code": "not_ready", "message": problem}, status_code=503)
        if not readiness["models"]:
            return JSONResponse({"code": "not_ready", "message": "Models are loading."}, status_code=503)
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
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(
            {"code": "parameter_invalid", "message": "The request contains some invalid parameters."},
            status_code=400,
        )

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
        return JSONResponse(
            {"code": codes.get(exc.status_code, "http_error"), "message": message},
            status_code=exc.status_code,
            headers=headers,
        )

    @app.exception_handler(Exception)
    async def internal_error(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return JSONResponse(
            {"code": "internal_error", "message": "The server failed to handle the request."}, status_code=500
        )


def _install_access_log(app: FastAPI) -> None:
    @app.middleware("http")
    async def access_log(request: Request, call_next: Callable[[Request], Awaitable[Any]]) -> Any:
        started = time.perf_counter()
        response = await call_next(request)
        ids = getattr(request, "path_params", {})
        line = {
            "method": request.method,
            "path": request.url.path,
            "status": response.status_code,
            "ms": round((time.perf_counter() - started) * 1000, 1),
            "task_id": ids.get("task_id"),
        }
        if "asset_id" in ids:
            line["asset_id"] = ids["asset_id"]
        log.info(json.dumps(line))
        return response
