"""The webhook outbox on SQLite: events written with the task's end, and their deliveries.

Functions on the task store's connection: the caller holds its lock and, for writes, its
transaction (``BEGIN IMMEDIATE``: other processes on the same file wait, so a claim and its
lease are one step, as for tasks). What an event is and why the store writes it:
vidembed/stores/outbox.py.

Tables: ``webhook_events`` (the outbox: one row per ended task, the body as POSTed),
``webhook_endpoints`` (each URL a deliverer ever watched, and since when: a URL gets the events
of tasks that end after that) and ``webhook_deliveries`` (one row per event and URL, made when
a deliverer first looks: state ``pending``, ``delivered`` or ``abandoned``, the attempts made,
when the next may start, and the lease of the deliverer sending it now). Deliveries go with
their event when it is pruned (ON DELETE CASCADE; the task store has ``PRAGMA foreign_keys``).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from vidembed.records import TaskRecord
from vidembed.stores.outbox import EVENT_RETENTION_SECONDS, Delivery, TaskEvent, task_event

EVENTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS webhook_events (
    id TEXT PRIMARY KEY,
    task_id TEXT NOT NULL,
    type TEXT NOT NULL,
    created_at REAL NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS webhook_events_by_time ON webhook_events (created_at);
CREATE INDEX IF NOT EXISTS webhook_events_by_task ON webhook_events (task_id);
CREATE TABLE IF NOT EXISTS webhook_endpoints (
    url TEXT PRIMARY KEY,
    since REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    event_id TEXT NOT NULL REFERENCES webhook_events (id) ON DELETE CASCADE,
    url TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL,
    lease_owner TEXT,
    lease_until REAL,
    last_error TEXT,
    finished_at REAL,
    PRIMARY KEY (event_id, url)
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_due ON webhook_deliveries (state, next_at);
"""

_EVENT_COLUMNS = "id, task_id, type, created_at, body"


def record_event(db: sqlite3.Connection, task: TaskRecord) -> TaskEvent | None:
    """Writes the event of a task that just ended (none for a task that sends none), and deletes
    the events older than the retention (with their deliveries)."""
    event = task_event(task)
    if event is None:
        return None
    db.execute(
        "DELETE FROM webhook_events WHERE created_at < ?", (event.created_at - EVENT_RETENTION_SECONDS,)
    )
    db.execute(
        f"INSERT INTO webhook_events ({_EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?)",
        (event.id, event.task_id, event.type, event.created_at, event.body),
    )
    return event


def events_of(db: sqlite3.Connection, task_id: str) -> list[TaskEvent]:
    rows = db.execute(
        f"SELECT {_EVENT_COLUMNS} FROM webhook_events WHERE task_id = ? ORDER BY created_at, id", (task_id,)
    )
    return [TaskEvent(*row) for row in rows]


def watch(db: sqlite3.Connection, urls: Sequence[str], now: float) -> None:
    """Records each URL as watched from ``now``, unless it was already (the first time counts)."""
    db.executemany(
        "INSERT OR IGNORE INTO webhook_endpoints (url, since) VALUES (?, ?)", [(u, now) for u in urls]
    )


def anything_due(db: sqlite3.Connection, urls: Sequence[str], now: float, max_age: float) -> bool:
    """Whether ``claim`` could find work: a read, so that an idle deliverer polling does not take
    the file's write lock every time."""
    listed = json.dumps(list(urls))
    row = db.execute(
        "SELECT EXISTS (SELECT 1 FROM webhook_deliveries WHERE url IN (SELECT value FROM json_each(?)) "
        "AND state = 'pending' AND next_at <= ? AND (lease_until IS NULL OR lease_until < ?)) "
        "OR EXISTS (SELECT 1 FROM webhook_events e JOIN webhook_endpoints p ON e.created_at >= p.since "
        "WHERE p.url IN (SELECT value FROM json_each(?)) AND e.created_at >= ? AND NOT EXISTS "
        "(SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.id AND d.url = p.url))",
        (listed, now, now, listed, now - max_age),
    ).fetchone()
    return bool(row[0])


def claim(
    db: sqlite3.Connection,
    worker: str,
    urls: Sequence[str],
    lease_seconds: float,
    limit: int,
    max_age: float,
    now: float,
) -> list[Delivery]:
    """Makes the deliveries of new events to watched ``urls`` (events not older than
    ``max_age``), then leases the ``limit`` due ones that are free or whose lease ran out,
    oldest due first (attempts + 1)."""
    listed = json.dumps(list(urls))
    db.execute(
        "INSERT OR IGNORE INTO webhook_deliveries (event_id, url, next_at) "
        "SELECT e.id, p.url, e.created_at FROM webhook_events e "
        "JOIN webhook_endpoints p ON e.created_at >= p.since "
        "WHERE p.url IN (SELECT value FROM json_each(?)) AND e.created_at >= ? AND NOT EXISTS "
        "(SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.id AND d.url = p.url) "
        "ORDER BY e.created_at, e.id",
        (listed, now - max_age),
    )
    due = db.execute(
        "SELECT d.event_id, d.url, d.attempts, e.created_at, e.body FROM webhook_deliveries d "
        "JOIN webhook_events e ON e.id = d.event_id "
        "WHERE d.url IN (SELECT value FROM json_each(?)) AND d.state = 'pending' AND d.next_at <= ? "
        "AND (d.lease_until IS NULL OR d.lease_until < ?) ORDER BY d.next_at, d.event_id LIMIT ?",
        (listed, now, now, limit),
    ).fetchall()
    db.executemany(
        "UPDATE webhook_deliveries SET lease_owner = ?, lease_until = ?, attempts = attempts + 1 "
        "WHERE event_id = ? AND url = ?",
        [(worker, now + lease_seconds, r[0], r[1]) for r in due],
    )
    return [Delivery(r[0], r[1], r[2] + 1, r[3], r[4]) for r in due]


def delivered(db: sqlite3.Connection, event_id: str, url: str, worker: str, now: float) -> bool:
    cur = db.execute(
        "UPDATE webhook_deliveries SET state = 'delivered', finished_at = ?, lease_owner = NULL, "
        "lease_until = NULL, last_error = NULL "
        "WHERE event_id = ? AND url = ? AND lease_owner = ? AND state = 'pending'",
        (now, event_id, url, worker),
    )
    return cur.rowcount == 1


def failed(
    db: sqlite3.Connection,
    event_id: str,
    url: str,
    worker: str,
    error: str,
    retry_in: float | None,
    now: float,
) -> bool:
    """The attempt failed: the next one may start in ``retry_in`` seconds, or (None) none will."""
    if retry_in is None:
        cur = db.execute(
            "UPDATE webhook_deliveries SET state = 'abandoned', finished_at = ?, lease_owner = NULL, "
            "lease_until = NULL, last_error = ? "
            "WHERE event_id = ? AND url = ? AND lease_owner = ? AND state = 'pending'",
            (now, error, event_id, url, worker),
        )
    else:
        cur = db.execute(
            "UPDATE webhook_deliveries SET next_at = ?, lease_owner = NULL, lease_until = NULL, "
            "last_error = ? WHERE event_id = ? AND url = ? AND lease_owner = ? AND state = 'pending'",
            (now + retry_in, error, event_id, url, worker),
        )
    return cur.rowcount == 1
