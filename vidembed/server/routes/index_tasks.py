"""The routes of TwelveLabs' index tasks (``/tasks``; docs/SEARCH-API.md): a multipart form in,
``IndexTaskService`` calls, JSON out; flat errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from vidembed.api.index_tasks.operations import IndexTaskService
from vidembed.server.forms import form_text, multipart_body, read_form, upload_part
from vidembed.server.responses import error_responses

CREATE_FIELDS = ("index_id", "video_url", "enable_video_stream", "user_metadata")
LIST_FIELDS = (
    "page",
    "page_limit",
    "sort_by",
    "sort_option",
    "index_id",
    "filename",
    "duration",
    "width",
    "height",
    "created_at",
    "updated_at",
)
_CREATE_SCHEMA = multipart_body(
    {
        "index_id": {"type": "string"},
        "video_file": {"type": "string", "format": "binary", "description": "or video_url"},
        "video_url": {"type": "string", "description": "or video_file"},
        "enable_video_stream": {"type": "boolean", "description": "accepted; no HLS streams here"},
        "user_metadata": {"type": "string", "description": 'a JSON object as text: {"category": "news"}'},
    },
    required=("index_id",),
    rules="Exactly one of video_file and video_url. user_metadata is a JSON object as text whose "
    "values are strings, numbers, booleans or lists of strings.",
)


def index_tasks_router(
    tasks: IndexTaskService, owner: Callable[[Request], str], max_upload: int
) -> APIRouter:
    """The routes of ``tasks``; ``owner`` maps a request to its API key's owner (or raises 401)."""
    router = APIRouter(tags=["tasks"])

    @router.post(
        "/tasks",
        openapi_extra=_CREATE_SCHEMA,
        responses=error_responses(400, 401, 404, 429, resource="index"),
        summary="Upload a video into an index (an index task)",
    )
    async def create_task(request: Request) -> dict[str, Any]:
        who = owner(request)
        form = await read_form(request, max_upload)
        try:
            fields = {name: await form_text(form, name) for name in CREATE_FIELDS}
            upload = upload_part(form, "video_file")
            video_file = (upload.filename or "upload", upload.file) if upload is not None else None
            created = await run_in_threadpool(
                lambda: tasks.create(owner=who, video_file=video_file, **fields)
            )
        finally:
            await form.close()
        request.state.task_id = created["_id"]
        return created

    @router.get(
        "/tasks", responses=error_responses(400, 401, 404, resource="index"), summary="List index tasks"
    )
    async def list_tasks(request: Request) -> dict[str, Any]:
        who = owner(request)
        q = request.query_params
        query: dict[str, Any] = {name: q.get(name) for name in LIST_FIELDS}
        query["status"] = q.getlist("status") or None
        return await run_in_threadpool(lambda: tasks.list(who, **query))

    @router.get("/tasks/{task_id}", responses=error_responses(401, 404), summary="Retrieve an index task")
    async def retrieve_task(task_id: str, request: Request) -> dict[str, Any]:
        return await run_in_threadpool(tasks.retrieve, task_id, owner(request))

    @router.delete(
        "/tasks/{task_id}",
        status_code=204,
        response_class=Response,
        responses=error_responses(400, 401, 404),
        summary="Delete an index task and its video (not while it is processing)",
    )
    async def delete_task(task_id: str, request: Request) -> Response:
        await run_in_threadpool(tasks.delete, task_id, owner(request))
        return Response(status_code=204)

    return router
