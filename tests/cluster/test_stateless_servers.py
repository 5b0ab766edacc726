"""Two API servers sharing one PostgreSQL database and one media folder serve the same tasks and
assets (issue 13, item 6; docs/POSTGRES.md, "Several API servers").

Each server is ``vidembed serve --database-url URL --port N`` in a process of its own, with its
own worker pool, engine process and data folder, as on two machines; what they share is the
database (a database of this module's own, tests/pg.py) and the media: each data folder's
``media/`` is a link to one folder. That shared folder stands in for the S3 media store, being built at the same time
(Settings.media_url): on machines it would be a network file system mounted at DATA/media. The
official SDK (twelvelabs 1.3.6) makes every call it has; clip search, our extension, goes over
HTTP. The fake model stack (model_name FAKE) keeps it fast: the servers are started through
``SERVE_WITH_FAKE``, the CLI with the fake stack added to its settings (a stacks file cannot select
it), as conftest's ``fake_cli`` does in-process.
"""

from __future__ import annotations

import http.server
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx
import numpy as np
import pytest
from conftest import FAKE, fake_settings
from pg import database_url, pg_admin, pg_database, pg_url, temporary_database  # noqa: F401
from twelvelabs import NotFoundError, TwelveLabs
from twelvelabs.core.api_error import ApiError as SdkApiError
from twelvelabs.types import MediaSource, VideoInputRequest

from vidembed.api.compose import open_tasks
from vidembed.api.embed.operations import TaskService
from vidembed.devtools.synth import SegmentSpec, make_video, tone
from vidembed.errors import TooManyRequestsError as OurTooManyRequests

LIMIT = 3  # active tasks per key on both servers
KEYS = ("key-a", "key-b", "key-c")
# `vidembed serve` with the fake stack served beside the built-in one (config.Settings replaced
# before the CLI builds its settings; the engine processes get the stack through StackSettings).
SERVE_WITH_FAKE = """
import dataclasses, sys
from vidembed.models.fake import FAKE_STACK
from vidembed import config

@dataclasses.dataclass
class WithFake(config.Settings):
    extra_stacks: tuple = (FAKE_STACK,)

config.Settings = WithFake
from vidembed import cli
sys.exit(cli.main(sys.argv[1:]))
"""
RATE_LIMITED = (
    f"You have exceeded the rate limit ({LIMIT} tasks processing at once). "
    "Please try again later after 30 seconds."
)
T = TypeVar("T")


