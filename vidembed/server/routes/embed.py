"""The routes of TwelveLabs' Embed API v1.3 (``/embed/tasks``, ``POST /embed``) and vidembed's
clip search (``POST /clips/search``) and ``GET /models``: forms in, ``TaskService`` calls, JSON out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from vidembed.api.embed.operations import TaskService
from vidembed.server.forms import file_only, form_text, multipart_body, read_form, upload_part
from vidembed.server.responses import error_responses

CREATE_FIELDS = (
    "model_name",
    "video_url",
    "video_start_offset_sec",
    "video_end_offset_sec",
    "video_clip_length",
    "video_segmentation",
    "video_min_duration_sec",
)
_CREATE_SCHEMA = multipart_body(
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
    },
    rules=(
        "Exactly one of video_file and video_url. video_end_offset_sec must be greater than "
        "video_start_offset_sec; both must fit the video, which is checked once its duration is "
        "known (the task then ends failed, naming the offset). video_embedding_scope [video] alone "
        "still embeds clips. video_min_duration_sec applies with video_segmentation=dynamic only."
    ),
)
_EMBED_SCHEMA = multipart_body(
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
    },
    rules=(
        "Text, an image, audio, or several of them (at least one). An image is image_file or "
        "image_url, not both; audio is audio_file or audio_url, not both. audio_start_offset_sec "
        "must be before the audio's end."
    ),
)
EMBED_FIELDS = ("model_name", "text", "image_url", "audio_url", "audio_start_offset_sec")
SEARCH_FIELDS = ("query_text", "model_name", "task_id", "page_limit")
_SEARCH_SCHEMA = multipart_body(
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
    rules="Exactly one of query_text and query_image. An image ranks the visual option unless "
    "embedding_option says otherwise; task_id limits the search to that task's clips.",
)


def embed_router(service: TaskService, owner: Callable[[Request], str]) -> APIRouter:
    """The v1.3 routes over ``service``; ``owner`` maps a request to its API key's owner (or 401)."""
    router = APIRouter()

    @router.post(
        "/embed/tasks",
        openapi_extra=_CREATE_SCHEMA,
        responses=error_responses(400, 401, 429),
        summary="Create a video embedding task",
    )
    async def create_task(request: Request) -> dict[str, Any]:
        who = owner(request)
        form = await read_form(request, service.settings.max_upload_bytes)
        fields = {name: await form_text(form, name) for name in CREATE_FIELDS}
        scopes = [v for v in form.getlist("video_embedding_scope") if isinstance(v, str)]
        options = [v for v in form.getlist("embedding_option") if isinstance(v, str)]  # repeated, like scopes
        upload = upload_part(form, "video_file")
        video_file = (upload.filename or "upload", upload.file) if upload is not None else None
        try:
            created = await run_in_threadpool(
                service.create,
                owner=who,
                video_file=video_file,
                video_embedding_scope=scopes,
                embedding_option=options or None,
                **fields,
            )
        finally:
            await form.close()
        request.state.task_id = created["_id"]  # for the access log line
        return created

    @router.get(
        "/embed/tasks/{task_id}/status",
        responses=error_responses(401, 404),
        summary="Retrieve the status of a task",
    )
    async def task_status(task_id: str, request: Request) -> dict[str, Any]:
        return await run_in_threadpool(service.status, task_id, owner(request))

    @router.get(
        "/embed/tasks/{task_id}",
        responses=error_responses(400, 401, 404),
        summary="Retrieve video embeddings",
    )
    async def retrieve_task(task_id: str, request: Request) -> dict[str, Any]:
        options = request.query_params.getlist("embedding_option") or None
        return await run_in_threadpool(service.retrieve, task_id, owner(request), options)

    @router.get("/embed/tasks", responses=error_responses(400, 401), summary="List video embedding tasks")
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
        responses=error_responses(400, 401),
        summary="Create text, image and audio embeddings",
    )
    async def embed(request: Request) -> dict[str, Any]:
        who = owner(request)
        form = await read_form(request, service.settings.max_upload_bytes, "image_file")
        try:
            fields = {name: await form_text(form, name) for name in EMBED_FIELDS}
            image_file = file_only(form, "image_file", "; for an image on the web, use image_url")
            audio_file = file_only(form, "audio_file", "; for audio on the web, use audio_url")
            return await run_in_threadpool(
                lambda: service.embed(owner=who, image_file=image_file, audio_file=audio_file, **fields)
            )
        finally:
            await form.close()

    @router.post(
        "/clips/search",
        openapi_extra=_SEARCH_SCHEMA,
        responses=error_responses(400, 401, 404),
        summary="Rank stored clips against a text or image query (vidembed extension, not in the "
        "TwelveLabs API)",
    )
    async def search_clips(request: Request) -> dict[str, Any]:
        who = owner(request)
        form = await read_form(request, service.settings.max_upload_bytes, "query_image")
        try:
            fields = {name: await form_text(form, name) for name in SEARCH_FIELDS}
            options = [v for v in form.getlist("embedding_option") if isinstance(v, str)]
            image = file_only(form, "query_image", "")
            return await run_in_threadpool(
                lambda: service.search_clips(
                    who, query_image=image, embedding_option=options or None, **fields
                )
            )
        finally:
            await form.close()

    @router.get(
        "/models",
        responses=error_responses(401),
        summary="The model stacks served and what their vectors mean",
    )
    async def models(request: Request) -> dict[str, Any]:
        owner(request)
        # run in a thread: describing an image-text stack hashes its weight files (once)
        return {"data": await run_in_threadpool(service.models)}

    return router
