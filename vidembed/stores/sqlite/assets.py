"""The asset store: the ``AssetStore`` protocol, its SQLite implementation and ``open_asset_store``.

Two implementations, chosen by the same database URL as the task store (``--database-url``;
``vidembed.stores.base.database_target``): ``SQLiteAssetStore``, a table beside the tasks in
the same SQLite file, on its own connection; and ``PostgresAssetStore``
(vidembed/service/pg_asset_store.py), for several API servers sharing one database.
tests/contract/test_asset_store_contract.py checks both against the same rules:

An asset is ``processing`` from creation until a worker has stored (downloaded) and probed its
file; workers claim it with a lease they renew while they work, as for tasks
(``vidembed/service/store.py``), so an asset whose worker died is claimed again once its lease
runs out, and two processes sharing the database never process one asset at once. A worker that
lost its lease (or whose asset was deleted) changes nothing: renew, set_path, complete and fail
return False.
"""

from __future__ import annotations

import builtins  # builtins.list: in the classes below, list names the method
import json
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

from vidembed.records import AssetRecord, Probed
from vidembed.stores.base import giving_up
from vidembed.stores.sqlite.database import SQLiteDatabase

SCHEMA = """
CREATE TABLE IF NOT EXISTS assets (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    method TEXT NOT NULL,
    status TEXT NOT NULL,
    filename TEXT NOT NULL,
    file_type TEXT NOT NULL,
    asset_type TEXT,
    source_url TEXT,
    path TEXT,
    user_metadata TEXT,
    technical_metadata TEXT,
    size INTEGER,
    duration REAL,
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_until REAL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS assets_by_owner ON assets (owner, created_at);
CREATE INDEX IF NOT EXISTS assets_by_status ON assets (status, lease_until);
"""

_COLUMNS = (
    "id, owner, method, status, filename, file_type, asset_type, source_url, path, user_metadata, "
    "technical_metadata, size, duration, error, attempts, created_at, updated_at"
)
_N_COLUMNS = _COLUMNS.count(",") + 1


def _record(row: sqlite3.Row) -> AssetRecord:
    data = dict(row)
    for name in ("user_metadata", "technical_metadata"):
        data[name] = json.loads(data[name]) if data[name] else None
    return AssetRecord(**data)


