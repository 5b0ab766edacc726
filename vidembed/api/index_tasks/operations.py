"""TwelveLabs' index tasks over the core (``client.tasks``; docs/SEARCH-API.md): raw parameters
checked by ``rules.py``, the work done by ``IndexCore``, JSON by ``wire.py``."""

from __future__ import annotations

from typing import Any

from vidembed.api.index_tasks.rules import TaskListing, parse_task_create, parse_task_list
from vidembed.api.index_tasks.wire import task_body, task_list
from vidembed.api.rules import page_of
from vidembed.api.wire import index_status
from vidembed.records import TaskRecord
from vidembed.service.indexes import IndexCore, VideoInput, filename_of


class IndexTaskService:
    def __init__(self, core: IndexCore) -> None:
        self.core = core

    def create(
        self,
        *,
        owner: str = "",
        index_id: Any = None,
        video_file: Any = None,
        video_url: Any = None,
        enable_video_stream: Any = None,
        user_metadata: Any = None,
    ) -> dict[str, Any]:
        """A video into an index: ``{"_id": task id, "video_id": the same id}``."""
        index_id, url, metadata = parse_task_create(
            index_id, video_url, video_file is not None, user_metadata, enable_video_stream
        )
        index = self.core.get(index_id, owner)
        task = self.core.add_video(
            owner, index, VideoInput(upload=video_file, url=url, user_metadata=metadata)
        )
        return {"_id": task.id, "video_id": task.id}

    def retrieve(self, task_id: str, owner: str | None = None) -> dict[str, Any]:
        return task_body(self.core.index_task(task_id, owner))

    def list(self, owner: str | None = None, **query: Any) -> dict[str, Any]:
        """One page of index tasks (the SDK's ``tasks.list`` parameters)."""
        listing, page, limit = parse_task_list(**query)
        found = [t for t in self.core.index_tasks(owner, listing.index_id) if _listed(t, listing)]
        return task_list(
            page_of(found, listing.sort_by, listing.descending, page, limit), page, limit, len(found)
        )

    def delete(self, task_id: str, owner: str | None = None) -> None:
        self.core.delete_task(task_id, owner)


def _listed(task: TaskRecord, listing: TaskListing) -> bool:
    media = task.media or {}
    checks = (
        not listing.statuses or index_status(task) in listing.statuses,
        listing.filename is None or filename_of(task) == listing.filename,
        listing.duration is None or task.duration == listing.duration,
        listing.width is None or media.get("width") == listing.width,
        listing.height is None or media.get("height") == listing.height,
        listing.created_at is None or task.created_at >= listing.created_at,
        listing.updated_at is None or task.updated_at >= listing.updated_at,
    )
    return all(checks)
