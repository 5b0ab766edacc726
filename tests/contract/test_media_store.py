"""The media store: a local folder (the default) and S3, the latter against the S3 fake
(tests/s3fake.py: moto's server mode on loopback, not a real S3 or MinIO).

Tasks and assets on the fake's bucket must end as they do on a local folder, with the same
vectors (the fake model stack); a worker with another, empty data folder (another machine, on the
same database and bucket) finishes a task that the first service took in.
"""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
import pg
import pytest
import s3fake
from conftest import FAKE, LiveServer, fake_settings, make_fake_service
from s3fake import S3Fake

from vidembed.api.compose import open_assets
from vidembed.api.embed.operations import TaskService
from vidembed.api.embed_v2.operations import EmbedV2Service
from vidembed.devtools.synth import SegmentSpec, make_video, tone
from vidembed.errors import BadRequestError, ConfigurationError
from vidembed.segmentation import ClipParams
from vidembed.stores.media import LocalMediaStore
from vidembed.stores.open import open_media_store
from vidembed.stores.s3 import S3MediaStore, S3Settings

s3_fake, s3_fake_server = s3fake.s3_fake, s3fake.s3_fake_server  # the fixtures, for this module
pg_admin, pg_database, pg_url = pg.pg_admin, pg.pg_database, pg.pg_url

