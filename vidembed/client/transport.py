"""The seam between the client and the service: in-process, or over HTTP.

Both transports return the same wire dictionaries and raise the same ``vidembed.errors``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from vidembed.params import FileInput
from vidembed.service.config import Settings
from vidembed.service.tasks import TaskService


class Transport(Protocol):
    def create_task(self, fields: dict[str, Any], video_file: Any) -> dict[str, Any]: ...
    def task_status(self, task_id: str) -> dict[str, Any]: ...
    def retrieve_task(self, task_id: str, embedding_option: Sequence[str] | None) -> dict[str, Any]: ...
    def list_tasks(self, query: dict[str, Any]) -> dict[str, Any]: ...
    def embed(self, fields: Mapping[str, object], files: Mapping[str, FileInput]) -> dict[str, Any]:
        """``POST /embed``: text fields, and file parts (``image_file``, ``audio_file``)."""
        ...

    def search_clips(
        self, fields: dict[str, Any], query_image: FileInput | None = None
    ) -> dict[str, Any]: ...
    def close(self) -> None: ...


class LocalTransport:
    """Runs the whole service in this process: SQLite and media under ``settings.data_dir``."""

    def __init__(self, settings: Settings | None = None, start_workers: bool = True) -> None:
        self.service = TaskService(settings, start_workers=start_workers)

    def create_task(self, fields: dict[str, Any], video_file: Any) -> dict[str, Any]:
        return self.service.create(video_file=video_file, **fields)

    def task_status(self, task_id: str) -> dict[str, Any]:
        return self.service.status(task_id)

    def retrieve_task(self, task_id: str, embedding_option: Sequence[str] | None) -> dict[str, Any]:
        return self.service.retrieve(task_id, embedding_option=embedding_option)

    def list_tasks(self, query: dict[str, Any]) -> dict[str, Any]:
        return self.service.list(**query)

    def embed(self, fields: Mapping[str, object], files: Mapping[str, FileInput]) -> dict[str, Any]:
        return self.service.embed(
            model_name=fields.get("model_name"),
            text=fields.get("text"),
            image_url=fields.get("image_url"),
            audio_url=fields.get("audio_url"),
            image_file=files.get("image_file"),
            audio_file=files.get("audio_file"),
        )

    def search_clips(self, fields: dict[str, Any], query_image: FileInput | None = None) -> dict[str, Any]:
        return self.service.search_clips(query_image=query_image, **fields)

    def close(self) -> None:
        self.service.close()
