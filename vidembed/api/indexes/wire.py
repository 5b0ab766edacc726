"""The JSON shapes of the indexes API: ``Index`` and a page of them, as the SDK's ``IndexSchema``
reads them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vidembed.api.wire import page_info, rfc3339
from vidembed.records import IndexRecord


def index_body(index: IndexRecord, video_count: int = 0, total_duration: float = 0.0) -> dict[str, Any]:
    """``Index``: no ``expires_at`` (indexes here do not expire)."""
    return {
        "_id": index.id,
        "index_name": index.name,
        "models": [{"model_name": index.model_name, "model_options": list(index.options)}],
        "addons": list(index.addons),
        "video_count": video_count,
        "total_duration": total_duration,
        "created_at": rfc3339(index.created_at),
        "updated_at": rfc3339(index.updated_at),
    }


def index_list(indexes: Sequence[IndexRecord], page: int, limit: int, total: int) -> dict[str, Any]:
    return {"data": [index_body(i) for i in indexes], "page_info": page_info(page, limit, total)}
