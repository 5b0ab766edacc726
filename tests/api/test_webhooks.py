"""Webhooks (vidembed/service/webhooks.py, docs/SEARCH-API.md "Webhooks"): a receiver on loopback
records what the server POSTs. Index tasks made with the official SDK send ``index.task.ready`` and
``index.task.failed`` signed as TwelveLabs signs; embed tasks send ``embed.task.*``; a receiver
that answers 503 gets the same event again; two deliverers on one database send each event once;
an event a server did not send is sent by the next one. Tasks use the fake stack (conftest.FAKE)."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import numpy as np
import pytest
from builders import make_task, wait_ready
from conftest import FAKE, LiveServer, fake_settings, make_fake_service
from pg import database_url, pg_admin, pg_database, pg_url  # noqa: F401
from twelvelabs import TwelveLabs
from twelvelabs.indexes import IndexesCreateRequestModelsItem

from vidembed.api.compose import compose
from vidembed.cli import build_parser
from vidembed.config import Settings
from vidembed.errors import ConfigurationError
from vidembed.service.webhooks import WebhookDeliverer, backoff, check_webhook_urls, sign, verify
from vidembed.stores.sqlite.tasks import SQLiteStore

SECRET = "whsec-test"
FAKE_INDEX = [IndexesCreateRequestModelsItem(model_name=FAKE, model_options=["visual", "audio"])]


@dataclass
class Received:
    path: str
    signature: str | None
    content_type: str | None
    body: bytes
    at: float

    @property
    def json(self) -> dict:
        parsed: dict = json.loads(self.body)
        return parsed


class Receiver:
    """A webhook receiver on loopback: records every POST and answers ``statuses`` in turn, then 200."""

    def __init__(self, statuses: tuple[int, ...] = ()) -> None:
        self.received: list[Received] = []
        self.statuses = list(statuses)
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    receiver.received.append(
                        Received(
                            self.path,
                            self.headers.get("TL-Signature"),
                            self.headers.get("Content-Type"),
                            body,
                            time.time(),
                        )
                    )
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for(self, count: int, timeout: float = 60) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.02)
        raise AssertionError(f"{count} requests expected, {len(self.received)} received: {self.received}")

    def of_task(self, task_id: str, count: int = 1, timeout: float = 60) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                found = [r for r in self.received if r.json["data"]["id"] == task_id]
            if len(found) >= count:
                return found
            time.sleep(0.02)
        raise AssertionError(f"no event for {task_id}: {self.received}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture(autouse=True)
def _no_env_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TWELVELABS_BASE_URL", raising=False)
    monkeypatch.delenv("VIDEMBED_WEBHOOK_URL", raising=False)
    monkeypatch.delenv("VIDEMBED_WEBHOOK_SECRET", raising=False)


def signed(received: Received) -> bool:
    return received.signature is not None and verify(received.signature, received.body, SECRET)


def test_sign_and_verify_as_twelvelabs_documents_them() -> None:
    body = b'{"id":"whe_1","type":"index.task.ready"}'
    header = sign("s3cret", 1659342128, body)
    expected = hmac.new(b"s3cret", b"1659342128." + body, hashlib.sha256).hexdigest()
    assert header == f"t=1659342128,v1={expected}"
    assert verify(header, body, "s3cret", now=1659342128 + 299)
    assert verify(header, body.decode(), "s3cret", tolerance=None)
    assert not verify(header, body, "s3cret", now=1659342128 + 301)  # older than five minutes
    assert not verify(header, body + b" ", "s3cret", tolerance=None)  # the raw body, byte for byte
    assert not verify(header, body, "other", tolerance=None)
    assert not verify(f"t=1659342129,v1={expected}", body, "s3cret", tolerance=None)
    assert not verify("v1=" + expected, body, "s3cret", tolerance=None)
    assert not verify("", body, "s3cret")
    now = int(time.time())
    assert verify(sign("k", now, "{}"), b"{}", "k")
    assert [backoff(n, 1.0) for n in (1, 2, 3, 4, 9, 10, 30)] == [1, 2, 4, 8, 256, 300, 300]


def test_index_tasks_send_signed_ready_and_failed_events(
    tmp_path: Path, receiver: Receiver, silent_video: Path
) -> None:
    service = make_fake_service(tmp_path, webhook_urls=(receiver.url,), webhook_secret=SECRET)
    live = LiveServer(service)
    try:
        assert live.services.webhooks is not None
        client = TwelveLabs(api_key="any", base_url=live.url + "/v1.3")
        index = client.indexes.create(index_name="hooks", models=FAKE_INDEX)
        assert index.id is not None
        with open(silent_video, "rb") as fh:
            task = client.tasks.create(index_id=index.id, video_file=fh)
        assert task.id is not None
        done = client.tasks.wait_for_done(task.id, sleep_interval=0.1)
        assert done.status == "ready"
        (ready,) = receiver.of_task(task.id)
        assert ready.path == "/hooks" and ready.content_type == "application/json"
        assert signed(ready)
        stamp = int(ready.signature.split(",")[0].removeprefix("t="))  # type: ignore[union-attr]
        assert abs(stamp - ready.at) <= 2
        body = ready.json
        assert body["type"] == "index.task.ready" and body["id"].startswith("whe_")
        record = live.services.core.store.get(task.id)
        assert record is not None and record.duration is not None and record.duration > 0
        assert body["data"] == {
            "id": task.id,
            "metadata": {"duration": record.duration},
            "status": "ready",
            "models": [{"name": FAKE, "options": ["visual", "audio"]}],
            "tags": [],
        }
        assert [e.id for e in live.services.core.store.task_events(task.id)] == [body["id"]]

        broken = tmp_path / "broken.mp4"
        broken.write_bytes(b"this is not a video at all" * 100)
        with open(broken, "rb") as fh:
            bad = client.tasks.create(index_id=index.id, video_file=fh)
        assert bad.id is not None
        assert client.tasks.wait_for_done(bad.id, sleep_interval=0.1).status == "failed"
        (failed,) = receiver.of_task(bad.id)
        assert signed(failed)
        reason = live.services.core.store.get(bad.id).error  # type: ignore[union-attr]
        assert reason
        assert failed.json["type"] == "index.task.failed"
        assert failed.json["data"]["status"] == "failed"
        assert failed.json["data"]["error"] == {"message": reason}
        assert failed.json["data"]["models"] == [{"name": FAKE, "options": ["visual", "audio"]}]
    finally:
        live.stop()
    assert len(receiver.received) == 2  # once each


def test_a_receiver_that_answers_503_twice_gets_the_same_embed_event(
    tmp_path: Path, silent_video: Path
) -> None:
    receiver = Receiver(statuses=(503, 503))
    services = compose(
        fake_settings(
            tmp_path, webhook_urls=(receiver.url,), webhook_secret=SECRET, webhook_backoff_seconds=0.2
        )
    )
    try:
        task_id = services.embed.create(model_name=FAKE, video_file=str(silent_video))["_id"]
        assert wait_ready(services.embed, task_id)["status"] == "ready"
        attempts = receiver.wait_for(3)
        assert [a.json for a in attempts] == [attempts[0].json] * 3
        assert {a.body for a in attempts} == {attempts[0].body}  # the same bytes every time
        assert all(signed(a) for a in attempts)
        assert attempts[1].at - attempts[0].at >= 0.2 - 0.05  # 0.2 s, then 0.4 s
        assert attempts[2].at - attempts[1].at >= 0.4 - 0.05
        body = attempts[0].json
        assert body["type"] == "embed.task.ready"
        assert body["data"] == {"id": task_id, "status": "ready", "model_name": FAKE}
        time.sleep(0.8)  # delivered: not sent again
        assert len(receiver.received) == 3
    finally:
        services.close()
        receiver.close()


def test_an_embed_task_that_fails_sends_embed_task_failed_unsigned_without_a_secret(
    tmp_path: Path, receiver: Receiver
) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 4096)
    services = compose(fake_settings(tmp_path / "data", webhook_urls=(receiver.url,)))
    try:
        task_id = services.embed.create(model_name=FAKE, video_file=str(broken))["_id"]
        status = wait_ready(services.embed, task_id)
        assert status["status"] == "failed"
        (event,) = receiver.of_task(task_id)
        assert event.signature is None
        assert event.json["type"] == "embed.task.failed"
        assert event.json["data"]["error"] == {"message": services.core.store.get(task_id).error}  # type: ignore[union-attr]
    finally:
        services.close()


def end_tasks(store: SQLiteStore, count: int) -> list[str]:
    """``count`` index tasks ended ready through the store, as a worker ends them."""
    ids = []
    for i in range(count):
        task_id = f"{i:024x}"
        store.insert(make_task(task_id, created=time.time(), api="index"))
        assert store.claim("w", 60, 3) is not None
        assert store.complete(task_id, "w", 6.0, [("visual", "clip", 0.0, 6.0, np.ones(4, dtype=np.float32))])
        ids.append(task_id)
    return ids


def test_two_deliverers_on_one_database_send_each_event_once(tmp_path: Path, receiver: Receiver) -> None:
    stores = [SQLiteStore(tmp_path / "db.sqlite3") for _ in range(3)]
    deliverers = [WebhookDeliverer(s, [receiver.url], SECRET, poll_seconds=0.05) for s in stores[:2]]
    stores[0].watch_events([receiver.url])
    ids = end_tasks(stores[2], 12)
    try:
        for d in deliverers:
            d.start()
        received = receiver.wait_for(12)
        time.sleep(0.5)
        assert len(receiver.received) == 12
        assert sorted(r.json["data"]["id"] for r in received) == ids
        assert len({r.json["id"] for r in received}) == 12
        assert all(signed(r) for r in received)
    finally:
        for d in deliverers:
            d.stop()
        for s in stores:
            s.close()


def test_an_event_a_stopped_server_did_not_send_is_sent_by_the_next(
    tmp_path: Path,
    receiver: Receiver,
    silent_video: Path,
    database_url: str | None,  # noqa: F811
) -> None:
    """On both stores (SQLite in the data folder, then PostgreSQL)."""
    settings = fake_settings(
        tmp_path, webhook_urls=(receiver.url,), webhook_secret=SECRET, database_url=database_url
    )
    first = compose(settings)
    assert first.webhooks is not None
    first.webhooks.stop()  # the deliverer stops before it sends anything (the URL is watched)
    try:
        task_id = first.embed.create(model_name=FAKE, video_file=str(silent_video))["_id"]
        assert wait_ready(first.embed, task_id)["status"] == "ready"
        (event,) = first.core.store.task_events(task_id)
    finally:
        first.webhooks = None
        first.close()
    time.sleep(0.3)
    assert receiver.received == []

    second = compose(
        fake_settings(
            tmp_path, webhook_urls=(receiver.url,), webhook_secret=SECRET, database_url=database_url
        )
    )
    try:
        (sent,) = receiver.of_task(task_id)
        assert sent.json["id"] == event.id and sent.body == event.body.encode()
        assert signed(sent)
    finally:
        second.close()


def test_webhook_urls_are_guarded_and_configured_by_flags_and_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigurationError, match="non-public address"):
        check_webhook_urls(["http://127.0.0.1:9/hooks"], allow_local=False)
    with pytest.raises(ConfigurationError, match="must be http"):
        check_webhook_urls(["file:///tmp/x"], allow_local=True)
    check_webhook_urls(["http://127.0.0.1:9/hooks"], allow_local=True)
    with pytest.raises(ConfigurationError, match="127.0.0.1:9"):  # before any store opens
        compose(fake_settings(tmp_path, webhook_urls=("http://127.0.0.1:9/h",), allow_local_urls=False))
    assert not (tmp_path / "vidembed.sqlite3").exists()

    args = build_parser().parse_args(
        [
            "serve",
            "--webhook-url",
            "https://a.example/h",
            "--webhook-url",
            "https://b.example/h",
            "--webhook-secret",
            "k",
        ]
    )
    assert (args.webhook_url, args.webhook_secret) == (["https://a.example/h", "https://b.example/h"], "k")
    assert build_parser().parse_args(["serve"]).webhook_url is None
    monkeypatch.setenv("VIDEMBED_WEBHOOK_URL", "https://a.example/h, https://b.example/h,")
    monkeypatch.setenv("VIDEMBED_WEBHOOK_SECRET", "from-env")
    settings = Settings(data_dir=tmp_path)
    assert settings.webhook_urls == ("https://a.example/h", "https://b.example/h")
    assert settings.webhook_secret == "from-env"


RUNNER = """
import sys
from dataclasses import dataclass

