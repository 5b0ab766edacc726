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


class Transport(EmbedTransport, EmbedV2Transport, AssetTransport, Protocol):
    """Every surface, and ``close`` (what ``VidEmbed(transport=...)`` takes)."""

    def close(self) -> None: ...
