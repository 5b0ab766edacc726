"""The store contract (vidembed.stores.base.TaskStore), checked on both stores: SQLite and
PostgreSQL (a database of this run's own, tests/pg.py). The last tests are PostgreSQL's own: rows
another transaction holds are skipped, lease times come from the database clock, migrations."""

from __future__ import annotations

import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import psycopg
import pytest
from builders import make_task
from pg import pg_admin, pg_database, pg_url, temporary_database  # noqa: F401

from vidembed.errors import ConfigurationError
from vidembed.records import TaskRecord
from vidembed.stores.base import WAITING_FOR_ASSET, TaskStore
from vidembed.stores.open import open_store
from vidembed.stores.postgres.migrations import LOCK_KEY, MIGRATIONS
from vidembed.stores.postgres.tasks import PostgresStore
from vidembed.stores.sqlite.tasks import SQLiteStore

GIVE_UP = "The task was attempted 3 times and its worker stopped each time (last seen at stage '{stage}'); giving up."
T0 = 1_750_000_000.0  # creation times of the tasks made here: 2025-06-15, well in the past


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TaskStore]:
    if request.param == "sqlite":
        opened: TaskStore = SQLiteStore(tmp_path / "vidembed.sqlite3")
    else:
        opened = PostgresStore(request.getfixturevalue("pg_url"))
    yield opened
    opened.close()


def vectors(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(384).astype(np.float32) for _ in range(n)]


def test_a_task_reads_back_as_inserted(store: TaskStore) -> None:
    task = make_task(
        "a" * 24,
        created=T0 + 0.123456,
        source_path="/data/media/a/v.mp4",
        input_filename="v.mp4",
        stack="conse-minilm-384",
        api="v2",
        input_type="audio",
        asset_id="asset-1",
        encoders={"visual": "v@1", "text": "t@1"},
    )
    store.insert(task)
    assert store.get("a" * 24) == task
    assert store.get("a" * 24, "alice") == task
    assert store.get("a" * 24, "bob") is None  # another owner's task does not exist for bob
    assert store.get("b" * 24) is None


def test_list_is_per_owner_and_api_newest_first_with_filters_and_pages(store: TaskStore) -> None:
    for i in range(5):
        store.insert(make_task(f"a{i}", created=T0 + i))
    store.insert(make_task("b0", created=T0 + 2.5, owner="bob"))
    store.insert(make_task("v2", created=T0 + 9, api="v2"))
    store.insert(make_task("r0", created=T0 + 10, status="ready"))

    def ids(page: list[TaskRecord]) -> list[str]:
        return [t.id for t in page]

    page, total = store.list("alice", None, None, None, 0, 2)
    assert (ids(page), total) == (["r0", "a4"], 6)
    page, total = store.list("alice", None, None, None, 4, 2)
    assert (ids(page), total) == (["a1", "a0"], 6)
    page, total = store.list("alice", None, None, None, 6, 2)
    assert (page, total) == ([], 6)
    assert ids(store.list("bob", None, None, None, 0, 10)[0]) == ["b0"]
    assert ids(store.list(None, None, None, None, 0, 3)[0]) == ["r0", "a4", "a3"]  # everyone's
    assert store.list(None, None, None, None, 0, 3)[1] == 7
    assert ids(store.list("alice", "ready", None, None, 0, 10)[0]) == ["r0"]
    assert store.list("alice", "processing", None, None, 0, 10)[1] == 5
    assert ids(store.list("alice", None, T0 + 1, T0 + 4, 0, 10)[0]) == ["a3", "a2"]  # both bounds strict
    assert ids(store.list("alice", None, None, None, 0, 10, api="v2")[0]) == ["v2"]
    assert store.list("alice", None, None, None, 0, 10, api="v2-sync") == ([], 0)


def test_list_breaks_ties_in_creation_time_by_id(store: TaskStore) -> None:
    for task_id in ("b", "c", "a", "B"):
        store.insert(make_task(task_id))
    # bytewise, as SQLite compares: upper case before lower case, whatever the database's locale
    assert [t.id for t in store.list("alice", None, None, None, 0, 10)[0]] == ["c", "b", "a", "B"]


