"""IndexCore: search indexes as records (the core of TwelveLabs' ``client.indexes``; the request
rules and JSON are in ``vidembed.api.indexes``).

An index is a named collection of videos embedded by one stack with some of its options; its
model name resolves to a stack as an embed task's does (``marengo3.0`` is the default stack's
alias). Names are unique per owner, enforced by the store so that servers sharing a database
agree. This is the first step of the Search API (docs/SEARCH-API.md): videos, index tasks and
search come next, on the same records.
"""

from __future__ import annotations

import builtins  # builtins.list: in IndexCore, list names the method
import secrets
import time
from dataclasses import dataclass

from vidembed import errors
from vidembed.models.catalog import StackCatalog
from vidembed.records import IndexListing, IndexRecord
from vidembed.stores.base import IndexStore, page_offset


@dataclass(frozen=True)
class IndexRequest:
    """A new index as the request rules accepted it."""

    name: str
    model_name: str
    options: tuple[str, ...]
    addons: tuple[str, ...] = ()


def new_index_id() -> str:
    return secrets.token_hex(12)  # 24 hex characters, as task and asset ids


class IndexCore:
    def __init__(self, store: IndexStore, catalog: StackCatalog) -> None:
        self.store = store
        self.catalog = catalog

    def close(self) -> None:
        self.store.close()

    def create(self, owner: str, request: IndexRequest) -> IndexRecord:
        now = time.time()
        index = IndexRecord(
            id=new_index_id(),
            owner=owner,
            name=request.name,
            model_name=request.model_name,
            stack=self.catalog.resolve(request.model_name),
            options=list(request.options),
            addons=list(request.addons),
            created_at=now,
            updated_at=now,
        )
        if not self.store.insert(index):
            raise errors.index_name_taken(request.name)
        return index

    def get(self, index_id: str, owner: str | None) -> IndexRecord:
        index = self.store.get(index_id, owner)
        if index is None:
            raise errors.index_not_found(index_id)
        return index

    def list(
        self, owner: str | None, listing: IndexListing, page: int, limit: int
    ) -> tuple[builtins.list[IndexRecord], int]:
        return self.store.list(owner, listing, page_offset(page, limit), limit)

    def rename(self, index_id: str, owner: str | None, name: str) -> None:
        outcome = self.store.rename(index_id, owner, name, time.time())
        if outcome == "missing":
            raise errors.index_not_found(index_id)
        if outcome == "taken":
            raise errors.index_name_taken(name)

    def delete(self, index_id: str, owner: str | None) -> None:
        if not self.store.delete(index_id, owner):
            raise errors.index_not_found(index_id)