MiB = 1024 * 1024
WAIT_SECONDS = 60.0  # a fake-stack task of a 4 s video takes about 1 s here


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 s: 2 s of a grey picture over a tone, 2 s of a red one over silence."""
    grey = np.full((96, 128, 3), 120, np.uint8)
    red = np.full((96, 128, 3), (200, 30, 30), np.uint8)
    return make_video(
        tmp_path_factory.mktemp("media-store") / "clip.mp4",
        [SegmentSpec(2, image=grey, audio=tone(440, 2.0)), SegmentSpec(2, image=red)],
    )


def _wait(read: Callable[[], str]) -> str:
    deadline = time.monotonic() + WAIT_SECONDS
    while (status := read()) == "processing" and time.monotonic() < deadline:
        time.sleep(0.1)
    return status


def _s3_service(data_dir: Path, fake: S3Fake, **overrides: object) -> TaskService:
    return make_fake_service(data_dir, media_url=fake.media_url, s3=fake.settings, **overrides)


def _vectors(service: TaskService, task_id: str) -> list[tuple[str, str, float, list[float]]]:
    done = service.retrieve(task_id)
    return [
        (s["embedding_option"], s["embedding_scope"], s["start_offset_sec"], s["float"])
        for s in done["video_embedding"]["segments"]
    ]


def _v1_task(service: TaskService, video: Path) -> list[tuple[str, str, float, list[float]]]:
    with open(video, "rb") as upload:
        task_id = service.create(model_name=FAKE, video_file=upload, video_clip_length=2)["_id"]
    assert _wait(lambda: service.status(task_id)["status"]) == "ready"
    return _vectors(service, task_id)


def _scratch_left(service: TaskService) -> list[Path]:
    scratch = service.settings.data_dir / "scratch"
    return sorted(scratch.iterdir()) if scratch.is_dir() else []


# --- opening a store ---------------------------------------------------------------------------


def test_open_media_store_names_what_to_change(tmp_path: Path, s3_fake: S3Fake) -> None:
    assert isinstance(open_media_store(None, tmp_path / "m"), LocalMediaStore)
    assert open_media_store(f"file://{tmp_path}/other", tmp_path).location("t/v.mp4") == str(
        tmp_path / "other" / "t" / "v.mp4"
    )
    store = open_media_store(s3_fake.media_url, tmp_path, s3_fake.settings)
    assert isinstance(store, S3MediaStore)
    assert store.location("t/v.mp4") == f"s3://{s3_fake.bucket}/media/t/v.mp4"
    with pytest.raises(ConfigurationError) as bad:
        open_media_store("ftp://host/x", tmp_path)
    assert str(bad.value) == (
        "--media-url 'ftp://host/x' is not a media store. Use s3://BUCKET/PREFIX for S3-compatible object "
        "storage, or an absolute folder path (file:///PATH) for a local folder; leave it out for the data "
        "folder's media/."
    )
    with pytest.raises(ConfigurationError) as nameless:
        open_media_store("s3:///prefix", tmp_path, s3_fake.settings)
    assert str(nameless.value) == "--media-url 's3:///prefix' names no bucket. Use s3://BUCKET/PREFIX."
    with pytest.raises(ConfigurationError) as missing:
        open_media_store("s3://vidembed-fake-missing/x", tmp_path, s3_fake.settings)
    assert str(missing.value) == (
        f"The bucket 'vidembed-fake-missing' does not exist at {s3_fake.settings.endpoint_url}. "
        "Create it, or pass --media-url with an existing one."
    )


def test_an_unreachable_endpoint_and_a_missing_extra_are_configuration_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed = S3Settings("http://127.0.0.1:9", "fake-access-key", "fake-secret-key", "us-east-1")  # discard
    started = time.monotonic()
    with pytest.raises(ConfigurationError) as unreachable:
        open_media_store("s3://vidembed-fake/x", tmp_path, closed)
    assert str(unreachable.value).startswith(
        "The media store at http://127.0.0.1:9 cannot be reached (Could not connect to the endpoint URL: "
        '"http://127.0.0.1:9/vidembed-fake"). Set AWS_ENDPOINT_URL'
    )
    assert time.monotonic() - started < 10  # three refused connections, not a hang
    monkeypatch.setitem(sys.modules, "boto3", None)  # as if the s3 extra were not installed
    with pytest.raises(ConfigurationError) as extra:
        open_media_store("s3://vidembed-fake/x", tmp_path, closed)
    assert str(extra.value) == "--media-url s3://... needs the s3 extra: pip install 'vidembed[s3]' (boto3)."


def test_settings_read_the_standard_aws_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VIDEMBED_MEDIA_URL", "s3://bucket/prefix")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9000")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "id")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    settings = fake_settings(tmp_path)
    assert settings.media_url == "s3://bucket/prefix"
    assert settings.s3 == S3Settings("http://127.0.0.1:9000", "id", "secret", "eu-west-1")
    assert "secret" not in repr(settings.s3)


# --- the S3 store itself -----------------------------------------------------------------------


def test_s3_store_streams_copies_reads_and_deletes(tmp_path: Path, s3_fake: S3Fake) -> None:
    store = open_media_store(s3_fake.media_url, tmp_path, s3_fake.settings)
    big = tmp_path / "big.mp4"
    big.write_bytes(np.random.default_rng(1).integers(0, 256, 64 * MiB, np.uint8).tobytes())
    with open(big, "rb") as upload:
        tracemalloc.start()
        try:
            written = store.save_upload(upload, "t1/big.mp4", 100 * MiB, "video_file")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    # 8 parts of 8 MiB, at most 4 in flight and 1 read ahead: measured 43 MiB at 80 and at 160 MiB
    assert peak < 48 * MiB, peak
    data = big.read_bytes()
    assert written == 64 * MiB and store.size("t1/big.mp4") == 64 * MiB
    assert store.save_upload(b"abc", "t2/small", 10, "video_file") == 3
    (tmp_path / "local.bin").write_bytes(b"from a path")
    assert store.save_upload(tmp_path / "local.bin", "t2/path", 100, "video_file") == 11
    copied = store.copy(store.location("t1/big.mp4"), "t3/copy.mp4")  # server-side
    store.delete_prefix("t1")
    assert not store.exists("t1/big.mp4") and store.exists("t3/copy.mp4")
    local = store.local_path(copied, tmp_path / "scratch")
    assert local == tmp_path / "scratch" / "copy.mp4" and local.read_bytes() == data
    assert s3_fake.keys() == ["media/t2/path", "media/t2/small", "media/t3/copy.mp4"]
    assert s3_fake.read("media/t2/path") == b"from a path"
    with pytest.raises(FileNotFoundError):
        store.copy(store.location("t1/big.mp4"), "t4/x")


@pytest.mark.parametrize("size", [3 * MiB, 12 * MiB], ids=["one-request", "multipart"])
def test_a_too_large_upload_is_refused_and_leaves_nothing_in_the_bucket(
    tmp_path: Path, s3_fake: S3Fake, size: int
) -> None:
    service = _s3_service(tmp_path, s3_fake, start_workers=False, max_upload_bytes=size - MiB)
    try:
        stream = io.BytesIO(b"\0" * size)
        with pytest.raises(BadRequestError) as refused:
            service.create(model_name=FAKE, video_file=("big.mp4", stream))
        limit_gb = (size - MiB) / 1024**3
        assert refused.value.message == (
            f"The video_file parameter is invalid. The file is larger than the limit of {limit_gb:.2f} GB."
        )
        assert s3_fake.keys() == [] and s3_fake.open_uploads() == []
        assert service.list()["page_info"]["total_results"] == 0
    finally:
        service.close()


def test_a_server_streams_a_multipart_upload_into_the_bucket_and_refuses_one_past_the_limit(
    tmp_path: Path, s3_fake: S3Fake, video: Path
) -> None:
    """Through HTTP: the server's spooled upload goes to S3 as it is read."""
    limit = video.stat().st_size + 10
    live = LiveServer(_s3_service(tmp_path, s3_fake, max_upload_bytes=limit))
    try:
        sent = httpx.post(
            f"{live.url}/embed/tasks",
            data={"model_name": FAKE, "video_clip_length": "2"},
            files=[("video_file", ("clip.mp4", video.read_bytes(), "video/mp4"))],
            timeout=30,
        )
        assert sent.status_code == 200, sent.text
        task_id = sent.json()["_id"]
        assert _wait(lambda: live.service.status(task_id)["status"]) == "ready"
        refused = httpx.post(
            f"{live.url}/embed/tasks",
            data={"model_name": FAKE},
            files=[("video_file", ("big.mp4", b"\0" * (limit + 1), "video/mp4"))],
            timeout=30,
        )
    finally:
        live.stop()
    assert refused.status_code == 400 and refused.json()["code"] == "parameter_invalid"
    assert s3_fake.keys() == [f"media/{task_id}/clip.mp4"] and s3_fake.open_uploads() == []
    assert s3_fake.read(f"media/{task_id}/clip.mp4") == video.read_bytes()