def test_count_active_counts_the_owners_processing_tasks(store: TaskStore) -> None:
    store.insert(make_task("p1"))
    store.insert(make_task("p2", api="v2"))
    store.insert(make_task("r1", status="ready"))
    store.insert(make_task("f1", status="failed"))
    store.insert(make_task("q1", owner="bob"))
    assert store.count_active("alice") == 2
    assert store.count_active("bob") == 1
    assert store.count_active("carol") == 0


def test_claim_takes_the_oldest_free_task_and_the_synchronous_route_first(store: TaskStore) -> None:
    store.insert(make_task("newer", created=T0 + 2))
    store.insert(make_task("older", created=T0 + 1))
    store.insert(make_task("done", created=T0, status="ready"))
    first = store.claim("w1", 60, 3)
    assert first is not None and (first.id, first.attempts) == ("older", 1)
    assert store.get("older").attempts == 1  # type: ignore[union-attr]
    store.insert(make_task("sync", created=T0 + 5, api="v2-sync"))
    second = store.claim("w2", 60, 3)
    assert second is not None and second.id == "sync"  # a caller waits on it
    third = store.claim("w3", 60, 3)
    assert third is not None and third.id == "newer"
    assert store.claim("w4", 60, 3) is None  # every lease is held


def test_two_claimers_in_threads_never_get_the_same_task(store: TaskStore) -> None:
    n_tasks, n_claimers = 40, 4
    for i in range(n_tasks):
        store.insert(make_task(f"t{i:02d}", created=T0 + i))
    start = threading.Barrier(n_claimers)

    def claim_all(worker: str) -> list[str]:
        start.wait()
        got = []
        while (task := store.claim(worker, 60, 3)) is not None:
            got.append(task.id)
        return got

    with ThreadPoolExecutor(n_claimers) as pool:
        results = list(pool.map(claim_all, [f"w{n}" for n in range(n_claimers)]))
    claimed = [task_id for got in results for task_id in got]
    assert sorted(claimed) == [f"t{i:02d}" for i in range(n_tasks)]  # each once, none twice
    assert all(got == sorted(got) for got in results)  # each claimer took them oldest first
    assert all(store.get(task_id).attempts == 1 for task_id in claimed)  # type: ignore[union-attr]


def test_an_expired_lease_is_claimed_again_and_its_old_holder_writes_nothing(store: TaskStore) -> None:
    store.insert(make_task("t"))
    assert store.claim("dead", 0.3, 3) is not None
    assert store.claim("other", 60, 3) is None  # the lease holds
    time.sleep(0.4)
    again = store.claim("other", 60, 3)
    assert again is not None and (again.id, again.attempts) == ("t", 2)
    assert store.renew("t", "dead", 60, 0.5, "visual") is False
    assert store.complete("t", "dead", 5.0, [("visual", "clip", 0.0, 5.0, vectors(1)[0])]) is False
    store.release("t", "dead", "not mine")
    after = store.get("t")
    assert after is not None
    assert (after.status, after.progress, after.stage, after.error) == ("processing", 0.0, "queued", None)
    assert store.segments(["t"]) == []
    assert store.claim("third", 60, 3) is None  # still held by "other"


def test_a_task_inserted_leased_is_never_free_for_another_claimer(store: TaskStore) -> None:
    """vidembed batch inserts the task it has the result of with its lease held: between insert
    and complete no worker of a server sharing the store can take it (claim or claim_task)."""
    store.insert_leased(make_task("b"), "batch", 60)
    held = store.get("b")
    assert held is not None and (held.status, held.attempts) == ("processing", 1)
    assert store.claim("server-worker", 60, 3) is None
    assert store.claim_task("b", "server-worker", 60) is False
    assert store.complete("b", "batch", 6.0, [("visual", "clip", 0.0, 6.0, vectors(1)[0])]) is True
    done = store.get("b")
    assert done is not None and (done.status, done.attempts) == ("ready", 1)
    with pytest.raises((sqlite3.IntegrityError, psycopg.errors.UniqueViolation)):  # the id is taken
        store.insert_leased(make_task("b"), "batch-2", 60)
    again = store.get("b")
    assert again is not None and again.status == "ready"