def wait_for(fetch: Callable[[], T], done: Callable[[T], bool], timeout: float = 60.0) -> T:
    """Polls ``fetch()`` every 0.1 s until ``done`` holds; fails after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if done(value):
            return value
        assert time.monotonic() < deadline, f"still not done after {timeout} s: {value}"
        time.sleep(0.1)


@dataclass
class Server:
    """A ``vidembed serve`` process of this module's own, on a loopback port."""

    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def stop(self) -> None:
        """SIGTERM to its process group (the server and its engine process); SIGKILL after 30 s."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(data: Path, database: str) -> Server:
    """Starts ``vidembed serve`` on ``database`` with the data folder ``data``; does not wait."""
    port, log = free_port(), data / "server.log"
    env = {
        **os.environ,
        "VIDEMBED_API_KEYS": ",".join(KEYS),
        "VIDEMBED_MAX_ACTIVE_TASKS_PER_KEY": str(LIMIT),
        "VIDEMBED_LEASE_SECONDS": "10",
    }
    command = [sys.executable, "-c", SERVE_WITH_FAKE, "--data-dir", str(data), "serve", "--port", str(port)]
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [*command, "--database-url", database, "--allow-local-urls"],
            env=env,
            start_new_session=True,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return Server(process, f"http://127.0.0.1:{port}", log)


def wait_ready(server: Server, timeout: float = 90.0) -> None:
    """Until ``GET /ready`` answers 200 (database reached, text encoders loaded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert server.process.poll() is None, f"the server exited: {server.log.read_text()[-2000:]}"
        try:
            if httpx.get(f"{server.url}/ready", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"the server was not ready after {timeout} s: {server.log.read_text()[-2000:]}")


@dataclass
class Pair:
    a: Server
    b: Server
    media: Path  # the folder both servers' media/ point at
    video: Path

    def sdk(self, server: Server, key: str = "key-a") -> TwelveLabs:
        return TwelveLabs(api_key=key, base_url=server.url)


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 s, 160x120: a red shot with a tone, then a blue one in silence."""
    red = np.full((120, 160, 3), (200, 30, 30), np.uint8)
    blue = np.full((120, 160, 3), (30, 30, 200), np.uint8)
    return make_video(
        tmp_path_factory.mktemp("stateless-files") / "shots.mp4",
        [SegmentSpec(2.0, image=red, audio=tone(440, 2.0)), SegmentSpec(2.0, image=blue)],
        width=160,
        height=120,
    )


@pytest.fixture(scope="module")
def pair(pg_admin: str, tmp_path_factory: pytest.TempPathFactory, video: Path) -> Iterator[Pair]:  # noqa: F811
    """Two servers on one database and one media folder, each with its own data folder."""
    shared = tmp_path_factory.mktemp("shared-media")
    with temporary_database(pg_admin) as url:
        servers: list[Server] = []
        try:
            for name in ("server-a", "server-b"):
                data = tmp_path_factory.mktemp(name)
                (data / "media").symlink_to(shared, target_is_directory=True)
                servers.append(start_server(data, url))
            for server in servers:  # started together: they load their models at the same time
                wait_ready(server)
            yield Pair(servers[0], servers[1], shared, video)
        finally:
            for server in servers:
                server.stop()


def search(server: Server, key: str, **form: str) -> dict[str, object]:
    """``POST /clips/search`` (our extension; the SDK has no call for it)."""
    answer = httpx.post(f"{server.url}/clips/search", data=form, headers={"x-api-key": key}, timeout=30)
    assert answer.status_code == 200, answer.text
    body: dict[str, object] = answer.json()
    return body


def test_a_task_created_on_one_server_is_seen_and_searched_on_the_other(pair: Pair) -> None:
    on_a, on_b = pair.sdk(pair.a), pair.sdk(pair.b)
    with open(pair.video, "rb") as fh:
        created = on_a.embed.tasks.create(
            model_name=FAKE, video_file=fh, video_clip_length=2, video_embedding_scope=["clip", "video"]
        )
    # the upload lies in the shared media folder, where the worker of either server can read it
    assert [p.name for p in (pair.media / created.id).iterdir()] == ["shots.mp4"]
    done = wait_for(lambda: on_b.embed.tasks.status(created.id), lambda t: t.status != "processing")
    assert (done.id, done.status, done.model_name) == (created.id, "ready", FAKE)

    from_a = on_a.embed.tasks.retrieve(created.id)
    from_b = on_b.embed.tasks.retrieve(created.id)
    assert from_b.video_embedding is not None and from_a.video_embedding is not None
    segments_b = from_b.video_embedding.segments or []
    bounds = [
        (s.embedding_option, s.embedding_scope, s.start_offset_sec, s.end_offset_sec) for s in segments_b
    ]
    assert ("visual", "clip", 0.0, 2.0) in bounds and ("visual", "clip", 2.0, 4.0) in bounds
    assert ("visual", "video", 0.0, 4.0) in bounds
    # the same vectors, whichever server answers
    assert [s.float_ for s in segments_b] == [s.float_ for s in from_a.video_embedding.segments or []]
    assert all(len(s.float_ or []) == 16 for s in segments_b)

    assert created.id in [t.id for t in on_b.embed.tasks.list(page_limit=50)]
    assert created.id not in [t.id for t in pair.sdk(pair.b, "key-b").embed.tasks.list(page_limit=50)]
    with pytest.raises(SdkApiError) as hidden:  # the SDK has no typed 404 for status
        pair.sdk(pair.b, "key-b").embed.tasks.status(created.id)
    assert (hidden.value.status_code, hidden.value.body) == (
        404,
        {
            "code": "resource_not_exist",
            "message": f"Resource with id {created.id} does not exist in embed_tasks.",
        },
    )

    form = {"query_text": "a red picture", "model_name": FAKE, "task_id": created.id}
    found_b = search(pair.b, "key-a", embedding_option="visual", **form)
    found_a = search(pair.a, "key-a", embedding_option="visual", **form)
    hits = found_b["data"]["visual"]  # type: ignore[index]
    assert {(h["task_id"], h["start_offset_sec"], h["end_offset_sec"]) for h in hits} == {
        (created.id, 0.0, 2.0),
        (created.id, 2.0, 4.0),
    }
    assert hits[0]["source"] == "shots.mp4"
    assert found_a == found_b  # the same ranking and scores on both servers
    everything = search(pair.b, "key-a", query_text="a red picture", model_name=FAKE)
    assert created.id in {h["task_id"] for h in everything["data"]["fused"]}  # type: ignore[index]
    assert search(pair.b, "key-b", query_text="a red picture", model_name=FAKE)["data"] == {}


def test_an_asset_uploaded_on_one_server_is_listed_and_embedded_through_the_other(pair: Pair) -> None:
    on_a, on_b = pair.sdk(pair.a), pair.sdk(pair.b)
    with open(pair.video, "rb") as fh:
        asset = on_a.assets.create(method="direct", file=fh, user_metadata='{"shot": "two", "n": 2}')
    assert asset.status == "processing"
    assert asset.id in [a.id for a in on_b.assets.list(page_limit=50)]
    ready = wait_for(lambda: on_b.assets.retrieve(asset.id), lambda a: a.status != "processing")
    assert (ready.status, ready.filename, ready.user_metadata) == (
        "ready",
        "shots.mp4",
        {"shot": "two", "n": 2},
    )
    assert ready.size == pair.video.stat().st_size
    assert [a.id for a in on_a.assets.list(asset_types="video", filename="SHOTS", page_limit=50)][
        0
    ] == asset.id
    with pytest.raises(NotFoundError):
        pair.sdk(pair.b, "key-b").assets.retrieve(asset.id)

    task = on_b.embed.v_2.tasks.create(
        input_type="video",
        model_name=FAKE,
        video=VideoInputRequest(media_source=MediaSource(asset_id=asset.id)),
    )
    assert task.status == "processing"
    done = wait_for(lambda: on_a.embed.v_2.tasks.retrieve(task.id), lambda t: t.status != "processing")
    assert done.status == "ready", done.error
    assert done.metadata is not None and done.metadata.duration == pytest.approx(4.0, abs=0.1)
    assert {(d.embedding_option, d.embedding_scope) for d in done.data or []} == {
        (o, s) for o in ("visual", "audio", "transcription") for s in ("clip", "asset")
    }
    again = on_b.embed.v_2.tasks.retrieve(task.id)
    assert [d.embedding for d in again.data or []] == [d.embedding for d in done.data or []]
    assert task.id in [t.id for t in on_a.embed.v_2.tasks.list(page_limit=50)]


class GatedFiles(http.server.SimpleHTTPRequestHandler):
    """Serves a folder, but only once ``gate`` is open: the tasks downloading from it stay
    processing until the test says so."""

    gate = threading.Event()

    def do_GET(self) -> None:
        self.gate.wait(30)  # bounded: a failing test does not hang the run
        super().do_GET()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def gated_url(video: Path) -> Iterator[str]:
    GatedFiles.gate.clear()
    handler = lambda *args: GatedFiles(*args, directory=str(video.parent))  # noqa: E731
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/{video.name}"
    finally:
        GatedFiles.gate.set()
        httpd.shutdown()
        httpd.server_close()


def test_the_per_key_limit_holds_across_both_servers(pair: Pair, gated_url: str) -> None:
    clients = [pair.sdk(server, "key-c") for server in (pair.a, pair.b)] * 4
    start = threading.Barrier(len(clients))

    def create(client: TwelveLabs) -> str:
        start.wait(10)
        try:
            return client.embed.tasks.create(model_name=FAKE, video_url=gated_url).id
        except SdkApiError as exc:  # the SDK has no typed 429 for this call
            assert (exc.status_code, exc.body) == (
                429,
                {"code": "too_many_requests", "message": RATE_LIMITED},
            )
            assert exc.headers is not None and exc.headers["retry-after"] == "30"
            return "429"

    with ThreadPoolExecutor(len(clients)) as pool:
        outcomes = list(pool.map(create, clients))
    accepted = [o for o in outcomes if o != "429"]
    assert (len(accepted), outcomes.count("429")) == (LIMIT, len(clients) - LIMIT)
    listed = [t.id for t in pair.sdk(pair.b, "key-c").embed.tasks.list(status="processing")]
    assert sorted(listed) == sorted(accepted)
    # another key is not held back by key-c's tasks, on either server
    other = pair.sdk(pair.a, "key-b").embed.tasks.create(model_name=FAKE, video_url=gated_url)
    GatedFiles.gate.set()
    for task_id in [*accepted, other.id]:
        done = wait_for(
            lambda t=task_id: pair.sdk(pair.b, "key-c" if t != other.id else "key-b").embed.tasks.status(t),
            lambda t: t.status != "processing",
        )
        assert done.status == "ready"
    # the finished tasks no longer count: key-c may create again, on either server
    again = [
        pair.sdk(server, "key-c").embed.tasks.create(model_name=FAKE, video_url=gated_url)
        for server in (pair.a, pair.b)
    ]
    assert [len(t.id) for t in again] == [24, 24] and again[0].id != again[1].id


# --- the limit between two services, on each store -------------------------------------------


def test_two_services_on_one_database_accept_exactly_the_limit(
    database_url: str | None,  # noqa: F811
    tmp_path: Path,
) -> None:
    """8 creates at the same instant, from threads, 4 on each of two services sharing a database
    (PostgreSQL, or one SQLite file): exactly the limit's 3 are accepted, the rest get 429. Without
    the atomic insert both services could count 2 and both insert."""
    services = [
        open_tasks(
            fake_settings(tmp_path / "data", database_url=database_url, max_active_tasks_per_owner=LIMIT),
            start_workers=False,
        )
        for _ in range(2)
    ]
    start = threading.Barrier(8)

    def create(service: TaskService) -> str:
        start.wait(10)
        try:
            return str(service.create(owner="k", model_name=FAKE, video_file=b"not decoded here")["_id"])
        except OurTooManyRequests as exc:
            assert (exc.message, exc.headers) == (RATE_LIMITED, {"Retry-After": "30"})
            return "429"

    try:
        with ThreadPoolExecutor(8) as pool:
            outcomes = list(pool.map(create, services * 4))
        accepted = sorted(o for o in outcomes if o != "429")
        assert (len(accepted), outcomes.count("429")) == (LIMIT, 8 - LIMIT)
        assert services[1].store.count_active("k") == LIMIT
        # only the accepted tasks' uploads are kept (a task refused at the insert loses its folder)
        assert sorted(p.name for p in (tmp_path / "data" / "media").iterdir()) == accepted
        assert services[0].store.count_active("someone-else") == 0
    finally:
        for service in services:
            service.close()
