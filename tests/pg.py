"""PostgreSQL for the tests: a database of its own per test run, with a random name, dropped after.

Import the fixtures into a test module (``from pg import database_url, pg_database, pg_url  # noqa:
F401``). The server is the one on 127.0.0.1:5432 (trust auth, user postgres or root), or the admin
URL in ``VIDEMBED_TEST_POSTGRES_URL``. With no server answering, the PostgreSQL tests are skipped
with the reason, except in CI (``CI`` set), where they fail: CI has a server, and a suite that
quietly skipped them would pass without testing the PostgreSQL store.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from psycopg import sql

DEFAULT_ADMIN_URLS = (
    "postgresql://postgres@127.0.0.1:5432/postgres",
    "postgresql://root@127.0.0.1:5432/postgres",
)


def admin_url() -> str | None:
    """A URL on which this process can create databases, or None if no server answers."""
    configured = os.environ.get("VIDEMBED_TEST_POSTGRES_URL")
    for url in (configured,) if configured else DEFAULT_ADMIN_URLS:
        try:
            with psycopg.connect(url, connect_timeout=3) as conn:
                conn.execute("SELECT 1")
            return url
        except psycopg.OperationalError:
            continue
    return None


def url_of(admin: str, database: str) -> str:
    """The admin URL with its database replaced (its query, such as pgserver's ``?host=SOCKET_DIR``,
    kept)."""
    base, mark, query = admin.partition("?")
    return f"{base.rsplit('/', 1)[0]}/{database}{mark}{query}"


@contextmanager
def temporary_database(admin: str) -> Iterator[str]:
    """A new, empty database with a random name; dropped on exit, even with connections left."""
    name = f"vidembed_test_{secrets.token_hex(6)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield url_of(admin, name)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def pg_admin() -> str:
    """The admin URL of the test server; skips (fails in CI) if none answers."""
    url = admin_url()
    if url is None:
        reason = (
            "no PostgreSQL server answers on 127.0.0.1:5432 as postgres or root "
            "(start one, or set VIDEMBED_TEST_POSTGRES_URL to an admin URL)"
        )
        if os.environ.get("CI"):
            pytest.fail(f"CI has a PostgreSQL server, but {reason}")
        pytest.skip(reason)
    return url


@pytest.fixture(scope="session")
def pg_database(pg_admin: str) -> Iterator[str]:
    """The URL of this test run's database (random name), dropped after the run."""
    with temporary_database(pg_admin) as url:
        yield url


@pytest.fixture
def pg_url(pg_database: str) -> str:
    """The run's database with no tasks, assets or indexes left by an earlier test (the schema stays)."""
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("SET lock_timeout = '10s'")  # a store a test left open would block: say so
        if conn.execute("SELECT to_regclass('tasks')").fetchone() != (None,):
            conn.execute("TRUNCATE tasks CASCADE")
        if conn.execute("SELECT to_regclass('assets')").fetchone() != (None,):
            conn.execute("TRUNCATE assets")
        if conn.execute("SELECT to_regclass('search_indexes')").fetchone() != (None,):
            conn.execute("TRUNCATE search_indexes")
    return pg_database


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str | None:
    """A test parametrised over both stores: None (SQLite in the data folder), then an empty
    PostgreSQL database (``Settings.database_url``)."""
    if request.param == "sqlite":
        return None
    url: str = request.getfixturevalue("pg_url")
    return url