def test_renew_extends_the_lease_and_records_progress(store: TaskStore) -> None:
    store.insert(make_task("t"))
    assert store.claim("w", 0.3, 3) is not None
    assert store.renew("t", "w", 60, 0.25, "visual") is True
    time.sleep(0.4)
    assert store.claim("other", 60, 3) is None  # renewed past the first lease
    task = store.get("t")
    assert task is not None and (task.progress, task.stage) == (0.25, "visual")
    assert store.renew("t", "w", 60) is True  # no progress given: the last one stays
    task = store.get("t")
    assert task is not None and (task.progress, task.stage) == (0.25, "visual")
    assert store.renew("t", "intruder", 60, 0.9, "audio") is False


def test_a_task_claimed_max_attempts_times_ends_failed_and_the_next_is_claimed(store: TaskStore) -> None:
    store.insert(make_task("doomed", created=T0))
    store.insert(make_task("fresh", created=T0 + 1))
    for attempt in range(1, 4):
        claimed = store.claim("w", -1, 3)  # a lease already expired: its worker "died"
        assert claimed is not None and (claimed.id, claimed.attempts) == ("doomed", attempt)
        store.renew("doomed", "w", -1, None, "audio")
    claimed = store.claim("w", 60, 3)
    assert claimed is not None and claimed.id == "fresh"  # in the same call that gave up on doomed
    doomed = store.get("doomed")
    assert doomed is not None
    assert (doomed.status, doomed.error) == ("failed", GIVE_UP.format(stage="audio"))
    assert store.count_active("alice") == 1


def test_release_hands_the_task_back_at_once_with_the_reason(store: TaskStore) -> None:
    store.insert(make_task("t"))
    assert store.claim("w", 60, 3) is not None
    store.release("t", "w", "The engine process died.")
    task = store.get("t")
    assert task is not None and (task.status, task.error) == ("processing", "The engine process died.")
    again = store.claim("w2", 60, 3)
    assert again is not None and again.attempts == 2


def test_give_back_frees_the_lease_at_once_and_does_not_count_the_attempt(store: TaskStore) -> None:
    store.insert(make_task("t"))
    for _ in range(5):  # stopped on purpose more often than max_attempts: never given up on
        claimed = store.claim("w", 60, 3)
        assert claimed is not None and claimed.attempts == 1
        assert not store.give_back("t", "someone else", "interrupted")  # only the holder gives back
        assert store.give_back("t", "w", "interrupted")
        task = store.get("t")
        assert task is not None
        assert (task.status, task.stage, task.attempts, task.error) == ("processing", "interrupted", 0, None)
    store.fail("t", "done with it")
    assert store.claim("w", 60, 3) is None
    assert not store.give_back("t", "w", "interrupted")  # a finished task is not handed back


def test_a_task_waiting_for_its_asset_is_never_claimed_until_started(store: TaskStore) -> None:
    """Embed v2 on an asset still processing: the task waits at its own stage, with no source; a
    worker never claims it; once started (given its source) it is claimed as any other, and
    whoever starts or fails it second changes nothing."""
    waiting = {"api": "v2", "asset_id": "asset-1", "stage": WAITING_FOR_ASSET, "input_filename": "a.mp4"}
    store.insert(make_task("w1", created=T0, **waiting))
    store.insert(make_task("w2", created=T0 + 1, **{**waiting, "asset_id": "asset-2"}))
    store.insert(make_task("w3", created=T0 + 2, **waiting))
    store.insert(make_task("free", created=T0 + 3))
    assert store.count_active("alice") == 4  # waiting tasks count against the per-key limit
    claimed = store.claim("w", 60, 3)
    assert claimed is not None and claimed.id == "free"
    assert store.claim("w", 60, 3) is None  # every other task waits for its asset
    assert [t.id for t in store.waiting_for_asset()] == ["w1", "w2", "w3"]
    assert [t.id for t in store.waiting_for_asset("asset-1")] == ["w1", "w3"]
    assert store.waiting_for_asset("asset-9") == []
    assert store.start_waiting("w1", "/media/w1/asset", "clip.mp4")
    assert not store.start_waiting("w1", "/media/w1/other", None)  # already started
    assert not store.fail_waiting("w1", "too late")
    started = store.get("w1")
    assert started is not None
    assert (started.status, started.stage, started.source_path, started.input_filename, started.attempts) == (
        "processing",
        "queued",
        "/media/w1/asset",
        "clip.mp4",
        0,
    )
    again = store.claim("w", 60, 3)
    assert again is not None and (again.id, again.source_path, again.attempts) == ("w1", "/media/w1/asset", 1)
    assert store.fail_waiting("w2", "The asset asset-2 failed to process: not a video.")
    assert not store.start_waiting("w2", "/media/w2/asset", None)  # failed: never started after
    failed = store.get("w2")
    assert failed is not None and (failed.status, failed.stage, failed.error, failed.source_path) == (
        "failed",
        "failed",
        "The asset asset-2 failed to process: not a video.",
        None,
    )
    assert not store.fail_waiting("free", "not waiting")  # a task past waiting is left alone
    assert [t.id for t in store.waiting_for_asset()] == ["w3"]
    assert store.claim("w", 60, 3) is None


