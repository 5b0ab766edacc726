"""Clip search inside PostgreSQL with pgvector: the search of a shared ``PostgresStore``.

With the PostgreSQL store, every API server can search the same vectors where they already are,
instead of each keeping its own copy in memory (``vector_index.ClipIndex``). ``PgVectorIndex`` gives
what ``ClipIndexes.rank`` gives, the per-option rankings and the fused one, owner isolation
included (docs/SEARCH.md, "PostgreSQL with pgvector"):

- **Tables.** ``clip_vectors`` holds each ready task's clip vectors as pgvector ``vector`` values
  (one row per task, option and clip, with the task's stack and owner, whether it is the option's
  placeholder, and a random sample bucket); ``clip_vector_tasks`` one row per indexed task with its
  clip counts. Both reference ``tasks`` with ``ON DELETE CASCADE``: a deleted task leaves search at
  once. They are filled from ``segments`` by the first search that meets a task not yet indexed
  (any server; a task is indexed once, whoever gets there first), so the write path stays the
  store's own.
- **Indexes.** One HNSW index (cosine) per stack and option, a partial expression index on
  ``embedding::vector(DIM)`` over that stack's and option's real vectors (placeholders are counted,
  not indexed: thousands of identical "no speech" vectors would only crowd the graph). It is built
  once a stack's option holds more than ``exact_rows`` vectors, after the bulk of them is in
  (building after loading is many times faster than inserting into a graph), in the background
  (``CREATE INDEX CONCURRENTLY``, one index at a time, one server at a time): until it is valid,
  searches scan exactly. PostgreSQL keeps it up to date afterwards.
- **Queries.** An option whose allowed vectors (the caller's tasks: its owner's, with current
  encoders) number at most ``exact_rows`` is scanned exactly. Above that the HNSW index is asked
  for ``ef_search`` candidates, more in proportion when the caller's vectors are a small share of
  the partition (pgvector 0.6 filters after the graph search); if the filter leaves fewer than
  needed, the exact scan runs instead, so a small owner's search never comes back short. Every
  candidate is rescored in numpy from its float32 vector, as ``rank_clips`` scores.
- **Fusion.** The z-max statistics (count, mean and spread of an option's scores over the allowed
  clips) are exact up to ``stats_sample`` allowed vectors and estimated from a fixed random sample
  of about that many above (the spread is floored at 0.1 where typical spreads are 0.03-0.07, so
  a sample of 5,000 moves a z-score by under 0.01).

Needs pgvector 0.5.0 or newer (HNSW); measured and tested with 0.6.2 (the ``pgserver`` wheel).
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import psycopg
from pgvector import Vector
from pgvector.psycopg import register_vector
from psycopg import sql
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from vidembed.errors import ConfigurationError
from vidembed.records import TaskRecord
from vidembed.search.rank import (
    FUSED,
    MIN_CANDIDATES,
    ClipKey,
    Hit,
    OptionScan,
    TaskInfo,
    clip_counts,
    fuse_candidates,
    hits_of,
    is_placeholder,
    options_in_order,
)
from vidembed.stores.base import without_password

log = logging.getLogger(__name__)

# At or below this many allowed vectors in an option a query scans them exactly. Measured by
# `python -m benchmarks.search --pgvector` (docs/SEARCH.md): the exact scan cost 9-13 ms at 10k
# 384-dimensional vectors and 23 ms at 30k, the HNSW search 5 ms at 30k; below 10k the two cost
# about the same and only the scan is exact whatever the vectors.
EXACT_ROWS = 10_000
# Candidates the HNSW search is asked for (hnsw.ef_search; pgvector's default is 40). Measured at
# 100k clustered vectors: recall@10 1.000 at 40 and 100 (1.0 and 1.3 ms).
EF_SEARCH = 100
MAX_EF_SEARCH = 1_000  # pgvector's upper limit for hnsw.ef_search
# Fusion's statistics are exact up to this many allowed vectors of an option and come from a
# fixed random sample of about as many above (an aggregate over 10k vectors cost about 10 ms).
# The spread is floored at 0.1 (search.MIN_SPREAD) where typical spreads are 0.03-0.07, and the
# mean of 5,000 scores with spread 0.05 is off by about 0.0007: a z-score by under 0.01.
STATS_SAMPLE = 5_000
SAMPLE_BUCKETS = 1_024  # clip_vectors.sample is uniform in [0, SAMPLE_BUCKETS)
# maintenance_work_mem while an HNSW index is built: pgvector builds fastest while the graph fits
# (about 2 KB per 384-dimensional vector: 2 GB at 1M); past it, it goes on much slower,
# with a notice. Only this transaction's setting; the server must have the memory.
BUILD_MEMORY = "4GB"
SYNC_BATCH = 64  # tasks indexed per transaction
SIZES_TTL = 30.0  # seconds a stack's partition sizes are reused (see _partition_sizes)
# How often a search looks whether an index it lacks has been built (by another server, say).
LOOK_AGAIN_SECONDS = 30.0
# pg_advisory_xact_lock(int4, int4) class of the index builds ("vdmv"): one build per index at a time.
BUILD_LOCK_CLASS = int.from_bytes(b"vdmv", "big")

SCHEMA = """
CREATE TABLE IF NOT EXISTS clip_vector_tasks (
    task_id text COLLATE "C" PRIMARY KEY REFERENCES tasks (id) ON DELETE CASCADE,
    stack text NOT NULL,
    owner text NOT NULL,
    options jsonb NOT NULL,
    counts jsonb NOT NULL,
    clips jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS clip_vector_tasks_by_stack ON clip_vector_tasks (stack);
CREATE TABLE IF NOT EXISTS clip_vectors (
    task_id text COLLATE "C" NOT NULL REFERENCES clip_vector_tasks (task_id) ON DELETE CASCADE,
    option text NOT NULL,
    start_sec double precision NOT NULL,
    end_sec double precision NOT NULL,
    stack text NOT NULL,
    owner text NOT NULL,
    placeholder boolean NOT NULL,
    sample smallint NOT NULL,
    embedding vector NOT NULL,
    PRIMARY KEY (task_id, option, start_sec, end_sec)
);
CREATE INDEX IF NOT EXISTS clip_vectors_sample ON clip_vectors (stack, option, sample) WHERE NOT placeholder;
"""
_COPY_TYPES = ["text", "text", "float8", "float8", "text", "text", "bool", "int2", "vector"]


class PgVectorIndex:
    """Search over the clip vectors of a PostgreSQL store's ready tasks (module doc)."""

    def __init__(
        self,
        url: str,
        *,
        exact_rows: int = EXACT_ROWS,
        ef_search: int = EF_SEARCH,
        stats_sample: int = STATS_SAMPLE,
        build_memory: str = BUILD_MEMORY,
        max_connections: int = 4,
    ) -> None:
        """Creates the extension (if the role may) and the tables in the database at ``url`` (a
        database the task store has migrated) and opens a pool; ConfigurationError if pgvector is
        not installed on the server."""
        self.exact_rows = exact_rows
        self.ef_search = ef_search
        self.stats_sample = stats_sample
        self.build_memory = build_memory
        try:
            with psycopg.connect(url, connect_timeout=10) as conn:
                conn.execute("SELECT pg_advisory_xact_lock(%s, 0)", (BUILD_LOCK_CLASS,))
                conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
                conn.execute(SCHEMA)
        except psycopg.Error as exc:
            raise ConfigurationError(
                f"Cannot use pgvector in the PostgreSQL database {without_password(url)}: "
                f"{str(exc).strip().splitlines()[0]} (pgvector 0.5.0 or newer must be installed "
                "on the server; docs/POSTGRES.md)"
            ) from None
        self._pool: ConnectionPool = ConnectionPool(
            url,
            min_size=1,
            max_size=max_connections,
            open=False,
            configure=register_vector,
            check=ConnectionPool.check_connection,
            name="vidembed-vectors",
        )
        self._pool.open(wait=True, timeout=10)
        self._tasks: dict[str, TaskInfo] = {}  # indexed tasks' clip counts: they never change
        self._counts: dict[str, dict[str, int]] = {}  # task id -> option -> real vectors
        self._hnsw: set[str] = set()  # index names known to exist
        self._looked: dict[str, float] = {}  # stack -> when this process last looked for its indexes
        self._building: set[str] = set()  # index names this process is building
        self._builds: list[threading.Thread] = []
        self._url = url
        self._sizes: dict[str, tuple[float, dict[str, int]]] = {}  # stack -> (when, vectors per option)
        self._lock = threading.Lock()

    def close(self) -> None:
        self._pool.close()

    # --- search --------------------------------------------------------------------------

    def rank(
        self,
        stack: str,
        query: np.ndarray,
        top: int,
        placeholders: Mapping[str, np.ndarray],
        *,
        owner: str | None,
        tasks: Sequence[TaskRecord],
        options: Sequence[str] | None,
    ) -> dict[str, list[Hit]]:
        """What ``rank_clips`` gives over ``tasks``' clips (the caller's searchable tasks)."""
        query = np.asarray(query, np.float32)
        self._index_missing(stack, tasks, placeholders, len(query))
        infos = {t.id: self._tasks[t.id] for t in tasks if t.id in self._tasks}
        present = options_in_order(infos, options)
        fused = len(present) > 1
        wanted = max(top, MIN_CANDIDATES // 4) if fused else top
        with self._pool.connection() as conn:
            scans = {
                option: self._scan_option(conn, stack, option, query, wanted, owner, infos, fused)
                for option in present
            }
            ranked = {option: hits_of(scan, option, top) for option, scan in scans.items()}
            if fused:
                ranked[FUSED] = self._fuse(conn, query, present, scans, infos, placeholders, top)
        return ranked

    def _scan_option(
        self,
        conn: psycopg.Connection[Any],
        stack: str,
        option: str,
        query: np.ndarray,
        wanted: int,
        owner: str | None,
        infos: Mapping[str, TaskInfo],
        statistics: bool,
    ) -> OptionScan:
        allowed = [t for t in infos if self._counts[t].get(option, 0)]
        count = sum(self._counts[t][option] for t in allowed)
        if not count:
            return OptionScan([], 0, 0.0, 0.0)
        rows = None
        if count > self.exact_rows:
            rows = self._approximate(conn, stack, option, query, wanted, owner, set(allowed), count)
        if rows is None:
            rows = conn.execute(
                "SELECT task_id, start_sec, end_sec, embedding FROM clip_vectors "
                "WHERE task_id = ANY(%s) AND option = %s AND NOT placeholder "
                "ORDER BY embedding <=> %s, task_id, start_sec, end_sec LIMIT %s",
                (allowed, option, query, wanted + 8),  # a margin for pgvector's rounding
                binary=True,  # vectors as float32 bytes: parsing their text costs 0.1 ms each
            ).fetchall()
        total, squares = (0.0, 0.0)
        if statistics:
            total, squares = self._moments(conn, stack, option, query, allowed, count)
        return OptionScan(_rescored(rows, query)[:wanted], count, total, squares)

    def _approximate(
        self,
        conn: psycopg.Connection[Any],
        stack: str,
        option: str,
        query: np.ndarray,
        wanted: int,
        owner: str | None,
        allowed: set[str],
        count: int,
    ) -> list[tuple[Any, ...]] | None:
        """The HNSW search's candidates among the allowed tasks, or None when the exact scan must
        run instead (no index yet, or the allowed vectors too small a share of the partition to
        find enough of them)."""
        name = self._hnsw_name(stack, option, len(query))
        if name not in self._hnsw:
            return None
        partition = self._partition_sizes(conn, stack).get(option, 0)
        share = count / max(partition, count)
        ef = math.ceil(max(self.ef_search, wanted) / share)
        if ef > MAX_EF_SEARCH:
            return None
        where = sql.SQL("stack = {} AND option = {} AND NOT placeholder").format(
            sql.Literal(stack), sql.Literal(option)
        )  # literals, as in the partial index's predicate, so that the planner can use it
        if owner is not None:
            where = sql.SQL("{} AND owner = {}").format(where, sql.Literal(owner))
        dim = sql.Literal(len(query))
        statement = sql.SQL(
            "SELECT task_id, start_sec, end_sec, embedding FROM clip_vectors WHERE {} "
            "ORDER BY embedding::vector({}) <=> %s::vector({}) LIMIT %s"
        ).format(where, dim, dim)
        with conn.transaction():
            # enable_sort off: the graph, even where the planner would rather sort a small
            # partition or trusts stale row counts (only the graph gives the order without a sort)
            conn.execute(
                sql.SQL("SET LOCAL hnsw.ef_search = {}; SET LOCAL enable_sort = off").format(sql.Literal(ef))
            )
            rows = conn.execute(statement, (query, ef), prepare=False, binary=True).fetchall()
        found = [r for r in rows if r[0] in allowed]
        return found if len(found) >= min(wanted, count) else None

    def _partition_sizes(self, conn: psycopg.Connection[Any], stack: str) -> dict[str, int]:
        """The stack's real vectors per option (every owner's), read again after this process
        indexed tasks or after ``SIZES_TTL`` seconds: they only set how wide the graph search goes."""
        cached = self._sizes.get(stack)
        if cached is None or time.monotonic() - cached[0] > SIZES_TTL:
            cached = (time.monotonic(), _totals(conn, stack))
            self._sizes[stack] = cached
        return cached[1]

    def _moments(
        self,
        conn: psycopg.Connection[Any],
        stack: str,
        option: str,
        query: np.ndarray,
        allowed: list[str],
        count: int,
    ) -> tuple[float, float]:
        """The sum and sum of squares of the option's scores over its allowed real vectors:
        exact up to ``stats_sample`` of them, scaled up from a fixed random sample above."""
        scores = "1 - (embedding <=> %s)"
        if count <= self.stats_sample:
            row = conn.execute(
                f"SELECT count(*), sum(s), sum(s * s) FROM (SELECT {scores} AS s FROM clip_vectors "
                "WHERE task_id = ANY(%s) AND option = %s AND NOT placeholder) AS scored",
                (query, allowed, option),
            ).fetchone()
        else:
            buckets = max(1, math.ceil(SAMPLE_BUCKETS * self.stats_sample / count))
            row = conn.execute(
                f"SELECT count(*), sum(s), sum(s * s) FROM (SELECT {scores} AS s FROM clip_vectors "
                "WHERE stack = %s AND option = %s AND NOT placeholder AND sample < %s "
                "AND task_id = ANY(%s)) AS scored",
                (query, stack, option, buckets, allowed),
            ).fetchone()
        sampled, total, squares = row or (0, None, None)
        if not sampled or total is None or squares is None:
            return 0.0, 0.0
        return float(total) * count / sampled, float(squares) * count / sampled

    def _fuse(
        self,
        conn: psycopg.Connection[Any],
        query: np.ndarray,
        present: Sequence[str],
        scans: Mapping[str, OptionScan],
        infos: Mapping[str, TaskInfo],
        placeholders: Mapping[str, np.ndarray],
        top: int,
    ) -> list[Hit]:
        """ClipIndex's fusion (``vector_index.fuse_candidates``), with each candidate's vectors in
        the other options read from ``clip_vectors`` in one query."""

        def scores_of(candidates: Sequence[ClipKey]) -> list[tuple[np.ndarray, str, np.ndarray]]:
            tasks, starts, ends = (list(column) for column in zip(*candidates, strict=True))
            rows = conn.execute(
                "SELECT v.task_id, v.start_sec, v.end_sec, v.option, v.embedding FROM clip_vectors v "
                "JOIN unnest(%s::text[], %s::float8[], %s::float8[]) AS c (task_id, start_sec, end_sec) "
                "ON v.task_id = c.task_id AND v.start_sec = c.start_sec AND v.end_sec = c.end_sec "
                "WHERE v.option = ANY(%s) AND NOT v.placeholder",
                (tasks, starts, ends, list(present)),
                binary=True,
            ).fetchall()
            position = {key: at for at, key in enumerate(candidates)}
            found: dict[str, tuple[list[int], list[float]]] = {}
            for t, a, b, option, vector in rows:
                positions, scores = found.setdefault(option, ([], []))
                positions.append(position[(t, a, b)])
                scores.append(float(_floats(vector) @ query))
            return [(np.asarray(p, np.int64), o, np.asarray(v)) for o, (p, v) in found.items()]

        return fuse_candidates(query, present, scans, infos, placeholders, top, scores_of)

    # --- indexing ------------------------------------------------------------------------

    def _index_missing(
        self, stack: str, tasks: Sequence[TaskRecord], placeholders: Mapping[str, np.ndarray], dim: int
    ) -> None:
        """Indexes the tasks that are not in ``clip_vectors`` yet, then builds the stack's HNSW
        indexes that have become worth building."""
        with self._lock:
            unknown = [t for t in tasks if t.id not in self._tasks]
            if unknown:
                self._load_infos([t.id for t in unknown])
            missing = [t for t in tasks if t.id not in self._tasks]
            for at in range(0, len(missing), SYNC_BATCH):
                self._index_tasks(stack, missing[at : at + SYNC_BATCH], placeholders)
            if missing or time.monotonic() - self._looked.get(stack, -math.inf) > LOOK_AGAIN_SECONDS:
                self._build_indexes(stack, dim)
                self._looked[stack] = time.monotonic()

    def _load_infos(self, task_ids: list[str]) -> None:
        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT task_id, owner, options, counts, clips FROM clip_vector_tasks "
                "WHERE task_id = ANY(%s)",
                (task_ids,),
            ).fetchall()
        for task_id, owner, options, counts, clips in rows:
            self._tasks[task_id] = TaskInfo(owner, list(options), dict(clips))
            self._counts[task_id] = dict(counts)

    def _index_tasks(
        self, stack: str, tasks: Sequence[TaskRecord], placeholders: Mapping[str, np.ndarray]
    ) -> None:
        """Copies these tasks' clip vectors from ``segments`` into ``clip_vectors``, in one
        transaction; a task another server indexed meanwhile is left as it is."""
        owners = {t.id: t.owner for t in tasks}
        with self._pool.connection() as conn:
            by_task: dict[str, dict[str, dict[tuple[float, float], np.ndarray]]] = {t: {} for t in owners}
            for task_id, option, start, end, blob in conn.execute(
                "SELECT task_id, option, start_sec, end_sec, vector FROM segments "
                "WHERE task_id = ANY(%s) AND scope = 'clip' ORDER BY task_id, seq",
                (list(owners),),
                binary=True,
            ):
                by_task[task_id].setdefault(option, {})[(start, end)] = np.frombuffer(blob, "<f4")
            try:
                with conn.transaction():
                    for task_id, by_option in by_task.items():
                        self._index_task(conn, stack, task_id, owners[task_id], by_option, placeholders)
            except psycopg.errors.ForeignKeyViolation:
                log.info("a task was deleted while it was being indexed: indexing one by one")
                for task_id, by_option in by_task.items():
                    try:
                        with conn.transaction():
                            self._index_task(conn, stack, task_id, owners[task_id], by_option, placeholders)
                    except psycopg.errors.ForeignKeyViolation:
                        pass  # deleted: nothing to search
        self._load_infos(list(owners))  # what is committed now, by this server or another

    def _index_task(
        self,
        conn: psycopg.Connection[Any],
        stack: str,
        task_id: str,
        owner: str,
        by_option: Mapping[str, Mapping[tuple[float, float], np.ndarray]],
        placeholders: Mapping[str, np.ndarray],
    ) -> None:
        flags = {
            option: ~is_placeholder(np.stack(list(clips.values())), placeholders.get(option))
            for option, clips in by_option.items()
        }
        counts = {option: int(real.sum()) for option, real in flags.items()}
        clips = clip_counts(by_option)
        inserted = conn.execute(
            "INSERT INTO clip_vector_tasks (task_id, stack, owner, options, counts, clips) "
            "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (task_id) DO NOTHING",
            (task_id, stack, owner, Jsonb(list(by_option)), Jsonb(counts), Jsonb(clips)),
        ).rowcount
        if inserted:
            # the sample bucket is fixed by the task id, so every server draws the same sample
            seed = int.from_bytes(hashlib.sha256(task_id.encode()).digest()[:8], "big")
            rng = np.random.default_rng(seed)
            with conn.cursor().copy(
                "COPY clip_vectors (task_id, option, start_sec, end_sec, stack, owner, placeholder, "
                "sample, embedding) FROM STDIN WITH (FORMAT BINARY)"
            ) as copy:
                copy.set_types(_COPY_TYPES)
                for option, clips_of_option in by_option.items():
                    samples = rng.integers(0, SAMPLE_BUCKETS, len(clips_of_option))
                    for (start, end), real, sample, vector in zip(
                        clips_of_option, flags[option], samples, clips_of_option.values(), strict=True
                    ):
                        copy.write_row(
                            (task_id, option, start, end, stack, owner, not real, int(sample), vector)
                        )

    def _build_indexes(self, stack: str, dim: int) -> None:
        """Starts building, in the background, the HNSW index of each of the stack's options that
        holds more than ``exact_rows`` real vectors and has no valid one yet; meanwhile searches
        scan exactly."""
        with self._pool.connection() as conn:
            totals = _totals(conn, stack)
            valid = _hnsw_indexes(conn)
        self._sizes[stack] = (time.monotonic(), totals)  # what _partition_sizes would read again
        needed = []
        for option, total in sorted(totals.items()):
            name = self._hnsw_name(stack, option, dim)
            if valid.get(name):
                self._hnsw.add(name)
            elif total > self.exact_rows and name not in self._building:
                needed.append((name, option, total))
        if needed:
            self._building.update(name for name, _, _ in needed)
            build = threading.Thread(target=self._build, args=(stack, dim, needed), daemon=True)
            self._builds.append(build)
            build.start()

    def _build(self, stack: str, dim: int, needed: Sequence[tuple[str, str, int]]) -> None:
        """The indexes, one after another (concurrent builds deadlock each other), ``CONCURRENTLY``
        (writers of ``clip_vectors`` go on meanwhile), on a connection of its own, by one server
        at a time (a session advisory lock: a server that finds it taken leaves the builds to the
        other and looks again later). A build that stopped (a crash, a restart) leaves an invalid
        index, dropped and built again here."""
        try:
            with psycopg.connect(self._url, autocommit=True) as conn:
                row = conn.execute("SELECT pg_try_advisory_lock(%s, 1)", (BUILD_LOCK_CLASS,)).fetchone()
                if not row or not row[0]:
                    return
                conn.execute(sql.SQL("SET maintenance_work_mem = {}").format(sql.Literal(self.build_memory)))
                for name, option, total in needed:
                    self._build_one(conn, name, stack, option, dim, total)
        except psycopg.Error as exc:
            log.warning("building the HNSW indexes of %s failed (%s); searches scan exactly", stack, exc)
        finally:
            self._building.difference_update(name for name, _, _ in needed)

    def _build_one(
        self, conn: psycopg.Connection[Any], name: str, stack: str, option: str, dim: int, total: int
    ) -> None:
        started = time.monotonic()
        state = _hnsw_indexes(conn).get(name)
        if state is False:
            conn.execute(sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(sql.Identifier(name)))
        if state is not True:
            conn.execute(
                sql.SQL(
                    "CREATE INDEX CONCURRENTLY IF NOT EXISTS {} ON clip_vectors USING hnsw "
                    "((embedding::vector({})) vector_cosine_ops) "
                    "WHERE stack = {} AND option = {} AND NOT placeholder"
                ).format(sql.Identifier(name), sql.Literal(dim), sql.Literal(stack), sql.Literal(option))
            )
            conn.execute("ANALYZE clip_vectors")  # row counts for the exact scans' plans
            log.info(
                "built the HNSW index %s (%s, %s: %d vectors) in %.1f s",
                name, stack, option, total, time.monotonic() - started,
            )  # fmt: skip
        self._hnsw.add(name)

    def wait_for_builds(self, timeout: float | None = None) -> bool:
        """Waits for the index builds started so far; True if none is still running."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for build in list(self._builds):
            build.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return not any(build.is_alive() for build in self._builds)

    @staticmethod
    def _hnsw_name(stack: str, option: str, dim: int) -> str:
        digest = hashlib.sha256(f"{stack}\0{option}\0{dim}".encode()).hexdigest()[:16]
        return f"clip_vectors_hnsw_{digest}"


def _hnsw_indexes(conn: psycopg.Connection[Any]) -> dict[str, bool]:
    """The HNSW indexes of clip_vectors by name: True when valid, False when a build stopped."""
    rows = conn.execute(
        "SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE i.indrelid = 'clip_vectors'::regclass AND c.relname LIKE 'clip_vectors_hnsw_%%'"
    ).fetchall()
    return {str(name): bool(valid) for name, valid in rows}


def _totals(conn: psycopg.Connection[Any], stack: str) -> dict[str, int]:
    """The stack's real vectors per option, over every owner's indexed tasks."""
    rows = conn.execute(
        "SELECT key, sum(value::int) FROM clip_vector_tasks, jsonb_each_text(counts) "
        "WHERE stack = %s GROUP BY key",
        (stack,),
    ).fetchall()
    return {option: int(total) for option, total in rows}


def _floats(value: Vector) -> np.ndarray:
    """A stored ``vector`` as float32 (pgvector's loader gives ``Vector`` objects)."""
    return np.asarray(value.to_numpy(), np.float32)


def _rescored(rows: Sequence[tuple[Any, ...]], query: np.ndarray) -> list[tuple[str, float, float, float]]:
    """Candidates (task, start, end, vector) scored in float32 as ``rank_clips`` scores, best first."""
    scored = [(t, a, b, float(_floats(v) @ query)) for t, a, b, v in rows]
    scored.sort(key=lambda clip: (-clip[3], clip[0], clip[1], clip[2]))
    return scored
