"""The PostgreSQL schema, as numbered forward-only migrations. Never edit one that has shipped:
add the next. Each runs once per database, in order, inside the migration transaction."""

from __future__ import annotations

from dataclasses import dataclass

from vidembed.stores.postgres.migrations.assets import ASSETS
from vidembed.stores.postgres.migrations.events import WEBHOOK_EVENTS
from vidembed.stores.postgres.migrations.indexes import INDEXES
from vidembed.stores.postgres.migrations.texts import CLIP_TEXTS


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


# Task and segment ids sort and compare bytewise (COLLATE "C"), as in SQLite, whatever the
# database's locale. Timestamps are timestamptz: created_at comes from the API server that made
# the task; lease_until and updated_at from the database clock (now()), so that servers and
# workers whose clocks differ agree on when a lease runs out. Vectors are little-endian float32
# bytes (bytea), as in SQLite; pgvector columns come with vector search, in a later migration.
INITIAL = """
CREATE TABLE tasks (
    id text COLLATE "C" PRIMARY KEY,
    owner text NOT NULL,
    model_name text NOT NULL,
    status text NOT NULL,
    params jsonb NOT NULL,
    options jsonb NOT NULL,
    source_path text,
    input_url text,
    input_filename text,
    duration double precision,
    error text,
    progress double precision NOT NULL DEFAULT 0,
    stage text NOT NULL DEFAULT 'queued',
    attempts integer NOT NULL DEFAULT 0,
    lease_owner text,
    lease_until timestamptz,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    stack text,
    encoders jsonb,
    api text NOT NULL DEFAULT 'v1.3',
    input_type text NOT NULL DEFAULT 'video',
    asset_id text
);
-- Listing and paging: one API's tasks of one owner (or of everyone), newest first.
CREATE INDEX tasks_by_owner ON tasks (api, owner, created_at DESC, id DESC);
CREATE INDEX tasks_by_api ON tasks (api, created_at DESC, id DESC);
-- Claiming and the per-owner limit look at processing tasks only: a small part of the table.
-- The claim index is in the claim's order (the synchronous route's tasks first, then the oldest),
-- so that a claim reads the head of the queue instead of sorting a backlog of any length.
CREATE INDEX tasks_processing ON tasks ((api = 'v2-sync') DESC, created_at, id) WHERE status = 'processing';
CREATE INDEX tasks_processing_by_owner ON tasks (owner) WHERE status = 'processing';
-- Search reads the ready tasks of one owner.
CREATE INDEX tasks_ready_by_owner ON tasks (owner, created_at) WHERE status = 'ready';
CREATE TABLE segments (
    task_id text COLLATE "C" NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    seq integer NOT NULL,
    option text NOT NULL,
    scope text NOT NULL,
    start_sec double precision NOT NULL,
    end_sec double precision NOT NULL,
    vector bytea NOT NULL,
    PRIMARY KEY (task_id, seq)
);
"""

# An index task (api 'index') is a task with the index its video is in and the video's metadata;
# an index's videos are read by index, newest first.
INDEX_VIDEOS = """
ALTER TABLE tasks ADD COLUMN index_id text COLLATE "C";
ALTER TABLE tasks ADD COLUMN user_metadata jsonb;
ALTER TABLE tasks ADD COLUMN media jsonb;
CREATE INDEX tasks_by_index ON tasks (index_id, created_at DESC, id DESC) WHERE index_id IS NOT NULL;
-- A search's results, kept for its next pages (GET /search/{page_token}) until they expire.
CREATE TABLE search_results (
    id text COLLATE "C" PRIMARY KEY,
    owner text NOT NULL,
    expires_at timestamptz NOT NULL,
    document text NOT NULL
);
CREATE INDEX search_results_by_expiry ON search_results (expires_at);
-- A search index's generation, bumped with every change to its ready videos (search's cache).
CREATE TABLE index_generations (
    index_id text COLLATE "C" PRIMARY KEY,
    generation bigint NOT NULL
);
-- Secrets every server sharing the database uses alike (the key that signs thumbnail URLs).
CREATE TABLE vidembed_secrets (
    name text COLLATE "C" PRIMARY KEY,
    value text NOT NULL
);
"""

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "tasks and segments", INITIAL),
    Migration(2, "assets", ASSETS),
    Migration(3, "search indexes", INDEXES),
    Migration(4, "index videos and clip texts", INDEX_VIDEOS + CLIP_TEXTS),
    Migration(5, "webhook outbox", WEBHOOK_EVENTS),
)