def test_lease_holder_names_the_worker_of_a_live_lease_only(store: TaskStore) -> None:
    store.insert(make_task("t"))
    assert store.lease_holder("t") is None  # not claimed
    assert store.claim("host:123:0", 60, 3) is not None
    assert store.lease_holder("t") == "host:123:0"
    assert store.lease_holder("absent") is None
    store.renew("t", "host:123:0", -1)  # expired: free for any claimer, no holder
    assert store.lease_holder("t") is None
    assert store.claim("w", 60, 3) is not None
    store.fail("t", "over")
    assert store.lease_holder("t") is None


def test_complete_writes_segments_and_ready_together_and_vectors_read_back_bit_identical(
    store: TaskStore,
) -> None:
    store.insert(make_task("t"))
    store.insert(make_task("u", created=T0 + 1))
    assert store.claim("w", 60, 3) is not None
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, 3.4028235e38, 1 / 3], np.float32)
    clip_vectors = [*vectors(3), np.resize(special, 384).astype(np.float32)]
    rows = [("visual", "clip", 0.1 * i, 0.1 * i + 6.000001, v) for i, v in enumerate(clip_vectors)]
    rows.append(("audio", "video", 0.0, 24.000001, vectors(1, seed=1)[0]))
    encoders = {"visual": "visual@1", "audio": "audio@1", "text": "text@1"}
    assert store.complete("t", "w", 24.5, rows, encoders) is True
    task = store.get("t")
    assert task is not None
    assert (task.status, task.duration, task.progress, task.stage) == ("ready", 24.5, 1.0, "done")
    assert task.encoders == encoders
    stored = store.segments(["t"])
    assert [(s.task_id, s.option, s.scope, s.start, s.end) for s in stored] == [
        ("t", o, s, a, b) for o, s, a, b, _ in rows
    ]
    assert [s.vector.tobytes() for s in stored] == [v.tobytes() for *_, v in rows]
    assert all(s.vector.dtype == np.float32 for s in stored)
    assert [s.option for s in store.segments(["t", "u"], ["audio"])] == ["audio"]
    assert store.segments([]) == []
    assert store.complete("t", "w", 1.0, rows[:1]) is False  # ready already: nothing rewritten
    assert len(store.segments(["t"])) == 5


def test_a_complete_that_breaks_midway_leaves_the_task_processing_with_no_segments(store: TaskStore) -> None:
    store.insert(make_task("t"))
    assert store.claim("w", 60, 3) is not None
    broken = np.array(["not", "a", "vector"])  # cannot become float32: the write fails after the update
    rows = [("visual", "clip", 0.0, 6.0, vectors(1)[0]), ("visual", "clip", 6.0, 12.0, broken)]
    with pytest.raises(ValueError):
        store.complete("t", "w", 12.0, rows)
    task = store.get("t")
    assert task is not None and (task.status, task.stage, task.duration) == ("processing", "queued", None)
    assert store.segments(["t"]) == []
    assert store.renew("t", "w", 60) is True  # the lease was not touched either


def test_fail_ends_a_processing_task_only(store: TaskStore) -> None:
    store.insert(make_task("t"))
    store.insert(make_task("r", status="ready"))
    assert store.claim("w", 60, 3) is not None
    store.fail("t", "The file is empty (0 bytes).", duration=0.0)
    store.fail("r", "too late")
    task = store.get("t")
    assert task is not None
    assert (task.status, task.error, task.stage, task.duration) == (
        "failed",
        "The file is empty (0 bytes).",
        "failed",
        0.0,
    )
    assert store.renew("t", "w", 60) is False  # the lease went with it
    ready = store.get("r")
    assert ready is not None and (ready.status, ready.error) == ("ready", None)


