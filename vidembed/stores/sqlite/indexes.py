"""The index store on SQLite: a table beside the tasks and assets in the data folder's database.

Names are unique per owner by a UNIQUE constraint, so two servers sharing the file cannot both
create one name; ``options`` and ``addons`` are JSON lists.
"""

from __future__ import annotations

import builtins  # builtins.list: in the class below, list names the method
import json
import secrets
import sqlite3
import time
from pathlib import Path

from vidembed.records import IndexListing, IndexRecord
from vidembed.stores.sqlite.database import SQLiteDatabase

SCHEMA = """
CREATE TABLE IF NOT EXISTS search_indexes (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    name TEXT NOT NULL,
    model_name TEXT NOT NULL,
    stack TEXT NOT NULL,
    options TEXT NOT NULL,
    addons TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    UNIQUE (owner, name)
);
CREATE INDEX IF NOT EXISTS search_indexes_by_owner ON search_indexes (owner, created_at);
CREATE TABLE IF NOT EXISTS vidembed_secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS search_results (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    expires_at REAL NOT NULL,
    document TEXT NOT NULL
);
"""
_COLUMNS = "id, owner, name, model_name, stack, options, addons, created_at, updated_at"
_SORTS = {"created_at", "updated_at"}


def _record(row: sqlite3.Row) -> IndexRecord:
    data = dict(row)
    data["options"] = json.loads(data["options"])
    data["addons"] = json.loads(data["addons"])
    return IndexRecord(**data)


class SQLiteIndexStore:
    def __init__(self, path: Path) -> None:
        self._db = SQLiteDatabase(path)
        with self._db.lock:
            self._db.conn.executescript(SCHEMA)

    def close(self) -> None:
        self._db.close()

    def insert(self, index: IndexRecord) -> bool:
        try:
            with self._db.transaction() as db:
                db.execute(
                    f"INSERT INTO search_indexes ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        index.id,
                        index.owner,
                        index.name,
                        index.model_name,
                        index.stack,
                        json.dumps(index.options),
                        json.dumps(index.addons),
                        index.created_at,
                        index.updated_at,
                    ),
                )
        except sqlite3.IntegrityError:
            return False
        return True

    def get(self, index_id: str, owner: str | None = None) -> IndexRecord | None:
        row = self._db.row("search_indexes", _COLUMNS, index_id, owner)
        return _record(row) if row else None

    def list(
        self, owner: str | None, query: IndexListing, offset: int, limit: int
    ) -> tuple[builtins.list[IndexRecord], int]:
        filters: list[tuple[str, object]] = [
            ("owner = ?", owner),
            ("name = ?", query.name),
            ("created_at >= ?", query.created_from),
            ("updated_at >= ?", query.updated_from),
        ]
        # every option asked for
        filters += [("EXISTS (SELECT 1 FROM json_each(options) WHERE value = ?)", o) for o in query.options]
        column = query.sort_by if query.sort_by in _SORTS else "created_at"
        rows, total = self._db.page(
            "search_indexes", _COLUMNS, filters, offset, limit, order_by=column, descending=query.descending
        )
        return [_record(r) for r in rows], total

    def rename(self, index_id: str, owner: str | None, name: str, updated_at: float) -> str:
        query = "UPDATE search_indexes SET name = ?, updated_at = ? WHERE id = ?"
        args: list[object] = [name, updated_at, index_id]
        if owner is not None:
            query, args = query + " AND owner = ?", [*args, owner]
        try:
            with self._db.transaction() as db:
                changed = db.execute(query, args).rowcount
        except sqlite3.IntegrityError:
            return "taken"
        return "renamed" if changed else "missing"

    def delete(self, index_id: str, owner: str | None = None) -> bool:
        query, args = "DELETE FROM search_indexes WHERE id = ?", [index_id]
        if owner is not None:
            query, args = query + " AND owner = ?", [*args, owner]
        with self._db.transaction() as db:
            return db.execute(query, args).rowcount > 0

    def save_search(self, search_id: str, owner: str, expires_at: float, document: str) -> None:
        """Keeps a search's results for its next pages; drops the searches that have expired."""
        with self._db.transaction() as db:
            db.execute("DELETE FROM search_results WHERE expires_at < ?", (time.time(),))
            db.execute(
                "INSERT INTO search_results (id, owner, expires_at, document) VALUES (?, ?, ?, ?)",
                (search_id, owner, expires_at, document),
            )

    def load_search(self, search_id: str, owner: str | None, now: float) -> str | None:
        query, args = "SELECT document FROM search_results WHERE id = ? AND expires_at >= ?", [search_id, now]
        if owner is not None:
            query, args = query + " AND owner = ?", [*args, owner]
        with self._db.lock:
            row = self._db.conn.execute(query, args).fetchone()
        return row[0] if row else None

    def secret(self, name: str) -> str:
        """A secret shared by every process on this database (made once, at random)."""
        with self._db.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO vidembed_secrets (name, value) VALUES (?, ?)",
                (name, secrets.token_hex(32)),
            )
            return str(db.execute("SELECT value FROM vidembed_secrets WHERE name = ?", (name,)).fetchone()[0])
