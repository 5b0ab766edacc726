"""The Embed API v2 routes (docs/CONTRACT.md §5): ``POST /embed-v2``, ``POST /embed-v2/tasks``,
``GET /embed-v2/tasks`` and ``GET /embed-v2/tasks/{task_id}``.

Bodies are JSON. ``create_app`` includes this router under ``/v1.3`` and the root, like the other
routes. Every error these routes answer (400, 401, 404, 408, 413, 429, 500) has the nested body
``{"error": {"code", "message", "details"}}`` that TwelveLabs' OpenAPI documents give Embed v2,
unlike every other API's flat body: the app's error handlers nest by path
(``vidembed.server.responses.nests_errors``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from vidembed.api.embed_v2.operations import EmbedV2Service
from vidembed.api.embed_v2.rules import MAX_BASE64_MEDIA_BYTES, MB
from vidembed.api.embed_v2.schema import SYNC_RULES, TASK_RULES, sync_schema, task_schema
from vidembed.errors import BadRequestError, ContentTooLargeError
from vidembed.server.forms import json_body
from vidembed.server.responses import error_responses

# base64 grows a file by a third; the largest body the limits allow, with room for the JSON around
# it and for a file a little over its limit (whose 413 then names the field that is too large)
MAX_JSON_BODY = MAX_BASE64_MEDIA_BYTES * 4 // 3 + 8 * MB


NESTED_STATUSES = (400, 401, 404, 408, 413, 429, 500)
v2_errors = partial(error_responses, resource="v2 task", nested=NESTED_STATUSES, unknown_fields=True)


_SYNC_EXAMPLE = {"input_type": "text", "model_name": "marengo3.0", "text": {"input_text": "a dog on a beach"}}
_TASK_EXAMPLE = {
    "input_type": "video",
    "model_name": "marengo3.0",
    "video": {
        "media_source": {"asset_id": "<an asset id>"},
        "segmentation": {"strategy": "dynamic", "dynamic": {"min_duration_sec": 4}},
        "embedding_option": ["visual", "audio", "transcription"],
        "embedding_scope": ["clip", "asset"],
    },
}


async def read_json(request: Request) -> object:
    """The JSON body, refused while it streams in past MAX_JSON_BODY (413, nested)."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        sent = media_type or "no Content-Type header"
        raise BadRequestError(f"This route takes application/json; the request was sent with {sent}.")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_JSON_BODY:
        raise _body_too_large(int(declared))
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_JSON_BODY:
            raise _body_too_large(size)
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks) or b"null")
    except (ValueError, UnicodeDecodeError):
        raise BadRequestError("The request body is not valid JSON.") from None


def _body_too_large(size: int) -> ContentTooLargeError:
    return ContentTooLargeError(
        f"The request body ({size / MB:.1f} MB) exceeds the maximum of {MAX_JSON_BODY // MB} MB. "
        "Send a url or an asset_id (POST /assets uploads larger files) instead of base64.",
        {"size_bytes": size, "limit_bytes": MAX_JSON_BODY},
    )


def v2_router(v2: EmbedV2Service, owner: Callable[[Request], str]) -> APIRouter:
    router = APIRouter()
    models = v2.model_names()  # the bodies' model_name enum

    @router.post(
        "/embed-v2",
        openapi_extra=json_body(_SYNC_EXAMPLE, sync_schema(models), SYNC_RULES),
        responses=v2_errors(400, 401, 404, 413, 429, resource="asset (media_source.asset_id)"),
        summary="Embed text, an image, text with an image, audio or a short video (up to 10 minutes)",
    )
    async def embed(request: Request) -> dict[str, Any]:
        who = owner(request)
        body = await read_json(request)
        return await run_in_threadpool(v2.create, body, who)

    @router.post(
        "/embed-v2/tasks",
        openapi_extra=json_body(_TASK_EXAMPLE, task_schema(models), TASK_RULES),
        responses=v2_errors(400, 401, 404, 413, 429, resource="asset (media_source.asset_id)"),
        status_code=202,
        summary="Create an embedding task for audio or video",
    )
    async def create_task(request: Request) -> JSONResponse:
        who = owner(request)
        body = await read_json(request)
        created = await run_in_threadpool(v2.create_task, body, who)
        location = f"{request.url.path.rstrip('/')}/{created['_id']}"  # under the prefix it came by
        return JSONResponse(created, status_code=202, headers={"Location": location})

    @router.get(
        "/embed-v2/tasks/{task_id}",
        responses=v2_errors(401, 404),
        summary="Retrieve a task: its status, and its embeddings once ready",
    )
    async def retrieve(task_id: str, request: Request) -> dict[str, Any]:
        return await run_in_threadpool(v2.retrieve, task_id, owner(request))

    @router.get("/embed-v2/tasks", responses=v2_errors(400, 401), summary="List embedding tasks (v2)")
    async def list_tasks(request: Request) -> dict[str, Any]:
        q = request.query_params
        return await run_in_threadpool(
            lambda: v2.list(
                owner(request),
                started_at=q.get("started_at"),
                ended_at=q.get("ended_at"),
                status=q.get("status"),
                page=q.get("page"),
                page_limit=q.get("page_limit"),
            )
        )

    return router