def test_delete_removes_the_task_and_its_vectors_only(store: TaskStore) -> None:
    for task_id in ("t", "u"):
        store.insert(make_task(task_id))
        assert store.claim("w", 60, 3) is not None
        assert store.complete(task_id, "w", 6.0, [("visual", "clip", 0.0, 6.0, vectors(1)[0])])
    store.delete("t")
    assert store.get("t") is None and store.segments(["t"]) == []
    assert store.get("u") is not None and len(store.segments(["u"])) == 1


def test_ready_tasks_are_the_searchable_ones_oldest_first(store: TaskStore) -> None:
    store.insert(make_task("new", created=T0 + 3, status="ready"))
    store.insert(make_task("old", created=T0 + 1, status="ready", api="v2"))
    store.insert(make_task("sync", created=T0 + 2, status="ready", api="v2-sync"))
    store.insert(make_task("busy", created=T0, status="processing"))
    store.insert(make_task("bobs", created=T0, status="ready", owner="bob"))
    assert [t.id for t in store.ready_tasks("alice")] == ["old", "new"]
    assert [t.id for t in store.ready_tasks(None)] == ["bobs", "old", "new"]


def test_update_source_records_the_downloaded_file(store: TaskStore) -> None:
    store.insert(make_task("t", input_url="https://example.com/v.mp4"))
    store.update_source("t", "/data/media/t/download")
    task = store.get("t")
    assert task is not None and (task.source_path, task.input_url) == (
        "/data/media/t/download",
        "https://example.com/v.mp4",
    )


# --- open_store ----------------------------------------------------------------------------


def test_open_store_picks_the_store_by_url(tmp_path: Path, pg_url: str) -> None:  # noqa: F811
    default = open_store(None, tmp_path / "a" / "vidembed.sqlite3")
    assert isinstance(default, SQLiteStore) and (tmp_path / "a" / "vidembed.sqlite3").exists()
    default.close()
    named = open_store(f"sqlite:///{tmp_path}/b.sqlite3", tmp_path / "unused.sqlite3")
    assert isinstance(named, SQLiteStore) and (tmp_path / "b.sqlite3").exists()
    named.close()
    postgres = open_store(pg_url, tmp_path / "unused.sqlite3")
    assert isinstance(postgres, PostgresStore)
    postgres.close()
    assert not (tmp_path / "unused.sqlite3").exists()


def test_open_store_names_what_is_wrong_with_a_url(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigurationError, match=r"must start with postgresql:// or sqlite:///, not 'mysql://u:\*\*\*@h/d'"
    ):
        open_store("mysql://u:secret@h/d", tmp_path / "x")
    with pytest.raises(ConfigurationError, match="Use sqlite:///PATH"):
        open_store("sqlite://relative.db", tmp_path / "x")
    # port 1 on loopback: refused at once; the password is not shown
    with pytest.raises(ConfigurationError) as info:
        PostgresStore("postgresql://u:secret@127.0.0.1:1/d", connect_timeout=2)
    assert str(info.value).startswith("Cannot use the PostgreSQL database postgresql://u:***@127.0.0.1:1/d: ")
    assert "secret" not in str(info.value)


# --- PostgreSQL only -----------------------------------------------------------------------


def test_postgres_claim_skips_a_row_another_transaction_holds(pg_url: str) -> None:  # noqa: F811
    store = PostgresStore(pg_url)
    try:
        store.insert(make_task("held", created=T0))
        store.insert(make_task("free", created=T0 + 1))
        with ThreadPoolExecutor(1) as claimer, psycopg.connect(pg_url) as other:
            # e.g. a claimer on another machine, mid-transaction (closed before the claimer is joined)
            other.execute("SELECT id FROM tasks WHERE id = 'held' FOR UPDATE")
            # a claim that waited for the row would wait for ever: this transaction ends only
            # when the with block does, and the timeout below ends it
            claimed = claimer.submit(store.claim, "w", 60, 3).result(timeout=5)
        assert claimed is not None and claimed.id == "free"  # skipped, not waited for
        after = store.claim("w", 60, 3)  # the other transaction has ended: the row is free again
        assert after is not None and after.id == "held"
    finally:
        store.close()


