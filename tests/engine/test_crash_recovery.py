"""Crashes and hangs lose nothing: killed engines, stalled decoders, a server killed with SIGKILL.

The stalled decoder is caught on the fake stack (conftest.FAKE): a stall does not depend on the
models. The tests that stop a task mid-way keep the real models: the fake stack embeds the 90 s
video in about 0.4 s, too fast for a poll to see it mid-way every time. The server killed with
SIGKILL is ``vidembed serve`` in its own process, which serves the built-in stack only. The tests
taking ``database_url`` run on both stores: SQLite in the data folder, then PostgreSQL (tests/pg.py)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import psycopg
import pytest
from conftest import FAKE, make_fake_service, make_service
from pg import database_url, pg_admin, pg_database, pg_url  # noqa: F401

from vidembed.api.embed.operations import TaskService
from vidembed.devtools.synth import SegmentSpec, make_video, tone
from vidembed.records import TaskRecord
from vidembed.segmentation import ClipParams


@pytest.fixture(scope="module")
def long_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """90 s (15 clips of 6 s): long enough that a poll sees the task mid-way. The 18 s labelled
    video could finish within one 2 s heartbeat on a warm machine, before any mid stage was
    written, and the tests that kill a task mid-way then had nothing to kill."""
    return make_video(
        tmp_path_factory.mktemp("long") / "long.mp4",
        [
            SegmentSpec(
                6, image=np.full((180, 320, 3), 40 * (i % 6), np.uint8), audio=tone(300 + 50 * i, 5.5)
            )
            for i in range(15)
        ],
        width=320,
        height=180,
    )


# Stages of a claimed, unfinished task once its engine process runs. On a warm machine the 90 s
# video takes about 4 s, and the mid stages can pass between two polls, so the tests that stop or
# kill "mid-task" take any of these.
ENGINE_RUNNING = ("loading models", "probed", "visual", "audio", "transcription")


def wait_status(
    get, task_id: str, until: tuple[str, ...] = ("ready", "failed"), timeout: float = 120
) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = get(task_id)
        if status["status"] in until or status.get("progress", {}).get("stage") in until:
            return status
        # a task that ended otherwise will not get there: say how it ended
        assert status["status"] == "processing", f"task {task_id} ended before {until}: {status}"
        time.sleep(0.1)
    raise AssertionError(f"task {task_id} did not reach {until}")


def test_a_killed_engine_process_is_replaced_and_the_task_completes(
    tmp_path: Path,
    long_video: Path,
    database_url: str | None,  # noqa: F811
) -> None:
    service = make_service(tmp_path, database_url=database_url)
    try:
        task_id = service.create(model_name="marengo3.0", video_file=str(long_video))["_id"]
        wait_status(service.status, task_id, until=ENGINE_RUNNING)
        pid = service.workers.engines[0].pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        status = wait_status(service.status, task_id)
        assert status["status"] == "ready"
        assert service.store.get(task_id).attempts == 2
        assert len(service.retrieve(task_id)["video_embedding"]["segments"]) == 45  # 15 clips x 3
    finally:
        service.close()


def test_a_hanging_decoder_is_stopped_and_the_worker_goes_on(
    tmp_path: Path,
    silent_video: Path,
    database_url: str | None,  # noqa: F811
) -> None:
    service = make_fake_service(tmp_path, start_workers=False, stall_seconds=3, database_url=database_url)
    try:
        fifo = tmp_path / "never-written.mp4"
        os.mkfifo(fifo)  # a source that never delivers a byte, like a stalled network mount
        now = time.time()
        service.store.insert(
            TaskRecord(
                id="f" * 24,
                owner="",
                model_name=FAKE,
                status="processing",
                params=ClipParams(clip_length=6.0, scopes=("clip",)),
                options=["visual"],
                created_at=now,
                updated_at=now,
                source_path=str(fifo),
            )
        )
        good = service.create(model_name=FAKE, video_file=str(silent_video))["_id"]
        service.workers.start()
        started = time.monotonic()
        hung = wait_status(service.status, "f" * 24)
        assert hung["status"] == "failed"
        assert "made no progress for 3 s" in hung["error"]["message"]
        assert time.monotonic() - started < 60
        assert wait_status(service.status, good)["status"] == "ready"
    finally:
        service.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _serve(data: Path, port: int, store_url: str | None = None) -> subprocess.Popen:
    env = {**os.environ, "VIDEMBED_LEASE_SECONDS": "3"}
    store = ["--database-url", store_url] if store_url else []
    proc = subprocess.Popen(
        [sys.executable, "-m", "vidembed.cli", "--data-dir", str(data), "serve", "--port", str(port), *store],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise AssertionError("server did not start")


def test_server_killed_with_sigkill_resumes_every_acknowledged_task(
    tmp_path: Path,
    long_video: Path,
    labelled_video: Path,
    database_url: str | None,  # noqa: F811
) -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    server = _serve(tmp_path, port, database_url)
    try:
        ids = []
        for video in (long_video, labelled_video):
            with open(video, "rb") as fh:
                response = httpx.post(
                    f"{url}/embed/tasks",
                    data={"model_name": "marengo3.0"},
                    files={"video_file": ("v.mp4", fh, "video/mp4")},
                    timeout=60,
                )
            assert response.status_code == 200
            ids.append(response.json()["_id"])
        # and a video into a search index: an index task is an embed task, recovered alike
        models = [{"model_name": "marengo3.0", "model_options": ["visual", "audio"]}]
        index_id = httpx.post(f"{url}/indexes", json={"index_name": "kept", "models": models}).json()["_id"]
        with open(labelled_video, "rb") as fh:
            indexed = httpx.post(
                f"{url}/tasks",
                data={"index_id": index_id},
                files={"video_file": ("kitchen.mp4", fh)},
                timeout=60,
            ).json()["_id"]

        def get(task_id: str) -> dict:
            return httpx.get(f"{url}/embed/tasks/{task_id}/status", timeout=10).json()

        wait_status(get, ids[0], until=ENGINE_RUNNING)
        os.killpg(server.pid, signal.SIGKILL)  # the server and its engine process, mid-task
        server.wait()
        server = _serve(tmp_path, port, database_url)
        for task_id in ids:
            assert wait_status(get, task_id, timeout=180)["status"] == "ready"
        segments = httpx.get(f"{url}/embed/tasks/{ids[0]}").json()["video_embedding"]["segments"]
        assert len(segments) == 45 and all(len(s["float"]) == 384 for s in segments)  # 15 clips x 3
        deadline = time.monotonic() + 180
        while (state := httpx.get(f"{url}/tasks/{indexed}", timeout=10).json())["status"] not in (
            "ready",
            "failed",
        ):
            assert time.monotonic() < deadline, state
            time.sleep(0.2)
        assert state["status"] == "ready"
        found = httpx.post(
            f"{url}/search",
            data={"index_id": index_id, "query_text": "tomatoes", "search_options": "transcription"},
            timeout=60,
        ).json()
        assert [(i["video_id"], i["start"]) for i in found["data"]][:1] == [(indexed, 0.0)]
        if database_url:  # the tasks lie in PostgreSQL, where both server processes found them
            with psycopg.connect(database_url) as conn:
                ready = conn.execute("SELECT id FROM tasks WHERE status = 'ready' ORDER BY id").fetchall()
            assert ready == [(task_id,) for task_id in sorted([*ids, indexed])]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def test_stopping_the_service_leaves_unfinished_tasks_for_the_next_start(
    tmp_path: Path,
    long_video: Path,
    database_url: str | None,  # noqa: F811
) -> None:
    service: TaskService = make_service(tmp_path, lease_seconds=2, database_url=database_url)
    task_id = service.create(model_name="marengo3.0", video_file=str(long_video))["_id"]
    # any stage after the claim will do: the task is leased and unfinished
    wait_status(service.status, task_id, until=("started", *ENGINE_RUNNING))
    service.close()  # a clean stop in the middle of the task
    assert service.store is not None
    again = make_service(tmp_path, lease_seconds=2, database_url=database_url)
    try:
        assert wait_status(again.status, task_id)["status"] == "ready"
    finally:
        again.close()


def test_messages_from_many_threads_arrive_whole() -> None:
    """The engine child reports progress from several threads at once."""
    import threading

    from vidembed.executors.child import MessageWriter, read_message

    read_fd, write_fd = os.pipe()
    writer = MessageWriter(os.fdopen(write_fd, "wb"))
    payload = "x" * 5000  # larger than the pipe's atomic write size

    def talk(n: int) -> None:
        for i in range(200):
            writer.send(("progress", n, i, payload))

    threads = [threading.Thread(target=talk, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    received = [read_message(read_fd) for _ in range(800)]
    for t in threads:
        t.join()
    assert sorted((m[1], m[2]) for m in received) == [(n, i) for n in range(4) for i in range(200)]
    assert all(m[3] == payload for m in received)


def test_stopping_during_a_url_download_hands_the_task_back_at_once(tmp_path: Path) -> None:
    """A worker stopping (Ctrl-C in ``vidembed embed``, a server shutting down) while it downloads a
    task's video_url does not wait for the download: it ends between two network reads and the task
    is handed back (processing, stage interrupted, the attempt not counted) for the next worker."""
    import http.server
    import threading

    class Trickle(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "video/mp4")
            self.send_header("Content-Length", str(50_000_000))
            self.end_headers()
            try:
                for _ in range(1000):  # 1 kB every 0.1 s: 50 MB would take hours
                    self.wfile.write(b"\0" * 1000)
                    self.wfile.flush()
                    time.sleep(0.1)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Trickle)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        service = make_fake_service(tmp_path, allow_local_urls=True)
        url = f"http://127.0.0.1:{httpd.server_address[1]}/slow.mp4"
        task_id = service.create(model_name=FAKE, video_url=url)["_id"]
        wait_status(service.status, task_id, until=("started",))
        time.sleep(0.5)  # well into the download
        started = time.monotonic()
        service.close()
        assert time.monotonic() - started < 5  # not the download's hours, nor the 60 s join
        again = make_fake_service(tmp_path, start_workers=False, allow_local_urls=True)
        try:
            task = again.store.get(task_id)
            assert task is not None
            assert (task.status, task.stage, task.attempts) == ("processing", "interrupted", 0)
        finally:
            again.close()
    finally:
        httpd.shutdown()
        httpd.server_close()
