"""``VidEmbed``: the client of the seed's interface (``client.embed.tasks``), embedded or over HTTP.

The transport is picked in ``VidEmbed.__init__`` and its module imported there, when it is chosen
(as httpx does): the local one brings the whole engine side, which a client of a server never loads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vidembed.client.assets import AssetsClient
from vidembed.client.embed_v2 import EmbedV2Client
from vidembed.client.index_tasks import IndexTasksClient
from vidembed.client.indexes import IndexesClient
from vidembed.client.pages import pages
from vidembed.client.polling import wait_until_final
from vidembed.client.search import SearchClient
from vidembed.client.transports.base import EmbedTransport, Transport
from vidembed.client.types import (
    ClipSearchResponse,
    EmbeddingResponse,
    MediaEmbeddingTask,
    TaskListPage,
    TasksCreateResponse,
    TasksRetrieveResponse,
    TasksStatusResponse,
)

if TYPE_CHECKING:  # annotations only: config and records bring the service side (models, numpy)
    from vidembed.config import Settings
    from vidembed.records import FileInput


class TasksClient:
    def __init__(self, transport: EmbedTransport) -> None:
        self._transport = transport

    def create(
        self,
        *,
        model_name: str,
        video_file: Any = None,
        video_url: str | None = None,
        video_start_offset_sec: float | None = None,
        video_end_offset_sec: float | None = None,
        video_clip_length: float | None = None,
        video_embedding_scope: Sequence[str] | None = None,
        request_options: dict[str, Any] | None = None,
        embedding_option: Sequence[str] | None = None,
        video_segmentation: str | None = None,
        video_min_duration_sec: float | None = None,
    ) -> TasksCreateResponse:
        """The SDK's create. Our extensions: ``embedding_option`` limits the options computed;
        ``video_segmentation="dynamic"`` cuts clips at shot boundaries, each at least
        ``video_min_duration_sec`` (2-5, default 4) long."""
        fields = {
            "video_segmentation": video_segmentation,
            "video_min_duration_sec": video_min_duration_sec,
            "model_name": model_name,
            "video_url": video_url,
            "video_start_offset_sec": video_start_offset_sec,
            "video_end_offset_sec": video_end_offset_sec,
            "video_clip_length": video_clip_length,
            "video_embedding_scope": video_embedding_scope,
        }
        if embedding_option is not None:
            fields["embedding_option"] = list(embedding_option)
        return TasksCreateResponse.model_validate(self._transport.create_task(fields, video_file))

    def status(self, task_id: str, *, request_options: dict[str, Any] | None = None) -> TasksStatusResponse:
        return TasksStatusResponse.model_validate(self._transport.task_status(task_id))

    def wait_for_done(
        self,
        task_id: str,
        *,
        sleep_interval: float = 5.0,
        callback: Callable[[TasksStatusResponse], None] | None = None,
        request_options: dict[str, Any] | None = None,
    ) -> TasksStatusResponse:
        """Polls the status until it is ``ready`` or ``failed``; a failed task is returned, not raised."""
        return wait_until_final(lambda: self.status(task_id), sleep_interval, callback)

    def retrieve(
        self,
        task_id: str,
        *,
        embedding_option: str | Sequence[str] | None = None,
        request_options: dict[str, Any] | None = None,
    ) -> TasksRetrieveResponse:
        options = [embedding_option] if isinstance(embedding_option, str) else embedding_option
        return TasksRetrieveResponse.model_validate(
            self._transport.retrieve_task(task_id, list(options) if options is not None else None)
        )

    def list(
        self,
        *,
        started_at: str | None = None,
        ended_at: str | None = None,
        status: str | None = None,
        page: int | None = None,
        page_limit: int | None = None,
        request_options: dict[str, Any] | None = None,
    ) -> Iterator[MediaEmbeddingTask]:
        """Every matching task, newest first, fetched page by page (from ``page``, default 1)."""

        def fetch(number: int) -> tuple[list[MediaEmbeddingTask], int]:
            query = {
                "started_at": started_at,
                "ended_at": ended_at,
                "status": status,
                "page": number,
                "page_limit": page_limit,
            }
            result = TaskListPage.model_validate(self._transport.list_tasks(query))
            return result.data, result.page_info.total_page

        return pages(fetch, page)


class EmbedClient:
    def __init__(self, transport: Transport) -> None:
        self._transport = transport
        self.tasks = TasksClient(transport)
        self.v_2 = EmbedV2Client(transport)  # Embed API v2, as the SDK's client.embed.v_2

    def create(
        self,
        *,
        model_name: str,
        text: str | None = None,
        image_url: str | None = None,
        image_file: FileInput | None = None,
        audio_url: str | None = None,
        audio_file: FileInput | None = None,
        audio_start_offset_sec: float | None = None,
        request_options: dict[str, Any] | None = None,
    ) -> EmbeddingResponse:
        """The SDK's create: any of text, an image (``image_file``: a path, bytes or a binary file;
        or ``image_url``) and audio (``audio_file`` or ``audio_url``: 10 s from
        ``audio_start_offset_sec``), in the stack's space: an image compares with the visual
        option, audio with the audio option, text with every option."""
        fields = {
            "model_name": model_name,
            "text": text,
            "image_url": image_url,
            "audio_url": audio_url,
            "audio_start_offset_sec": audio_start_offset_sec,
        }
        files = {
            name: file
            for name, file in (("image_file", image_file), ("audio_file", audio_file))
            if file is not None
        }
        return EmbeddingResponse.model_validate(self._transport.embed(fields, files))


class ClipsClient:
    """Search over the clips of finished tasks: a vidembed extension, not in the TwelveLabs API."""

    def __init__(self, transport: EmbedTransport) -> None:
        self._transport = transport

    def search(
        self,
        *,
        query_text: str | None = None,
        query_image: FileInput | None = None,
        model_name: str = "marengo3.0",
        task_id: str | None = None,
        embedding_option: Sequence[str] | None = None,
        page_limit: int = 5,
    ) -> ClipSearchResponse:
        """The ``page_limit`` best clips per option, and fused across options (see README).

        The query is a text (``query_text``) or a picture (``query_image``: a path, bytes or a
        binary file), not both. A picture is compared with what the clips show: it ranks the
        visual option only, and other options asked for are refused with a 400."""
        fields = {
            "query_text": query_text,
            "model_name": model_name,
            "task_id": task_id,
            "embedding_option": list(embedding_option) if embedding_option else None,
            "page_limit": page_limit,
        }
        return ClipSearchResponse.model_validate(self._transport.search_clips(fields, query_image))


class VidEmbed:
    """``VidEmbed()`` runs the service in-process; ``VidEmbed(base_url=...)`` talks to a server."""

    def __init__(
        self,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        data_dir: str | Path | None = None,
        timeout: float = 600.0,
        transport: Transport | None = None,
        stacks_file: str | Path | None = None,
        settings: Settings | None = None,
    ) -> None:
        """With ``base_url``, a client of that server; without, an embedded service in this
        process, configured by ``settings`` (default: ``Settings()``, from the environment) with
        ``data_dir`` and ``stacks_file`` (a TOML stacks file, as ``VIDEMBED_STACKS``) applied."""
        if transport is None:
            if base_url is not None:
                from vidembed.client.transports.http import HttpTransport

                transport = HttpTransport(base_url, api_key=api_key, timeout=timeout)
            else:
                from vidembed.client.transports.local import LocalTransport

                transport = LocalTransport(settings, data_dir=data_dir, stacks_file=stacks_file)
        self._transport = transport
        self.embed = EmbedClient(transport)
        self.clips = ClipsClient(transport)
        self.assets = AssetsClient(transport)
        self.indexes = IndexesClient(transport)  # search indexes and their videos
        self.tasks = IndexTasksClient(transport)  # index tasks (embed tasks: self.embed.tasks)
        self.search = SearchClient(transport)  # search of an index (clip search: self.clips)

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> VidEmbed:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
