"""JSON shapes every API shares: RFC 3339 times and page information."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from vidembed.records import StoredSegment, TaskRecord
from vidembed.service.indexes import filename_of
from vidembed.stores.base import WAITING_FOR_ASSET


def rfc3339(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(value: str) -> float:
    text = value.strip().replace("z", "Z")
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    parsed = dt.datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.timestamp()


def page_info(page: int, limit: int, total: int) -> dict[str, int]:
    """The pager of every list (tasks of both APIs, assets): four integers (CONTRACT.md §2.4)."""
    return {
        "limit_per_page": limit,
        "page": page,
        "total_page": max(1, -(-total // limit)),
        "total_results": total,
    }


def segment_bodies(task: TaskRecord, segments: Sequence[StoredSegment]) -> list[dict[str, Any]]:
    """A ready task's segments as v1.3 retrieve lists them: by the task's option order, clips
    before the whole video, by start time."""
    order = {o: i for i, o in enumerate(task.options)}
    ordered = sorted(segments, key=lambda s: (order.get(s.option, 99), s.scope != "clip", s.start))
    return [
        {
            "start_offset_sec": s.start,
            "end_offset_sec": s.end,
            "embedding_option": s.option,
            "embedding_scope": s.scope,
            "float": [float(x) for x in s.vector],
        }
        for s in ordered
    ]


def system_metadata(task: TaskRecord) -> dict[str, Any]:
    """What an index's video is (TwelveLabs' ``system_metadata``): its file name, and once
    indexed its duration, size in bytes, frame size and frame rate."""
    media = task.media or {}
    found: dict[str, Any] = {"filename": filename_of(task), "duration": task.duration}
    for key in ("width", "height"):
        if key in media:
            found[key] = int(media[key])
    for key in ("fps", "size", "language"):  # language: ours, the language Whisper heard most
        if key in media:
            found[key] = media[key]
    return {k: v for k, v in found.items() if v is not None}


def index_status(task: TaskRecord) -> str:
    """TwelveLabs' status of an index task: ``pending`` (its asset is still being processed),
    ``queued`` (waiting for a worker), ``indexing`` (a worker embeds it), ``ready``, ``failed``."""
    if task.status != "processing":
        return task.status
    if task.stage == WAITING_FOR_ASSET:
        return "pending"
    # a task handed back by a stopping worker (Ctrl-C, a server shutting down) waits to be claimed
    return "queued" if task.stage in ("queued", "interrupted") else "indexing"
