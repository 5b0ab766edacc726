"""Tasks and their vectors in PostgreSQL: the store for several API servers and workers sharing one
database (``--database-url postgresql://...``; docs/POSTGRES.md).

The same rules as ``SQLiteStore`` (vidembed.stores.base has them; the contract tests check
both): results and ``ready`` in one transaction, so a task is either ready with all its segments or
still processing; a lease that only its owner can renew, release or complete. What differs is how:

- claiming locks the chosen row with ``FOR UPDATE SKIP LOCKED``, so claimers in other threads,
  processes or machines never wait for each other nor take the same task;
- lease deadlines and ``updated_at`` come from the database clock (``now()``), never the
  caller's, so machines whose clocks differ agree on when a lease has run out;
- connections come from a pool (psycopg_pool), one per call, so the store is safe to share between
  request threads, worker threads and their heartbeat threads;
- the schema is brought up to date on open by numbered migrations (vidembed.stores.postgres.migrations).

TaskRecord keeps its timestamps as float epoch seconds; they are timestamptz in the database
(microsecond precision) and converted here, at the boundary.
"""

from __future__ import annotations

import builtins  # builtins.list: in the classes below, list names the method
import hashlib
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from vidembed.records import MediaFacts, SegmentRow, StoredSegment, TaskRecord
from vidembed.stores.base import WAITING_FOR_ASSET, params_document, params_from_document
from vidembed.stores.lexical import ClipText, LexicalHit, TaskSets, VocabularyCache
from vidembed.stores.outbox import Delivery, TaskEvent
from vidembed.stores.postgres import events, texts
from vidembed.stores.postgres.database import open_pool, select_page

_COLUMNS = (
    "id, owner, model_name, status, params, options, source_path, input_url, input_filename, "
    "duration, error, progress, stage, attempts, created_at, updated_at, stack, encoders, "
    "api, input_type, asset_id, index_id, user_metadata, media"
)
_N_COLUMNS = _COLUMNS.count(",") + 1
# The claim order: the synchronous route's tasks first (a caller is waiting on the connection),
# then the oldest; id breaks ties so that the order is total.
_CLAIM_ORDER = "(api = 'v2-sync') DESC, created_at, id"
_SEGMENT_COLUMNS = ("task_id", "seq", "option", "scope", "start_sec", "end_sec", "vector")
_INSERT = f"INSERT INTO tasks ({_COLUMNS}) VALUES ({', '.join(['%s'] * _N_COLUMNS)})"
# pg_advisory_xact_lock(int4, int4) keys of the per-owner admission lock: a class of our own ("vdmb"
# as a big-endian int32; the two-key space never meets the migrations' one-bigint key) and a
# 32-bit hash of the owner. Two owners whose hashes collide only take turns; nothing else changes.
ADMIT_LOCK_CLASS = int.from_bytes(b"vdmb", "big")


def owner_lock_key(owner: str) -> int:
    """The owner's key in the admission lock: the first 4 bytes of its SHA-256, as a signed int32
    (the same on every server, unlike Python's hash())."""
    return int.from_bytes(hashlib.sha256(owner.encode()).digest()[:4], "big", signed=True)


