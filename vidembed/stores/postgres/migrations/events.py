"""The webhook outbox in PostgreSQL, with the columns of SQLite's (vidembed/stores/sqlite/events.py;
what it is for: vidembed/stores/outbox.py). Migration 5 of versions.py."""

from __future__ import annotations

# ``body`` is text, not jsonb: it is POSTed byte for byte as written (jsonb would reorder keys).
# Events do not reference tasks: a task deleted after it ended (a video removed from an index) still
# has its event delivered. Deliveries go with their event when it is pruned (ON DELETE CASCADE).
# The due-deliveries index covers pending rows only: delivered and abandoned ones stay until their
# event is pruned, 7 days after it was written.
WEBHOOK_EVENTS = """
CREATE TABLE webhook_events (
    id text COLLATE "C" PRIMARY KEY,
    task_id text COLLATE "C" NOT NULL,
    type text NOT NULL,
    created_at timestamptz NOT NULL,
    body text NOT NULL
);
CREATE INDEX webhook_events_by_time ON webhook_events (created_at);
CREATE INDEX webhook_events_by_task ON webhook_events (task_id);
CREATE TABLE webhook_endpoints (
    url text COLLATE "C" PRIMARY KEY,
    since timestamptz NOT NULL
);
CREATE TABLE webhook_deliveries (
    event_id text COLLATE "C" NOT NULL REFERENCES webhook_events (id) ON DELETE CASCADE,
    url text COLLATE "C" NOT NULL,
    state text NOT NULL DEFAULT 'pending',
    attempts integer NOT NULL DEFAULT 0,
    next_at timestamptz NOT NULL,
    lease_owner text,
    lease_until timestamptz,
    last_error text,
    finished_at timestamptz,
    PRIMARY KEY (event_id, url)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (url, next_at) WHERE state = 'pending';
"""
