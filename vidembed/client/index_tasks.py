"""``client.tasks``: the SDK's index tasks (a video into an index: create, retrieve, list, delete,
``wait_for_done``), embedded or over HTTP. Not the embed tasks, which are ``client.embed.tasks``."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from vidembed.client.indexes import HlsObject, PageInfo
from vidembed.client.pages import pages
from vidembed.client.polling import wait_until_final
from vidembed.client.transports.base import IndexTaskTransport
from vidembed.client.types import TaskError, TaskProgress

if TYPE_CHECKING:  # an annotation only: vidembed.records brings numpy, which the client never needs
    from vidembed.records import FileInput

UserMetadataValue = str | int | float | bool | None


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class IndexTaskCreateResponse(_Model):
    """``{"_id": task id, "video_id": the video's id}`` (the same id here)."""

    id: str | None = Field(default=None, alias="_id")
    video_id: str | None = None


class VideoIndexingTaskSystemMetadata(_Model):
    filename: str | None = None
    duration: float | None = None
    width: int | None = None
    height: int | None = None


class VideoIndexingTask(_Model):
    """An index task, as ``list`` gives it. ``status``: ``pending``, ``queued``, ``indexing``,
    ``ready`` or ``failed``; ``progress`` and ``error`` (why it failed) are our additions."""

    id: str | None = Field(default=None, alias="_id")
    video_id: str | None = None
    index_id: str | None = None
    status: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    system_metadata: VideoIndexingTaskSystemMetadata | None = None
    progress: TaskProgress | None = None
    error: TaskError | None = None


class IndexTask(VideoIndexingTask):
    """What ``retrieve`` and ``wait_for_done`` give (the SDK's ``TasksRetrieveResponse`` of
    ``client.tasks``)."""

    hls: HlsObject | None = None


class IndexTaskListPage(_Model):
    data: list[VideoIndexingTask] | None = None
    page_info: PageInfo = Field(default_factory=PageInfo)


class IndexTasksClient:
    def __init__(self, transport: IndexTaskTransport) -> None:
        self._transport = transport

    def create(
        self,
        *,
        index_id: str,
        video_file: FileInput | None = None,
        video_url: str | None = None,
        enable_video_stream: bool | None = None,
        user_metadata: str | Mapping[str, UserMetadataValue] | None = None,
    ) -> IndexTaskCreateResponse:
        """Uploads ``video_file`` (a path, bytes or a binary file) or fetches ``video_url`` into
        the index. ``user_metadata``: a JSON object as text, as in the SDK, or a dict. Poll with
        ``retrieve`` or ``wait_for_done``; the video is searchable once the task is ``ready``."""
        metadata = json.dumps(dict(user_metadata)) if isinstance(user_metadata, Mapping) else user_metadata
        fields: dict[str, object] = {
            "index_id": index_id,
            "video_url": video_url,
            "enable_video_stream": None if enable_video_stream is None else str(enable_video_stream).lower(),
            "user_metadata": metadata,
        }
        return IndexTaskCreateResponse.model_validate(self._transport.create_index_task(fields, video_file))

    def retrieve(self, task_id: str) -> IndexTask:
        return IndexTask.model_validate(self._transport.retrieve_index_task(task_id))

    def list(
        self,
        *,
        page: int | None = None,
        page_limit: int | None = None,
        sort_by: str | None = None,
        sort_option: str | None = None,
        index_id: str | None = None,
        status: str | Sequence[str] | None = None,
        filename: str | None = None,
        duration: float | None = None,
        width: int | None = None,
        height: int | None = None,
        created_at: str | None = None,
        updated_at: str | None = None,
    ) -> Iterator[VideoIndexingTask]:
        """Every matching index task, newest first, fetched page by page (from ``page``)."""

        def fetch(number: int) -> tuple[list[VideoIndexingTask], int]:
            query: dict[str, object] = {
                "page": number,
                "page_limit": page_limit,
                "sort_by": sort_by,
                "sort_option": sort_option,
                "index_id": index_id,
                "status": [status] if isinstance(status, str) else status,
                "filename": filename,
                "duration": duration,
                "width": width,
                "height": height,
                "created_at": created_at,
                "updated_at": updated_at,
            }
            result = IndexTaskListPage.model_validate(self._transport.list_index_tasks(query))
            return result.data or [], result.page_info.total_page

        return pages(fetch, page)

    def delete(self, task_id: str) -> None:
        """Deletes the task and its video (refused while it is being indexed)."""
        self._transport.delete_index_task(task_id)

    def wait_for_done(
        self,
        task_id: str,
        *,
        sleep_interval: float = 5.0,
        callback: Callable[[IndexTask], None] | None = None,
    ) -> IndexTask:
        """Polls ``retrieve`` until the task is ``ready`` or ``failed`` (returned, not raised)."""
        return wait_until_final(lambda: self.retrieve(task_id), sleep_interval, callback)
