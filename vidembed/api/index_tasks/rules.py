"""The request rules of TwelveLabs' index tasks (``/tasks``; docs/SEARCH-API.md): the index, one
video (a file or a URL), its user metadata as a JSON object (the SDK sends it as a JSON string);
the list's page, filters and order."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vidembed import errors
from vidembed.api.rules import (
    absent,
    parse_flag,
    parse_number,
    parse_order,
    parse_page,
    parse_time,
    parse_user_metadata,
)
from vidembed.records import JsonObject

TASK_STATUSES = ("pending", "queued", "indexing", "ready", "failed", "validating", "uploading")


@dataclass(frozen=True)
class TaskListing:
    """Which index tasks a list shows, and in what order."""

    index_id: str | None = None
    statuses: tuple[str, ...] = ()
    filename: str | None = None
    duration: float | None = None
    width: float | None = None
    height: float | None = None
    created_at: float | None = None
    updated_at: float | None = None
    sort_by: str = "created_at"
    descending: bool = True


def parse_task_create(
    index_id: Any, video_url: Any, has_file: bool, user_metadata: Any, enable_video_stream: Any
) -> tuple[str, str | None, JsonObject | None]:
    """``POST /tasks``: the index id, the video's URL (None: the file), its user metadata.
    ``enable_video_stream`` is accepted and has no effect (no HLS streams here)."""
    if absent(index_id):
        raise errors.not_provided("index_id")
    url = None if absent(video_url) else str(video_url).strip()
    if url is None and not has_file:
        raise errors.none_provided(["video_file", "video_url"])
    if url is not None and has_file:
        raise errors.invalid_many(["video_file", "video_url"], "Send one video: a file or a URL, not both.")
    parse_flag("enable_video_stream", enable_video_stream)
    metadata = parse_user_metadata(user_metadata)
    if metadata is not None:
        metadata = {k: v for k, v in metadata.items() if v is not None}
    return str(index_id).strip(), url, metadata


def parse_task_list(
    *,
    page: Any = None,
    page_limit: Any = None,
    sort_by: Any = None,
    sort_option: Any = None,
    index_id: Any = None,
    status: Any = None,
    filename: Any = None,
    duration: Any = None,
    width: Any = None,
    height: Any = None,
    created_at: Any = None,
    updated_at: Any = None,
) -> tuple[TaskListing, int, int]:
    """``GET /tasks``: the listing, the page and its size."""
    page_number, limit = parse_page(page, page_limit)
    values = [] if absent(status) else ([status] if isinstance(status, str) else list(status))
    statuses = tuple(part.strip() for v in values for part in str(v).split(",") if part.strip())
    unknown = [s for s in statuses if s not in TASK_STATUSES]
    if unknown:
        raise errors.invalid("status", f"Use some of: {', '.join(TASK_STATUSES)}.")
    number = "It must be a number."
    sort_field, descending = parse_order(sort_by, sort_option)
    listing = TaskListing(
        index_id=None if absent(index_id) else str(index_id),
        statuses=statuses,
        filename=None if absent(filename) else str(filename),
        duration=parse_number("duration", duration, number),
        width=parse_number("width", width, number),
        height=parse_number("height", height, number),
        created_at=parse_time("created_at", created_at),
        updated_at=parse_time("updated_at", updated_at),
        sort_by=sort_field,
        descending=descending,
    )
    return listing, page_number, limit
