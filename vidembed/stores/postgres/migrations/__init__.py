"""Versioned migrations of the PostgreSQL store: a small table of our own, not Alembic.

Each migration is plain SQL with a version number (``versions.MIGRATIONS``); the table
``vidembed_migrations`` records which ones a database has. ``migrate`` applies the missing ones in
order, all in one transaction (PostgreSQL's DDL is transactional: a failed migration leaves nothing
half done), under an advisory lock, so that several servers started at once against an empty
database do not race. A database migrated by a newer vidembed (a version we do not know) is
refused rather than used with a schema this code does not understand.

Why not Alembic: it brings SQLAlchemy (the store speaks SQL through psycopg, with no ORM), an
ini file and an env.py, for what is today one forward-only script; its downgrade and autogenerate
features would go unused. If migrations ever need branching or data backfills in Python, moving to
Alembic stays possible: its first revision would be the schema at our last version.
"""

from __future__ import annotations

import psycopg

from vidembed.errors import ConfigurationError
from vidembed.stores.postgres.migrations.versions import MIGRATIONS, Migration

# pg_advisory_xact_lock key: a constant that other users of the database will not pick, the bytes
# of "vidembed" read as a big-endian int64 (positive: "v" is below 0x80).
LOCK_KEY = int.from_bytes(b"vidembed", "big")

_TABLE = """
CREATE TABLE IF NOT EXISTS vidembed_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""

__all__ = ["LOCK_KEY", "MIGRATIONS", "Migration", "applied_versions", "migrate"]


def migrate(conn: psycopg.Connection) -> list[int]:
    """Brings the database to the newest schema; returns the versions it applied (none if it was
    already there). Commits on success, rolls everything back on failure."""
    done: list[int] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        conn.execute(_TABLE)
        have = applied_versions(conn)
        newest = MIGRATIONS[-1].version
        unknown = sorted(v for v in have if v > newest)
        if unknown:
            raise ConfigurationError(
                f"The PostgreSQL database has schema version {unknown[-1]}, newer than this vidembed "
                f"knows ({newest}): upgrade vidembed, or point it at another database."
            )
        for migration in MIGRATIONS:
            if migration.version in have:
                continue
            conn.execute(migration.sql)  # no parameters: several statements in one call
            conn.execute(
                "INSERT INTO vidembed_migrations (version, name) VALUES (%s, %s)",
                (migration.version, migration.name),
            )
            done.append(migration.version)
    return done


def applied_versions(conn: psycopg.Connection) -> set[int]:
    """The migration versions recorded in the database."""
    return {row[0] for row in conn.execute("SELECT version FROM vidembed_migrations")}
