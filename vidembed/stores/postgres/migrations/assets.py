"""Migration 2: the assets table (``/assets``, Embed v2's ``media_source.asset_id``) in PostgreSQL,
with the same columns as SQLite's (vidembed/service/asset_store.py)."""

from __future__ import annotations

# Ids compare and sort bytewise (COLLATE "C"), as in SQLite and as the tasks' ids. created_at comes
# from the API server that made the asset; updated_at and lease_until from the database clock, as
# for tasks. The metadata columns are json, not jsonb: json keeps the text as written, so the keys
# come back in the order the user gave them (jsonb sorts them), as from SQLite.
ASSETS = """
CREATE TABLE assets (
    id text COLLATE "C" PRIMARY KEY,
    owner text NOT NULL,
    method text NOT NULL,
    status text NOT NULL,
    filename text NOT NULL,
    file_type text NOT NULL,
    asset_type text,
    source_url text,
    path text,
    user_metadata json,
    technical_metadata json,
    size bigint,
    duration double precision,
    error text,
    attempts integer NOT NULL DEFAULT 0,
    lease_owner text,
    lease_until timestamptz,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
-- Listing and paging, newest first: one owner's assets (the server), or everyone's (the embedded client).
CREATE INDEX assets_by_owner ON assets (owner, created_at DESC, id DESC);
CREATE INDEX assets_by_time ON assets (created_at DESC, id DESC);
-- Claiming reads the oldest processing asset: a partial index in the claim's order.
CREATE INDEX assets_processing ON assets (created_at, id) WHERE status = 'processing';
"""