def test_vidembed_serve_takes_the_bucket_from_the_environment_and_media_url(
    tmp_path: Path, s3_fake: S3Fake, video: Path
) -> None:
    """``vidembed serve --media-url`` with the AWS_* variables, as a deployment starts it (no
    workers: the upload's place in the bucket is what is checked); a missing bucket stops it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    env = {**os.environ, **s3_fake.env()}
    del env["VIDEMBED_MEDIA_URL"]
    command = [
        sys.executable,
        "-m",
        "vidembed.cli",
        "--data-dir",
        str(tmp_path),
        "serve",
        "--port",
        str(port),
    ]
    missing = subprocess.run(
        [*command, "--media-url", "s3://vidembed-fake-missing/x"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines()[-1] == (
        f"error: The bucket 'vidembed-fake-missing' does not exist at {s3_fake.settings.endpoint_url}. "
        "Create it, or pass --media-url with an existing one."
    )
    server = subprocess.Popen(
        [*command, "--workers", "0", "--media-url", s3_fake.media_url],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and server.poll() is None:
            try:
                httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        with open(video, "rb") as upload:
            sent = httpx.post(
                f"http://127.0.0.1:{port}/embed/tasks",
                data={"model_name": "marengo3.0"},
                files={"video_file": ("clip.mp4", upload, "video/mp4")},
                timeout=30,
            )
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert sent.status_code == 200, sent.text
    assert s3_fake.keys() == [f"media/{sent.json()['_id']}/clip.mp4"]
    assert not (tmp_path / "media" / sent.json()["_id"]).exists()


# --- tasks and assets on S3 --------------------------------------------------------------------


def test_a_v13_upload_task_on_s3_has_the_local_stores_vectors(
    tmp_path: Path, s3_fake: S3Fake, video: Path
) -> None:
    local = make_fake_service(tmp_path / "local")
    remote = _s3_service(tmp_path / "s3", s3_fake)
    try:
        expected = _v1_task(local, video)
        got = _v1_task(remote, video)
        task = remote.store.list(None, None, None, None, 0, 1)[0][0]
    finally:
        local.close()
        remote.close()
    assert got == expected and len(got) == 2 * 3  # 2 clips, 3 options
    assert task.source_path == f"s3://{s3_fake.bucket}/media/{task.id}/clip.mp4"
    assert s3_fake.keys() == [f"media/{task.id}/clip.mp4"]
    assert s3_fake.read(f"media/{task.id}/clip.mp4") == video.read_bytes()
    assert not (tmp_path / "s3" / "media" / task.id).exists()  # nothing of it on the server's disk
    assert _scratch_left(remote) == []  # the worker's copy is gone


def _v2_asset_task(tasks: TaskService, video: Path) -> tuple[str, str, list[tuple[str, float, list[float]]]]:
    """An asset uploaded, then an Embed v2 task of it, ready: (asset id, task id, vectors)."""
    assets = open_assets(tasks.settings)
    try:
        with open(video, "rb") as upload:
            asset_id = assets.create(method="direct", file=upload)["_id"]
        assert _wait(lambda: str(assets.retrieve(asset_id)["status"])) == "ready"
        v2 = EmbedV2Service(tasks.core, assets.core)
        body = {
            "input_type": "video",
            "model_name": FAKE,
            "video": {
                "media_source": {"asset_id": asset_id},
                "segmentation": {"strategy": "fixed", "fixed": {"duration_sec": 2}},
            },
        }
        task_id = v2.create_task(body)["_id"]
        assert _wait(lambda: v2.retrieve(task_id)["status"]) == "ready"
        data = v2.retrieve(task_id)["data"]
        handed = assets.media(asset_id, None, tasks.settings.data_dir / "handed" / "copy.mp4")  # a local copy
        assert handed.path.read_bytes() == video.read_bytes() and handed.filename == "clip.mp4"
        assets.delete(asset_id)
    finally:
        assets.close()
    return asset_id, task_id, [(d["embedding_option"], d["start_sec"], d["embedding"]) for d in data]


def test_an_asset_and_its_embed_v2_task_on_s3_match_the_local_store_and_outlive_its_delete(
    tmp_path: Path, s3_fake: S3Fake, video: Path
) -> None:
    local = make_fake_service(tmp_path / "local")
    remote = _s3_service(tmp_path / "s3", s3_fake)
    try:
        _, _, expected = _v2_asset_task(local, video)
        asset_id, task_id, got = _v2_asset_task(remote, video)
        source = remote.store.get(task_id)
        assert source is not None and source.source_path is not None
        readable = remote.media_store.local_path(source.source_path, tmp_path / "read")
    finally:
        local.close()
        remote.close()
    assert got == expected and len(got) == 9
    # the asset deleted: its file is gone from the bucket, the task's server-side copy is not
    assert source.source_path == f"s3://{s3_fake.bucket}/media/{task_id}/asset"
    assert s3_fake.keys() == [f"media/{task_id}/asset"]
    assert readable.read_bytes() == video.read_bytes()
    assert not any(k.startswith(f"media/assets/{asset_id}") for k in s3_fake.keys())


# --- another machine ---------------------------------------------------------------------------


@pytest.fixture(params=["sqlite-file", "postgres"])
def shared_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database two services share: one SQLite file, or PostgreSQL (tests/pg.py)."""
    if request.param == "sqlite-file":
        return f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    url: str = request.getfixturevalue("pg_url")
    return url


