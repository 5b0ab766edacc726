"""What a transport is: the seam between the client's SDK-shaped objects and a service, in this
process (``local``) or over HTTP (``http``).

Every transport takes and returns the wire's dictionaries (the JSON bodies of the TwelveLabs API)
and raises the same ``vidembed.errors``, so the clients above read one shape whatever carries it.
One protocol per API surface, for the client that needs only that surface, and ``Transport``, all
of them, for ``VidEmbed``. A kind subclasses ``Transport`` (mypy checks it at its definition) and
imports nothing else of this family.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # an annotation only: vidembed.records brings numpy, which the client never needs
    from vidembed.records import FileInput

JsonObject = dict[str, object]


class EmbedTransport(Protocol):
    """Embed API v1.3 (``/embed/tasks``, ``/embed``) and our clip search (``/clips/search``)."""

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


class EmbedV2Transport(Protocol):
    """Embed API v2 (``/embed-v2``, ``/embed-v2/tasks``): JSON bodies in, JSON bodies out."""

    def embed_v2(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /embed-v2`` (a JSON body)."""
        ...

    def create_v2_task(self, body: dict[str, Any]) -> dict[str, Any]: ...
    def retrieve_v2_task(self, task_id: str) -> dict[str, Any]: ...
    def list_v2_tasks(self, query: dict[str, object]) -> dict[str, Any]: ...


class AssetTransport(Protocol):
    """The assets API (``/assets``)."""

    def create_asset(self, fields: Mapping[str, object], file: FileInput | None) -> JsonObject:
        """``POST /assets``: ``method``, ``url``, ``filename``, ``user_metadata`` (JSON), and the file."""
        ...

    def list_assets(self, query: Mapping[str, object]) -> JsonObject: ...
    def retrieve_asset(self, asset_id: str) -> JsonObject: ...
    def delete_asset(self, asset_id: str) -> None: ...


class IndexTransport(Protocol):
    """The indexes API (``/indexes``, ``/indexes/{id}/videos``): query strings as the server reads
    them (``duration[gte]``, ``user_metadata[key]``), JSON bodies."""

    def create_index(self, body: Mapping[str, object]) -> JsonObject: ...
    def list_indexes(self, query: Mapping[str, str]) -> JsonObject: ...
    def retrieve_index(self, index_id: str) -> JsonObject: ...
    def update_index(self, index_id: str, body: Mapping[str, object]) -> None: ...
    def delete_index(self, index_id: str) -> None: ...
    def list_videos(self, index_id: str, query: Mapping[str, str]) -> JsonObject: ...
    def retrieve_video(
        self, index_id: str, video_id: str, embedding_option: Sequence[str] | None, transcription: bool | None
    ) -> JsonObject: ...
    def update_video(self, index_id: str, video_id: str, body: Mapping[str, object]) -> None: ...
    def delete_video(self, index_id: str, video_id: str) -> None: ...


class IndexTaskTransport(Protocol):
    """Index tasks (``/tasks``): a video into an index."""

    def create_index_task(self, fields: Mapping[str, object], video_file: FileInput | None) -> JsonObject:
        """``POST /tasks``: ``index_id``, ``video_url``, ``enable_video_stream``, ``user_metadata``
        (JSON text), and the file."""
        ...

    def retrieve_index_task(self, task_id: str) -> JsonObject: ...
    def list_index_tasks(self, query: Mapping[str, object]) -> JsonObject:
        """``GET /tasks``: ``status`` is a list (a repeated parameter); None values are left out."""
        ...

    def delete_index_task(self, task_id: str) -> None: ...


class SearchTransport(Protocol):
    """Search (``POST /search``, ``GET /search/{page_token}``)."""

    def search(self, fields: Mapping[str, object], files: Sequence[FileInput]) -> JsonObject:
        """The first page: text fields (a list is a repeated field; None is left out) and the
        ``query_media_file`` parts."""
        ...

    def search_page(self, page_token: str, include_user_metadata: bool | None) -> JsonObject: ...


class Transport(
    EmbedTransport,
    EmbedV2Transport,
    AssetTransport,
    IndexTransport,
    IndexTaskTransport,
    SearchTransport,
    Protocol,
):
    """Every surface, and ``close`` (what ``VidEmbed(transport=...)`` takes)."""

    def close(self) -> None: ...
