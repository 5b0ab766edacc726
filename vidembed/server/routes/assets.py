"""The ``/assets`` routes (TwelveLabs' ``client.assets``, docs/CONTRACT.md §5.1, docs/ASSETS.md).

``create_app`` includes this router under ``/v1.3`` and the root, like the embed routes. The form
is parsed by the same hand-written rules (``""`` means absent; a too-large body is refused while
it streams in, naming ``file``).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from vidembed.api.assets.operations import AssetService
from vidembed.records import JsonObject
from vidembed.server.forms import file_only, form_text, multipart_body, read_form
from vidembed.server.responses import error_responses

CREATE_FIELDS = ("method", "url", "filename", "user_metadata", "enable_hls", "enable_thumbnail")
_CREATE_SCHEMA = multipart_body(
    {
        "method": {"type": "string", "enum": ["direct", "url"]},
        "file": {"type": "string", "format": "binary", "description": "with method=direct"},
        "url": {"type": "string", "description": "with method=url"},
        "filename": {"type": "string", "description": "default: the upload's name, or the URL's"},
        "user_metadata": {"type": "string", "description": 'a JSON object, e.g. {"category": "news"}'},
        "enable_hls": {"type": "boolean", "description": "accepted and ignored"},
        "enable_thumbnail": {"type": "boolean", "description": "accepted and ignored"},
    },
    required=("method",),
    rules="method=direct takes file (a file part), method=url takes url; the other is refused.",
)


asset_errors = partial(error_responses, resource="asset")


def assets_router(assets: AssetService, owner: Callable[[Request], str]) -> APIRouter:
    """The routes of ``assets``; ``owner`` maps a request to its API key's owner (or raises 401)."""
    router = APIRouter(tags=["assets"])

    @router.post(
        "/assets",
        status_code=201,
        openapi_extra=_CREATE_SCHEMA,
        responses=asset_errors(400, 401),
        summary="Create an asset: upload a file (method=direct) or import it from a URL (method=url)",
    )
    async def create_asset(request: Request) -> JsonObject:
        who = owner(request)
        form = await read_form(request, assets.settings.max_upload_bytes, "file")
        try:
            fields = {name: await form_text(form, name) for name in CREATE_FIELDS}
            file = file_only(form, "file", "; for a file on the web, use method=url with url")
            created = await run_in_threadpool(lambda: assets.create(owner=who, file=file, **fields))
        finally:
            await form.close()
        request.state.asset_id = created["_id"]  # for the access log line
        return created

    @router.get("/assets", responses=asset_errors(400, 401), summary="List assets, newest first")
    async def list_assets(request: Request) -> JsonObject:
        who = owner(request)
        q = request.query_params
        return await run_in_threadpool(
            lambda: assets.list(
                who,
                page=q.get("page"),
                page_limit=q.get("page_limit"),
                asset_ids=q.getlist("asset_ids"),
                asset_types=q.getlist("asset_types"),
                filename=q.get("filename"),
            )
        )

    @router.get("/assets/{asset_id}", responses=asset_errors(401, 404), summary="Retrieve an asset")
    async def retrieve_asset(asset_id: str, request: Request) -> JsonObject:
        return await run_in_threadpool(assets.retrieve, asset_id, owner(request))

    @router.delete(
        "/assets/{asset_id}",
        status_code=204,
        response_class=Response,
        responses=asset_errors(401, 404),
        summary="Delete an asset and its file (tasks made from it keep their copy and vectors)",
    )
    async def delete_asset(asset_id: str, request: Request) -> Response:
        # ?force= is accepted: nothing here blocks a delete (no indexes reference assets)
        await run_in_threadpool(assets.delete, asset_id, owner(request))
        return Response(status_code=204)

    return router