from vidembed import config
from vidembed.models.fake import FAKE_STACK
from vidembed.models.stacks_file import StackConfig


@dataclass
class FakeStackSettings(config.Settings):
    extra_stacks: tuple[StackConfig, ...] = (FAKE_STACK,)


config.Settings = FakeStackSettings
from vidembed.cli import main

sys.exit(main(sys.argv[1:]))
"""


def _serve(runner: Path, data: Path, port: int, hook: str) -> subprocess.Popen[bytes]:
    """``vidembed serve`` (serving the fake stack) in a process of its own, once it answers."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDEMBED_")}
    argv = ["--data-dir", str(data), "serve", "--port", str(port), "--allow-local-urls"]
    proc = subprocess.Popen(
        [sys.executable, str(runner), *argv, "--webhook-url", hook, "--webhook-secret", SECRET],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the server exited"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("the server did not start")


def test_a_server_killed_before_delivering_delivers_after_restart(tmp_path: Path, silent_video: Path) -> None:
    runner = tmp_path / "run_cli.py"
    runner.write_text(RUNNER)
    receiver = Receiver(statuses=(503,) * 1000)  # down until the restart
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = _serve(runner, tmp_path / "data", port, receiver.url)
    try:
        with open(silent_video, "rb") as fh:
            made = httpx.post(
                f"http://127.0.0.1:{port}/v1.3/embed/tasks",
                data={"model_name": FAKE},
                files={"video_file": ("silent.mp4", fh, "video/mp4")},
                timeout=30,
            )
        assert made.status_code == 200, made.text
        task_id = made.json()["_id"]
        (refused,) = receiver.of_task(task_id)  # the first attempt, answered 503
        time.sleep(0.3)  # its failure recorded; the next attempt is 1 s after the first
        server.send_signal(signal.SIGKILL)
        server.wait(10)
        with receiver.lock:
            receiver.statuses.clear()
            before = len(receiver.received)
        server = _serve(runner, tmp_path / "data", port, receiver.url)
        attempts = receiver.wait_for(before + 1)
        time.sleep(0.5)
        assert len(receiver.received) == before + 1  # delivered once, then no more
        assert {a.body for a in attempts} == {refused.body}  # the same event on every attempt
        assert refused.json["type"] == "embed.task.ready" and refused.json["data"]["id"] == task_id
        assert all(signed(a) for a in attempts)
    finally:
        server.kill()
        server.wait(10)
        receiver.close()
