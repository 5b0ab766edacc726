"""``client.indexes`` and ``client.indexes.videos``: the SDK's indexes surface (create, list,
retrieve, update, delete; an index's videos), embedded or over HTTP, returning objects with the
SDK's names (``IndexSchema``, ``VideoVector``, ``VideosRetrieveResponse``; ``.id`` for ``_id``)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from vidembed.client.pages import pages
from vidembed.client.transports.base import IndexTransport
from vidembed.client.types import VideoSegment

UserMetadataValue = str | int | float | bool | None
# A number filter of videos.list: a value, or bounds {"gte": n, "lte": n} (the SDK's shapes)
NumberFilter = float | Mapping[str, float]


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True, protected_namespaces=())


class IndexModelsItem(_Model):
    model_name: str | None = None
    model_options: list[str] | None = None


class IndexesCreateResponse(_Model):
    id: str | None = Field(default=None, alias="_id")


class IndexSchema(_Model):
    """An index: its one model and options, add-ons, and what it holds (``video_count``,
    ``total_duration`` in seconds)."""

    id: str | None = Field(default=None, alias="_id")
    index_name: str | None = None
    models: list[IndexModelsItem] | None = None
    addons: list[str] | None = None
    video_count: float | None = None
    total_duration: float | None = None
    created_at: str | None = None
    updated_at: str | None = None
    expires_at: str | None = None


class PageInfo(_Model):
    limit_per_page: int = 10
    page: int = 1
    total_page: int = 1
    total_results: int = 0


class IndexListPage(_Model):
    data: list[IndexSchema] | None = None
    page_info: PageInfo = Field(default_factory=PageInfo)


class VideoSystemMetadata(_Model):
    filename: str | None = None
    duration: float | None = None
    fps: float | None = None
    width: int | None = None
    height: int | None = None
    size: float | None = None


class VideoVector(_Model):
    """A video of an index, as ``videos.list`` gives it (``user_metadata`` too, when it has any)."""

    id: str | None = Field(default=None, alias="_id")
    asset_id: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    indexed_at: str | None = None
    system_metadata: VideoSystemMetadata | None = None
    user_metadata: dict[str, UserMetadataValue] | None = None


class VideoListPage(_Model):
    data: list[VideoVector] | None = None
    page_info: PageInfo = Field(default_factory=PageInfo)


class HlsObject(_Model):
    video_url: str | None = None
    thumbnail_urls: list[str] | None = None
    status: str | None = None
    updated_at: str | None = None


class VideoEmbedding(_Model):
    segments: list[VideoSegment] | None = None


class VideosRetrieveResponseEmbedding(_Model):
    model_name: str | None = None
    video_embedding: VideoEmbedding | None = None


class TranscriptionDataItem(_Model):
    start: float | None = None
    end: float | None = None
    value: str | None = None


class VideosRetrieveResponse(VideoVector):
    """One video: with ``embedding`` (the options asked for) and ``transcription`` when asked."""

    hls: HlsObject | None = None
    embedding: VideosRetrieveResponseEmbedding | None = None
    transcription: list[TranscriptionDataItem] | None = None


def _model_body(model: object) -> dict[str, Any]:
    """One of ``models``: a dict, or an object with ``model_name`` and ``model_options`` (the SDK's
    ``IndexesCreateRequestModelsItem``)."""
    if isinstance(model, Mapping):
        return dict(model)
    return {
        "model_name": getattr(model, "model_name", None),
        "model_options": getattr(model, "model_options", None),
    }


def _query(values: Mapping[str, object]) -> dict[str, str]:
    """A query string: None left out, booleans as true/false."""
    text: dict[str, str] = {}
    for name, value in values.items():
        if value is None:
            continue
        text[name] = str(value).lower() if isinstance(value, bool) else str(value)
    return text


class VideosClient:
    def __init__(self, transport: IndexTransport) -> None:
        self._transport = transport

    def list(
        self,
        index_id: str,
        *,
        page: int | None = None,
        page_limit: int | None = None,
        sort_by: str | None = None,
        sort_option: str | None = None,
        filename: str | None = None,
        duration: NumberFilter | None = None,
        fps: NumberFilter | None = None,
        width: NumberFilter | None = None,
        height: NumberFilter | None = None,
        size: NumberFilter | None = None,
        created_at: str | None = None,
        updated_at: str | None = None,
        user_metadata: Mapping[str, UserMetadataValue] | None = None,
    ) -> Iterator[VideoVector]:
        """Every matching video, newest first (``sort_by``, ``sort_option`` change it), page by
        page. A number filter is a value or ``{"gte": n, "lte": n}``; ``user_metadata`` keys
        must equal their values."""
        filters: dict[str, object] = {
            "sort_by": sort_by,
            "sort_option": sort_option,
            "filename": filename,
            "created_at": created_at,
            "updated_at": updated_at,
        }
        for name, bound in (
            ("duration", duration),
            ("fps", fps),
            ("width", width),
            ("height", height),
            ("size", size),
        ):
            if isinstance(bound, Mapping):
                filters.update({f"{name}[{op}]": v for op, v in bound.items()})
            else:
                filters[name] = bound
        for key, value in (user_metadata or {}).items():
            filters[f"user_metadata[{key}]"] = value

        def fetch(number: int) -> tuple[list[VideoVector], int]:
            query = _query({"page": number, "page_limit": page_limit, **filters})
            result = VideoListPage.model_validate(self._transport.list_videos(index_id, query))
            return result.data or [], result.page_info.total_page

        return pages(fetch, page)

    def retrieve(
        self,
        index_id: str,
        video_id: str,
        *,
        embedding_option: str | Sequence[str] | None = None,
        transcription: bool | None = None,
    ) -> VideosRetrieveResponse:
        options = [embedding_option] if isinstance(embedding_option, str) else embedding_option
        return VideosRetrieveResponse.model_validate(
            self._transport.retrieve_video(index_id, video_id, list(options or []) or None, transcription)
        )

    def update(
        self, index_id: str, video_id: str, *, user_metadata: Mapping[str, UserMetadataValue] | None = None
    ) -> None:
        """Merges ``user_metadata`` into the video's (a None value removes its key)."""
        self._transport.update_video(index_id, video_id, {"user_metadata": dict(user_metadata or {})})

    def delete(self, index_id: str, video_id: str) -> None:
        """The video leaves the index and its search at once."""
        self._transport.delete_video(index_id, video_id)


