"""One SQLite connection as both SQLite stores use it: WAL, one writer at a time in this process
(a lock around a connection shared by threads), ``BEGIN IMMEDIATE`` transactions so that a
claim and its update are one step even when several processes share the file."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path


class SQLiteDatabase:
    def __init__(self, path: Path, *, foreign_keys: bool = False) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
        self.conn.row_factory = sqlite3.Row
        self.lock = threading.RLock()
        with self.lock:
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            if foreign_keys:
                self.conn.execute("PRAGMA foreign_keys=ON")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def close(self) -> None:
        with self.lock:
            self.conn.close()

    def row(self, table: str, columns: str, row_id: str, owner: str | None) -> sqlite3.Row | None:
        """The row of ``table`` with this id (and of ``owner``, when given), or None."""
        query, args = f"SELECT {columns} FROM {table} WHERE id = ?", [row_id]
        if owner is not None:
            query, args = query + " AND owner = ?", [*args, owner]
        with self.lock:
            found: sqlite3.Row | None = self.conn.execute(query, args).fetchone()
        return found

    def page(
        self,
        table: str,
        columns: str,
        filters: Sequence[tuple[str, object]],
        offset: int,
        limit: int,
        *,
        order_by: str = "created_at",
        descending: bool = True,
    ) -> tuple[list[sqlite3.Row], int]:
        """One page of ``table`` (newest first by default; ``order_by`` a column name of ours, never
        a user's text) and how many rows match in all, as ``postgres.database.select_page``:
        ``filters`` are (clause, value) pairs, a None or empty value leaving its clause out; a list
        value fills the clause's ``{}`` with one placeholder per item (``id IN ({})``)."""
        where: list[str] = ["1 = 1"]
        args: list[object] = []
        for clause, value in filters:
            if value is None or (isinstance(value, list | tuple) and not value):
                continue
            if isinstance(value, list | tuple):
                where.append(clause.format(", ".join("?" * len(value))))
                args.extend(value)
            else:
                where.append(clause)
                args.append(value)
        condition = " AND ".join(where)
        direction = "DESC" if descending else "ASC"
        with self.lock:
            total = self.conn.execute(f"SELECT COUNT(*) FROM {table} WHERE {condition}", args).fetchone()[0]
            rows = self.conn.execute(
                f"SELECT {columns} FROM {table} WHERE {condition} "
                f"ORDER BY {order_by} {direction}, id {direction} LIMIT ? OFFSET ?",
                [*args, limit, offset],
            ).fetchall()
        return rows, int(total)
