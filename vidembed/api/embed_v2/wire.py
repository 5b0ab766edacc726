"""Task records and vectors -> the JSON shapes of Embed API v2 (docs/CONTRACT.md §5), as the
official SDK 1.3.6 parses them (``EmbeddingSuccessResponse``, ``EmbeddingTaskResponse``,
``TasksListResponse``). Used by the server and the embedded client alike.

Our store calls the whole-media scope ``video`` (v1.3's name); v2 calls it ``asset``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from vidembed.api.wire import page_info, rfc3339
from vidembed.models.runtime import l2_normalise
from vidembed.records import StoredSegment, TaskRecord, V2Output
from vidembed.segmentation import ClipParams

FUSED = "fused"
_SCOPE_NAMES = {"clip": "clip", "video": "asset"}


def _floats(vector: Iterable[float]) -> list[float]:
    return [float(x) for x in vector]


def still_response(input_type: str, vector: np.ndarray, source: Mapping[str, str]) -> dict[str, Any]:
    """``POST /embed-v2`` for text, image and text_image: one embedding, no option or scope."""
    body: dict[str, Any] = {"data": [{"embedding": _floats(vector)}]}
    if input_type != "text":  # the SDK's metadata has no text variant
        body["metadata"] = {"input_type": input_type, **source}
    return body


def _requested(task: TaskRecord) -> tuple[list[str], list[str]]:
    v2 = task.v2 or V2Output()
    return list(v2.scopes), list(v2.embedding_types)


def embedding_data(task: TaskRecord, segments: Sequence[StoredSegment]) -> list[dict[str, Any]]:
    """The ``data`` list: per option (in the task's order), clips then the asset vector; with
    ``fused_embedding``, also one ``fused`` vector per segment: the normalised mean of the options'
    vectors (they share one space per stack)."""
    scopes, types = _requested(task)
    wanted = [s for s in segments if _SCOPE_NAMES.get(s.scope) in scopes]
    order = {o: i for i, o in enumerate(task.options)}
    wanted.sort(key=lambda s: (order.get(s.option, 99), s.scope != "clip", s.start))
    data = []
    if "separate_embedding" in types:
        data = [_entry(s.option, s.scope, s.start, s.end, s.vector) for s in wanted]
    if task.input_type == "image":  # one vector for the whole image: no times
        for entry in data:
            del entry["start_sec"], entry["end_sec"]
    if "fused_embedding" in types:
        data += _fused(wanted)
    return data


def _fused(segments: Sequence[StoredSegment]) -> list[dict[str, Any]]:
    groups: dict[tuple[str, float, float], list[np.ndarray]] = {}
    for s in segments:
        groups.setdefault((s.scope, s.start, s.end), []).append(s.vector)
    ordered = sorted(groups.items(), key=lambda item: (item[0][0] != "clip", item[0][1]))
    return [
        _entry(FUSED, scope, start, end, l2_normalise(np.sum(vectors, axis=0)))
        for (scope, start, end), vectors in ordered
    ]


def _entry(option: str, scope: str, start: float, end: float, vector: np.ndarray) -> dict[str, Any]:
    return {
        "embedding": _floats(vector),
        "embedding_option": option,
        "embedding_scope": _SCOPE_NAMES[scope],
        "start_sec": start,
        "end_sec": end,
    }


def media_metadata(task: TaskRecord) -> dict[str, Any] | None:
    """``metadata`` of an audio or video result (the SDK requires ``duration``, so it is left out
    until the duration is known)."""
    if task.duration is None:
        return None
    scopes, _ = _requested(task)
    params = task.params
    meta: dict[str, Any] = {"input_type": task.input_type}
    if task.input_url:
        meta["input_url"] = task.input_url
    if task.input_filename:
        meta["input_filename"] = task.input_filename
    if task.input_type == "image":  # an image task (the SDK's EmbeddingTaskMediaMetadata_Image)
        return {**meta, "embedding_options": list(task.options), "embedding_scopes": scopes}
    if params.strategy == "fixed":
        meta["clip_length"] = round(params.clip_length)  # an integer in the SDK
    meta["segmentation"] = _segmentation(params)  # ours: how the segments were cut
    meta["embedding_scopes"] = scopes
    meta["embedding_options"] = list(task.options)
    meta["duration"] = task.duration
    meta["start_offset_sec"] = params.start if params.start is not None else 0.0
    end = params.end
    meta["end_offset_sec"] = min(end, task.duration) if end is not None else task.duration
    return meta


def _segmentation(params: ClipParams) -> dict[str, Any]:
    if params.strategy == "dynamic":
        return {"strategy": "dynamic", "dynamic": {"min_duration_sec": params.min_duration}}
    return {"strategy": "fixed", "fixed": {"duration_sec": params.clip_length}}


def media_response(task: TaskRecord, segments: Sequence[StoredSegment]) -> dict[str, Any]:
    """``POST /embed-v2`` for audio and video."""
    body: dict[str, Any] = {"data": embedding_data(task, segments)}
    meta = media_metadata(task)
    if meta is not None:
        body["metadata"] = meta
    return body


def task_response(task: TaskRecord, segments: Sequence[StoredSegment]) -> dict[str, Any]:
    """``GET /embed-v2/tasks/{id}``: status, and the data once ready."""
    body: dict[str, Any] = {
        "_id": task.id,
        "model_name": task.model_name,
        "status": task.status,
        "created_at": rfc3339(task.created_at),
        "updated_at": rfc3339(task.updated_at),
        "data": embedding_data(task, segments) if task.status == "ready" else None,
        "progress": {"fraction": round(task.progress, 3), "stage": task.stage},  # ours
    }
    meta = media_metadata(task)
    if meta is not None:
        body["metadata"] = meta
    if task.status == "failed":
        body["error"] = {"message": task.error or "The embedding task failed. Please try again later."}
    return body


def _list_item(task: TaskRecord) -> dict[str, Any]:
    """A ``MediaEmbeddingTask``: the task and its metadata under ``video_embedding`` or
    ``audio_embedding`` (no vectors: retrieve the task for those)."""
    scopes, _ = _requested(task)
    kind = task.input_type
    meta: dict[str, Any] = {
        f"{kind}_embedding_scope": scopes,
        f"{kind}_embedding_option": list(task.options),
    }
    if kind == "video" and task.params.strategy == "fixed":
        meta["video_clip_length"] = task.params.clip_length
    if task.duration is not None:
        meta["duration"] = task.duration
    if task.input_url:
        meta["input_url"] = task.input_url
    if task.input_filename:
        meta["input_filename"] = task.input_filename
    return {
        "_id": task.id,
        "model_name": task.model_name,
        "status": task.status,
        "created_at": rfc3339(task.created_at),
        "updated_at": rfc3339(task.updated_at),
        f"{kind}_embedding": {"metadata": meta},
    }


def task_list(tasks: Sequence[TaskRecord], page: int, limit: int, total: int) -> dict[str, Any]:
    return {"data": [_list_item(t) for t in tasks], "page_info": page_info(page, limit, total)}
