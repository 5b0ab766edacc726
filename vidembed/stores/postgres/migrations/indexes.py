"""Migration 3: the search indexes of TwelveLabs' Search API (``/indexes``) in PostgreSQL, with the
same columns as SQLite's (vidembed/stores/sqlite/indexes.py). Names are unique per owner."""

from __future__ import annotations

INDEXES = """
CREATE TABLE search_indexes (
    id text COLLATE "C" PRIMARY KEY,
    owner text NOT NULL,
    name text NOT NULL,
    model_name text NOT NULL,
    stack text NOT NULL,
    options jsonb NOT NULL,
    addons jsonb NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    UNIQUE (owner, name)
);
CREATE INDEX search_indexes_by_owner ON search_indexes (owner, created_at);
"""
