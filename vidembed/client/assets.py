"""``client.assets``: the SDK's assets surface (create, list, retrieve, delete), embedded or over
HTTP, returning objects with the SDK's names (``Asset``, ``AssetDetail``; ``.id`` for ``_id``)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from vidembed.client.pages import pages
from vidembed.client.transports.base import AssetTransport

if TYPE_CHECKING:  # an annotation only: vidembed.records brings numpy, which the client never needs
    from vidembed.records import FileInput

UserMetadataValue = str | int | float | bool | list[str] | None


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class AssetError(_Model):
    message: str = ""


class TechnicalMetadata(_Model):
    """What probing found (the SDK's field names); a field is absent when it does not apply.
    ``duration_seconds`` (the container's duration) is our addition."""

    file_size_bytes: int | None = None
    file_mime_type: str | None = None
    file_container_format: str | None = None
    duration_seconds: float | None = None
    video_codec: str | None = None
    video_width: int | None = None
    video_height: int | None = None
    video_fps: float | None = None
    video_duration_seconds: float | None = None
    audio_codec: str | None = None
    audio_sample_rate: int | None = None
    audio_channels: int | None = None
    audio_duration_seconds: float | None = None
    image_width: int | None = None
    image_height: int | None = None
    image_format: str | None = None
    image_orientation: int | None = None
    has_audio: bool | None = None
    has_alpha: bool | None = None
    is_animated: bool | None = None
    total_video_streams: int | None = None
    total_audio_streams: int | None = None


class Asset(_Model):
    """What ``create`` returns: the asset as just recorded (``status`` ``processing``)."""

    id: str | None = Field(default=None, alias="_id")
    method: str | None = None
    status: str | None = None
    filename: str | None = None
    file_type: str | None = None
    created_at: dt.datetime | None = None
    user_metadata: dict[str, UserMetadataValue] | None = None
    asset_type: str | None = None  # our addition: video | audio | image, once probed


class AssetDetail(Asset):
    """What ``retrieve`` and ``list`` return: with ``technical_metadata``, ``size`` and
    ``duration`` once ready, ``error`` once failed."""

    technical_metadata: TechnicalMetadata | None = None
    size: int | None = None
    duration: float | None = None
    error: AssetError | None = None


class PageInfo(_Model):
    limit_per_page: int = 10
    page: int = 1
    total_page: int = 1
    total_results: int = 0


class AssetListPage(_Model):
    data: list[AssetDetail] | None = None
    page_info: PageInfo = Field(default_factory=PageInfo)


class AssetsClient:
    def __init__(self, transport: AssetTransport) -> None:
        self._transport = transport

    def create(
        self,
        *,
        method: str = "direct",
        file: FileInput | None = None,
        url: str | None = None,
        filename: str | None = None,
        enable_hls: bool | None = None,
        enable_thumbnail: bool | None = None,
        user_metadata: str | Mapping[str, UserMetadataValue] | None = None,
    ) -> Asset:
        """Uploads ``file`` (a path, bytes or a binary file; ``method="direct"``) or imports
        ``url`` (``method="url"``). The asset comes back ``processing``: poll ``retrieve`` until
        it is ``ready`` (or ``failed``, with ``error.message``). ``user_metadata`` is a JSON
        string, as in the SDK, or a dict; ``enable_hls``/``enable_thumbnail`` are ignored."""
        metadata = json.dumps(dict(user_metadata)) if isinstance(user_metadata, Mapping) else user_metadata
        fields: dict[str, object] = {
            "method": method,
            "url": url,
            "filename": filename,
            "enable_hls": None if enable_hls is None else str(enable_hls).lower(),
            "enable_thumbnail": None if enable_thumbnail is None else str(enable_thumbnail).lower(),
            "user_metadata": metadata,
        }
        return Asset.model_validate(self._transport.create_asset(fields, file))

    def list(
        self,
        *,
        page: int | None = None,
        page_limit: int | None = None,
        asset_ids: str | Sequence[str] | None = None,
        asset_types: str | Sequence[str] | None = None,
        filename: str | None = None,
    ) -> Iterator[AssetDetail]:
        """Every matching asset, newest first, fetched page by page (from ``page``, default 1)."""

        def fetch(number: int) -> tuple[list[AssetDetail], int]:
            query: dict[str, object] = {
                "page": number,
                "page_limit": page_limit,
                "asset_ids": [asset_ids] if isinstance(asset_ids, str) else asset_ids,
                "asset_types": [asset_types] if isinstance(asset_types, str) else asset_types,
                "filename": filename,
            }
            result = AssetListPage.model_validate(self._transport.list_assets(query))
            return result.data or [], result.page_info.total_page

        return pages(fetch, page)

    def retrieve(self, asset_id: str) -> AssetDetail:
        return AssetDetail.model_validate(self._transport.retrieve_asset(asset_id))

    def delete(self, asset_id: str) -> None:
        """Deletes the asset and its file; tasks made from it keep their copy and vectors."""
        self._transport.delete_asset(asset_id)
