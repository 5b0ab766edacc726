"""The JSON shapes of the indexes API: ``Index`` and a page of them, as the SDK's ``IndexSchema``
reads them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vidembed.api.wire import index_status, page_info, rfc3339, segment_bodies, system_metadata
from vidembed.records import IndexRecord, StoredSegment, TaskRecord
from vidembed.stores.lexical import ClipText


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


def index_list(
    indexes: Sequence[tuple[IndexRecord, int, float]], page: int, limit: int, total: int
) -> dict[str, Any]:
    """A page of indexes, each with its video count and total duration."""
    return {"data": [index_body(*i) for i in indexes], "page_info": page_info(page, limit, total)}


def video_body(video: TaskRecord) -> dict[str, Any]:
    """A video in an index (``VideoVector``): its id is its index task's id."""
    body: dict[str, Any] = {
        "_id": video.id,
        "created_at": rfc3339(video.created_at),
        "updated_at": rfc3339(video.updated_at),
        "indexed_at": rfc3339(video.updated_at),
        "system_metadata": system_metadata(video),
    }
    if video.asset_id:
        body["asset_id"] = video.asset_id
    if video.user_metadata:
        body["user_metadata"] = video.user_metadata
    return body


def video_list(videos: Sequence[TaskRecord], page: int, limit: int, total: int) -> dict[str, Any]:
    return {"data": [video_body(v) for v in videos], "page_info": page_info(page, limit, total)}


def video_retrieve(
    video: TaskRecord,
    model_name: str,
    segments: Sequence[StoredSegment] | None,
    texts: Sequence[ClipText] | None,
) -> dict[str, Any]:
    """A video with its embeddings (``segments``: the options asked for) and its transcription
    (``texts``: each clip's spoken words), when asked for."""
    body = video_body(video)
    body["user_metadata"] = video.user_metadata or {}
    if segments is not None:
        body["embedding"] = {
            "model_name": model_name,
            "video_embedding": {"segments": segment_bodies(video, segments)},
        }
    if texts is not None:
        body["transcription"] = [{"start": t.start, "end": t.end, "value": t.text} for t in texts]
    return body


def indexed_asset_body(task: TaskRecord) -> dict[str, Any]:
    """An indexed asset (``IndexedAsset``): an index task in any state. ``error`` (why it failed)
    is our addition."""
    body: dict[str, Any] = {
        "_id": task.id,
        "created_at": rfc3339(task.created_at),
        "updated_at": rfc3339(task.updated_at),
        "status": index_status(task),
        "system_metadata": system_metadata(task),
    }
    if task.asset_id:
        body["asset_id"] = task.asset_id
    if task.status == "ready":
        body["indexed_at"] = rfc3339(task.updated_at)
    if task.user_metadata:
        body["user_metadata"] = task.user_metadata
    if task.status == "failed" and task.error:
        body["error"] = {"message": task.error}
    return body


def indexed_asset_list(tasks: Sequence[TaskRecord], page: int, limit: int, total: int) -> dict[str, Any]:
    return {"data": [indexed_asset_body(t) for t in tasks], "page_info": page_info(page, limit, total)}


def indexed_asset_detailed(
    task: TaskRecord,
    model_name: str,
    segments: Sequence[StoredSegment] | None,
    texts: Sequence[ClipText] | None,
) -> dict[str, Any]:
    """An indexed asset with its embeddings and transcription when asked for (once ready)."""
    body = indexed_asset_body(task)
    body["user_metadata"] = task.user_metadata or {}
    detailed = video_retrieve(task, model_name, segments, texts)
    for key in ("embedding", "transcription"):
        if key in detailed:
            body[key] = detailed[key]
    return body