def _timestamp(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def _record(row: dict[str, Any]) -> TaskRecord:
    data = dict(row)
    data["created_at"] = data["created_at"].timestamp()
    data["updated_at"] = data["updated_at"].timestamp()
    data["encoders"] = data["encoders"] or None
    data["params"], data["v2"] = params_from_document(data["params"])
    return TaskRecord(**data)


def _insert_args(task: TaskRecord) -> tuple[object, ...]:
    """The values of ``_INSERT`` for a task."""
    return (
        task.id,
        task.owner,
        task.model_name,
        task.status,
        Jsonb(params_document(task)),
        Jsonb(task.options),
        task.source_path,
        task.input_url,
        task.input_filename,
        task.duration,
        task.error,
        task.progress,
        task.stage,
        task.attempts,
        _timestamp(task.created_at),
        _timestamp(task.updated_at),
        task.stack,
        Jsonb(task.encoders) if task.encoders is not None else None,
        task.api,
        task.input_type,
        task.asset_id,
        task.index_id,
        Jsonb(task.user_metadata) if task.user_metadata is not None else None,
        Jsonb(task.media) if task.media is not None else None,
    )


class PostgresStore:
    """A ``TaskStore`` on PostgreSQL (psycopg 3 with a connection pool)."""

    def __init__(self, url: str, *, max_connections: int = 10, connect_timeout: float = 10) -> None:
        """Connects to ``url`` (a libpq URI or conninfo string), applies the migrations the database
        lacks and opens a pool of up to ``max_connections``; ConfigurationError if the server
        cannot be reached."""
        self._pool = open_pool(
            url, max_connections=max_connections, connect_timeout=connect_timeout, name="vidembed-store"
        )
        self._vocabulary = VocabularyCache()  # the lexical search's spelling variants come from it
        self._task_sets = TaskSets()  # the last search pool's ids, as a set

    def close(self) -> None:
        self._pool.close()

    def _one(self, query: str, args: Sequence[object] = ()) -> dict[str, Any] | None:
        with self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            return cur.execute(query, args).fetchone()

    def _all(self, query: str, args: Sequence[object] = ()) -> list[dict[str, Any]]:
        with self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            return cur.execute(query, args).fetchall()

    def _write(self, query: str, args: Sequence[object]) -> int:
        """Runs one statement in a transaction of its own; the number of rows it changed."""
        with self._pool.connection() as conn:
            return conn.execute(query, args).rowcount

    # --- tasks -----------------------------------------------------------------------------

    def insert(self, task: TaskRecord) -> None:
        self._write(_INSERT, _insert_args(task))

    def insert_leased(self, task: TaskRecord, worker: str, lease_seconds: float) -> None:
        with self._pool.connection() as conn:  # one transaction: the row is never seen unleased
            conn.execute(_INSERT, _insert_args(task))
            conn.execute(
                "UPDATE tasks SET lease_owner = %s, lease_until = now() + make_interval(secs => %s), "
                "attempts = attempts + 1 WHERE id = %s",
                (worker, float(lease_seconds), task.id),
            )

    def insert_within_limit(self, task: TaskRecord, limit: int) -> bool:
        """Inserts the task unless its owner already has ``limit`` tasks processing (False then,
        nothing written). Count and insert run in one transaction under an advisory lock of the
        owner's, so API servers admitting the same owner's tasks at the same instant take turns
        (a count alone would not do: under READ COMMITTED no one sees the others' uncommitted
        inserts). The lock is the transaction's: released at commit, after the insert is visible."""
        with self._pool.connection() as conn:
            conn.execute(
                "SELECT pg_advisory_xact_lock(%s, %s)", (ADMIT_LOCK_CLASS, owner_lock_key(task.owner))
            )
            row = conn.execute(
                "SELECT count(*) FROM tasks WHERE owner = %s AND status = 'processing'", (task.owner,)
            ).fetchone()
            if row is not None and int(row[0]) >= limit:
                return False
            conn.execute(_INSERT, _insert_args(task))
        return True

    def get(self, task_id: str, owner: str | None = None) -> TaskRecord | None:
        query, args = f"SELECT {_COLUMNS} FROM tasks WHERE id = %s", [task_id]
        if owner is not None:
            query, args = query + " AND owner = %s", [*args, owner]
        row = self._one(query, args)
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
            ("api = %s", api),
            ("owner = %s", owner),
            ("status = %s", status),
            ("created_at > %s", _timestamp(created_after)),
            ("created_at < %s", _timestamp(created_before)),
        )
        return select_page(self._pool, "tasks", _COLUMNS, filters, offset, limit, _record)

    def count_active(self, owner: str) -> int:
        row = self._one("SELECT count(*) AS n FROM tasks WHERE owner = %s AND status = 'processing'", [owner])
        return int(row["n"]) if row else 0

    def update_source(self, task_id: str, source_path: str) -> None:
        self._write("UPDATE tasks SET source_path = %s WHERE id = %s", (source_path, task_id))

    def delete(self, task_id: str) -> None:
        """A task, its vectors and its clips' words (cascade): the synchronous v2 route's task,
        once answered; a video deleted from an index."""
        with self._pool.connection() as conn:
            _bump_index(conn, task_id)
            conn.execute("DELETE FROM tasks WHERE id = %s", (task_id,))

    def clip_texts(self, task_ids: Sequence[str]) -> dict[str, builtins.list[ClipText]]:
        with self._pool.connection() as conn:
            return texts.texts_of(conn, task_ids)

    def lexical(self, task_ids: Sequence[str], query: str, limit: int) -> builtins.list[LexicalHit]:
        with self._pool.connection() as conn:
            return texts.lexical(conn, self._task_sets.of(task_ids), query, limit, self._vocabulary)

    def index_tasks(self, index_id: str) -> builtins.list[TaskRecord]:
        """Every task of a search index (its videos, whatever their status), newest first."""
        return [
            _record(r)
            for r in self._all(
                f"SELECT {_COLUMNS} FROM tasks WHERE index_id = %s ORDER BY created_at DESC, id DESC",
                (index_id,),
            )
        ]

    def index_totals(self, index_id: str) -> tuple[int, float]:
        row = self._one(
            "SELECT count(*) AS videos, COALESCE(sum(duration), 0) AS seconds FROM tasks "
            "WHERE index_id = %s AND status = 'ready'",
            (index_id,),
        )
        return (int(row["videos"]), float(row["seconds"])) if row else (0, 0.0)

    def set_user_metadata(self, task_id: str, metadata: dict[str, object] | None) -> bool:
        with self._pool.connection() as conn:
            changed = conn.execute(
                "UPDATE tasks SET user_metadata = %s, updated_at = now() WHERE id = %s",
                (Jsonb(metadata) if metadata is not None else None, task_id),
            ).rowcount
            _bump_index(conn, task_id)
        return changed == 1

    def index_generation(self, index_id: str) -> int:
        """How many times the index's ready videos changed (0: never)."""
        row = self._one("SELECT generation FROM index_generations WHERE index_id = %s", (index_id,))
        return int(row["generation"]) if row else 0

    # --- the worker's side -----------------------------------------------------------------

    def claim(self, worker: str, lease_seconds: float, max_attempts: int) -> TaskRecord | None:
        """Takes the oldest processing task whose lease is free or expired, or None (the
        synchronous route's tasks first). Rows another claimer holds locked are skipped, not
        waited for; a task already claimed ``max_attempts`` times ends failed instead."""
        with self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            while True:
                candidate = cur.execute(
                    "SELECT id, attempts, stage FROM tasks WHERE status = 'processing' "
                    "AND (lease_until IS NULL OR lease_until < now()) AND stage <> %s "
                    f"ORDER BY {_CLAIM_ORDER} LIMIT 1 FOR UPDATE SKIP LOCKED",
                    (WAITING_FOR_ASSET,),
                ).fetchone()
                if candidate is None:
                    return None
                if candidate["attempts"] >= max_attempts:
                    self._give_up(cur, candidate["id"], candidate["attempts"], candidate["stage"])
                    _record_end(conn, candidate["id"])
                    continue  # still locked by us and no longer processing: the next one
                claimed = cur.execute(
                    "UPDATE tasks SET lease_owner = %s, lease_until = now() + make_interval(secs => %s), "
                    f"attempts = attempts + 1, updated_at = now() WHERE id = %s RETURNING {_COLUMNS}",
                    (worker, float(lease_seconds), candidate["id"]),
                ).fetchone()
                assert claimed is not None  # the row is locked by this transaction
                return _record(claimed)

    @staticmethod
    def _give_up(cur: psycopg.Cursor[dict[str, Any]], task_id: str, attempts: int, stage: str) -> None:
        reason = (
            f"The task was attempted {attempts} times and its worker stopped "
            f"each time (last seen at stage '{stage}'); giving up."
        )
        cur.execute(
            "UPDATE tasks SET status = 'failed', error = %s, lease_owner = NULL, "
            "lease_until = NULL, updated_at = now() WHERE id = %s",
            (reason, task_id),
        )

    def waiting_for_asset(self, asset_id: str | None = None) -> builtins.list[TaskRecord]:
        query = f"SELECT {_COLUMNS} FROM tasks WHERE status = 'processing' AND stage = %s"
        args: list[object] = [WAITING_FOR_ASSET]
        if asset_id is not None:
            query, args = query + " AND asset_id = %s", [*args, asset_id]
        return [_record(row) for row in self._all(query + " ORDER BY created_at, id", args)]

    def start_waiting(self, task_id: str, source_path: str, input_filename: str | None) -> bool:
        changed = self._write(
            "UPDATE tasks SET source_path = %s, input_filename = COALESCE(%s, input_filename), "
            "stage = 'queued', updated_at = now() WHERE id = %s AND status = 'processing' AND stage = %s",
            (source_path, input_filename, task_id, WAITING_FOR_ASSET),
        )
        return changed == 1

    def fail_waiting(self, task_id: str, reason: str) -> bool:
        with self._pool.connection() as conn:  # the end and its outbox event: one transaction
            changed = conn.execute(
                "UPDATE tasks SET status = 'failed', error = %s, stage = 'failed', updated_at = now() "
                "WHERE id = %s AND status = 'processing' AND stage = %s",
                (reason, task_id, WAITING_FOR_ASSET),
            ).rowcount
            if changed == 1:
                _record_end(conn, task_id)
        return changed == 1

    def claim_task(self, task_id: str, worker: str, lease_seconds: float) -> bool:
        """Takes the lease of this one processing task if it is free or expired (attempts + 1);
        False if it is held, finished or absent (``vidembed batch``: its own task, result in hand)."""
        changed = self._write(
            "UPDATE tasks SET lease_owner = %s, lease_until = now() + make_interval(secs => %s), "
            "attempts = attempts + 1, updated_at = now() WHERE id = %s AND status = 'processing' "
            "AND (lease_until IS NULL OR lease_until < now())",
            (worker, float(lease_seconds), task_id),
        )
        return changed == 1

    def renew(
        self,
        task_id: str,
        worker: str,
        lease_seconds: float,
        progress: float | None = None,
        stage: str | None = None,
    ) -> bool:
        """Extends a lease (and records progress); False if the lease was lost."""
        changed = self._write(
            "UPDATE tasks SET lease_until = now() + make_interval(secs => %s), "
            "progress = COALESCE(%s, progress), stage = COALESCE(%s, stage), updated_at = now() "
            "WHERE id = %s AND lease_owner = %s AND status = 'processing'",
            (float(lease_seconds), progress, stage, task_id, worker),
        )
        return changed == 1

    def release(self, task_id: str, worker: str, reason: str) -> None:
        """Gives a task back for another attempt at once, recording why this one ended."""
        self._write(
            "UPDATE tasks SET lease_owner = NULL, lease_until = NULL, error = %s, updated_at = now() "
            "WHERE id = %s AND lease_owner = %s AND status = 'processing'",
            (reason, task_id, worker),
        )

    def lease_holder(self, task_id: str) -> str | None:
        row = self._one(
            "SELECT lease_owner FROM tasks WHERE id = %s AND status = 'processing' AND lease_until >= now()",
            [task_id],
        )
        return row["lease_owner"] if row else None

    def give_back(self, task_id: str, worker: str, stage: str) -> bool:
        """Frees the lease of a task its holder stopped on purpose, the attempt not counted."""
        changed = self._write(
            "UPDATE tasks SET lease_owner = NULL, lease_until = NULL, stage = %s, "
            "attempts = GREATEST(attempts - 1, 0), updated_at = now() "
            "WHERE id = %s AND lease_owner = %s AND status = 'processing'",
            (stage, task_id, worker),
        )
        return changed == 1

    def complete(
        self,
        task_id: str,
        worker: str,
        duration: float,
        segments: Sequence[SegmentRow],
        encoders: dict[str, str] | None = None,
        clip_texts: Sequence[ClipText] = (),
        media: MediaFacts | None = None,
    ) -> bool:
        """Results (vectors and the clips' spoken words), ``ready`` and the identities of the
        encoders that made them, in one transaction."""
        with self._pool.connection() as conn, conn.cursor() as cur:
            cur.execute(
                "UPDATE tasks SET status = 'ready', duration = %s, progress = 1.0, stage = 'done', "
                "lease_owner = NULL, lease_until = NULL, updated_at = now(), encoders = %s, media = %s "
                "WHERE id = %s AND lease_owner = %s AND status = 'processing'",
                (
                    duration,
                    Jsonb(encoders) if encoders else None,
                    Jsonb(media) if media else None,
                    task_id,
                    worker,
                ),
            )
            if cur.rowcount != 1:
                return False
            cur.execute("DELETE FROM segments WHERE task_id = %s", (task_id,))
            # COPY: a long video's thousands of rows in one round trip
            with cur.copy(f"COPY segments ({', '.join(_SEGMENT_COLUMNS)}) FROM STDIN") as copy:
                for seq, (option, scope, start, end, vector) in enumerate(segments):
                    blob = np.asarray(vector, dtype="<f4").tobytes()
                    copy.write_row((task_id, seq, option, scope, float(start), float(end), blob))
            texts.insert_texts(conn, task_id, clip_texts)
            _record_end(conn, task_id)
            _bump_index(conn, task_id)
            return True

    def fail(self, task_id: str, reason: str, duration: float | None = None) -> None:
        with self._pool.connection() as conn:  # the end and its outbox event: one transaction
            changed = conn.execute(
                "UPDATE tasks SET status = 'failed', error = %s, duration = COALESCE(%s, duration), "
                "stage = 'failed', lease_owner = NULL, lease_until = NULL, updated_at = now() "
                "WHERE id = %s AND status = 'processing'",
                (reason, duration, task_id),
            ).rowcount
            if changed == 1:
                _record_end(conn, task_id)

    # --- results ---------------------------------------------------------------------------

    def segments(
        self, task_ids: Iterable[str], options: Sequence[str] | None = None
    ) -> builtins.list[StoredSegment]:
        ids = list(task_ids)
        if not ids:
            return []
        query = (
            "SELECT task_id, option, scope, start_sec, end_sec, vector FROM segments WHERE task_id = ANY(%s)"
        )
        args: list[object] = [ids]
        if options:
            query += " AND option = ANY(%s)"
            args.append(list(options))
        with self._pool.connection() as conn:
            rows = conn.execute(query + " ORDER BY task_id, seq", args).fetchall()
        return [
            StoredSegment(task, option, scope, start, end, np.frombuffer(blob, dtype="<f4"))
            for task, option, scope, start, end, blob in rows
        ]

    def ready_tasks(self, owner: str | None) -> builtins.list[TaskRecord]:
        """Every ready task (of ``owner``) that search can rank, oldest first: tasks of both
        APIs (not the synchronous route's, which are deleted once answered)."""
        query, args = f"SELECT {_COLUMNS} FROM tasks WHERE status = 'ready' AND api <> 'v2-sync'", []
        if owner is not None:
            query, args = query + " AND owner = %s", [owner]
        return [_record(r) for r in self._all(query + " ORDER BY created_at, id", args)]

    # --- the webhook outbox (vidembed/stores/outbox.py) -------------------------------------

    def task_events(self, task_id: str) -> builtins.list[TaskEvent]:
        with self._pool.connection() as conn:
            return events.events_of(conn, task_id)

    def watch_events(self, urls: Sequence[str]) -> None:
        with self._pool.connection() as conn:
            events.watch(conn, urls)

    def claim_events(
        self, worker: str, urls: Sequence[str], lease_seconds: float, limit: int, max_age: float
    ) -> builtins.list[Delivery]:
        with self._pool.connection() as conn:
            return events.claim(conn, worker, urls, lease_seconds, limit, max_age)

    def event_delivered(self, event_id: str, url: str, worker: str) -> bool:
        with self._pool.connection() as conn:
            return events.delivered(conn, event_id, url, worker)

    def event_failed(self, event_id: str, url: str, worker: str, error: str, retry_in: float | None) -> bool:
        with self._pool.connection() as conn:
            return events.failed(conn, event_id, url, worker, error, retry_in)


def _record_end(conn: psycopg.Connection[Any], task_id: str) -> None:
    """The outbox event of a task the caller's transaction just ended, written in that transaction
    (its time is the end's ``updated_at``: the database clock)."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(f"SELECT {_COLUMNS} FROM tasks WHERE id = %s", (task_id,)).fetchone()
    if row is not None:
        events.record_event(conn, _record(row))


def _bump_index(conn: psycopg.Connection[Any], task_id: str) -> None:
    """The index of this task (if it is an index task) has changed: its generation goes up (in
    the caller's transaction, so servers sharing the database see it with the change)."""
    conn.execute(
        "INSERT INTO index_generations (index_id, generation) "
        "SELECT index_id, 1 FROM tasks WHERE id = %s AND index_id IS NOT NULL "
        "ON CONFLICT (index_id) DO UPDATE SET generation = index_generations.generation + 1",
        (task_id,),
    )
