"""TwelveLabs' indexes API over the core (``client.indexes``; docs/SEARCH-API.md): raw parameters
checked by ``rules.py``, the work done by ``IndexCore``, JSON by ``wire.py``.

``video_count`` and ``total_duration`` are 0 until index tasks land (the next step)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vidembed.api.indexes.rules import parse_index_create, parse_index_list, parse_index_update
from vidembed.api.indexes.wire import index_body, index_list
from vidembed.service.indexes import IndexCore


class IndexService:
    def __init__(self, core: IndexCore) -> None:
        self.core = core

    def close(self) -> None:
        self.core.close()

    def create(self, body: object, owner: str = "") -> dict[str, Any]:
        request = parse_index_create(body, self.core.catalog.known_names())
        return {"_id": self.core.create(owner, request).id}

    def list(self, query: Mapping[str, str], owner: str | None = None) -> dict[str, Any]:
        listing, page, limit, possible = parse_index_list(query)
        indexes, total = self.core.list(owner, listing, page, limit) if possible else ([], 0)
        return index_list(indexes, page, limit, total)

    def retrieve(self, index_id: str, owner: str | None = None) -> dict[str, Any]:
        return index_body(self.core.get(index_id, owner))

    def update(self, index_id: str, body: object, owner: str | None = None) -> None:
        self.core.rename(index_id, owner, parse_index_update(body))

    def delete(self, index_id: str, owner: str | None = None) -> None:
        self.core.delete(index_id, owner)