def test_a_worker_on_another_machine_finishes_a_task_the_first_took_in(
    tmp_path: Path, s3_fake: S3Fake, video: Path, shared_database: str
) -> None:
    """Two services with data folders of their own (two machines), one database and one bucket:
    the first takes tasks in and runs no workers, so the second's workers ran them."""
    shared = shared_database
    front = _s3_service(tmp_path / "front", s3_fake, start_workers=False, database_url=shared)
    back = _s3_service(tmp_path / "back", s3_fake, database_url=shared, allow_local_urls=True)
    local = make_fake_service(tmp_path / "local")
    try:
        with open(video, "rb") as upload:
            uploaded = front.create(model_name=FAKE, video_file=upload, video_clip_length=2)["_id"]
        by_url = front.create(model_name=FAKE, video_url=video.as_uri(), video_clip_length=2)["_id"]
        assert _wait(lambda: front.status(uploaded)["status"]) == "ready"
        assert _wait(lambda: front.status(by_url)["status"]) == "ready"
        expected = _v1_task(local, video)
        assert _vectors(front, uploaded) == expected and _vectors(front, by_url) == expected
    finally:
        front.close()
        back.close()
        local.close()
    # the upload is in the bucket, the URL's download only ever was in the worker's scratch folder
    assert s3_fake.keys() == [f"media/{uploaded}/clip.mp4"]
    assert not (tmp_path / "back" / "media" / uploaded).exists()
    assert _scratch_left(back) == []


