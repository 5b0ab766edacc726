"""The webhook outbox of the task stores (vidembed/stores/outbox.py), on SQLite and PostgreSQL: an
event written in the transaction that ends a task, for every way a task ends; deliveries leased
as tasks are, so that two deliverers on one database send each event once; retries with the same
body; a lease that runs out; abandoning; a URL watched late; pruning after 7 days."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import psycopg
import pytest
from builders import make_task
from pg import pg_admin, pg_database, pg_url  # noqa: F401

from vidembed.stores.base import WAITING_FOR_ASSET, TaskStore
from vidembed.stores.outbox import EVENT_RETENTION_SECONDS, index_options
from vidembed.stores.postgres.tasks import PostgresStore
from vidembed.stores.sqlite.tasks import SQLiteStore

URL = "http://127.0.0.1:9/hook"
OTHER = "http://127.0.0.1:9/other"
DAY = 86400.0


@dataclass
class Opened:
    store: TaskStore
    reopen: Callable[[], TaskStore]  # another store object on the same database (another server)
    sql: Callable[[str], None]  # runs a statement on the database directly


@pytest.fixture(params=["sqlite", "postgres"])
def opened(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opened]:
    extra: list[TaskStore] = []
    if request.param == "sqlite":
        path = tmp_path / "vidembed.sqlite3"

        def reopen() -> TaskStore:
            extra.append(SQLiteStore(path))
            return extra[-1]

        def sql(statement: str) -> None:
            conn = sqlite3.connect(path)
            with conn:
                conn.execute(statement)
            conn.close()

        store: TaskStore = SQLiteStore(path)
    else:
        url = request.getfixturevalue("pg_url")

        def reopen() -> TaskStore:
            extra.append(PostgresStore(url))
            return extra[-1]

        def sql(statement: str) -> None:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(statement)  # type: ignore[arg-type]

        store = PostgresStore(url)
        sql("TRUNCATE webhook_events, webhook_endpoints CASCADE")
    yield Opened(store, reopen, sql)
    for other in extra:
        other.close()
    store.close()


def segments() -> list[tuple[str, str, float, float, np.ndarray]]:
    return [("visual", "clip", 0.0, 6.0, np.ones(4, dtype=np.float32))]


def run(
    store: TaskStore, task_id: str, *, api: str = "index", fail: str | None = None, **fields: object
) -> None:
    """Inserts a task and ends it through a worker: ready (duration 12.5) or failed with ``fail``."""
    options = ["visual", "audio", "transcription"]
    store.insert(make_task(task_id, created=time.time(), api=api, options=options, **fields))
    claimed = store.claim("w", 60, 3)
    assert claimed is not None and claimed.id == task_id
    if fail is None:
        assert store.complete(task_id, "w", 12.5, segments())
    else:
        store.fail(task_id, fail, duration=3.0)


def body(store: TaskStore, task_id: str) -> dict:
    (event,) = store.task_events(task_id)
    parsed: dict = json.loads(event.body)
    assert parsed["id"] == event.id and parsed["type"] == event.type and parsed["data"]["id"] == task_id
    return parsed


def test_an_index_task_that_ends_ready_or_failed_writes_twelvelabs_event(opened: Opened) -> None:
    store = opened.store
    before = time.time()
    run(store, "a" * 24)
    ready = body(store, "a" * 24)
    assert ready["id"].startswith("whe_") and len(ready["id"]) == 4 + 32
    assert ready["type"] == "index.task.ready"
    assert ready["data"] == {
        "id": "a" * 24,
        "metadata": {"duration": 12.5},
        "status": "ready",
        "models": [{"name": "marengo3.0", "options": ["visual", "audio"]}],
        "tags": [],
    }
    created = datetime.fromisoformat(ready["created_at"])
    assert ready["created_at"].endswith("Z") and before - 1 <= created.timestamp() <= time.time() + 1

    run(store, "b" * 24, fail="The video file is broken.")
    failed = body(store, "b" * 24)
    assert failed["type"] == "index.task.failed"
    assert failed["data"]["status"] == "failed"
    assert failed["data"]["metadata"] == {"duration": 3.0}
    assert failed["data"]["error"] == {"message": "The video file is broken."}
    assert failed["id"] != ready["id"]


def test_embed_tasks_write_embed_events_and_synchronous_ones_none(opened: Opened) -> None:
    store = opened.store
    run(store, "c" * 24, api="v1.3", model_name="Marengo-retrieval-2.7")
    assert body(store, "c" * 24) == {
        **body(store, "c" * 24),
        "type": "embed.task.ready",
        "data": {"id": "c" * 24, "status": "ready", "model_name": "Marengo-retrieval-2.7"},
    }
    run(store, "d" * 24, api="v2", fail="Unsupported codec.")
    assert body(store, "d" * 24)["type"] == "embed.task.failed"
    assert body(store, "d" * 24)["data"] == {
        "id": "d" * 24,
        "status": "failed",
        "model_name": "marengo3.0",
        "error": {"message": "Unsupported codec."},
    }
    run(store, "e" * 24, api="v2-sync")
    assert store.task_events("e" * 24) == []


def test_every_other_end_writes_one_event_and_a_non_end_none(opened: Opened) -> None:
    store = opened.store
    # the give-up in claim: attempted 3 times
    store.insert(make_task("f" * 24, created=time.time(), api="index", attempts=3))
    assert store.claim("w", 60, 3) is None
    assert body(store, "f" * 24)["type"] == "index.task.failed"
    assert "attempted 3 times" in body(store, "f" * 24)["data"]["error"]["message"]
    # a task waiting for its asset, failed with the asset's reason
    store.insert(make_task("g" * 24, created=time.time(), api="v2", stage=WAITING_FOR_ASSET, asset_id="x"))
    assert store.fail_waiting("g" * 24, "The asset failed: no video stream.")
    assert body(store, "g" * 24)["data"]["error"] == {"message": "The asset failed: no video stream."}
    assert not store.fail_waiting("g" * 24, "again")  # no longer waiting: no second event
    # fail or complete of a task that is no longer processing, or by a worker without the lease
    store.fail("g" * 24, "late")
    assert len(store.task_events("g" * 24)) == 1
    store.insert(make_task("h" * 24, created=time.time(), api="index"))
    assert store.claim("w", 60, 3) is not None
    assert not store.complete("h" * 24, "someone else", 1.0, segments())
    assert store.task_events("h" * 24) == []


def test_a_delivery_is_leased_retried_with_the_same_body_and_finished(opened: Opened) -> None:
    store = opened.store
    store.watch_events([URL])
    run(store, "a" * 24)
    (event,) = store.task_events("a" * 24)
    (first,) = store.claim_events("one", [URL], 60, 10, DAY)
    assert (first.event_id, first.url, first.attempt, first.body) == (event.id, URL, 1, event.body)
    assert abs(first.created_at - event.created_at) < 1e-3
    assert store.claim_events("two", [URL], 60, 10, DAY) == []  # leased to "one"
    assert not store.event_failed(event.id, URL, "two", "HTTP 503", 0.0)  # not its lease
    assert store.event_failed(event.id, URL, "one", "HTTP 503", 0.0)
    (second,) = store.claim_events("two", [URL], 60, 10, DAY)
    assert (second.event_id, second.attempt, second.body) == (event.id, 2, event.body)
    assert store.event_failed(event.id, URL, "two", "HTTP 503", 30.0)  # due in 30 s
    assert store.claim_events("one", [URL], 60, 10, DAY) == []
    opened.sql(
        "UPDATE webhook_deliveries SET next_at = next_at - 31"
        if isinstance(store, SQLiteStore)
        else "UPDATE webhook_deliveries SET next_at = next_at - interval '31 seconds'"
    )
    (third,) = store.claim_events("one", [URL], 60, 10, DAY)
    assert third.attempt == 3
    assert not store.event_delivered(event.id, URL, "two")
    assert store.event_delivered(event.id, URL, "one")
    assert not store.event_delivered(event.id, URL, "one")  # once
    assert store.claim_events("one", [URL], 0.0, 10, DAY) == []


def test_a_lease_that_runs_out_is_claimed_again_and_abandoned_is_final(opened: Opened) -> None:
    store = opened.store
    store.watch_events([URL])
    run(store, "a" * 24)
    (held,) = store.claim_events("dead", [URL], 0.3, 10, DAY)
    assert store.claim_events("alive", [URL], 60, 10, DAY) == []
    time.sleep(0.5)
    (again,) = store.claim_events("alive", [URL], 60, 10, DAY)
    assert (again.event_id, again.attempt) == (held.event_id, 2)
    assert not store.event_delivered(held.event_id, URL, "dead")  # the dead one's lease is gone
    assert store.event_failed(again.event_id, URL, "alive", "HTTP 500", None)
    assert store.claim_events("alive", [URL], 60, 10, 10 * DAY) == []


def test_each_url_gets_each_event_from_when_it_was_first_watched(opened: Opened) -> None:
    store = opened.store
    store.watch_events([URL])
    run(store, "a" * 24)
    time.sleep(0.05)
    store.watch_events([OTHER])
    run(store, "b" * 24)
    claimed = store.claim_events("w", [URL, OTHER], 60, 10, DAY)
    got = sorted((d.url, store.task_events("a" * 24)[0].id == d.event_id) for d in claimed)
    assert got == [(URL, False), (URL, True), (OTHER, False)]  # OTHER: only the later task's
    # watching again keeps the first time; an event older than max_age gets no delivery
    store.watch_events([OTHER])
    assert store.claim_events("w", [URL, OTHER], 60, 10, DAY) == []  # still not the earlier task's
    run(store, "c" * 24)
    earlier = "- 7200" if isinstance(store, SQLiteStore) else "- interval '2 hours'"
    opened.sql(f"UPDATE webhook_events SET created_at = created_at {earlier} WHERE task_id = '{'c' * 24}'")
    opened.sql(f"UPDATE webhook_endpoints SET since = since {earlier} {earlier}")  # watched before it
    (late,) = store.claim_events("w", [URL, OTHER], 60, 10, 3600)  # c is older than an hour
    assert (late.url, late.event_id) == (OTHER, store.task_events("a" * 24)[0].id)
    (c_event,) = store.task_events("c" * 24)
    older = store.claim_events("w", [URL, OTHER], 60, 10, DAY)
    assert sorted((d.url, d.event_id) for d in older) == [(URL, c_event.id), (OTHER, c_event.id)]


def test_two_deliverers_on_one_database_claim_each_event_once(opened: Opened) -> None:
    opened.store.watch_events([URL])
    ids = [f"{i:024x}" for i in range(30)]
    for task_id in ids:
        run(opened.store, task_id)
    servers = [opened.reopen(), opened.reopen()]
    taken: list[list[str]] = [[], []]
    start = threading.Barrier(2)

    def deliver(n: int) -> None:
        start.wait()
        while claimed := servers[n].claim_events(f"server-{n}", [URL], 60, 3, DAY):
            for delivery in claimed:
                time.sleep(0.01)  # the POST
                assert servers[n].event_delivered(delivery.event_id, URL, f"server-{n}")
                taken[n].append(delivery.event_id)

    threads = [threading.Thread(target=deliver, args=(n,)) for n in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    every = [opened.store.task_events(i)[0].id for i in ids]
    assert sorted(taken[0] + taken[1]) == sorted(every)  # each once, none missed
    assert taken[0] and taken[1]  # both took part


def test_events_older_than_seven_days_are_pruned_as_new_ones_are_written(opened: Opened) -> None:
    store = opened.store
    store.watch_events([URL])
    run(store, "a" * 24)
    assert len(store.claim_events("w", [URL], 60, 10, DAY)) == 1
    days = int(EVENT_RETENTION_SECONDS // DAY) + 1
    opened.sql(
        f"UPDATE webhook_events SET created_at = created_at - {days * DAY}"
        if isinstance(store, SQLiteStore)
        else f"UPDATE webhook_events SET created_at = created_at - interval '{days} days'"
    )
    assert len(store.task_events("a" * 24)) == 1  # kept until the next write
    run(store, "b" * 24)
    assert store.task_events("a" * 24) == []
    assert len(store.task_events("b" * 24)) == 1
    (left,) = store.claim_events("w", [URL], 60, 10, DAY)  # the old one's delivery went with it
    assert left.event_id == store.task_events("b" * 24)[0].id


def test_index_options_are_the_index_model_options() -> None:
    assert index_options(["visual", "audio", "transcription"]) == ["visual", "audio"]
    assert index_options(["transcription"]) == ["audio"]
    assert index_options(["visual"]) == ["visual"]
