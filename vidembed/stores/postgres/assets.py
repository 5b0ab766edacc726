"""Assets in PostgreSQL: the asset store for several API servers sharing one database
(``--database-url postgresql://...``; docs/POSTGRES.md).

The same rules as ``SQLiteAssetStore`` (vidembed.stores.sqlite.assets has them; the contract tests
check both). What differs is how, as in the task store (vidembed.stores.postgres.tasks):

- claiming locks the chosen row with ``FOR UPDATE SKIP LOCKED``, so probing workers of several
  servers never wait for each other nor take the same asset;
- ``lease_until`` and ``updated_at`` come from the database clock (``now()``); ``created_at`` is
  the API server's, as for tasks;
- connections come from a pool, one per call; the schema comes from the same migrations
  (vidembed.stores.postgres.migrations, version 2).
"""

from __future__ import annotations

import builtins  # builtins.list: in the class below, list names the method
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from psycopg.rows import dict_row
from psycopg.types.json import Json

from vidembed.records import AssetRecord, JsonObject, Probed
from vidembed.stores.base import giving_up
from vidembed.stores.postgres.database import open_pool, select_page

_COLUMNS = (
    "id, owner, method, status, filename, file_type, asset_type, source_url, path, user_metadata, "
    "technical_metadata, size, duration, error, attempts, created_at, updated_at"
)
_N_COLUMNS = _COLUMNS.count(",") + 1
# Still processing, and held by this worker: the condition of every write a worker makes.
_HELD = "id = %s AND lease_owner = %s AND status = 'processing'"