class SQLiteAssetStore:
    """An ``AssetStore`` in SQLite (WAL): the embedded default."""

    def __init__(self, path: Path) -> None:
        self._db = SQLiteDatabase(path)
        self._conn, self._lock, self._transaction = self._db.conn, self._db.lock, self._db.transaction
        with self._lock:
            self._conn.executescript(SCHEMA)

    def close(self) -> None:
        self._db.close()

    def insert(self, asset: AssetRecord) -> None:
        with self._transaction() as db:
            db.execute(
                f"INSERT INTO assets ({_COLUMNS}) VALUES ({', '.join('?' * _N_COLUMNS)})",
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
                    json.dumps(asset.user_metadata) if asset.user_metadata is not None else None,
                    json.dumps(asset.technical_metadata) if asset.technical_metadata is not None else None,
                    asset.size,
                    asset.duration,
                    asset.error,
                    asset.attempts,
                    asset.created_at,
                    asset.updated_at,
                ),
            )

    def get(self, asset_id: str, owner: str | None = None) -> AssetRecord | None:
        """The asset, or None when there is none with this id (of ``owner``, when given)."""
        row = self._db.row("assets", _COLUMNS, asset_id, owner)
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
            ("owner = ?", owner),
            ("id IN ({})", list(asset_ids)),
            ("asset_type IN ({})", list(asset_types)),
            ("instr(lower(filename), lower(?)) > 0", filename or None),  # LIKE: % and _ are wildcards
        )
        rows, total = self._db.page("assets", _COLUMNS, filters, offset, limit)
        return [_record(r) for r in rows], total

    def delete(self, asset_id: str, owner: str | None = None) -> AssetRecord | None:
        """Removes the record; returns it, or None when there was none (of ``owner``)."""
        with self._transaction() as db:
            query, args = f"SELECT {_COLUMNS} FROM assets WHERE id = ?", [asset_id]
            if owner is not None:
                query, args = query + " AND owner = ?", [*args, owner]
            row = db.execute(query, args).fetchone()
            if row is None:
                return None
            db.execute("DELETE FROM assets WHERE id = ?", (asset_id,))
            return _record(row)

    # --- the worker's side -----------------------------------------------------------------

    def claim(self, worker: str, lease_seconds: float, max_attempts: int) -> AssetRecord | None:
        """Takes the oldest processing asset whose lease is free or expired, or None. An asset
        whose workers stopped ``max_attempts`` times ends failed instead of looping."""
        now = time.time()
        with self._transaction() as db:
            while True:
                row = db.execute(
                    f"SELECT {_COLUMNS} FROM assets WHERE status = 'processing' "
                    "AND (lease_until IS NULL OR lease_until < ?) ORDER BY created_at LIMIT 1",
                    (now,),
                ).fetchone()
                if row is None:
                    return None
                asset = _record(row)
                if asset.attempts >= max_attempts:
                    reason = giving_up(asset.attempts)
                    db.execute(
                        "UPDATE assets SET status = 'failed', error = ?, lease_owner = NULL, "
                        "lease_until = NULL, updated_at = ? WHERE id = ?",
                        (reason, now, asset.id),
                    )
                    continue
                db.execute(
                    "UPDATE assets SET lease_owner = ?, lease_until = ?, attempts = attempts + 1, "
                    "updated_at = ? WHERE id = ?",
                    (worker, now + lease_seconds, now, asset.id),
                )
                asset.attempts += 1
                return asset

    def renew(self, asset_id: str, worker: str, lease_seconds: float) -> bool:
        """Extends a lease; False if it was lost (expired and claimed by another worker, or the
        asset was deleted)."""
        now = time.time()
        with self._transaction() as db:
            cur = db.execute(
                "UPDATE assets SET lease_until = ?, updated_at = ? "
                "WHERE id = ? AND lease_owner = ? AND status = 'processing'",
                (now + lease_seconds, now, asset_id, worker),
            )
            return cur.rowcount == 1

    def release(self, asset_id: str, worker: str) -> None:
        """Gives an asset back at once (the service is stopping), for the next start to resume."""
        with self._transaction() as db:
            db.execute(
                "UPDATE assets SET lease_owner = NULL, lease_until = NULL "
                "WHERE id = ? AND lease_owner = ? AND status = 'processing'",
                (asset_id, worker),
            )

    def set_path(self, asset_id: str, worker: str, path: str) -> bool:
        """Records where a URL import was downloaded; False if the lease was lost."""
        with self._transaction() as db:
            cur = db.execute(
                "UPDATE assets SET path = ? WHERE id = ? AND lease_owner = ? AND status = 'processing'",
                (path, asset_id, worker),
            )
            return cur.rowcount == 1

    def complete(self, asset_id: str, worker: str, probed: Probed) -> bool:
        """``ready`` with what probing found, in one transaction; False if the lease was lost."""
        with self._transaction() as db:
            cur = db.execute(
                "UPDATE assets SET status = 'ready', asset_type = ?, file_type = ?, technical_metadata = ?, "
                "size = ?, duration = ?, error = NULL, lease_owner = NULL, lease_until = NULL, "
                "updated_at = ? WHERE id = ? AND lease_owner = ? AND status = 'processing'",
                (
                    probed.asset_type,
                    probed.file_type,
                    json.dumps(probed.technical_metadata),
                    probed.size,
                    probed.duration,
                    time.time(),
                    asset_id,
                    worker,
                ),
            )
            return cur.rowcount == 1

    def fail(self, asset_id: str, worker: str, reason: str) -> bool:
        """``failed`` with the reason; False if the lease was lost."""
        with self._transaction() as db:
            cur = db.execute(
                "UPDATE assets SET status = 'failed', error = ?, lease_owner = NULL, lease_until = NULL, "
                "updated_at = ? WHERE id = ? AND lease_owner = ? AND status = 'processing'",
                (reason, time.time(), asset_id, worker),
            )
            return cur.rowcount == 1