def test_postgres_lease_times_come_from_the_database_clock(pg_url: str) -> None:  # noqa: F811
    store = PostgresStore(pg_url)
    try:
        # created by a server whose clock is a day behind: the lease still counts from the database's now
        store.insert(make_task("t", created=time.time() - 86400))
        assert store.claim("w", 60, 3) is not None
        with psycopg.connect(pg_url) as conn:
            row = conn.execute(
                "SELECT extract(epoch FROM lease_until - now()), extract(epoch FROM now() - updated_at) "
                "FROM tasks WHERE id = 't'"
            ).fetchone()
        assert row is not None
        remaining, since_update = float(row[0]), float(row[1])
        assert 58 < remaining <= 60
        assert 0 <= since_update < 2
    finally:
        store.close()


def test_postgres_migrations_run_once_and_a_newer_schema_is_refused(pg_admin: str) -> None:  # noqa: F811
    with temporary_database(pg_admin) as url:
        # several servers starting at once against an empty database: the advisory lock orders them
        with ThreadPoolExecutor(3) as pool:
            stores = list(pool.map(lambda _: PostgresStore(url), range(3)))
        for opened in stores:
            opened.close()
        with psycopg.connect(url) as conn:
            recorded = conn.execute(
                "SELECT version, name FROM vidembed_migrations ORDER BY version"
            ).fetchall()
            assert recorded == [(m.version, m.name) for m in MIGRATIONS]
            indexes = {
                r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'tasks'")
            }
            assert {"tasks_by_owner", "tasks_by_api", "tasks_processing"} <= indexes
            conn.execute("INSERT INTO vidembed_migrations (version, name) VALUES (999, 'from the future')")
        with pytest.raises(
            ConfigurationError, match="has schema version 999, newer than this vidembed knows"
        ):
            PostgresStore(url)
        assert LOCK_KEY.bit_length() < 64  # fits pg_advisory_xact_lock's bigint


def test_an_index_generation_goes_up_with_every_change_to_its_ready_videos(store: TaskStore) -> None:
    """Search caches an index's videos by this counter: it must move with a video becoming ready,
    its user metadata set, and its deletion, and with nothing of another index or an embed task."""
    index_id = secrets.token_hex(12)
    assert store.index_generation(index_id) == 0
    store.insert(make_task("a" * 24, api="index", index_id=index_id))
    store.insert(make_task("b" * 24))  # an embed task
    assert store.index_generation(index_id) == 0  # not ready yet: search does not see it
    for task_id in ("a" * 24, "b" * 24):
        assert store.claim_task(task_id, "w", 60)
        assert store.complete(task_id, "w", 6.0, [("visual", "clip", 0.0, 6.0, np.ones(4, np.float32) / 2)])
    assert store.index_generation(index_id) == 1
    assert store.set_user_metadata("a" * 24, {"category": "news"})
    assert store.index_generation(index_id) == 2
    store.delete("b" * 24)
    assert store.index_generation(index_id) == 2
    store.delete("a" * 24)
    assert store.index_generation(index_id) == 3


def test_index_totals_count_and_sum_the_ready_videos_only(store: TaskStore) -> None:
    """``GET /indexes``' video_count and total_duration, in one query per index."""
    index_id, other = secrets.token_hex(12), secrets.token_hex(12)
    assert store.index_totals(index_id) == (0, 0.0)
    for task_id, index, duration in (
        ("c" * 24, index_id, 6.0),
        ("d" * 24, index_id, 12.5),
        ("e" * 24, other, 3.0),
    ):
        store.insert(make_task(task_id, api="index", index_id=index))
        assert store.claim_task(task_id, "w", 60)
        assert store.complete(
            task_id, "w", duration, [("visual", "clip", 0.0, 6.0, np.ones(4, np.float32) / 2)]
        )
    store.insert(make_task("f" * 24, api="index", index_id=index_id))  # queued: not counted
    assert store.index_totals(index_id) == (2, 18.5)
    assert store.index_totals(other) == (1, 3.0)
    store.delete("c" * 24)
    assert store.index_totals(index_id) == (1, 12.5)