def _timestamp(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _json(value: JsonObject | None) -> Json | None:
    return None if value is None else Json(value)


def _record(row: dict[str, Any]) -> AssetRecord:
    data = dict(row)
    data["created_at"] = data["created_at"].timestamp()
    data["updated_at"] = data["updated_at"].timestamp()
    return AssetRecord(**data)


class PostgresAssetStore:
    """An ``AssetStore`` on PostgreSQL (psycopg 3 with a connection pool)."""

    def __init__(self, url: str, *, max_connections: int = 5, connect_timeout: float = 10) -> None:
        """Connects to ``url``, applies the migrations the database lacks and opens a pool of up to
        ``max_connections``; ConfigurationError if the server cannot be reached. Five connections:
        an AssetCore has two workers, a heartbeat each while one works, and requests that read
        or write one row each (milliseconds), beside the task store's own pool."""
        self._pool = open_pool(
            url, max_connections=max_connections, connect_timeout=connect_timeout, name="vidembed-assets"
        )

    def close(self) -> None:
        self._pool.close()

    def _write(self, query: str, args: Sequence[object]) -> int:
        """Runs one statement in a transaction of its own; the number of rows it changed."""
        with self._pool.connection() as conn:
            return conn.execute(query, args).rowcount

    def insert(self, asset: AssetRecord) -> None:
        self._write(
            f"INSERT INTO assets ({_COLUMNS}) VALUES ({', '.join(['%s'] * _N_COLUMNS)})",
            (
                asset.id,
                asset.owner,
                asset.method,
                asset.status,
                asset.filename,
                asset.file_type,
                asset.asset_type,
                asset.source_url,
                asset.path,
                _json(asset.user_metadata),
                _json(asset.technical_metadata),
                asset.size,
                asset.duration,
                asset.error,
                asset.attempts,
                _timestamp(asset.created_at),
                _timestamp(asset.updated_at),
            ),
        )

    def get(self, asset_id: str, owner: str | None = None) -> AssetRecord | None:
        """The asset, or None when there is none with this id (of ``owner``, when given)."""
        query, args = f"SELECT {_COLUMNS} FROM assets WHERE id = %s", [asset_id]
        if owner is not None:
            query, args = query + " AND owner = %s", [*args, owner]
        with self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute(query, args).fetchone()
        return _record(row) if row else None

    def list(
        self,
        owner: str | None,
        asset_ids: Sequence[str],
        asset_types: Sequence[str],
        filename: str | None,
        offset: int,
        limit: int,
    ) -> tuple[builtins.list[AssetRecord], int]:
        """One page of assets, newest first, and how many match in all. Empty ``asset_ids`` or
        ``asset_types`` mean no filter; ``filename`` matches a part of the name, in any case."""
        filters = (
            ("owner = %s", owner),
            ("id = ANY(%s)", list(asset_ids) or None),
            ("asset_type = ANY(%s)", list(asset_types) or None),
            # strpos, not LIKE: LIKE would treat % and _ in the name as wildcards
            ("strpos(lower(filename), lower(%s)) > 0", filename or None),
        )
        return select_page(self._pool, "assets", _COLUMNS, filters, offset, limit, _record)

    def delete(self, asset_id: str, owner: str | None = None) -> AssetRecord | None:
        """Removes the record; returns it, or None when there was none (of ``owner``)."""
        query, args = "DELETE FROM assets WHERE id = %s", [asset_id]
        if owner is not None:
            query, args = query + " AND owner = %s", [*args, owner]
        with self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute(f"{query} RETURNING {_COLUMNS}", args).fetchone()
        return _record(row) if row else None

    # --- the worker's side -----------------------------------------------------------------

    def claim(self, worker: str, lease_seconds: float, max_attempts: int) -> AssetRecord | None:
        """Takes the oldest processing asset whose lease is free or expired, or None. Rows another
        claimer holds locked are skipped, not waited for; an asset whose workers stopped
        ``max_attempts`` times ends failed instead."""
        with self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            while True:
                candidate = cur.execute(
                    "SELECT id, attempts FROM assets WHERE status = 'processing' "
                    "AND (lease_until IS NULL OR lease_until < now()) "
                    "ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED"
                ).fetchone()
                if candidate is None:
                    return None
                if candidate["attempts"] >= max_attempts:
                    cur.execute(
                        "UPDATE assets SET status = 'failed', error = %s, lease_owner = NULL, "
                        "lease_until = NULL, updated_at = now() WHERE id = %s",
                        (giving_up(candidate["attempts"]), candidate["id"]),
                    )
                    continue  # still locked by us and no longer processing: the next one
                claimed = cur.execute(
                    "UPDATE assets SET lease_owner = %s, lease_until = now() + make_interval(secs => %s), "
                    f"attempts = attempts + 1, updated_at = now() WHERE id = %s RETURNING {_COLUMNS}",
                    (worker, float(lease_seconds), candidate["id"]),
                ).fetchone()
                assert claimed is not None  # the row is locked by this transaction
                return _record(claimed)

    def renew(self, asset_id: str, worker: str, lease_seconds: float) -> bool:
        """Extends a lease; False if it was lost (expired and claimed by another worker, or the
        asset was deleted)."""
        changed = self._write(
            "UPDATE assets SET lease_until = now() + make_interval(secs => %s), updated_at = now() "
            f"WHERE {_HELD}",
            (float(lease_seconds), asset_id, worker),
        )
        return changed == 1

    def release(self, asset_id: str, worker: str) -> None:
        """Gives an asset back at once (the service is stopping), for the next start to resume."""
        self._write(
            f"UPDATE assets SET lease_owner = NULL, lease_until = NULL WHERE {_HELD}", (asset_id, worker)
        )

    def set_path(self, asset_id: str, worker: str, path: str) -> bool:
        """Records where a URL import was downloaded; False if the lease was lost."""
        return self._write(f"UPDATE assets SET path = %s WHERE {_HELD}", (path, asset_id, worker)) == 1

    def complete(self, asset_id: str, worker: str, probed: Probed) -> bool:
        """``ready`` with what probing found, in one statement; False if the lease was lost."""
        changed = self._write(
            "UPDATE assets SET status = 'ready', asset_type = %s, file_type = %s, technical_metadata = %s, "
            "size = %s, duration = %s, error = NULL, lease_owner = NULL, lease_until = NULL, "
            f"updated_at = now() WHERE {_HELD}",
            (
                probed.asset_type,
                probed.file_type,
                Json(probed.technical_metadata),
                probed.size,
                probed.duration,
                asset_id,
                worker,
            ),
        )
        return changed == 1

    def fail(self, asset_id: str, worker: str, reason: str) -> bool:
        """``failed`` with the reason; False if the lease was lost."""
        changed = self._write(
            "UPDATE assets SET status = 'failed', error = %s, lease_owner = NULL, lease_until = NULL, "
            f"updated_at = now() WHERE {_HELD}",
            (reason, asset_id, worker),
        )
        return changed == 1
