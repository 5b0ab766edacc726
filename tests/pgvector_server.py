"""A private PostgreSQL 16 with pgvector for the tests, from the ``pgserver`` wheel (PostgreSQL
16.2 and pgvector 0.6.2 in a Python package; the system PostgreSQL 15 here has no pgvector).

``pgvector_url`` is an empty database of its own per test, on a server started once per run in
the run's temporary folder (about a second) and stopped when the run ends.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from pg import temporary_database


@pytest.fixture(scope="session")
def pgvector_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    try:
        import pgserver  # the test extra
    except ImportError as exc:
        if os.environ.get("CI"):  # CI installs the test extra: a skip would hide the pgvector tests
            pytest.fail(f"pgserver is not installed: {exc}")
        pytest.skip(f"pgserver is not installed (pip install -e '.[test]'): {exc}")
    folder: Path = tmp_path_factory.mktemp("pgvector")
    server = pgserver.get_server(folder, cleanup_mode="stop")
    try:
        yield str(server.get_uri())
    finally:
        server.cleanup()


@pytest.fixture
def pgvector_url(pgvector_server: str) -> Iterator[str]:
    with temporary_database(pgvector_server) as url:
        yield url
