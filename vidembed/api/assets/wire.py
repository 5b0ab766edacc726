"""The JSON shapes of the assets API: ``Asset``/``AssetDetail`` and a page of them, as the SDK reads them."""

from __future__ import annotations

from collections.abc import Sequence

from vidembed.api.wire import rfc3339
from vidembed.records import AssetRecord, JsonObject


def asset_body(asset: AssetRecord) -> JsonObject:
    """The ``Asset``/``AssetDetail`` JSON of the SDK; ``asset_type`` is our addition."""
    body: JsonObject = {
        "_id": asset.id,
        "method": asset.method,
        "status": asset.status,
        "filename": asset.filename,
        "file_type": asset.file_type,
        "created_at": rfc3339(asset.created_at),
    }
    if asset.asset_type is not None:
        body["asset_type"] = asset.asset_type
    if asset.user_metadata is not None:
        body["user_metadata"] = asset.user_metadata
    if asset.status == "ready":
        body["technical_metadata"] = asset.technical_metadata or {}
        body["size"] = asset.size
        if asset.duration is not None:
            body["duration"] = asset.duration
    if asset.status == "failed":
        body["error"] = {"message": asset.error or "Processing failed."}
    return body


def asset_list(assets: Sequence[AssetRecord], page: int, limit: int, total: int) -> JsonObject:
    return {
        "data": [asset_body(a) for a in assets],
        "page_info": {
            "limit_per_page": limit,
            "page": page,
            "total_page": max(1, -(-total // limit)),
            "total_results": total,
        },
    }
