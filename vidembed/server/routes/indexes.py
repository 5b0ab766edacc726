"""The routes of TwelveLabs' indexes API (``/indexes`` and ``/indexes/{id}/videos``;
docs/SEARCH-API.md): JSON in, ``IndexService`` calls, JSON out; errors are flat, as in every API
but Embed v2."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from vidembed.api.indexes.operations import IndexService
from vidembed.server.forms import json_body, read_small_json
from vidembed.server.responses import error_responses

index_errors = partial(error_responses, resource="index", unknown_fields=True)
_CREATE_EXAMPLE = {
    "index_name": "my-videos",
    "models": [{"model_name": "marengo3.0", "model_options": ["visual", "audio"]}],
    "addons": ["thumbnail"],
}


def indexes_router(indexes: IndexService, owner: Callable[[Request], str]) -> APIRouter:
    """The routes of ``indexes``; ``owner`` maps a request to its API key's owner (or raises 401)."""
    router = APIRouter(tags=["indexes"])

    @router.post(
        "/indexes",
        status_code=201,
        openapi_extra=json_body(_CREATE_EXAMPLE),
        responses=index_errors(400, 401),
        summary="Create an index: a name, one embedding model and its options (visual, audio)",
    )
    async def create_index(request: Request) -> dict[str, Any]:
        who = owner(request)
        body = await read_small_json(request)
        created = await run_in_threadpool(indexes.create, body, who)
        request.state.index_id = created["_id"]
        return created

    @router.get("/indexes", responses=index_errors(400, 401), summary="List indexes, newest first")
    async def list_indexes(request: Request) -> dict[str, Any]:
        who = owner(request)
        return await run_in_threadpool(indexes.list, dict(request.query_params), who)

    @router.get("/indexes/{index_id}", responses=index_errors(401, 404), summary="Retrieve an index")
    async def retrieve_index(index_id: str, request: Request) -> dict[str, Any]:
        return await run_in_threadpool(indexes.retrieve, index_id, owner(request))

    @router.put(
        "/indexes/{index_id}",
        status_code=204,
        response_class=Response,
        openapi_extra=json_body({"index_name": "a new name"}),
        responses=index_errors(400, 401, 404),
        summary="Rename an index (its models and add-ons cannot change)",
    )
    async def update_index(index_id: str, request: Request) -> Response:
        who = owner(request)
        body = await read_small_json(request)
        await run_in_threadpool(indexes.update, index_id, body, who)
        return Response(status_code=204)

    @router.delete(
        "/indexes/{index_id}",
        status_code=204,
        response_class=Response,
        responses=index_errors(401, 404),
        summary="Delete an index",
    )
    async def delete_index(index_id: str, request: Request) -> Response:
        await run_in_threadpool(indexes.delete, index_id, owner(request))
        return Response(status_code=204)

    @router.get(
        "/indexes/{index_id}/videos",
        responses=index_errors(400, 401, 404),
        summary="List the videos of an index (filters: filename, duration, fps, width, height, size, "
        "their [gte]/[lte], and any user-metadata key)",
    )
    async def list_videos(index_id: str, request: Request) -> dict[str, Any]:
        who = owner(request)
        return await run_in_threadpool(indexes.list_videos, index_id, dict(request.query_params), who)

    @router.get(
        "/indexes/{index_id}/videos/{video_id}",
        responses=index_errors(400, 401, 404),
        summary="Retrieve a video, with its embeddings (embedding_option) and transcription",
    )
    async def retrieve_video(index_id: str, video_id: str, request: Request) -> dict[str, Any]:
        who = owner(request)
        options = request.query_params.getlist("embedding_option")
        transcription = request.query_params.get("transcription")
        return await run_in_threadpool(
            indexes.retrieve_video, index_id, video_id, who, options, transcription
        )

    async def update_video(index_id: str, video_id: str, request: Request) -> Response:
        who = owner(request)
        body = await read_small_json(request)
        await run_in_threadpool(indexes.update_video, index_id, video_id, body, who)
        return Response(status_code=204)

    for method in ("PUT", "PATCH"):
        router.add_api_route(
            "/indexes/{index_id}/videos/{video_id}",
            update_video,
            methods=[method],
            status_code=204,
            response_class=Response,
            openapi_extra=json_body({"user_metadata": {"category": "news", "year": 2024}}),
            responses=index_errors(400, 401, 404),
            summary="Set a video's user metadata (keys merged; null removes a key)",
            name=f"update_video_{method.lower()}",
        )

    @router.delete(
        "/indexes/{index_id}/videos/{video_id}",
        status_code=204,
        response_class=Response,
        responses=index_errors(401, 404),
        summary="Delete a video from an index (it leaves search at once)",
    )
    async def delete_video(index_id: str, video_id: str, request: Request) -> Response:
        await run_in_threadpool(indexes.delete_video, index_id, video_id, owner(request))
        return Response(status_code=204)

    @router.post(
        "/indexes/{index_id}/indexed-assets",
        status_code=201,
        openapi_extra=json_body({"asset_id": "<asset id>", "user_metadata": {"category": "news"}}),
        responses=index_errors(400, 401, 404, 429),
        summary="Index an asset (accepted at once, even while the asset is still processing)",
    )
    async def create_indexed_asset(index_id: str, request: Request) -> dict[str, Any]:
        who = owner(request)
        body = await read_small_json(request)
        created = await run_in_threadpool(indexes.create_indexed_asset, index_id, body, who)
        request.state.task_id = created["_id"]
        return created

    @router.get(
        "/indexes/{index_id}/indexed-assets",
        responses=index_errors(400, 401, 404),
        summary="List the indexed assets of an index, in any state (status filter)",
    )
    async def list_indexed_assets(index_id: str, request: Request) -> dict[str, Any]:
        who = owner(request)
        statuses = request.query_params.getlist("status")
        query = dict(request.query_params)
        return await run_in_threadpool(indexes.list_indexed_assets, index_id, query, statuses, who)

    @router.get(
        "/indexes/{index_id}/indexed-assets/{indexed_asset_id}",
        responses=index_errors(400, 401, 404),
        summary="Retrieve an indexed asset: its status, and once ready its embeddings and transcription",
    )
    async def retrieve_indexed_asset(
        index_id: str, indexed_asset_id: str, request: Request
    ) -> dict[str, Any]:
        who = owner(request)
        options = request.query_params.getlist("embedding_option")
        transcription = request.query_params.get("transcription")
        return await run_in_threadpool(
            indexes.retrieve_indexed_asset, index_id, indexed_asset_id, who, options, transcription
        )

    @router.patch(
        "/indexes/{index_id}/indexed-assets/{indexed_asset_id}",
        status_code=204,
        response_class=Response,
        openapi_extra=json_body({"user_metadata": {"category": "news"}}),
        responses=index_errors(400, 401, 404),
        summary="Set an indexed asset's user metadata (keys merged; null removes a key)",
    )
    async def update_indexed_asset(index_id: str, indexed_asset_id: str, request: Request) -> Response:
        who = owner(request)
        body = await read_small_json(request)
        await run_in_threadpool(indexes.update_indexed_asset, index_id, indexed_asset_id, body, who)
        return Response(status_code=204)

    @router.delete(
        "/indexes/{index_id}/indexed-assets/{indexed_asset_id}",
        status_code=204,
        response_class=Response,
        responses=index_errors(400, 401, 404),
        summary="Delete an indexed asset (it leaves search at once)",
    )
    async def delete_indexed_asset(index_id: str, indexed_asset_id: str, request: Request) -> Response:
        await run_in_threadpool(indexes.delete_indexed_asset, index_id, indexed_asset_id, owner(request))
        return Response(status_code=204)

    return router