class IndexesClient:
    def __init__(self, transport: IndexTransport) -> None:
        self._transport = transport
        self.videos = VideosClient(transport)

    def create(
        self, *, index_name: str, models: Sequence[object], addons: Sequence[str] | None = None
    ) -> IndexesCreateResponse:
        """``models``: one embedding model, as ``{"model_name": "marengo3.0", "model_options":
        ["visual", "audio"]}`` (or the SDK's ``IndexesCreateRequestModelsItem``); ``addons``:
        ``["thumbnail"]`` or nothing. Names are unique."""
        body: dict[str, object] = {"index_name": index_name, "models": [_model_body(m) for m in models]}
        if addons is not None:
            body["addons"] = list(addons)
        return IndexesCreateResponse.model_validate(self._transport.create_index(body))

    def list(
        self,
        *,
        page: int | None = None,
        page_limit: int | None = None,
        sort_by: str | None = None,
        sort_option: str | None = None,
        index_name: str | None = None,
        model_options: str | None = None,
        model_family: str | None = None,
        created_at: str | None = None,
        updated_at: str | None = None,
    ) -> Iterator[IndexSchema]:
        """Every matching index, newest first, fetched page by page (from ``page``, default 1)."""

        def fetch(number: int) -> tuple[list[IndexSchema], int]:
            query = _query(
                {
                    "page": number,
                    "page_limit": page_limit,
                    "sort_by": sort_by,
                    "sort_option": sort_option,
                    "index_name": index_name,
                    "model_options": model_options,
                    "model_family": model_family,
                    "created_at": created_at,
                    "updated_at": updated_at,
                }
            )
            result = IndexListPage.model_validate(self._transport.list_indexes(query))
            return result.data or [], result.page_info.total_page

        return pages(fetch, page)

    def retrieve(self, index_id: str) -> IndexSchema:
        return IndexSchema.model_validate(self._transport.retrieve_index(index_id))

    def update(self, index_id: str, *, index_name: str) -> None:
        """Renames the index (its models and add-ons cannot change)."""
        self._transport.update_index(index_id, {"index_name": index_name})

    def delete(self, index_id: str) -> None:
        self._transport.delete_index(index_id)
