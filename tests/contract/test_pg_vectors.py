"""Search inside PostgreSQL with pgvector (vidembed.search.pgvector), on a real PostgreSQL 16 with
pgvector 0.6.2 (the pgserver wheel: tests/pgvector_server.py), filled through the store's own write
path, checked against ``rank_clips`` over the same segments."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import psycopg
import pytest
from builders import wait_ready
from conftest import FAKE, fake_settings
from index_support import DIM, OPTIONS, assert_same_ranking, keyed, make_task, placeholders_for, unit
from pg import pg_admin, pg_database, pg_url  # noqa: F401

from benchmarks.search import add_ready_task
from vidembed.errors import ConfigurationError
from vidembed.records import StoredSegment, TaskRecord
from vidembed.search.exact import ClipIndexes
from vidembed.search.open import open_clip_search
from vidembed.search.rank import FUSED, rank_clips

pytest.importorskip("pgvector")
from vidembed.search.pgvector import PgVectorIndex  # noqa: E402
from vidembed.stores.postgres.tasks import PostgresStore  # noqa: E402


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(11)


@pytest.fixture
def placeholders(rng: np.random.Generator) -> dict[str, np.ndarray]:
    return placeholders_for(rng)


def fill(
    store: PostgresStore,
    rng: np.random.Generator,
    placeholders: dict[str, np.ndarray],
    owners: dict[str, int],
    clips: int = 40,
) -> dict[str, list[StoredSegment]]:
    """``owners[o]`` ready tasks per owner, written by insert + claim + complete."""
    segments = {}
    for owner, count in owners.items():
        for n in range(count):
            task_id = f"{owner}{n:023d}"
            segments[task_id] = make_task(rng, task_id, clips, placeholders)
            rows = [(s.option, s.start, s.end, s.vector) for s in segments[task_id] if s.scope == "clip"]
            add_ready_task(store, task_id, owner, rows)  # type: ignore[arg-type]
    return segments


def ready(store: PostgresStore, owner: str | None) -> list[TaskRecord]:
    return store.ready_tasks(owner)


def hnsw_scans(url: str) -> int:
    """How many times the HNSW indexes of clip_vectors have been scanned (statistics reach the
    view within a second or so of the query's end)."""
    with psycopg.connect(url) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute(
            "SELECT coalesce(sum(idx_scan), 0) FROM pg_stat_user_indexes "
            "WHERE indexrelname LIKE 'clip_vectors_hnsw_%'"
        ).fetchone()
    return int(row[0]) if row else 0


@pytest.mark.parametrize("path", ["exact", "hnsw"])
def test_rankings_equal_rank_clips_per_option_and_fused(
    pgvector_url: str, rng: np.random.Generator, placeholders: dict[str, np.ndarray], path: str
) -> None:
    store = PostgresStore(pgvector_url)
    # "hnsw": an HNSW index per option once it holds more than 100 vectors, searched wide enough
    # for exact results at this size, and statistics from every vector (sample of 1,024/1,024)
    exact_rows = 10**9 if path == "exact" else 100
    index = PgVectorIndex(pgvector_url, exact_rows=exact_rows, ef_search=400, stats_sample=10**9)
    try:
        segments = fill(store, rng, placeholders, {"a": 30})  # 1,200 clips x 3 options
        everything = [s for task in segments.values() for s in task]
        tasks = ready(store, "a")
        # the first search copies the vectors and starts the graphs' builds (in the background:
        # meanwhile searches scan exactly)
        index.rank(
            "s", unit(rng.standard_normal(DIM)), 10, placeholders, owner="a", tasks=tasks, options=None
        )
        assert index.wait_for_builds(60)
        for query in unit(rng.standard_normal((8, DIM))):
            expected = rank_clips(query, everything, 10, placeholders)
            found = index.rank("s", query, 10, placeholders, owner="a", tasks=tasks, options=None)
            assert set(found) == {FUSED, *OPTIONS} and len(found[FUSED]) == 10
            assert_same_ranking(found, expected, 1e-5)
        with psycopg.connect(pgvector_url) as conn:
            names = [
                r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE indexname LIKE '%hnsw%'")
            ]
            stored = conn.execute(
                "SELECT count(*), count(*) FILTER (WHERE placeholder) FROM clip_vectors"
            ).fetchone()
        real = sum(1 for s in everything if s.scope == "clip" and not _is_placeholder(s, placeholders))
        assert stored is not None and stored[0] == 3 * 1200 and stored[0] - stored[1] == real
        if path == "hnsw":
            assert len(names) == 3  # one per option
            deadline = time.monotonic() + 10
            while hnsw_scans(pgvector_url) == 0 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert hnsw_scans(pgvector_url) > 0  # the rankings above went through the graph
        else:
            assert names == []
    finally:
        index.close()
        store.close()


def _is_placeholder(segment: StoredSegment, placeholders: dict[str, np.ndarray]) -> bool:
    placeholder = placeholders.get(segment.option)
    return placeholder is not None and float(segment.vector @ placeholder) >= 0.9999


def test_owners_are_kept_apart_and_a_small_owner_is_never_short(
    pgvector_url: str, rng: np.random.Generator, placeholders: dict[str, np.ndarray]
) -> None:
    store = PostgresStore(pgvector_url)
    index = PgVectorIndex(pgvector_url, exact_rows=50, ef_search=400, stats_sample=10**9)
    try:
        segments = fill(store, rng, placeholders, {"a": 20, "b": 10, "c": 1})
        index.rank("s", unit(rng.standard_normal(DIM)), 1, placeholders, owner=None, tasks=ready(store, None),
                   options=None)  # fmt: skip
        assert index.wait_for_builds(60)
        for owner in ("a", "b", "c"):
            mine = [s for t, task in segments.items() if t.startswith(owner) for s in task]
            tasks = ready(store, owner)
            for query in unit(rng.standard_normal((4, DIM))):
                expected = rank_clips(query, mine, 10, placeholders)
                found = index.rank("s", query, 10, placeholders, owner=owner, tasks=tasks, options=None)
                assert {h.task_id[0] for hits in found.values() for h in hits} == {owner}
                # c's 40 clips are 3% of each partition: pgvector 0.6 filters after the graph
                # search, so they are scanned exactly instead (a graph search would come back short)
                assert_same_ranking(found, expected, 1e-5)
        # a query of no owner (a server without API keys) ranks every owner's clips
        everything = [s for task in segments.values() for s in task]
        query = unit(rng.standard_normal(DIM))
        found = index.rank(
            "s", query, 10, placeholders, owner=None, tasks=ready(store, None), options=["visual"]
        )
        assert keyed(found["visual"]) == keyed(rank_clips(query, everything, 10, placeholders)["visual"])
        # one task of a's: only its clips
        one = ready(store, "a")[3]
        found = index.rank("s", query, 5, placeholders, owner="a", tasks=[one], options=["audio"])
        assert {h.task_id for h in found["audio"]} == {one.id}
    finally:
        index.close()
        store.close()


def test_placeholders_are_counted_not_ranked(
    pgvector_url: str, rng: np.random.Generator, placeholders: dict[str, np.ndarray]
) -> None:
    store = PostgresStore(pgvector_url)
    index = PgVectorIndex(pgvector_url)
    try:
        segments = fill(store, rng, placeholders, {"a": 3}, clips=20)
        silent = {(s.task_id, s.start) for t in segments.values() for s in t
                  if s.option == "transcription" and _is_placeholder(s, placeholders)}  # fmt: skip
        assert silent
        found = index.rank(
            "s", placeholders["transcription"], 60, placeholders, owner="a", tasks=ready(store, "a"),
            options=["transcription"],
        )  # fmt: skip
        assert len(found["transcription"]) == 60 - len(silent)
        assert not silent & {(h.task_id, h.start) for h in found["transcription"]}
    finally:
        index.close()
        store.close()


def test_a_deleted_task_leaves_the_vectors_and_two_servers_index_a_task_once(
    pgvector_url: str, rng: np.random.Generator, placeholders: dict[str, np.ndarray]
) -> None:
    store = PostgresStore(pgvector_url)
    first, second = PgVectorIndex(pgvector_url), PgVectorIndex(pgvector_url)
    try:
        segments = fill(store, rng, placeholders, {"a": 12}, clips=30)
        tasks = ready(store, "a")
        query = unit(rng.standard_normal(DIM))
        results: list[dict[str, list[object]]] = []

        def search(index: PgVectorIndex) -> None:
            results.append(index.rank("s", query, 10, placeholders, owner="a", tasks=tasks, options=None))  # type: ignore[arg-type]

        threads = [threading.Thread(target=search, args=(i,)) for i in (first, second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(results) == 2 and results[0] == results[1]
        with psycopg.connect(pgvector_url) as conn:
            assert conn.execute("SELECT count(*) FROM clip_vector_tasks").fetchone() == (12,)
            assert conn.execute("SELECT count(*) FROM clip_vectors").fetchone() == (12 * 30 * 3,)
            gone = tasks[0].id
            store.delete(gone)
            assert conn.execute(
                "SELECT count(*) FROM clip_vectors WHERE task_id = %s", (gone,)
            ).fetchone() == (0,)
        rest = [s for t, task in segments.items() if t != gone for s in task]
        found = second.rank("s", query, 10, placeholders, owner="a", tasks=ready(store, "a"), options=None)
        assert_same_ranking(found, rank_clips(query, rest, 10, placeholders), 1e-5)
    finally:
        first.close()
        second.close()
        store.close()


def test_the_service_searches_with_pgvector_when_asked(
    pgvector_url: str, tmp_path: Path, labelled_video: Path
) -> None:
    from vidembed.api.compose import open_tasks

    service = open_tasks(
        fake_settings(tmp_path, database_url=pgvector_url, search_index="pgvector", pgvector_ef_search=400)
    )
    try:
        assert isinstance(service.indexes, PgVectorIndex) and service.indexes.ef_search == 400
        task_id = service.create(model_name=FAKE, video_file=str(labelled_video))["_id"]
        assert wait_ready(service, task_id)["status"] == "ready"
        found = service.search("anything", model_name=FAKE, top=3)
        local = ClipIndexes(tmp_path / "index", service.store, service.core.stack_of)
        query = service.catalog.text_encoder(service.catalog.resolve(FAKE)).encode(["anything"])[0]
        expected = local.rank(
            service.catalog.resolve(FAKE), query, 3, service.catalog.placeholder_vectors(service.catalog.resolve(FAKE)),
            owner=None, tasks=service.store.ready_tasks(None), options=None,
        )  # fmt: skip
        assert {o: keyed(h) for o, h in found.ranked.items()} == {o: keyed(h) for o, h in expected.items()}
        assert [h.start for h in found.ranked["visual"]] and all(
            h.task_id == task_id for h in found.ranked["visual"]
        )
    finally:
        service.close()


def test_search_index_settings_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="needs a PostgreSQL database"):
        open_clip_search("pgvector", None, tmp_path, None, lambda t: None)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match=r"--pgvector-ef-search must be within 1-1000 .*not 0"):
        open_clip_search("pgvector", "postgresql://nobody@127.0.0.1:1/x", tmp_path, None, lambda t: None, 0)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="must be one of local, pgvector, not 'hnsw'"):
        open_clip_search("hnsw", None, tmp_path, None, lambda t: None)  # type: ignore[arg-type]


