"""The routes of TwelveLabs' search (``POST /search``, ``GET /search/{page_token}``;
docs/SEARCH-API.md): a multipart form in, ``SearchService`` calls, JSON out; flat errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import IO, Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from vidembed.api.search.operations import SearchService
from vidembed.server.forms import form_text, multipart_body, read_form
from vidembed.server.responses import error_responses

TEXT_FIELDS = (
    "index_id",
    "query_media_type",
    "group_by",
    "operator",
    "page_limit",
    "filter",
    "include_user_metadata",
    "sort_option",
    "threshold",
    "adjust_confidence_level",
)
REPEATED = ("search_options", "transcription_options", "query_media_url")
_SEARCH_SCHEMA = multipart_body(
    {
        "index_id": {"type": "string"},
        "search_options": {
            "type": "array",
            "items": {"type": "string", "enum": ["visual", "audio", "transcription"]},
        },
        "query_text": {"type": "string"},
        "query_media_type": {"type": "string", "enum": ["image"]},
        "query_media_url": {"type": "array", "items": {"type": "string"}},
        "query_media_file": {"type": "array", "items": {"type": "string", "format": "binary"}},
        "transcription_options": {
            "type": "array",
            "items": {"type": "string", "enum": ["lexical", "semantic"]},
        },
        "group_by": {"type": "string", "enum": ["clip", "video"], "default": "clip"},
        "operator": {"type": "string", "enum": ["or", "and"], "default": "or"},
        "page_limit": {"type": "integer", "minimum": 1, "maximum": 50, "default": 10},
        "filter": {"type": "string", "description": 'a JSON object as text: {"category": "news"}'},
        "include_user_metadata": {"type": "boolean"},
        "sort_option": {"type": "string", "enum": ["score", "clip_count"], "description": "older clients"},
        "threshold": {
            "type": "string",
            "enum": ["high", "medium", "low", "none"],
            "description": "accepted, unused",
        },
        "adjust_confidence_level": {"type": "number", "description": "accepted, unused"},
    },
    required=("index_id", "search_options"),
    rules="query_text, images, or both. An image needs query_media_type=image (and an image "
    "without text searches the visual option only); a URL wins over a file. search_options must be "
    "options the index was built for (audio and transcription need its audio model option). "
    "filter is a JSON object as text (see docs/SEARCH-API.md).",
)


def search_router(search: SearchService, owner: Callable[[Request], str], max_upload: int) -> APIRouter:
    router = APIRouter(tags=["search"])

    @router.post(
        "/search",
        openapi_extra=_SEARCH_SCHEMA,
        responses=error_responses(400, 401, 404, resource="index"),
        summary="Search an index by text, images, or both",
    )
    async def search_index(request: Request) -> dict[str, Any]:
        who = owner(request)
        form = await read_form(request, max_upload, "query_media_file")
        try:
            fields: dict[str, Any] = {name: await form_text(form, name) for name in TEXT_FIELDS}
            for name in REPEATED:
                fields[name] = [v for v in form.getlist(name) if isinstance(v, str) and v.strip()] or None
            texts = [v for v in form.getlist("query_text") if isinstance(v, str)]
            fields["query_text"] = texts[0] if texts else await form_text(form, "query_text")
            files: list[tuple[str, IO[bytes]]] = [
                (v.filename or "upload", v.file)
                for v in form.getlist("query_media_file")
                if isinstance(v, UploadFile) and (v.filename or v.size)
            ]
            base = str(request.base_url)
            return await run_in_threadpool(
                lambda: search.query(owner=who, query_media_file=files or None, base_url=base, **fields)
            )
        finally:
            await form.close()

    @router.get(
        "/search/{page_token}",
        responses=error_responses(400, 401),
        summary="The next (or previous) page of a search",
    )
    async def search_page(page_token: str, request: Request) -> dict[str, Any]:
        flag = request.query_params.get("include_user_metadata")
        base = str(request.base_url)
        return await run_in_threadpool(search.page, page_token, owner(request), flag, base)

    @router.get(
        "/thumbnails/{video_id}/{name}",
        response_class=Response,
        responses=error_responses(404, resource="thumbnail (or the link is not valid, or has expired)"),
        summary="A clip's thumbnail (a signed link from search results; no API key: an <img> tag loads it)",
    )
    async def thumbnail(video_id: str, name: str, request: Request) -> Response:
        q = request.query_params
        data = await run_in_threadpool(search.thumbnail, video_id, name, q.get("expires"), q.get("signature"))
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})

    return router
