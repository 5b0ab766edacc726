"""Task records -> the JSON shapes of the TwelveLabs v1.3 wire contract (docs/CONTRACT.md §2).

Both the HTTP server and the embedded client use these, so the two modes return the same data.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vidembed.api.wire import page_info, rfc3339, segment_bodies
from vidembed.records import StoredSegment, TaskRecord
from vidembed.search.rank import FUSED, Hit


def metadata(task: TaskRecord) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "video_clip_length": task.params.clip_length,
        "video_embedding_scope": list(task.params.scopes),
        "video_embedding_option": list(task.options),
    }
    if task.params.strategy == "dynamic":  # ours: the clips follow the shots
        meta["video_segmentation"] = {"strategy": "dynamic", "min_duration_sec": task.params.min_duration}
    if task.duration is not None:
        meta["duration"] = task.duration
    if task.input_url:
        meta["input_url"] = task.input_url
    if task.input_filename:
        meta["input_filename"] = task.input_filename
    if task.media and "language" in task.media:  # ours: the language Whisper heard most
        meta["language"] = task.media["language"]
    return meta


def task_summary(task: TaskRecord) -> dict[str, Any]:
    """The status body; also a list item. ``progress`` and ``error`` are our additions."""
    body: dict[str, Any] = {
        "_id": task.id,
        "model_name": task.model_name,
        "status": task.status,
        "created_at": rfc3339(task.created_at),
        "updated_at": rfc3339(task.updated_at),
        "video_embedding": {"metadata": metadata(task)},
        "progress": {"fraction": round(task.progress, 3), "stage": task.stage},
    }
    if task.stack is not None:  # our addition: which stack, and (once ready) which encoders
        body["stack"] = {"name": task.stack, **({"encoders": task.encoders} if task.encoders else {})}
    if task.status == "failed" and task.error:
        body["error"] = {"message": task.error}
    return body


def task_retrieve(task: TaskRecord, segments: Sequence[StoredSegment]) -> dict[str, Any]:
    body = task_summary(task)
    if task.status == "ready":
        body["video_embedding"]["segments"] = segment_bodies(task, segments)
    return body


def task_list(tasks: Sequence[TaskRecord], page: int, limit: int, total: int) -> dict[str, Any]:
    return {"data": [task_summary(t) for t in tasks], "page_info": page_info(page, limit, total)}


def text_embedding(model_name: str, vector: Sequence[float]) -> dict[str, Any]:
    return embedding(model_name, text=vector)


@dataclass(frozen=True)
class AudioEmbedding:
    """The audio of a ``POST /embed``: its vector, the window it covers and where it came from."""

    vector: np.ndarray
    start: float
    end: float
    source: Mapping[str, str]


def embedding(
    model_name: str,
    *,
    text: Iterable[float] | None = None,
    image: Iterable[float] | None = None,
    image_source: Mapping[str, str] | None = None,
    audio: AudioEmbedding | None = None,
) -> dict[str, Any]:
    """The ``POST /embed`` body (CONTRACT.md §3): one segment per embedded input; the image's and
    the audio's ``metadata`` say where they came from (``input_url`` or ``input_filename``)."""
    body: dict[str, Any] = {"model_name": model_name}
    if text is not None:
        body["text_embedding"] = {"segments": [{"float": [float(x) for x in text]}]}
    if image is not None:
        body["image_embedding"] = {
            "segments": [{"float": [float(x) for x in image]}],
            "metadata": dict(image_source or {}),
        }
    if audio is not None:
        segment = {"float": [float(x) for x in audio.vector], "start_offset_sec": audio.start}
        body["audio_embedding"] = {
            "segments": [{**segment, "end_offset_sec": audio.end}],
            "metadata": dict(audio.source),
        }
    return body


def clip_search(
    query_text: str | None,
    model_name: str,
    ranked: Mapping[str, Sequence[Hit]],
    sources: Mapping[str, str],
    left_out: Sequence[tuple[str, str]] = (),
    query_image: str | None = None,
) -> dict[str, Any]:
    """Ranked clips per option, ``fused`` first when several options were searched; each hit names
    its task's video (``sources``: task id -> file name or URL); ``left_out`` lists the tasks of
    the stack that were not searched, and why. The query is a text (``query_text``) or an image
    (``query_image``: its file name, in place of ``query_text``)."""
    query: dict[str, str | None] = (
        {"query_image": query_image} if query_image is not None else {"query_text": query_text}
    )
    return {
        **query,
        "model_name": model_name,
        "left_out": [{"task_id": task_id, "reason": reason} for task_id, reason in left_out],
        "data": {
            option: [
                {
                    "task_id": h.task_id,
                    "source": sources.get(h.task_id),
                    "embedding_option": h.option,
                    "start_offset_sec": h.start,
                    "end_offset_sec": h.end,
                    "score": h.score,
                }
                for h in hits
            ]
            for option, hits in sorted(ranked.items(), key=lambda item: item[0] != FUSED)
        },
    }