def test_a_database_without_pgvector_says_why_and_local_search_needs_none(
    pg_url: str,  # noqa: F811
    pgvector_url: str,
    tmp_path: Path,
) -> None:
    """The system PostgreSQL 15 here has no pgvector: "pgvector" stops with a reason; "local",
    the default, searches with the data folder's index on either server."""
    store = PostgresStore(pg_url)
    try:
        with pytest.raises(
            ConfigurationError, match=r"Cannot use pgvector in the PostgreSQL database .*vector"
        ):
            open_clip_search("pgvector", pg_url, tmp_path, store, lambda t: None)
        assert isinstance(open_clip_search("local", pg_url, tmp_path, store, lambda t: None), ClipIndexes)
    finally:
        store.close()
    assert fake_settings(tmp_path).search_index == "local"
    store = PostgresStore(pgvector_url)
    try:
        assert isinstance(
            open_clip_search("local", pgvector_url, tmp_path, store, lambda t: None), ClipIndexes
        )
    finally:
        store.close()


def test_an_index_build_that_stopped_is_built_again_and_searches_scan_meanwhile(
    pgvector_url: str, rng: np.random.Generator, placeholders: dict[str, np.ndarray]
) -> None:
    store = PostgresStore(pgvector_url)
    first = PgVectorIndex(pgvector_url, exact_rows=100, ef_search=400, stats_sample=10**9)
    try:
        segments = fill(store, rng, placeholders, {"a": 6})
        tasks = ready(store, "a")
        query = unit(rng.standard_normal(DIM))
        first.rank("s", query, 10, placeholders, owner="a", tasks=tasks, options=["visual"])
        assert first.wait_for_builds(60)
        with psycopg.connect(pgvector_url, autocommit=True) as conn:
            # what a server killed mid-build leaves: the index marked invalid (pgserver's role is
            # a superuser, which may set the flag)
            conn.execute(
                "UPDATE pg_index SET indisvalid = false WHERE indexrelid = "
                "(SELECT oid FROM pg_class WHERE relname LIKE 'clip_vectors_hnsw_%' LIMIT 1)"
            )
            broken = conn.execute("SELECT count(*) FROM pg_index WHERE NOT indisvalid").fetchone()
        assert broken == (1,)
        second = PgVectorIndex(pgvector_url, exact_rows=100, ef_search=400, stats_sample=10**9)
        try:
            everything = [s for task in segments.values() for s in task]
            found = second.rank("s", query, 10, placeholders, owner="a", tasks=tasks, options=None)
            assert_same_ranking(found, rank_clips(query, everything, 10, placeholders), 1e-5)  # meanwhile
            assert second.wait_for_builds(60)
        finally:
            second.close()
        with psycopg.connect(pgvector_url) as conn:
            states = conn.execute(
                "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                "WHERE c.relname LIKE 'clip_vectors_hnsw_%'"
            ).fetchall()
        assert states == [(True,)] * 3
    finally:
        first.close()
        store.close()
