"""The webhook outbox on PostgreSQL (the schema: vidembed/stores/postgres/migrations/events.py).

Functions on a connection of the task store's pool, inside the caller's transaction (they never
commit). The same tables and rules as SQLite's (vidembed/stores/sqlite/events.py); what differs
is how several servers share them:

- a claim locks the due deliveries it takes with ``FOR UPDATE SKIP LOCKED``, so deliverers on
  other machines never wait for each other nor send the same attempt;
- lease deadlines, retry times and the watch's ``since`` come from the database clock (``now()``),
  like the tasks' leases, so servers whose clocks differ agree on when a delivery is due;
- new deliveries are inserted in (event, URL) order with ``ON CONFLICT DO NOTHING``: two
  deliverers making the same ones at once wait for each other in turn, never in a deadlock;
- pruning takes the old events it can lock now (``SKIP LOCKED``) and leaves the rest to the next
  write, so two tasks ending at once never wait on each other's pruning.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import psycopg

from vidembed.records import TaskRecord
from vidembed.stores.outbox import EVENT_RETENTION_SECONDS, Delivery, TaskEvent, task_event

_EVENT_COLUMNS = "id, task_id, type, created_at, body"
_PRUNE_BATCH = 500  # old events deleted per write at most: a backlog goes over the next writes


def record_event(conn: psycopg.Connection, task: TaskRecord) -> TaskEvent | None:
    """Writes the event of a task that just ended (none for a task that sends none), and deletes
    events older than the retention (with their deliveries)."""
    event = task_event(task)
    if event is None:
        return None
    conn.execute(
        "DELETE FROM webhook_events WHERE id IN (SELECT id FROM webhook_events "
        "WHERE created_at < now() - make_interval(secs => %s) ORDER BY created_at LIMIT %s "
        "FOR UPDATE SKIP LOCKED)",
        (EVENT_RETENTION_SECONDS, _PRUNE_BATCH),
    )
    conn.execute(
        f"INSERT INTO webhook_events ({_EVENT_COLUMNS}) VALUES (%s, %s, %s, %s, %s)",
        (event.id, event.task_id, event.type, datetime.fromtimestamp(event.created_at, UTC), event.body),
    )
    return event


def events_of(conn: psycopg.Connection, task_id: str) -> list[TaskEvent]:
    rows = conn.execute(
        f"SELECT {_EVENT_COLUMNS} FROM webhook_events WHERE task_id = %s ORDER BY created_at, id", (task_id,)
    ).fetchall()
    return [TaskEvent(r[0], r[1], r[2], r[3].timestamp(), r[4]) for r in rows]


def watch(conn: psycopg.Connection, urls: Sequence[str]) -> None:
    """Records each URL as watched from now, unless it was already (the first time counts)."""
    conn.execute(
        "INSERT INTO webhook_endpoints (url, since) SELECT u, now() FROM unnest(%s::text[]) AS u "
        "ORDER BY u ON CONFLICT (url) DO NOTHING",
        (list(urls),),
    )


def claim(
    conn: psycopg.Connection,
    worker: str,
    urls: Sequence[str],
    lease_seconds: float,
    limit: int,
    max_age: float,
) -> list[Delivery]:
    """Makes the deliveries of new events to watched ``urls`` (events not older than
    ``max_age``), then leases the ``limit`` due ones that are free or whose lease ran out,
    oldest due first (attempts + 1)."""
    listed = list(urls)
    conn.execute(
        "INSERT INTO webhook_deliveries (event_id, url, next_at) "
        "SELECT e.id, p.url, e.created_at FROM webhook_events e "
        "JOIN webhook_endpoints p ON e.created_at >= p.since "
        "WHERE p.url = ANY(%s) AND e.created_at >= now() - make_interval(secs => %s) AND NOT EXISTS "
        "(SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.id AND d.url = p.url) "
        "ORDER BY e.id, p.url ON CONFLICT DO NOTHING",
        (listed, float(max_age)),
    )
    rows = conn.execute(
        "UPDATE webhook_deliveries d SET lease_owner = %s, "
        "lease_until = now() + make_interval(secs => %s), attempts = d.attempts + 1 "
        "FROM (SELECT event_id, url FROM webhook_deliveries WHERE url = ANY(%s) AND state = 'pending' "
        "AND next_at <= now() AND (lease_until IS NULL OR lease_until < now()) "
        "ORDER BY next_at, event_id LIMIT %s FOR UPDATE SKIP LOCKED) AS c, webhook_events e "
        "WHERE d.event_id = c.event_id AND d.url = c.url AND e.id = d.event_id "
        "RETURNING d.event_id, d.url, d.attempts, e.created_at, e.body",
        (worker, float(lease_seconds), listed, limit),
    ).fetchall()
    found = [Delivery(r[0], r[1], r[2], r[3].timestamp(), r[4]) for r in rows]
    return sorted(found, key=lambda d: (d.created_at, d.event_id))


def delivered(conn: psycopg.Connection, event_id: str, url: str, worker: str) -> bool:
    cur = conn.execute(
        "UPDATE webhook_deliveries SET state = 'delivered', finished_at = now(), lease_owner = NULL, "
        "lease_until = NULL, last_error = NULL "
        "WHERE event_id = %s AND url = %s AND lease_owner = %s AND state = 'pending'",
        (event_id, url, worker),
    )
    return cur.rowcount == 1


def failed(
    conn: psycopg.Connection, event_id: str, url: str, worker: str, error: str, retry_in: float | None
) -> bool:
    """The attempt failed: the next one may start in ``retry_in`` seconds, or (None) none will."""
    if retry_in is None:
        cur = conn.execute(
            "UPDATE webhook_deliveries SET state = 'abandoned', finished_at = now(), lease_owner = NULL, "
            "lease_until = NULL, last_error = %s "
            "WHERE event_id = %s AND url = %s AND lease_owner = %s AND state = 'pending'",
            (error, event_id, url, worker),
        )
    else:
        cur = conn.execute(
            "UPDATE webhook_deliveries SET next_at = now() + make_interval(secs => %s), "
            "lease_owner = NULL, lease_until = NULL, last_error = %s "
            "WHERE event_id = %s AND url = %s AND lease_owner = %s AND state = 'pending'",
            (float(retry_in), error, event_id, url, worker),
        )
    return cur.rowcount == 1
