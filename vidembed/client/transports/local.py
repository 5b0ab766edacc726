"""LocalTransport: the whole service in this process (SQLite and media under ``settings.data_dir``).

The heavy kind of the family: ``vidembed.api.compose`` brings the engine side (PyAV, the model
runtimes), so ``VidEmbed`` imports this module only when it runs the service itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vidembed.api.compose import compose
from vidembed.client.transports.base import Transport
from vidembed.config import Settings

if TYPE_CHECKING:
    from vidembed.records import FileInput


class LocalTransport(Transport):
    """Runs the whole service in this process: SQLite and media under ``settings.data_dir``.

    ``settings`` default to ``Settings()`` (from the environment); ``data_dir`` and
    ``stacks_file``, when given, are set on them (``VidEmbed(data_dir=..., stacks_file=...)``)."""

    def __init__(
        self,
        settings: Settings | None = None,
        start_workers: bool = True,
        *,
        data_dir: str | Path | None = None,
        stacks_file: str | Path | None = None,
    ) -> None:
        settings = settings or Settings()
        if data_dir is not None:
            settings.data_dir = Path(data_dir)
        if stacks_file is not None:
            settings.stacks_file = Path(stacks_file)
        self.services = compose(settings, start_workers=start_workers)
        self.service = self.services.embed
        assert self.services.assets is not None  # composed with assets
        self.assets = self.services.assets
        self.v2 = self.services.embed_v2
        assert self.services.indexes is not None and self.services.index_tasks is not None
        assert self.services.search is not None
        self.indexes = self.services.indexes
        self.index_tasks = self.services.index_tasks
        self.searches = self.services.search

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
            audio_start_offset_sec=fields.get("audio_start_offset_sec"),
        )

    def search_clips(self, fields: dict[str, Any], query_image: FileInput | None = None) -> dict[str, Any]:
        return self.service.search_clips(query_image=query_image, **fields)

    def create_asset(self, fields: Mapping[str, object], file: FileInput | None) -> dict[str, object]:
        text = {name: None if value is None else str(value) for name, value in fields.items()}
        return self.assets.create(
            method=text.get("method"),
            file=file,
            url=text.get("url"),
            filename=text.get("filename"),
            user_metadata=text.get("user_metadata"),
            enable_hls=text.get("enable_hls"),
            enable_thumbnail=text.get("enable_thumbnail"),
        )

    def list_assets(self, query: Mapping[str, object]) -> dict[str, object]:
        return self.assets.list(
            None,
            page=_optional_text(query.get("page")),
            page_limit=_optional_text(query.get("page_limit")),
            asset_ids=_text_list(query.get("asset_ids")),
            asset_types=_text_list(query.get("asset_types")),
            filename=_optional_text(query.get("filename")),
        )

    def retrieve_asset(self, asset_id: str) -> dict[str, object]:
        return self.assets.retrieve(asset_id)

    def delete_asset(self, asset_id: str) -> None:
        self.assets.delete(asset_id)

    def embed_v2(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.v2.create(body)

    def create_v2_task(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.v2.create_task(body)

    def retrieve_v2_task(self, task_id: str) -> dict[str, Any]:
        return self.v2.retrieve(task_id)

    def list_v2_tasks(self, query: dict[str, Any]) -> dict[str, Any]:
        return self.v2.list(**query)

    # --- indexes, index tasks, search (owner "": what an open server gives every request) ---

    def create_index(self, body: Mapping[str, object]) -> dict[str, object]:
        return self.indexes.create(dict(body))

    def list_indexes(self, query: Mapping[str, str]) -> dict[str, object]:
        return self.indexes.list(query, "")

    def retrieve_index(self, index_id: str) -> dict[str, object]:
        return self.indexes.retrieve(index_id, "")

    def update_index(self, index_id: str, body: Mapping[str, object]) -> None:
        self.indexes.update(index_id, dict(body), "")

    def delete_index(self, index_id: str) -> None:
        self.indexes.delete(index_id, "")

    def list_videos(self, index_id: str, query: Mapping[str, str]) -> dict[str, object]:
        return self.indexes.list_videos(index_id, query, "")

    def retrieve_video(
        self, index_id: str, video_id: str, embedding_option: Sequence[str] | None, transcription: bool | None
    ) -> dict[str, object]:
        flag = None if transcription is None else str(transcription).lower()
        return self.indexes.retrieve_video(index_id, video_id, "", list(embedding_option or []), flag)

    def update_video(self, index_id: str, video_id: str, body: Mapping[str, object]) -> None:
        self.indexes.update_video(index_id, video_id, dict(body), "")

    def delete_video(self, index_id: str, video_id: str) -> None:
        self.indexes.delete_video(index_id, video_id, "")

    def create_index_task(
        self, fields: Mapping[str, object], video_file: FileInput | None
    ) -> dict[str, object]:
        text = {name: _optional_text(value) for name, value in fields.items()}
        return self.index_tasks.create(
            owner="",
            index_id=text.get("index_id"),
            video_file=video_file,
            video_url=text.get("video_url"),
            enable_video_stream=text.get("enable_video_stream"),
            user_metadata=text.get("user_metadata"),
        )

    def retrieve_index_task(self, task_id: str) -> dict[str, object]:
        return self.index_tasks.retrieve(task_id, "")

    def list_index_tasks(self, query: Mapping[str, object]) -> dict[str, object]:
        found = {name: _optional_text(value) for name, value in query.items() if name != "status"}
        return self.index_tasks.list("", **found, status=_text_list(query.get("status")) or None)

    def delete_index_task(self, task_id: str) -> None:
        self.index_tasks.delete(task_id, "")

    def search(self, fields: Mapping[str, object], files: Sequence[FileInput]) -> dict[str, object]:
        """As the route reads the form: repeated fields are lists (None when empty), the rest text."""
        form: dict[str, Any] = {}
        for name, value in fields.items():
            if isinstance(value, (list, tuple)):
                form[name] = [str(v) for v in value if str(v).strip()] or None
            else:
                form[name] = _optional_text(value)
        return self.searches.query(owner="", query_media_file=list(files) or None, **form)

    def search_page(self, page_token: str, include_user_metadata: bool | None) -> dict[str, object]:
        flag = None if include_user_metadata is None else str(include_user_metadata).lower()
        return self.searches.page(page_token, "", flag)

    def close(self) -> None:
        self.services.close()


def _optional_text(value: object) -> str | None:
    return None if value is None else str(value)


def _text_list(value: object) -> list[str] | None:
    """A query parameter that may repeat: one value or a sequence of them."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return [str(item) for item in value]
    return [str(value)]
