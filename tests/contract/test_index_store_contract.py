"""The index store contract (vidembed.stores.base.IndexStore), checked on both stores: SQLite and
PostgreSQL (a database of this run's own, tests/pg.py): names unique per owner, owners apart, the
listing's filters and orders, renames and deletes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from pg import pg_admin, pg_database, pg_url  # noqa: F401

from vidembed.records import IndexListing, IndexRecord
from vidembed.stores.base import IndexStore
from vidembed.stores.postgres.indexes import PostgresIndexStore
from vidembed.stores.sqlite.indexes import SQLiteIndexStore

T0 = 1_750_000_000.0


def make_index(index_id: str, name: str, created: float = T0, **fields: object) -> IndexRecord:
    base = IndexRecord(
        id=index_id,
        owner="alice",
        name=name,
        model_name="marengo3.0",
        stack="conse-minilm-384",
        options=["visual", "audio"],
        addons=[],
        created_at=created,
        updated_at=created,
    )
    return replace(base, **fields)  # type: ignore[arg-type]


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[IndexStore]:
    if request.param == "sqlite":
        opened: IndexStore = SQLiteIndexStore(tmp_path / "vidembed.sqlite3")
    else:
        opened = PostgresIndexStore(request.getfixturevalue("pg_url"))
    yield opened
    opened.close()


def test_an_index_reads_back_as_inserted_and_only_for_its_owner(store: IndexStore) -> None:
    index = make_index("a" * 24, "news", addons=["thumbnail"], options=["visual"])
    assert store.insert(index)
    assert store.get(index.id) == index
    assert store.get(index.id, "alice") == index
    assert store.get(index.id, "bob") is None


def test_names_are_unique_per_owner(store: IndexStore) -> None:
    assert store.insert(make_index("a" * 24, "news"))
    assert not store.insert(make_index("b" * 24, "news"))
    assert store.get("b" * 24) is None
    assert store.insert(make_index("c" * 24, "news", owner="bob"))  # another owner may
    assert store.insert(make_index("d" * 24, "sports"))
    assert store.rename("d" * 24, "alice", "news", T0 + 5) == "taken"
    assert store.rename("d" * 24, "alice", "archive", T0 + 5) == "renamed"
    renamed = store.get("d" * 24)
    assert renamed is not None and renamed.name == "archive" and renamed.updated_at == T0 + 5
    assert store.rename("d" * 24, "bob", "x", T0 + 6) == "missing"
    assert store.rename("e" * 24, None, "x", T0 + 6) == "missing"


def test_the_listing_filters_orders_and_pages(store: IndexStore) -> None:
    store.insert(make_index("a" * 24, "one", created=T0 + 1, options=["visual"]))
    store.insert(make_index("b" * 24, "two", created=T0 + 2, options=["visual", "audio"]))
    store.insert(make_index("c" * 24, "three", created=T0 + 3, options=["audio"]))
    store.insert(make_index("d" * 24, "other", created=T0 + 4, owner="bob"))
    store.rename("a" * 24, "alice", "one", T0 + 10)  # the oldest, updated last

    def ids(
        listing: IndexListing, offset: int = 0, limit: int = 10, owner: str | None = "alice"
    ) -> tuple[list[str], int]:
        found, total = store.list(owner, listing, offset, limit)
        return [i.id[0] for i in found], total

    assert ids(IndexListing()) == (["c", "b", "a"], 3)
    assert ids(IndexListing(descending=False)) == (["a", "b", "c"], 3)
    assert ids(IndexListing(sort_by="updated_at")) == (["a", "c", "b"], 3)
    assert ids(IndexListing(), offset=1, limit=1) == (["b"], 3)
    assert ids(IndexListing(), offset=9, limit=5) == ([], 3)
    assert ids(IndexListing(name="two")) == (["b"], 1)
    assert ids(IndexListing(options=("visual",))) == (["b", "a"], 2)
    assert ids(IndexListing(options=("visual", "audio"))) == (["b"], 1)
    assert ids(IndexListing(created_from=T0 + 2)) == (["c", "b"], 2)
    assert ids(IndexListing(updated_from=T0 + 5)) == (["a"], 1)
    assert ids(IndexListing(), owner=None)[1] == 4


def test_a_deleted_index_is_gone_for_its_owner_only(store: IndexStore) -> None:
    store.insert(make_index("a" * 24, "news"))
    assert not store.delete("a" * 24, "bob")
    assert store.delete("a" * 24, "alice")
    assert store.get("a" * 24) is None
    assert not store.delete("a" * 24)
    assert store.insert(make_index("b" * 24, "news"))  # the name is free again
