"""The index store on PostgreSQL (migration 3), with the rules of ``SQLiteIndexStore``: names
unique per owner by a UNIQUE constraint, so servers sharing the database cannot both take one."""

from __future__ import annotations

import builtins  # builtins.list: in the class below, list names the method
import secrets
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from vidembed.records import IndexListing, IndexRecord
from vidembed.stores.postgres.database import open_pool, select_page

_COLUMNS = "id, owner, name, model_name, stack, options, addons, created_at, updated_at"


def _timestamp(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def _record(row: dict[str, Any]) -> IndexRecord:
    data = dict(row)
    data["created_at"] = data["created_at"].timestamp()
    data["updated_at"] = data["updated_at"].timestamp()
    return IndexRecord(**data)


class PostgresIndexStore:
    def __init__(self, url: str, *, max_connections: int = 3, connect_timeout: float = 10) -> None:
        """Three connections: index requests read or write one row each, in milliseconds."""
        self._pool = open_pool(
            url, max_connections=max_connections, connect_timeout=connect_timeout, name="vidembed-indexes"
        )

    def close(self) -> None:
        self._pool.close()

    def insert(self, index: IndexRecord) -> bool:
        try:
            with self._pool.connection() as conn:
                conn.execute(
                    f"INSERT INTO search_indexes ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    (
                        index.id,
                        index.owner,
                        index.name,
                        index.model_name,
                        index.stack,
                        Jsonb(index.options),
                        Jsonb(index.addons),
                        _timestamp(index.created_at),
                        _timestamp(index.updated_at),
                    ),
                )
        except psycopg.errors.UniqueViolation:
            return False
        return True

    def get(self, index_id: str, owner: str | None = None) -> IndexRecord | None:
        query, args = f"SELECT {_COLUMNS} FROM search_indexes WHERE id = %s", [index_id]
        if owner is not None:
            query, args = query + " AND owner = %s", [*args, owner]
        with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=psycopg.rows.dict_row)
            row = cur.execute(query, args).fetchone()
        return _record(row) if row else None

    def list(
        self, owner: str | None, query: IndexListing, offset: int, limit: int
    ) -> tuple[builtins.list[IndexRecord], int]:
        filters: list[tuple[str, object]] = [
            ("owner = %s", owner),
            ("name = %s", query.name),
            ("created_at >= %s", _timestamp(query.created_from)),
            ("updated_at >= %s", _timestamp(query.updated_from)),
            ("options @> %s", Jsonb(list(query.options)) if query.options else None),
        ]
        return select_page(
            self._pool,
            "search_indexes",
            _COLUMNS,
            filters,
            offset,
            limit,
            _record,
            order_by=query.sort_by if query.sort_by in ("created_at", "updated_at") else "created_at",
            descending=query.descending,
        )

    def rename(self, index_id: str, owner: str | None, name: str, updated_at: float) -> str:
        query = "UPDATE search_indexes SET name = %s, updated_at = %s WHERE id = %s"
        args: list[object] = [name, _timestamp(updated_at), index_id]
        if owner is not None:
            query, args = query + " AND owner = %s", [*args, owner]
        try:
            with self._pool.connection() as conn:
                changed = conn.execute(query, args).rowcount
        except psycopg.errors.UniqueViolation:
            return "taken"
        return "renamed" if changed else "missing"

    def delete(self, index_id: str, owner: str | None = None) -> bool:
        query, args = "DELETE FROM search_indexes WHERE id = %s", [index_id]
        if owner is not None:
            query, args = query + " AND owner = %s", [*args, owner]
        with self._pool.connection() as conn:
            return conn.execute(query, args).rowcount > 0

    def save_search(self, search_id: str, owner: str, expires_at: float, document: str) -> None:
        """Keeps a search's results for its next pages; drops the searches that have expired."""
        with self._pool.connection() as conn:
            conn.execute("DELETE FROM search_results WHERE expires_at < now()")
            conn.execute(
                "INSERT INTO search_results (id, owner, expires_at, document) VALUES (%s, %s, %s, %s)",
                (search_id, owner, _timestamp(expires_at), document),
            )

    def load_search(self, search_id: str, owner: str | None, now: float) -> str | None:
        query = "SELECT document FROM search_results WHERE id = %s AND expires_at >= %s"
        args: list[object] = [search_id, _timestamp(now)]
        if owner is not None:
            query, args = query + " AND owner = %s", [*args, owner]
        with self._pool.connection() as conn:
            row = conn.execute(query, args).fetchone()
        return str(row[0]) if row else None

    def secret(self, name: str) -> str:
        """A secret shared by every server on this database (made once, at random)."""
        with self._pool.connection() as conn:
            conn.execute(
                "INSERT INTO vidembed_secrets (name, value) VALUES (%s, %s) ON CONFLICT (name) DO NOTHING",
                (name, secrets.token_hex(32)),
            )
            row = conn.execute("SELECT value FROM vidembed_secrets WHERE name = %s", (name,)).fetchone()
        assert row is not None
        return str(row[0])
