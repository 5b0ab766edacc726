"""A private PostgreSQL 16 with pgvector for the tests, from the ``pgserver`` wheel (PostgreSQL
16.2 and pgvector 0.6.2 in a Python package; the system PostgreSQL 15 here has no pgvector).

``pgvector_url`` is an empty database of its own per test, on a server started once per run in
the run's temporary folder (about a second) and stopped when the run ends.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql


def database_uri(server_uri: str, database: str) -> str:
    """pgserver's URI (``postgresql://postgres:@/postgres?host=SOCKET_DIR``) for another database."""
    base, _, query = server_uri.partition("?")
    return f"{base.rsplit('/', 1)[0]}/{database}?{query}"


@pytest.fixture(scope="session")
def pgvector_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    pgserver = pytest.importorskip("pgserver")
    folder: Path = tmp_path_factory.mktemp("pgvector")
    server = pgserver.get_server(folder, cleanup_mode="stop")
    try:
        yield str(server.get_uri())
    finally:
        server.cleanup()


@pytest.fixture
def pgvector_url(pgvector_server: str) -> Iterator[str]:
    name = f"vidembed_test_{secrets.token_hex(6)}"
    with psycopg.connect(pgvector_server, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield database_uri(pgvector_server, name)
    finally:
        with psycopg.connect(pgvector_server, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
