"""The asset store contract (vidembed.stores.sqlite.assets.AssetStore), checked on both stores: SQLite
and PostgreSQL (a database of this run's own, tests/pg.py). The last tests are PostgreSQL's own:
rows another transaction holds are skipped, lease times come from the database clock."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
from builders import make_asset
from pg import pg_admin, pg_database, pg_url  # noqa: F401

from vidembed.records import Probed
from vidembed.stores.base import AssetStore, giving_up
from vidembed.stores.open import open_asset_store
from vidembed.stores.postgres.assets import PostgresAssetStore
from vidembed.stores.sqlite.assets import SQLiteAssetStore

T0 = 1_750_000_000.0  # creation times of the assets made here: 2025-06-15, well in the past
PROBED = Probed(
    asset_type="video",
    file_type="video/mp4",
    technical_metadata={"file_size_bytes": 1234, "video_width": 320, "duration_seconds": 2.0},
    size=1234,
    duration=2.0,
)


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AssetStore]:
    if request.param == "sqlite":
        opened: AssetStore = SQLiteAssetStore(tmp_path / "vidembed.sqlite3")
    else:
        opened = PostgresAssetStore(request.getfixturevalue("pg_url"))
    yield opened
    opened.close()


def test_an_asset_reads_back_as_inserted_and_only_for_its_owner(store: AssetStore) -> None:
    asset = make_asset(
        "a" * 24,
        created=T0 + 0.123456,
        method="url",
        path=None,
        size=None,
        source_url="https://example.com/v.mp4",
        # the user's key order comes back as given (not sorted, as jsonb would)
        user_metadata={"zeta": "last", "alpha": ["a", "b"], "n": 1.5, "flag": True, "none": None},
    )
    store.insert(asset)
    got = store.get("a" * 24)
    assert got == asset
    assert got is not None and list(got.user_metadata or {}) == ["zeta", "alpha", "n", "flag", "none"]
    assert store.get("a" * 24, "alice") == asset
    assert store.get("a" * 24, "bob") is None  # another owner's asset does not exist for bob
    assert store.get("b" * 24) is None


def test_list_is_per_owner_newest_first_with_filters_and_pages(store: AssetStore) -> None:
    store.insert(make_asset("a0", created=T0, filename="Holiday_100%.MP4"))
    store.insert(make_asset("a1", created=T0 + 1, filename="song.mp3", asset_type="audio"))
    store.insert(make_asset("a2", created=T0 + 2, filename="holidayX100Y.mp4", asset_type="video"))
    store.insert(make_asset("a3", created=T0 + 3, filename="cat.png", asset_type="image"))
    store.insert(make_asset("b0", created=T0 + 1.5, owner="bob", filename="holiday.mp4"))

    def ids(owner: str | None, **filters: object) -> tuple[list[str], int]:
        page: dict[str, object] = {"asset_ids": [], "asset_types": [], "filename": None, "offset": 0}
        page.update(filters)
        found, total = store.list(owner, limit=int(page.pop("limit", 10)), **page)  # type: ignore[arg-type]
        return [a.id for a in found], total

    assert ids("alice") == (["a3", "a2", "a1", "a0"], 4)
    assert ids("bob") == (["b0"], 1)
    assert ids(None) == (["a3", "a2", "b0", "a1", "a0"], 5)  # everyone's (the embedded client)
    assert ids("alice", offset=1, limit=2) == (["a2", "a1"], 4)
    assert ids("alice", offset=4, limit=2) == ([], 4)  # past the end: empty, the total still told
    assert ids("alice", asset_ids=["a0", "a3", "b0"]) == (["a3", "a0"], 2)  # bob's id stays his
    assert ids("alice", asset_types=["audio", "image"]) == (["a3", "a1"], 2)
    assert ids("alice", asset_types=["document"]) == ([], 0)
    assert ids("alice", filename="HOLIDAY") == (["a2", "a0"], 2)  # a part of the name, any case
    assert ids("alice", filename="_100%") == (["a0"], 1)  # % and _ are characters, not wildcards
    assert ids("alice", filename="holiday", asset_types=["video"], offset=0, limit=1) == (["a2"], 1)


def test_list_breaks_ties_in_creation_time_by_id(store: AssetStore) -> None:
    for asset_id in ("m", "z", "a"):
        store.insert(make_asset(asset_id, created=T0))
    found, total = store.list("alice", [], [], None, 0, 10)
    assert ([a.id for a in found], total) == (["z", "m", "a"], 3)


def test_delete_returns_the_record_and_keeps_other_owners_assets(store: AssetStore) -> None:
    store.insert(make_asset("a", user_metadata={"k": "v"}))
    assert store.delete("a", "bob") is None  # not bob's
    deleted = store.delete("a", "alice")
    assert deleted is not None and (deleted.id, deleted.user_metadata) == ("a", {"k": "v"})
    assert store.get("a") is None and store.delete("a") is None


def test_claim_takes_the_oldest_free_asset_and_counts_attempts(store: AssetStore) -> None:
    store.insert(make_asset("new", created=T0 + 2))
    store.insert(make_asset("old", created=T0))
    store.insert(make_asset("done", created=T0 - 1, status="ready"))
    first = store.claim("w1", 60, 3)
    assert first is not None and (first.id, first.attempts, first.status) == ("old", 1, "processing")
    second = store.claim("w2", 60, 3)
    assert second is not None and (second.id, second.attempts) == ("new", 1)
    assert store.claim("w3", 60, 3) is None  # both held, the ready one is not work


def test_claimers_in_threads_never_get_the_same_asset(store: AssetStore) -> None:
    for i in range(30):
        store.insert(make_asset(f"a{i:02d}", created=T0 + i))

    def drain(worker: str) -> list[str]:
        taken = []
        while (asset := store.claim(worker, 60, 3)) is not None:
            taken.append(asset.id)
            assert store.complete(asset.id, worker, PROBED)
        return taken

    with ThreadPoolExecutor(4) as pool:
        runs = list(pool.map(drain, [f"w{n}" for n in range(4)]))
    claimed = [asset_id for run in runs for asset_id in run]
    assert sorted(claimed) == [f"a{i:02d}" for i in range(30)]  # each once
    ready, total = store.list("alice", [], ["video"], None, 0, 100)
    assert total == 30 and {a.status for a in ready} == {"ready"}


def test_an_expired_lease_is_claimed_again_and_its_old_holder_writes_nothing(store: AssetStore) -> None:
    store.insert(make_asset("a"))
    assert store.claim("dead", 0.2, 3) is not None
    assert store.claim("other", 60, 3) is None  # still leased
    time.sleep(0.4)
    again = store.claim("other", 60, 3)
    assert again is not None and (again.id, again.attempts) == ("a", 2)
    # the old holder lost its lease: none of its writes lands
    assert not store.renew("a", "dead", 60)
    assert not store.set_path("a", "dead", "/elsewhere")
    assert not store.complete("a", "dead", PROBED)
    assert not store.fail("a", "dead", "too late")
    store.release("a", "dead")
    kept = store.get("a")
    assert kept is not None and (kept.status, kept.path, kept.error) == (
        "processing",
        "/data/media/assets/a/clip.mp4",
        None,
    )
    assert store.claim("third", 60, 3) is None  # the release by a non-holder freed nothing


def test_renew_keeps_the_asset_from_being_claimed(store: AssetStore) -> None:
    store.insert(make_asset("a"))
    assert store.claim("w", 0.3, 3) is not None
    for _ in range(3):
        time.sleep(0.15)
        assert store.renew("a", "w", 0.3)
        assert store.claim("other", 60, 3) is None


def test_an_asset_claimed_max_attempts_times_ends_failed_and_the_next_is_claimed(store: AssetStore) -> None:
    store.insert(make_asset("tired", created=T0, attempts=3))
    store.insert(make_asset("fresh", created=T0 + 1))
    claimed = store.claim("w", 60, 3)
    assert claimed is not None and claimed.id == "fresh"
    tired = store.get("tired")
    assert tired is not None and (tired.status, tired.error) == ("failed", giving_up(3))
    assert tired.error == (
        "Processing the file was interrupted 3 times (the server stopped each time); giving up. "
        "Create the asset again."
    )


def test_release_hands_the_asset_back_at_once(store: AssetStore) -> None:
    store.insert(make_asset("a"))
    assert store.claim("w", 60, 3) is not None
    store.release("a", "w")
    again = store.claim("next", 60, 3)
    assert again is not None and (again.id, again.attempts) == ("a", 2)  # attempts are kept


def test_a_url_import_records_its_path_then_completes_with_what_probing_found(store: AssetStore) -> None:
    store.insert(make_asset("u", method="url", path=None, size=None, source_url="https://example.com/v"))
    assert store.claim("w", 60, 3) is not None
    assert store.set_path("u", "w", "/data/media/assets/u/v")
    assert store.complete("u", "w", PROBED)
    done = store.get("u")
    assert done is not None
    assert (done.status, done.path, done.asset_type, done.file_type, done.size, done.duration) == (
        "ready",
        "/data/media/assets/u/v",
        "video",
        "video/mp4",
        1234,
        2.0,
    )
    assert done.technical_metadata == PROBED.technical_metadata
    assert list(done.technical_metadata or {}) == ["file_size_bytes", "video_width", "duration_seconds"]
    assert done.updated_at >= done.created_at
    assert not store.complete("u", "w", PROBED)  # no longer processing: the lease is gone
    assert store.claim("w", 60, 3) is None


def test_fail_records_the_reason_for_the_holder_only(store: AssetStore) -> None:
    store.insert(make_asset("a"))
    assert store.claim("w", 60, 3) is not None
    assert not store.fail("a", "someone-else", "no")
    assert store.fail("a", "w", "The file is empty (0 bytes). Upload the file again as a new asset.")
    failed = store.get("a")
    assert failed is not None and (failed.status, failed.error) == (
        "failed",
        "The file is empty (0 bytes). Upload the file again as a new asset.",
    )
    assert not store.renew("a", "w", 60)


def test_a_deleted_assets_worker_writes_nothing(store: AssetStore) -> None:
    store.insert(make_asset("a"))
    assert store.claim("w", 60, 3) is not None
    assert store.delete("a") is not None
    assert not store.renew("a", "w", 60)
    assert not store.complete("a", "w", PROBED)
    assert store.get("a") is None


# --- open_asset_store ----------------------------------------------------------------------


def test_open_asset_store_reads_the_database_url_as_the_task_store_does(
    tmp_path: Path,
    pg_url: str,  # noqa: F811
) -> None:
    default = open_asset_store(None, tmp_path / "a" / "vidembed.sqlite3")
    assert isinstance(default, SQLiteAssetStore) and (tmp_path / "a" / "vidembed.sqlite3").exists()
    default.close()
    named = open_asset_store(f"sqlite:///{tmp_path}/b.sqlite3", tmp_path / "unused.sqlite3")
    assert isinstance(named, SQLiteAssetStore) and (tmp_path / "b.sqlite3").exists()
    named.close()
    postgres = open_asset_store(pg_url, tmp_path / "unused.sqlite3")
    assert isinstance(postgres, PostgresAssetStore) and isinstance(postgres, AssetStore)
    postgres.close()
    assert not (tmp_path / "unused.sqlite3").exists()


# --- PostgreSQL only -----------------------------------------------------------------------


def test_postgres_claim_skips_an_asset_another_transaction_holds(pg_url: str) -> None:  # noqa: F811
    store = PostgresAssetStore(pg_url)
    try:
        store.insert(make_asset("held", created=T0))
        store.insert(make_asset("free", created=T0 + 1))
        with ThreadPoolExecutor(1) as claimer, psycopg.connect(pg_url) as other:
            # a claimer of another server, mid-transaction: a claim that waited would wait for ever
            other.execute("SELECT id FROM assets WHERE id = 'held' FOR UPDATE")
            claimed = claimer.submit(store.claim, "w", 60, 3).result(timeout=5)
        assert claimed is not None and claimed.id == "free"  # skipped, not waited for
        after = store.claim("w", 60, 3)
        assert after is not None and after.id == "held"
    finally:
        store.close()


def test_postgres_asset_lease_times_come_from_the_database_clock(pg_url: str) -> None:  # noqa: F811
    store = PostgresAssetStore(pg_url)
    try:
        # created by a server whose clock is a day behind: the lease still counts from the database's now
        store.insert(make_asset("a", created=time.time() - 86400))
        assert store.claim("w", 60, 3) is not None
        with psycopg.connect(pg_url) as conn:
            row = conn.execute(
                "SELECT extract(epoch FROM lease_until - now()), extract(epoch FROM now() - updated_at) "
                "FROM assets WHERE id = 'a'"
            ).fetchone()
        assert row is not None
        remaining, since_update = float(row[0]), float(row[1])
        assert 58 < remaining <= 60
        assert 0 <= since_update < 2
    finally:
        store.close()
