"""What both PostgreSQL stores share: opening a database (the migrations it lacks applied, then a
pool of connections) and reading one page of a table with its total from one snapshot."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from vidembed.errors import ConfigurationError
from vidembed.stores.base import without_password
from vidembed.stores.postgres.migrations import migrate

Record = TypeVar("Record")


def open_pool(url: str, *, max_connections: int, connect_timeout: float, name: str) -> ConnectionPool:
    """Connects to ``url`` (a libpq URI or conninfo string), applies the migrations the database
    lacks and opens a pool of up to ``max_connections``; ConfigurationError if the server cannot be
    reached."""
    shown = without_password(url)
    try:
        with psycopg.connect(url, connect_timeout=max(1, round(connect_timeout))) as conn:
            migrate(conn)
    except psycopg.OperationalError as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigurationError(f"Cannot use the PostgreSQL database {shown}: {message}") from None
    pool: ConnectionPool = ConnectionPool(
        url,
        min_size=1,
        max_size=max_connections,
        open=False,
        check=ConnectionPool.check_connection,  # a connection broken by a server restart is replaced
        name=name,
    )
    pool.open(wait=True, timeout=connect_timeout)
    return pool


def select_page(
    pool: ConnectionPool,
    table: str,
    columns: str,
    filters: Sequence[tuple[str, object]],
    offset: int,
    limit: int,
    record: Callable[[dict[str, Any]], Record],
    *,
    order_by: str = "created_at",
    descending: bool = True,
) -> tuple[list[Record], int]:
    """One page of ``table`` (newest first by default, ``order_by`` a column name of ours, never
    a user's text), and how many rows match in all: ``filters`` are (clause, value) pairs, a None
    value leaving its clause out. The count and the page come from one snapshot, so that they
    agree."""
    where: list[str] = ["true"]
    args: list[object] = []
    for clause, value in filters:
        if value is not None:
            where.append(clause)
            args.append(value)
    condition = " AND ".join(where)
    direction = "DESC" if descending else "ASC"
    with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        counted = cur.execute(f"SELECT count(*) AS n FROM {table} WHERE {condition}", args).fetchone()
        rows = cur.execute(
            f"SELECT {columns} FROM {table} WHERE {condition} "
            f"ORDER BY {order_by} {direction}, id {direction} LIMIT %s OFFSET %s",
            [*args, limit, offset],
        ).fetchall()
    total = int(counted["n"]) if counted else 0
    return [record(r) for r in rows], total