def test_an_old_task_with_an_absolute_path_still_runs_on_an_s3_store(
    tmp_path: Path, s3_fake: S3Fake, video: Path
) -> None:
    service = _s3_service(tmp_path, s3_fake)
    try:
        task = service.new_task("", FAKE, ClipParams(clip_length=2.0), ["visual"])
        task.source_path, task.input_filename = str(video), "clip.mp4"  # as rows from before media stores
        service.submit(task)
        assert _wait(lambda: service.status(task.id)["status"]) == "ready"
        assert [s[:3] for s in _vectors(service, task.id)] == [
            ("visual", "clip", 0.0),
            ("visual", "clip", 2.0),
        ]
    finally:
        service.close()
    assert video.is_file() and s3_fake.keys() == []


def test_the_local_store_keeps_the_data_folder_layout(tmp_path: Path, video: Path) -> None:
    service = make_fake_service(tmp_path)
    try:
        with open(video, "rb") as upload:
            task_id = service.create(model_name=FAKE, video_file=upload)["_id"]
        assert _wait(lambda: service.status(task_id)["status"]) == "ready"
        task = service.store.get(task_id)
    finally:
        service.close()
    stored = tmp_path.resolve() / "media" / task_id / "clip.mp4"
    assert task is not None and task.source_path == str(stored)
    assert stored.read_bytes() == video.read_bytes() and _scratch_left(service) == []


def test_a_worker_with_another_media_store_says_which_media_url_to_use(
    tmp_path: Path, s3_fake: S3Fake
) -> None:
    local = make_fake_service(tmp_path / "local")
    remote = _s3_service(tmp_path / "s3", s3_fake)
    elsewhere = "s3://vidembed-fake-other/media/t/clip.mp4"
    try:
        reasons = []
        for service in (local, remote):
            task = service.new_task("", FAKE, ClipParams(clip_length=2.0), ["visual"])
            task.source_path = elsewhere
            service.submit(task)
            assert _wait(lambda s=service, t=task: s.status(t.id)["status"]) == "failed"  # type: ignore[misc]
            reasons.append(service.store.get(task.id).error)  # type: ignore[union-attr]
    finally:
        local.close()
        remote.close()
    assert reasons == [
        f"The task's input is in S3 ({elsewhere}), but this worker's media store is a local folder. "
        "Start it with the same --media-url as the server that took the task.",
        f"The task's input ({elsewhere}) is not in this worker's media store (s3://{s3_fake.bucket}/media/). "
        "Start it with the same --media-url as the server that took the task.",
    ]


def test_ready_says_when_the_media_store_cannot_be_used(tmp_path: Path, s3_fake: S3Fake) -> None:
    """GET /ready answers 503 not_ready, naming the media store and why, once the bucket is gone
    (a load balancer then stops sending this server requests); 200 while it is there."""
    from fastapi.testclient import TestClient

    from vidembed.api.compose import services_for
    from vidembed.server.app import create_app

    services = services_for(_s3_service(tmp_path, s3_fake))
    try:
        with TestClient(create_app(services, preload_models=False)) as client:
            assert client.get("/ready").json() == {"status": "ready"}
            for key in s3_fake.keys():
                s3_fake.client.delete_object(Bucket=s3_fake.bucket, Key=key)
            s3_fake.client.delete_bucket(Bucket=s3_fake.bucket)
            answer = client.get("/ready")
            s3_fake.client.create_bucket(Bucket=s3_fake.bucket)  # for the fixture's cleanup
    finally:
        services.close()
    assert answer.status_code == 503
    assert answer.json() == {
        "code": "not_ready",
        "message": f"The media store cannot be used: The bucket {s3_fake.bucket!r} does not exist at "
        f"{s3_fake.settings.endpoint_url}. Create it, or pass --media-url with an existing one.",
    }
