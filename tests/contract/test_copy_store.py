"""``vidembed copy-store``: a SQLite data folder's tasks, vectors and assets copied into PostgreSQL
(vidembed.copy_store), checked field by field, resumable, and searched alike afterwards."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from builders import make_asset, make_task, wait_ready
from conftest import FAKE, fake_settings
from pg import pg_admin, pg_database, pg_url  # noqa: F401

from vidembed import copy_store as copying
from vidembed.api.compose import open_tasks
from vidembed.cli import main
from vidembed.copy_store import copy_store
from vidembed.records import IndexRecord
from vidembed.stores.lexical import ClipText
from vidembed.stores.postgres.assets import PostgresAssetStore
from vidembed.stores.postgres.indexes import PostgresIndexStore
from vidembed.stores.postgres.tasks import PostgresStore
from vidembed.stores.sqlite.assets import SQLiteAssetStore
from vidembed.stores.sqlite.indexes import SQLiteIndexStore
from vidembed.stores.sqlite.tasks import SQLiteStore


def vectors(n: int, seed: int) -> list[np.ndarray]:
    rows = np.random.default_rng(seed).standard_normal((n, 8)).astype(np.float32)
    return list(rows / np.linalg.norm(rows, axis=1, keepdims=True))


def filled_sqlite(path: Path) -> tuple[SQLiteStore, SQLiteAssetStore]:
    """Ready tasks of both APIs (with vectors), a failed one, a processing one, a synchronous
    route's one, and two assets."""
    store, assets = SQLiteStore(path), SQLiteAssetStore(path)
    for n, api in enumerate(["v1.3", "v2", "v1.3"]):
        task_id = f"{n:024x}"
        store.insert(make_task(task_id, created=1000.0 + n, api=api, owner="k1" if n < 2 else "k2"))
        assert store.claim_task(task_id, "w", 60)
        rows = [("visual", "clip", 6.0 * i, 6.0 * i + 6, v) for i, v in enumerate(vectors(5, n))]
        rows.append(("visual", "video", 0.0, 30.0, vectors(1, 100 + n)[0]))
        assert store.complete(task_id, "w", 30.0, rows, {"visual": f"enc-{n}"})
    store.insert(make_task("f" * 24, created=1010.0))
    store.fail("f" * 24, "The video could not be decoded.", 2.0)
    store.insert(make_task("p" * 24, created=1011.0, source_path="/data/media/p/video.mp4"))
    store.insert(make_task("s" * 24, created=1012.0, api="v2-sync"))
    assets.insert(make_asset("a" * 24, status="ready", asset_type="video", duration=12.5,
                             technical_metadata={"width": 640, "codec": "h264"}))  # fmt: skip
    assets.insert(make_asset("b" * 24, created=1500.0))
    return store, assets


def test_every_task_vector_and_asset_arrives_as_it_was_and_a_rerun_copies_nothing(
    tmp_path: Path,
    pg_url: str,  # noqa: F811
) -> None:
    source, source_assets = filled_sqlite(tmp_path / "vidembed.sqlite3")
    target, target_assets = PostgresStore(pg_url), PostgresAssetStore(pg_url)
    try:
        report = copy_store(source, target, source_assets, target_assets)
        assert (report.tasks, report.vectors, report.assets, report.skipped) == (5, 18, 2, 0)
        assert sorted(report.local_media) == ["b" * 24, "p" * 24]  # processing, with a file path
        for task_id in [f"{n:024x}" for n in range(3)] + ["f" * 24, "p" * 24]:
            before, after = source.get(task_id), target.get(task_id)
            assert before is not None and after is not None
            same = ("owner", "status", "api", "params", "options", "duration", "error", "encoders",
                    "created_at", "source_path", "stage", "progress", "attempts")  # fmt: skip
            assert {f: getattr(after, f) for f in same} == {f: getattr(before, f) for f in same}
        assert target.get("s" * 24) is None  # the synchronous route's task is not kept anywhere
        old = source.segments([f"{n:024x}" for n in range(3)])
        new = target.segments([f"{n:024x}" for n in range(3)])
        assert [(s.task_id, s.option, s.scope, s.start, s.end) for s in new] == [
            (s.task_id, s.option, s.scope, s.start, s.end) for s in old
        ]
        assert all(a.vector.tobytes() == b.vector.tobytes() for a, b in zip(old, new, strict=True))
        for asset_id in ("a" * 24, "b" * 24):
            assert target_assets.get(asset_id) == source_assets.get(asset_id)
        assert target.ready_tasks("k1") and [t.id for t in target.ready_tasks("k2")] == [f"{2:024x}"]
        again = copy_store(source, target, source_assets, target_assets)
        assert (again.tasks, again.assets, again.skipped) == (0, 0, 7)
    finally:
        for store in (source, source_assets, target, target_assets):
            store.close()


