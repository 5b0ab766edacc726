"""TwelveLabs' assets API over the core (``client.assets``; docs/CONTRACT.md §5.1, docs/ASSETS.md):
raw parameters checked by ``rules.py``, the work done by ``AssetCore``, JSON by ``wire.py``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from vidembed.api.assets.rules import parse_asset_create, parse_asset_query
from vidembed.api.assets.wire import asset_body, asset_list
from vidembed.config import Settings
from vidembed.records import FileInput, JsonObject
from vidembed.service.assets import AssetCore, AssetMedia
from vidembed.stores.base import AssetStore


class AssetService:
    """The assets surface; the core's store and media hand-over are readable here too."""

    def __init__(self, core: AssetCore) -> None:
        self.core = core

    @property
    def settings(self) -> Settings:
        return self.core.settings

    @property
    def store(self) -> AssetStore:
        return self.core.store

    def close(self) -> None:
        self.core.close()

    def create(
        self,
        *,
        owner: str = "",
        method: str | None,
        file: FileInput | None = None,
        url: str | None = None,
        filename: str | None = None,
        user_metadata: str | Mapping[str, object] | None = None,
        enable_hls: object = None,
        enable_thumbnail: object = None,
    ) -> JsonObject:
        """The new asset, ``processing``. ``enable_hls`` and ``enable_thumbnail`` are accepted
        and ignored (no HLS or thumbnails are made)."""
        request = parse_asset_create(
            method=method, file=file, url=url, filename=filename, user_metadata=user_metadata
        )
        return asset_body(self.core.create(owner, request))

    def retrieve(self, asset_id: str, owner: str | None = None) -> JsonObject:
        """The asset in any state (``owner`` None: any owner's, for the embedded client)."""
        return asset_body(self.core.get(asset_id, owner))

    def list(
        self,
        owner: str | None = None,
        *,
        page: str | int | None = None,
        page_limit: str | int | None = None,
        asset_ids: str | Sequence[str] | None = None,
        asset_types: str | Sequence[str] | None = None,
        filename: str | None = None,
    ) -> JsonObject:
        """One page, newest first; a page past the end has ``data: []`` (the SDK's pager stops
        on it). Paging rules as ``GET /embed/tasks``."""
        query = parse_asset_query(page, page_limit, asset_ids, asset_types, filename)
        records, total = self.core.list(owner, query)
        return asset_list(records, query.page, query.limit, total)

    def delete(self, asset_id: str, owner: str | None = None) -> None:
        self.core.delete(asset_id, owner)

    def media(self, asset_id: str, owner: str | None, target: Path) -> AssetMedia:
        return self.core.media(asset_id, owner, target)

    def copy_to(self, asset_id: str, owner: str | None, key: str) -> AssetMedia:
        return self.core.copy_to(asset_id, owner, key)
