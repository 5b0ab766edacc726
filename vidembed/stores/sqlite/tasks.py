"""Tasks and their vectors in SQLite (WAL): the embedded default store.

A task is ``processing`` from creation until a worker finishes it; workers claim it with a lease
that they renew while they work, so a task whose worker died is claimed again once its lease runs
out. Results and the ``ready`` status are written in one transaction: a task is either ready with
all its segments or still processing.
"""

from __future__ import annotations

import builtins  # builtins.list: in SQLiteStore, list names the method
import json
import sqlite3
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vidembed.records import MediaFacts, StoredSegment, TaskRecord
from vidembed.stores.base import WAITING_FOR_ASSET, params_document, params_from_document
from vidembed.stores.lexical import ClipText, LexicalHit, TaskSets, VocabularyCache
from vidembed.stores.outbox import Delivery, TaskEvent
from vidembed.stores.sqlite import events, texts
from vidembed.stores.sqlite.database import SQLiteDatabase

SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    model_name TEXT NOT NULL,
    status TEXT NOT NULL,
    params TEXT NOT NULL,
    options TEXT NOT NULL,
    source_path TEXT,
    input_url TEXT,
    input_filename TEXT,
    duration REAL,
    error TEXT,
    progress REAL NOT NULL DEFAULT 0,
    stage TEXT NOT NULL DEFAULT 'queued',
    attempts INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_until REAL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    stack TEXT,
    encoders TEXT,
    api TEXT NOT NULL DEFAULT 'v1.3',
    input_type TEXT NOT NULL DEFAULT 'video',
    asset_id TEXT,
    index_id TEXT,
    user_metadata TEXT,
    media TEXT
);
CREATE INDEX IF NOT EXISTS tasks_by_status ON tasks (status, lease_until);
-- A search index's generation: bumped in the transaction of every change to its ready videos
-- (a video ready, deleted, its metadata set), so that search caches an index's videos and reads
-- them again only when they changed (service/index_search.py).
CREATE TABLE IF NOT EXISTS index_generations (
    index_id TEXT PRIMARY KEY,
    generation INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS segments (
    task_id TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    option TEXT NOT NULL,
    scope TEXT NOT NULL,
    start_sec REAL NOT NULL,
    end_sec REAL NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (task_id, seq)
);
"""


_COLUMNS = (
    "id, owner, model_name, status, params, options, source_path, input_url, input_filename, "
    "duration, error, progress, stage, attempts, created_at, updated_at, stack, encoders, "
    "api, input_type, asset_id, index_id, user_metadata, media"
)
_N_COLUMNS = _COLUMNS.count(",") + 1
# Columns added after the first release, with their type: added to older databases on open.
_ADDED_COLUMNS = {
    "stack": "TEXT",
    "encoders": "TEXT",
    "api": "TEXT NOT NULL DEFAULT 'v1.3'",
    "input_type": "TEXT NOT NULL DEFAULT 'video'",
    "asset_id": "TEXT",
    "index_id": "TEXT",
    "user_metadata": "TEXT",
    "media": "TEXT",
}
_INDEXES = """
CREATE INDEX IF NOT EXISTS tasks_by_owner ON tasks (owner, created_at);
CREATE INDEX IF NOT EXISTS tasks_by_api ON tasks (api, owner, created_at);
CREATE INDEX IF NOT EXISTS tasks_by_index ON tasks (index_id, created_at) WHERE index_id IS NOT NULL;
"""


def _record(row: sqlite3.Row) -> TaskRecord:
    data = dict(row)
    data["params"], data["v2"] = params_from_document(json.loads(data["params"]))
    data["options"] = json.loads(data["options"])
    data["encoders"] = json.loads(data["encoders"]) if data["encoders"] else None
    data["user_metadata"] = json.loads(data["user_metadata"]) if data["user_metadata"] else None
    data["media"] = json.loads(data["media"]) if data["media"] else None
    return TaskRecord(**data)


def _insert(db: sqlite3.Connection, task: TaskRecord) -> None:
    db.execute(
        f"INSERT INTO tasks ({_COLUMNS}) VALUES ({', '.join('?' * _N_COLUMNS)})",
        (
            task.id,
            task.owner,
            task.model_name,
            task.status,
            json.dumps(params_document(task)),
            json.dumps(task.options),
            task.source_path,
            task.input_url,
            task.input_filename,
            task.duration,
            task.error,
            task.progress,
            task.stage,
            task.attempts,
            task.created_at,
            task.updated_at,
            task.stack,
            json.dumps(task.encoders) if task.encoders is not None else None,
            task.api,
            task.input_type,
            task.asset_id,
            task.index_id,
            json.dumps(task.user_metadata) if task.user_metadata is not None else None,
            json.dumps(task.media) if task.media is not None else None,
        ),
    )


class SQLiteStore:
    def __init__(self, path: Path) -> None:
        self._db = SQLiteDatabase(path, foreign_keys=True)
        self._conn, self._lock, self._transaction = self._db.conn, self._db.lock, self._db.transaction
        self._vocabulary = VocabularyCache()  # the lexical search's spelling variants come from it
        self._task_sets = TaskSets()  # the last search pool's ids, as a set and as JSON
        with self._lock:
            self._conn.executescript(SCHEMA)
            have = {row[1] for row in self._conn.execute("PRAGMA table_info(tasks)")}
            for column, kind in _ADDED_COLUMNS.items():
                if column not in have:
                    self._conn.execute(f"ALTER TABLE tasks ADD COLUMN {column} {kind}")
            self._conn.executescript(_INDEXES)
            self._conn.executescript(texts.TEXTS_SCHEMA)
            self._conn.executescript(events.EVENTS_SCHEMA)

    def close(self) -> None:
        self._db.close()

    # --- tasks -----------------------------------------------------------------------------

    def insert(self, task: TaskRecord) -> None:
        with self._transaction() as db:
            _insert(db, task)

    def insert_leased(self, task: TaskRecord, worker: str, lease_seconds: float) -> None:
        """Inserts a new processing task with its lease already held by ``worker`` (attempts 1),
        in one transaction, so that no claimer can take it between the insert and the lease."""
        now = time.time()
        with self._transaction() as db:
            _insert(db, task)
            db.execute(
                "UPDATE tasks SET lease_owner = ?, lease_until = ?, attempts = attempts + 1 WHERE id = ?",
                (worker, now + lease_seconds, task.id),
            )

    def insert_within_limit(self, task: TaskRecord, limit: int) -> bool:
        """Inserts the task unless its owner already has ``limit`` tasks processing (False then,
        nothing written). Count and insert are one write transaction (BEGIN IMMEDIATE), which
        other processes on the same file wait for: no two can both see room for the last task."""
        with self._transaction() as db:
            (active,) = db.execute(
                "SELECT COUNT(*) FROM tasks WHERE owner = ? AND status = 'processing'", (task.owner,)
            ).fetchone()
            if active >= limit:
                return False
            _insert(db, task)
        return True

    def get(self, task_id: str, owner: str | None = None) -> TaskRecord | None:
        row = self._db.row("tasks", _COLUMNS, task_id, owner)
        return _record(row) if row else None

    def list(
        self,
        owner: str | None,
        status: str | None,
        created_after: float | None,
        created_before: float | None,
        offset: int,
        limit: int,
        api: str = "v1.3",
    ) -> tuple[list[TaskRecord], int]:
        """One page of one API's tasks, newest first, and how many match in all."""
        filters = (
            ("api = ?", api),
            ("owner = ?", owner),
            ("status = ?", status),
            ("created_at > ?", created_after),
            ("created_at < ?", created_before),
        )
        rows, total = self._db.page("tasks", _COLUMNS, filters, offset, limit)
        return [_record(r) for r in rows], total

    def count_active(self, owner: str) -> int:
        with self._lock:
            return self._conn.execute(
                "SELECT COUNT(*) FROM tasks WHERE owner = ? AND status = 'processing'", (owner,)
            ).fetchone()[0]

    # --- the worker's side -----------------------------------------------------------------

    def claim(self, worker: str, lease_seconds: float, max_attempts: int) -> TaskRecord | None:
        """Takes the oldest processing task whose lease is free or expired, or None. The
        synchronous route's tasks (api ``v2-sync``: a caller is waiting on the connection) go
        before every other."""
        now = time.time()
        with self._transaction() as db:
            while True:
                row = db.execute(
                    f"SELECT {_COLUMNS} FROM tasks WHERE status = 'processing' "
                    "AND (lease_until IS NULL OR lease_until < ?) AND stage <> ? "
                    "ORDER BY api = 'v2-sync' DESC, created_at LIMIT 1",
                    (now, WAITING_FOR_ASSET),
                ).fetchone()
                if row is None:
                    return None
                task = _record(row)
                if task.attempts >= max_attempts:
                    reason = (
                        f"The task was attempted {task.attempts} times and its worker stopped "
                        f"each time (last seen at stage '{task.stage}'); giving up."
                    )
                    db.execute(
                        "UPDATE tasks SET status = 'failed', error = ?, lease_owner = NULL, "
                        "lease_until = NULL, updated_at = ? WHERE id = ?",
                        (reason, now, task.id),
                    )
                    _record_end(db, task.id)
                    continue
                db.execute(
                    "UPDATE tasks SET lease_owner = ?, lease_until = ?, attempts = attempts + 1, "
                    "updated_at = ? WHERE id = ?",
                    (worker, now + lease_seconds, now, task.id),
                )
                task.attempts += 1
                return task

    def waiting_for_asset(self, asset_id: str | None = None) -> builtins.list[TaskRecord]:
        query = f"SELECT {_COLUMNS} FROM tasks WHERE status = 'processing' AND stage = ?"
        args: list[Any] = [WAITING_FOR_ASSET]
        if asset_id is not None:
            query, args = query + " AND asset_id = ?", [*args, asset_id]
        with self._lock:
            return [_record(r) for r in self._conn.execute(query + " ORDER BY created_at, id", args)]

    def start_waiting(self, task_id: str, source_path: str, input_filename: str | None) -> bool:
        with self._transaction() as db:
            cur = db.execute(
                "UPDATE tasks SET source_path = ?, input_filename = COALESCE(?, input_filename), "
                "stage = 'queued', updated_at = ? WHERE id = ? AND status = 'processing' AND stage = ?",
                (source_path, input_filename, time.time(), task_id, WAITING_FOR_ASSET),
            )
            return cur.rowcount == 1

    def fail_waiting(self, task_id: str, reason: str) -> bool:
        with self._transaction() as db:
            cur = db.execute(
                "UPDATE tasks SET status = 'failed', error = ?, stage = 'failed', updated_at = ? "
                "WHERE id = ? AND status = 'processing' AND stage = ?",
                (reason, time.time(), task_id, WAITING_FOR_ASSET),
            )
            if cur.rowcount != 1:
                return False
            _record_end(db, task_id)
            return True

    def claim_task(self, task_id: str, worker: str, lease_seconds: float) -> bool:
        """Takes the lease of this one processing task if it is free or expired (attempts + 1);
        False if it is held, finished or absent. For a caller that made the task itself and has its
        result in hand (``vidembed batch``), so that ``complete`` keeps the lease rule."""
        now = time.time()
        with self._transaction() as db:
            cur = db.execute(
                "UPDATE tasks SET lease_owner = ?, lease_until = ?, attempts = attempts + 1, updated_at = ? "
                "WHERE id = ? AND status = 'processing' AND (lease_until IS NULL OR lease_until < ?)",
                (worker, now + lease_seconds, now, task_id, now),
            )
            return cur.rowcount == 1

    def renew(
        self,
        task_id: str,
        worker: str,
        lease_seconds: float,
        progress: float | None = None,
        stage: str | None = None,
    ) -> bool:
        """Extends a lease (and records progress); False if the lease was lost."""
        now = time.time()
        with self._transaction() as db:
            cur = db.execute(
                "UPDATE tasks SET lease_until = ?, progress = COALESCE(?, progress), "
                "stage = COALESCE(?, stage), updated_at = ? "
                "WHERE id = ? AND lease_owner = ? AND status = 'processing'",
                (now + lease_seconds, progress, stage, now, task_id, worker),
            )
            return cur.rowcount == 1

    def release(self, task_id: str, worker: str, reason: str) -> None:
        """Gives a task back for another attempt at once, recording why this one ended."""
        with self._transaction() as db:
            db.execute(
                "UPDATE tasks SET lease_owner = NULL, lease_until = NULL, error = ?, updated_at = ? "
                "WHERE id = ? AND lease_owner = ? AND status = 'processing'",
                (reason, time.time(), task_id, worker),
            )

    def lease_holder(self, task_id: str) -> str | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT lease_owner FROM tasks WHERE id = ? AND status = 'processing' AND lease_until >= ?",
                (task_id, time.time()),
            ).fetchone()
        return row[0] if row else None

    def give_back(self, task_id: str, worker: str, stage: str) -> bool:
        """Frees the lease of a task its holder stopped on purpose, the attempt not counted."""
        with self._transaction() as db:
            cur = db.execute(
                "UPDATE tasks SET lease_owner = NULL, lease_until = NULL, stage = ?, "
                "attempts = MAX(attempts - 1, 0), updated_at = ? "
                "WHERE id = ? AND lease_owner = ? AND status = 'processing'",
                (stage, time.time(), task_id, worker),
            )
            return cur.rowcount == 1

    def update_source(self, task_id: str, source_path: str) -> None:
        with self._transaction() as db:
            db.execute("UPDATE tasks SET source_path = ? WHERE id = ?", (source_path, task_id))

    def complete(
        self,
        task_id: str,
        worker: str,
        duration: float,
        segments: Sequence[tuple[str, str, float, float, np.ndarray]],
        encoders: dict[str, str] | None = None,
        clip_texts: Sequence[ClipText] = (),
        media: MediaFacts | None = None,
    ) -> bool:
        """Results (vectors and the clips' spoken words), ``ready`` and the identities of the
        encoders that made them, in one transaction."""
        now = time.time()
        with self._transaction() as db:
            cur = db.execute(
                "UPDATE tasks SET status = 'ready', duration = ?, progress = 1.0, stage = 'done', "
                "lease_owner = NULL, lease_until = NULL, updated_at = ?, encoders = ?, media = ? "
                "WHERE id = ? AND lease_owner = ? AND status = 'processing'",
                (
                    duration,
                    now,
                    json.dumps(encoders) if encoders else None,
                    json.dumps(media) if media else None,
                    task_id,
                    worker,
                ),
            )
            if cur.rowcount != 1:
                return False
            db.execute("DELETE FROM segments WHERE task_id = ?", (task_id,))
            db.executemany(
                "INSERT INTO segments (task_id, seq, option, scope, start_sec, end_sec, vector) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (task_id, i, o, s, a, b, np.asarray(v, dtype="<f4").tobytes())
                    for i, (o, s, a, b, v) in enumerate(segments)
                ],
            )
            texts.insert_texts(db, task_id, clip_texts)
            _record_end(db, task_id)
            _bump_index(db, task_id)
            return True

    def fail(self, task_id: str, reason: str, duration: float | None = None) -> None:
        now = time.time()
        with self._transaction() as db:
            cur = db.execute(
                "UPDATE tasks SET status = 'failed', error = ?, duration = COALESCE(?, duration), "
                "stage = 'failed', lease_owner = NULL, lease_until = NULL, updated_at = ? "
                "WHERE id = ? AND status = 'processing'",
                (reason, duration, now, task_id),
            )
            if cur.rowcount == 1:
                _record_end(db, task_id)

    # --- results ---------------------------------------------------------------------------

    def segments(
        self, task_ids: Iterable[str], options: Sequence[str] | None = None
    ) -> builtins.list[StoredSegment]:
        ids = list(task_ids)
        if not ids:
            return []
        query = (
            f"SELECT task_id, option, scope, start_sec, end_sec, vector FROM segments "
            f"WHERE task_id IN ({', '.join('?' * len(ids))})"
        )
        args: list[Any] = list(ids)
        if options:
            query += f" AND option IN ({', '.join('?' * len(options))})"
            args += list(options)
        with self._lock:
            rows = self._conn.execute(query + " ORDER BY task_id, seq", args).fetchall()
        return [StoredSegment(r[0], r[1], r[2], r[3], r[4], np.frombuffer(r[5], dtype="<f4")) for r in rows]

    def delete(self, task_id: str) -> None:
        """A task, its vectors and its clips' words (the synchronous v2 route's task, once
        answered; a video deleted from an index)."""
        with self._transaction() as db:
            _bump_index(db, task_id)
            texts.delete_texts(db, task_id)
            db.execute("DELETE FROM tasks WHERE id = ?", (task_id,))

    def clip_texts(self, task_ids: Sequence[str]) -> dict[str, builtins.list[ClipText]]:
        with self._lock:
            return texts.texts_of(self._conn, task_ids)

    def lexical(self, task_ids: Sequence[str], query: str, limit: int) -> builtins.list[LexicalHit]:
        with self._lock:
            return texts.lexical(self._conn, self._task_sets.of(task_ids), query, limit, self._vocabulary)

    def index_tasks(self, index_id: str) -> builtins.list[TaskRecord]:
        """Every task of a search index (its videos, whatever their status), newest first."""
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_COLUMNS} FROM tasks WHERE index_id = ? ORDER BY created_at DESC, id DESC",
                (index_id,),
            ).fetchall()
        return [_record(r) for r in rows]

    def index_totals(self, index_id: str) -> tuple[int, float]:
        with self._lock:
            count, seconds = self._conn.execute(
                "SELECT count(*), COALESCE(sum(duration), 0) FROM tasks "
                "WHERE index_id = ? AND status = 'ready'",
                (index_id,),
            ).fetchone()
        return int(count), float(seconds)

    def set_user_metadata(self, task_id: str, metadata: dict[str, object] | None) -> bool:
        with self._transaction() as db:
            cur = db.execute(
                "UPDATE tasks SET user_metadata = ?, updated_at = ? WHERE id = ?",
                (json.dumps(metadata) if metadata is not None else None, time.time(), task_id),
            )
            _bump_index(db, task_id)
            return cur.rowcount == 1

    def index_generation(self, index_id: str) -> int:
        """How many times the index's ready videos changed (0: never)."""
        with self._lock:
            row = self._conn.execute(
                "SELECT generation FROM index_generations WHERE index_id = ?", (index_id,)
            ).fetchone()
        return int(row[0]) if row else 0

    def ready_tasks(self, owner: str | None) -> builtins.list[TaskRecord]:
        """Every ready task (of ``owner``) that search can rank, oldest first: tasks of both
        APIs (not the synchronous route's, which are deleted once answered)."""
        query, args = f"SELECT {_COLUMNS} FROM tasks WHERE status = 'ready' AND api != 'v2-sync'", []
        if owner is not None:
            query, args = query + " AND owner = ?", [owner]
        with self._lock:
            return [_record(r) for r in self._conn.execute(query + " ORDER BY created_at", args)]

    # --- the webhook outbox (vidembed/stores/outbox.py) -------------------------------------

    def task_events(self, task_id: str) -> builtins.list[TaskEvent]:
        with self._lock:
            return events.events_of(self._conn, task_id)

    def watch_events(self, urls: Sequence[str]) -> None:
        with self._transaction() as db:
            events.watch(db, urls, time.time())

    def claim_events(
        self, worker: str, urls: Sequence[str], lease_seconds: float, limit: int, max_age: float
    ) -> builtins.list[Delivery]:
        """Due deliveries to ``urls``, leased to ``worker``. A read first: an idle deliverer's poll
        does not take the file's write lock."""
        now = time.time()
        with self._lock:
            if not events.anything_due(self._conn, urls, now, max_age):
                return []
        with self._transaction() as db:
            return events.claim(db, worker, urls, lease_seconds, limit, max_age, time.time())

    def event_delivered(self, event_id: str, url: str, worker: str) -> bool:
        with self._transaction() as db:
            return events.delivered(db, event_id, url, worker, time.time())

    def event_failed(self, event_id: str, url: str, worker: str, error: str, retry_in: float | None) -> bool:
        with self._transaction() as db:
            return events.failed(db, event_id, url, worker, error, retry_in, time.time())


def _record_end(db: sqlite3.Connection, task_id: str) -> None:
    """The outbox event of a task the caller's transaction just ended, written in that transaction."""
    row = db.execute(f"SELECT {_COLUMNS} FROM tasks WHERE id = ?", (task_id,)).fetchone()
    if row is not None:
        events.record_event(db, _record(row))


def _bump_index(db: sqlite3.Connection, task_id: str) -> None:
    """The index of this task (if it is an index task) has changed: its generation goes up."""
    db.execute(
        "INSERT INTO index_generations (index_id, generation) "
        "SELECT index_id, 1 FROM tasks WHERE id = ? AND index_id IS NOT NULL "
        "ON CONFLICT (index_id) DO UPDATE SET generation = generation + 1",
        (task_id,),
    )