def test_a_ready_task_left_half_copied_is_completed_by_the_rerun(
    tmp_path: Path,
    pg_url: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(copying, "COPY_LEASE_SECONDS", 0.2)
    source, source_assets = filled_sqlite(tmp_path / "vidembed.sqlite3")
    target = PostgresStore(pg_url)
    try:
        task = source.get(f"{0:024x}")
        assert task is not None
        # what a copy that stopped after the insert leaves: processing, leased by the copy
        target.insert_leased(replace(task, status="processing"), copying.COPY_WORKER, 0.2)
        report = copy_store(source, target)
        assert report.not_copied == [
            (task.id, "half copied by a copy whose lease has not run out yet: run again")
        ]
        import time

        time.sleep(0.3)
        report = copy_store(source, target)
        copied = target.get(task.id)
        assert report.not_copied == [] and copied is not None and copied.status == "ready"
        assert len(target.segments([task.id])) == 6
    finally:
        for store in (source, source_assets, target):
            store.close()


def test_the_cli_copies_a_data_folder_and_search_finds_the_same_clips(
    tmp_path: Path,
    pg_url: str,  # noqa: F811
    labelled_video: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    laptop = open_tasks(fake_settings(tmp_path))
    try:
        task_id = laptop.create(model_name=FAKE, video_file=str(labelled_video))["_id"]
        assert wait_ready(laptop, task_id)["status"] == "ready"
        before = laptop.search("a red screen with a tone", model_name=FAKE, top=3).ranked
    finally:
        laptop.close()
    assert main(["copy-store", "--data-dir", str(tmp_path), "--to", pg_url]) == 0
    assert "copied 1 tasks (" in capsys.readouterr().err
    cluster = open_tasks(fake_settings(tmp_path / "other", database_url=pg_url))
    try:
        after = cluster.search("a red screen with a tone", model_name=FAKE, top=3).ranked
        assert {o: [(h.task_id, h.start, h.end) for h in hits] for o, hits in after.items()} == {
            o: [(h.task_id, h.start, h.end) for h in hits] for o, hits in before.items()
        }
        assert cluster.status(task_id)["status"] == "ready"
    finally:
        cluster.close()
    assert (
        main(["copy-store", "--data-dir", str(tmp_path), "--to", f"sqlite://{tmp_path}/vidembed.sqlite3"])
        == 2
    )
    assert "name the same database" in capsys.readouterr().err


def test_search_indexes_and_their_videos_arrive_with_their_words_and_metadata(
    tmp_path: Path,
    pg_url: str,  # noqa: F811
) -> None:
    """An index is copied before its videos (index tasks), each with its vectors, its clips' words
    (so lexical search finds them in the target), its user metadata and media facts."""
    path = tmp_path / "vidembed.sqlite3"
    source, source_indexes = SQLiteStore(path), SQLiteIndexStore(path)
    target, target_indexes = PostgresStore(pg_url), PostgresIndexStore(pg_url)
    try:
        index = IndexRecord("i" * 24, "k1", "kitchen", "marengo3.0", "conse-minilm-384", ["visual", "audio"],
                            ["thumbnail"], 900.0, 900.0)  # fmt: skip
        assert source_indexes.insert(index)
        video = make_task("v" * 24, created=1000.0, api="index", owner="k1", index_id=index.id,
                          user_metadata={"category": "cooking", "year": 2024})  # fmt: skip
        source.insert(video)
        assert source.claim_task(video.id, "w", 60)
        rows = [("visual", "clip", 6.0 * i, 6.0 * i + 6, v) for i, v in enumerate(vectors(2, 7))]
        words = [ClipText(0.0, 6.0, "the chef slices fresh tomatoes")]
        media = {"width": 640, "height": 360, "fps": 25.0, "size": 12345, "language": "en"}
        assert source.complete(video.id, "w", 12.0, rows, {"visual": "enc"}, words, media)
        report = copy_store(source, target, source_indexes=source_indexes, target_indexes=target_indexes)
        assert (report.indexes, report.tasks, report.vectors) == (1, 1, 2)
        assert target_indexes.get(index.id) == index
        copied = target.get(video.id)
        assert copied is not None
        assert (copied.api, copied.index_id, copied.user_metadata, copied.media) == (
            "index",
            index.id,
            {"category": "cooking", "year": 2024},
            media,
        )
        assert [(h.task_id, h.start) for h in target.lexical([video.id], "tomatos", 5)] == [(video.id, 0.0)]
        again = copy_store(source, target, source_indexes=source_indexes, target_indexes=target_indexes)
        assert (again.indexes, again.tasks, again.skipped) == (0, 0, 2)
    finally:
        for store in (source, source_indexes, target, target_indexes):
            store.close()
