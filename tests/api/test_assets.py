"""Assets (client.assets, CONTRACT.md §5.1, docs/ASSETS.md): the official SDK 1.3.6 against the
real server, the embedded client, restarts and AssetService.media."""

from __future__ import annotations

import functools
import http.server
import json
import struct
import threading
import time
import wave
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from conftest import LiveServer, fake_settings, make_fake_service
from PIL import Image
from twelvelabs import BadRequestError, NotFoundError, TwelveLabs

from vidembed import VidEmbed
from vidembed.api.assets.operations import AssetService
from vidembed.api.compose import open_assets
from vidembed.client.transports.local import LocalTransport
from vidembed.config import Settings
from vidembed.devtools.synth import SegmentSpec, make_video, tone
from vidembed.errors import BadRequestError as OurBadRequest
from vidembed.errors import NotFoundError as OurNotFound
from vidembed.records import AssetRecord
from vidembed.server.auth import ApiKeys
from vidembed.service.assets import NOT_MEDIA

UPLOAD_LIMIT = 2_000_000  # bytes, on the test server (a real one takes 2 GB)
KEYS = {"key-a", "key-b", "key-c"}


@pytest.fixture(autouse=True)
def _no_env_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TWELVELABS_BASE_URL", raising=False)  # it would override base_url= (1.3.x)


# --- media -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A 2 s 320x240 video, a 1.5 s 16 kHz WAV, a 64x48 PNG and a text file named .mp4."""
    folder = tmp_path_factory.mktemp("asset-files")
    picture = np.zeros((240, 320, 3), np.uint8)
    picture[:, :160] = (200, 40, 40)
    video = make_video(
        folder / "clip.mp4", [SegmentSpec(2.0, image=picture, audio=tone(440, 2.0))], width=320, height=240
    )
    audio = folder / "tone.wav"
    with wave.open(str(audio), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16_000)
        out.writeframes((tone(440, 1.5, rate=16_000) * 32767).astype("<i2").tobytes())
    image = folder / "still.png"
    Image.new("RGB", (64, 48), (10, 200, 30)).save(image)
    fake = folder / "notes.mp4"
    fake.write_text("these are my notes, not a video\n" * 20)
    return {"video": video, "audio": audio, "image": image, "fake": fake}


@pytest.fixture(scope="module")
def web(files: dict[str, Path]) -> Iterator[str]:
    """The media files over HTTP on 127.0.0.1 (for method=url)."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(files["video"].parent))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The real app with keys; create_app builds its AssetService (with workers) from the task
    service's settings. Task workers are off: no task runs here."""
    service = make_fake_service(
        tmp_path_factory.mktemp("assets-server"),
        start_workers=False,
        allow_local_urls=True,
        max_upload_bytes=UPLOAD_LIMIT,
    )
    server = LiveServer(service, KEYS)
    yield server
    server.stop()


def sdk(live: LiveServer, key: str = "key-a", suffix: str = "/v1.3") -> TwelveLabs:
    return TwelveLabs(api_key=key, base_url=live.url + suffix)


def wait_final(get: Callable[[], object], timeout: float = 20.0) -> object:
    """Polls ``get()`` until its status is no longer processing."""
    deadline = time.monotonic() + timeout
    while True:
        asset = get()
        if asset.status != "processing":  # type: ignore[attr-defined]
            return asset
        assert time.monotonic() < deadline, "asset still processing"
        time.sleep(0.05)


# --- the SDK against the server ----------------------------------------------------------------


def test_sdk_direct_upload_becomes_ready_with_metadata(live: LiveServer, files: dict[str, Path]) -> None:
    client = sdk(live)
    with open(files["video"], "rb") as fh:
        asset = client.assets.create(method="direct", file=fh, user_metadata='{"category": "news", "n": 3}')
    assert asset.id is not None and len(asset.id) == 24 and int(asset.id, 16) >= 0
    assert (asset.method, asset.status, asset.filename, asset.file_type) == (
        "direct",
        "processing",
        "clip.mp4",
        "video/mp4",
    )
    assert asset.user_metadata == {"category": "news", "n": 3}
    assert asset.created_at is not None and abs(asset.created_at.timestamp() - time.time()) < 60
    ready = wait_final(lambda: client.assets.retrieve(asset.id))
    assert ready.status == "ready" and ready.error is None
    meta = ready.technical_metadata
    assert meta is not None
    assert (meta.video_width, meta.video_height, meta.video_codec, meta.audio_codec) == (
        320,
        240,
        "h264",
        "aac",
    )
    assert meta.video_fps == 10.0 and meta.has_audio is True
    assert meta.video_duration_seconds == pytest.approx(2.0, abs=0.1)
    size = files["video"].stat().st_size
    assert meta.file_size_bytes == size and ready.size == size
    assert ready.duration == pytest.approx(2.0, abs=0.1)
    assert ready.asset_type == "video"  # our addition, an extra field for the SDK
    stored = next((live.service.settings.media_dir / "assets" / asset.id).iterdir())
    assert stored.name == "clip.mp4" and stored.stat().st_size == size


def test_sdk_url_import_and_filename(live: LiveServer, web: str, files: dict[str, Path]) -> None:
    client = sdk(live, suffix="")  # the root paths too
    asset = client.assets.create(method="url", url=f"{web}/clip.mp4")
    assert (asset.method, asset.status, asset.filename) == ("url", "processing", "clip.mp4")
    ready = wait_final(lambda: client.assets.retrieve(asset.id))
    assert ready.status == "ready"
    assert ready.technical_metadata.file_size_bytes == files["video"].stat().st_size
    named = client.assets.create(method="url", url=f"{web}/still.png", filename="My picture.png")
    assert named.filename == "My picture.png"
    assert wait_final(lambda: client.assets.retrieve(named.id)).asset_type == "image"
    missing = client.assets.create(method="url", url=f"{web}/nothing-here.mp4")
    failed = wait_final(lambda: client.assets.retrieve(missing.id))
    assert failed.status == "failed" and failed.technical_metadata is None
    assert failed.error.message.startswith("Downloading url failed with HTTP 404. Check that the url")


def test_sdk_image_and_audio_assets(live: LiveServer, files: dict[str, Path]) -> None:
    client = sdk(live)
    image = client.assets.create(method="direct", file=files["image"].read_bytes(), filename="still.png")
    audio = client.assets.create(method="direct", file=open(files["audio"], "rb"))  # noqa: SIM115 (the quickstart's form)
    image_ready = wait_final(lambda: client.assets.retrieve(image.id))
    audio_ready = wait_final(lambda: client.assets.retrieve(audio.id))
    assert (image_ready.status, image_ready.asset_type, image_ready.file_type) == (
        "ready",
        "image",
        "image/png",
    )
    meta = image_ready.technical_metadata
    assert (meta.image_width, meta.image_height, meta.image_format, meta.has_alpha) == (64, 48, "PNG", False)
    assert image_ready.duration is None and meta.video_width is None
    assert (audio_ready.status, audio_ready.asset_type, audio_ready.filename) == (
        "ready",
        "audio",
        "tone.wav",
    )
    assert audio_ready.file_type.startswith("audio/")
    meta = audio_ready.technical_metadata
    assert (meta.audio_codec, meta.audio_sample_rate, meta.audio_channels) == ("pcm_s16le", 16_000, 1)
    assert meta.audio_duration_seconds == pytest.approx(1.5, abs=0.01) and meta.video_codec is None
    assert audio_ready.size == files["audio"].stat().st_size == 44 + 2 * 24_000


def test_sdk_list_pages_newest_first_and_filters(live: LiveServer, files: dict[str, Path]) -> None:
    client = sdk(live, key="key-c")  # an owner of its own: the counts are exact
    made = []
    for name in ("a.mp4", "b.png", "c.wav", "d.png", "e.mp4"):
        source = {"mp4": files["video"], "png": files["image"], "wav": files["audio"]}[name[-3:]]
        made.append(client.assets.create(method="direct", file=source.read_bytes(), filename=name).id)
        time.sleep(0.01)  # distinct creation times
    for asset_id in made:
        wait_final(lambda asset_id=asset_id: client.assets.retrieve(asset_id))
    listed = [a.id for a in client.assets.list(page_limit=2)]  # 3 pages, then an empty one
    assert listed == made[::-1]
    first = httpx.get(f"{live.url}/assets", params={"page_limit": 2}, headers={"x-api-key": "key-c"})
    assert first.json()["page_info"] == {
        "limit_per_page": 2,
        "page": 1,
        "total_page": 3,
        "total_results": 5,
    }
    assert [a.filename for a in client.assets.list(asset_types="image")] == ["d.png", "b.png"]
    assert [a.filename for a in client.assets.list(asset_types=["audio", "video"])] == [
        "e.mp4",
        "c.wav",
        "a.mp4",
    ]
    assert [a.id for a in client.assets.list(asset_ids=[made[0], made[3]])] == [made[3], made[0]]
    assert [a.filename for a in client.assets.list(filename="C.W")] == ["c.wav"]
    past = httpx.get(f"{live.url}/assets", params={"page": 9}, headers={"x-api-key": "key-c"})
    assert past.status_code == 200 and past.json()["data"] == []
    with pytest.raises(BadRequestError) as info:
        list(client.assets.list(asset_types="pdf"))
    assert info.value.body["message"] == (
        "The asset_types parameter is invalid. Use some of: image, video, audio, document."
    )
    with pytest.raises(BadRequestError) as info:
        list(client.assets.list(page_limit=51))
    assert (
        info.value.body["message"]
        == "The page_limit parameter is invalid. It must be at least 1 and at most 50."
    )


def test_delete_then_404_and_owner_isolation(live: LiveServer, files: dict[str, Path]) -> None:
    client, other = sdk(live), sdk(live, key="key-b")
    asset = client.assets.create(method="direct", file=files["image"].read_bytes(), filename="mine.png")
    wait_final(lambda: client.assets.retrieve(asset.id))
    not_found = {
        "code": "resource_not_exist",
        "message": f"Resource with id {asset.id} does not exist in assets.",
    }
    with pytest.raises(NotFoundError) as info:
        other.assets.retrieve(asset.id)
    assert info.value.status_code == 404 and info.value.body == not_found
    assert asset.id not in [a.id for a in other.assets.list()]
    refused = httpx.delete(f"{live.url}/v1.3/assets/{asset.id}", headers={"x-api-key": "key-b"})
    assert refused.status_code == 404 and refused.json() == not_found
    folder = live.service.settings.media_dir / "assets" / asset.id
    assert folder.is_dir()
    deleted = httpx.delete(f"{live.url}/v1.3/assets/{asset.id}", headers={"x-api-key": "key-a"})
    assert deleted.status_code == 204 and deleted.content == b""
    assert not folder.exists()
    with pytest.raises(NotFoundError) as info:
        client.assets.retrieve(asset.id)
    assert info.value.body == not_found
    again = client.assets.create(method="direct", file=files["image"].read_bytes(), filename="x.png")
    assert client.assets.delete(again.id) is None  # the SDK's delete takes the 204
    no_key = httpx.get(f"{live.url}/assets")
    assert no_key.status_code == 401 and no_key.json()["code"] == "api_key_invalid"


@pytest.mark.parametrize(
    ("fields", "with_file", "code", "message"),
    [
        (
            {"method": "direct"},
            False,
            "parameter_not_provided",
            "The file parameter is required but was not provided. With method=direct, send the file as a multipart part named file (or use method=url).",
        ),  # noqa: E501
        (
            {"method": "url"},
            False,
            "parameter_not_provided",
            "The url parameter is required but was not provided. With method=url, give the publicly accessible URL of the file.",
        ),  # noqa: E501
        (
            {"method": "upload"},
            True,
            "parameter_invalid",
            "The method parameter is invalid. Use direct (upload the file in a multipart part named file) or url (import it from a publicly accessible URL given in url).",
        ),  # noqa: E501
        (
            {"method": "url", "url": "ftp://example.com/a.mp4"},
            False,
            "parameter_invalid",
            "The url parameter is invalid. Use an http(s) or file:// URL that points at the media file itself.",
        ),  # noqa: E501
        (
            {"method": "url", "url": "https://example.com/a.mp4"},
            True,
            "parameter_invalid",
            "The file parameter is invalid. method=url imports the file from url: leave the file part out, or use method=direct.",
        ),  # noqa: E501
        (
            {"method": "direct", "url": "https://example.com/a.mp4"},
            True,
            "parameter_invalid",
            "The url parameter is invalid. method=direct uploads the file part: leave url out, or use method=url.",
        ),  # noqa: E501
        (
            {"method": "direct", "user_metadata": "{oops"},
            True,
            "parameter_invalid",
            'The user_metadata parameter is invalid. It is not valid JSON (Expecting property name enclosed in double quotes: line 1 column 2 (char 1)). Send an object such as {"category": "news"}.',
        ),  # noqa: E501
        (
            {"method": "direct", "user_metadata": "[1, 2]"},
            True,
            "parameter_invalid",
            'The user_metadata parameter is invalid. It must be a JSON object such as {"category": "news"}.',
        ),  # noqa: E501
        (
            {"method": "direct", "user_metadata": '{"ok": 1.5, "n": NaN}'},
            True,
            "parameter_invalid",
            "The user_metadata parameter is invalid. The values of n are not allowed: use a string, "
            "a number, a boolean or a list of strings.",
        ),
        (
            {"method": "direct", "user_metadata": '{"a": {"b": 1}}'},
            True,
            "parameter_invalid",
            "The user_metadata parameter is invalid. The values of a are not allowed: use a string, a number, a boolean or a list of strings.",
        ),  # noqa: E501
    ],
)
def test_sdk_bad_requests(
    live: LiveServer, files: dict[str, Path], fields: dict[str, str], with_file: bool, code: str, message: str
) -> None:
    client = sdk(live)
    before = len(list(client.assets.list(page_limit=50)))
    file = files["image"].read_bytes() if with_file else None
    with pytest.raises(BadRequestError) as info:
        client.assets.create(file=file, **fields)
    assert info.value.status_code == 400
    assert info.value.body == {"code": code, "message": message}
    assert len(list(client.assets.list(page_limit=50))) == before


def test_too_large_upload_is_refused(live: LiveServer) -> None:
    client = sdk(live)
    message = f"The file parameter is invalid. The upload is larger than the limit of {UPLOAD_LIMIT} bytes."
    with pytest.raises(BadRequestError) as info:  # declared too large by its Content-Length
        client.assets.create(method="direct", file=b"\0" * (UPLOAD_LIMIT + 1_100_000), filename="big.mp4")
    assert info.value.body == {"code": "parameter_invalid", "message": message}
    boundary = "vidembedtest"

    def chunked() -> Iterator[bytes]:  # no Content-Length: refused while it streams in
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="method"\r\n\r\ndirect\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.mp4"\r\n\r\n'
        ).encode()
        for _ in range(40):
            yield b"\0" * 100_000
        yield f"\r\n--{boundary}--\r\n".encode()

    response = httpx.post(
        f"{live.url}/assets",
        content=chunked(),
        headers={"content-type": f"multipart/form-data; boundary={boundary}", "x-api-key": "key-a"},
    )
    assert response.status_code == 400 and response.json()["message"] == message
    assert not any(a.filename == "big.mp4" for a in client.assets.list(page_limit=50))


def _png_header(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` x ``height`` pixels (and holds almost none)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 100))
        + chunk(b"IEND", b"")
    )


def test_unreadable_file_ends_failed_with_the_reason(live: LiveServer, files: dict[str, Path]) -> None:
    client = sdk(live)
    asset = client.assets.create(method="direct", file=open(files["fake"], "rb"))  # noqa: SIM115
    assert asset.file_type == "video/mp4"  # from the name, until probed
    failed = wait_final(lambda: client.assets.retrieve(asset.id))
    assert failed.status == "failed" and failed.error.message == NOT_MEDIA
    assert failed.technical_metadata is None and "asset_type" not in (failed.model_extra or {})
    doc = client.assets.create(method="direct", file=files["fake"].read_bytes(), filename="notes.txt")
    reason = wait_final(lambda: client.assets.retrieve(doc.id)).error.message
    assert reason.startswith("Documents (PDF, text, Markdown) are not supported by this server.")
    huge = client.assets.create(method="direct", file=_png_header(40_000, 40_000), filename="huge.png")
    assert wait_final(lambda: client.assets.retrieve(huge.id)).error.message == (
        "The image's resolution is larger than this service decodes (at most 8192x8192 pixels); "
        "scale it down first."
    )
    with pytest.raises(BadRequestError) as info:
        client.assets.create(method="direct", file=("empty.mp4", b""))
    assert info.value.body["message"] == "The file parameter is invalid. The file is empty (0 bytes)."


# --- AssetService: media() for Embed v2, restarts ----------------------------------------------


def test_media_links_a_ready_asset_and_outlives_delete(
    live: LiveServer, files: dict[str, Path], tmp_path: Path
) -> None:
    client = sdk(live)
    owner = ApiKeys.owner_of("key-a")
    asset = client.assets.create(method="direct", file=open(files["video"], "rb"))  # noqa: SIM115
    # a second service on the same database (as the Embed v2 code holds), with no workers
    assets = open_assets(live.service.settings, start_workers=False)
    try:
        wait_final(lambda: client.assets.retrieve(asset.id))
        target = tmp_path / "task" / "input.mp4"
        got = assets.media(asset.id, owner, target)
        stored = live.service.settings.media_dir / "assets" / asset.id / "clip.mp4"
        assert got.path == target and target.stat().st_ino == stored.stat().st_ino  # a hard link
        assert (got.asset_type, got.filename) == ("video", "clip.mp4")
        assert got.technical_metadata["video_width"] == 320 and got.duration == pytest.approx(2.0, abs=0.1)
        with pytest.raises(OurNotFound) as other:
            assets.media(asset.id, ApiKeys.owner_of("key-b"), tmp_path / "x.mp4")
        assert other.value.message == f"Resource with id {asset.id} does not exist in assets."
        client.assets.delete(asset.id)
        assert not stored.exists() and target.read_bytes() == files["video"].read_bytes()
        bad = client.assets.create(method="direct", file=files["fake"].read_bytes(), filename="bad.mp4")
        wait_final(lambda: client.assets.retrieve(bad.id))
        with pytest.raises(OurBadRequest) as failed:
            assets.media(bad.id, owner, tmp_path / "bad.mp4")
        assert failed.value.message == (
            f"The asset_id parameter is invalid. The asset {bad.id} failed to process ({NOT_MEDIA}); "
            "it cannot be used. Create a new asset from a readable file."
        )
    finally:
        assets.close()


def _record(assets: AssetService, asset_id: str) -> AssetRecord:
    record = assets.store.get(asset_id)
    assert record is not None
    return record


def test_processing_assets_survive_a_restart(tmp_path: Path, files: dict[str, Path]) -> None:
    settings = fake_settings(tmp_path / "data", lease_seconds=1.0)
    stopped = open_assets(settings, start_workers=False)
    crashed = stopped.create(method="direct", file=files["video"])
    # a worker of a process that then died holds this one: its lease must run out first
    claimed = stopped.store.claim("dead-host:1:assets-0", lease_seconds=1.0, max_attempts=3)
    assert claimed is not None and claimed.id == crashed["_id"]
    waiting = stopped.create(method="direct", file=files["image"])
    with pytest.raises(OurBadRequest) as early:
        stopped.media(str(waiting["_id"]), "", tmp_path / "early.png")
    assert early.value.message == (
        f"The asset_id parameter is invalid. The asset {waiting['_id']} is still processing: "
        f"poll GET /assets/{waiting['_id']} until its status is ready."
    )
    stopped.close()
    started = time.monotonic()
    restarted = open_assets(settings)
    try:
        for asset_id in (waiting["_id"], crashed["_id"]):
            wait_final(lambda asset_id=asset_id: _record(restarted, asset_id))
        assert time.monotonic() - started >= 0.5  # the claimed one waited for its lease
        first, second = _record(restarted, crashed["_id"]), _record(restarted, waiting["_id"])
        assert (first.status, first.asset_type, first.attempts) == ("ready", "video", 2)
        assert (second.status, second.asset_type, second.attempts) == ("ready", "image", 1)
    finally:
        restarted.close()


def test_two_services_on_one_database_process_each_asset_once(tmp_path: Path, files: dict[str, Path]) -> None:
    settings = fake_settings(tmp_path / "data")
    idle = open_assets(settings, start_workers=False)
    ids = [str(idle.create(method="direct", file=files["audio"])["_id"]) for _ in range(8)]
    idle.close()
    services = [open_assets(settings), open_assets(settings)]
    try:
        records = [wait_final(lambda i=i: _record(services[0], i)) for i in ids]
        assert [(r.status, r.attempts) for r in records] == [("ready", 1)] * 8
    finally:
        for service in services:
            service.close()


# --- the embedded client, and VidEmbed over HTTP -----------------------------------------------


def _client_flow(client: VidEmbed, files: dict[str, Path], web: str | None) -> None:
    uploaded = client.assets.create(method="direct", file=files["video"], user_metadata={"tags": ["a", "b"]})
    from_bytes = client.assets.create(file=files["image"].read_bytes(), filename="pic.png")
    assert (uploaded.status, uploaded.filename, uploaded.user_metadata) == (
        "processing",
        "clip.mp4",
        {"tags": ["a", "b"]},
    )
    ready = wait_final(lambda: client.assets.retrieve(uploaded.id))
    assert ready.status == "ready" and ready.asset_type == "video"
    assert ready.technical_metadata.video_width == 320 and ready.size == files["video"].stat().st_size
    picture = wait_final(lambda: client.assets.retrieve(from_bytes.id))
    assert (picture.asset_type, picture.technical_metadata.image_width) == ("image", 64)
    if web is not None:
        imported = client.assets.create(method="url", url=f"{web}/tone.wav")
        assert wait_final(lambda: client.assets.retrieve(imported.id)).asset_type == "audio"
    listed = [a.id for a in client.assets.list(page_limit=1)]
    assert listed[:2] == [from_bytes.id, uploaded.id] or listed[1:3] == [from_bytes.id, uploaded.id]
    assert [a.id for a in client.assets.list(asset_types="video")] == [uploaded.id]
    with pytest.raises(OurBadRequest) as info:
        client.assets.create(method="direct", user_metadata="nope", file=b"x")
    assert info.value.message.startswith("The user_metadata parameter is invalid. It is not valid JSON")
    client.assets.delete(uploaded.id)
    with pytest.raises(OurNotFound) as missing:
        client.assets.retrieve(uploaded.id)
    assert missing.value.message == f"Resource with id {uploaded.id} does not exist in assets."
    with pytest.raises(OurNotFound):
        client.assets.delete(uploaded.id)


def test_embedded_client_assets(tmp_path: Path, files: dict[str, Path], web: str) -> None:
    with VidEmbed(transport=LocalTransport(fake_settings(tmp_path / "data"))) as client:
        _client_flow(client, files, web)


def test_http_client_assets(files: dict[str, Path], tmp_path: Path) -> None:
    service = make_fake_service(tmp_path / "data", start_workers=False, allow_local_urls=False)
    server = LiveServer(service)
    try:
        with VidEmbed(base_url=server.url + "/v1.3") as client:
            _client_flow(client, files, None)  # this server refuses local URLs, as a shared one would
            with pytest.raises(OurBadRequest) as info:
                client.assets.create(method="url", url="file:///etc/passwd")
            assert "does not read file:// URLs" in info.value.message
    finally:
        server.stop()


def test_settings_are_the_task_services(live: LiveServer) -> None:
    """The assets live in the tasks' database file and media folder."""
    settings: Settings = live.service.settings
    body = json.loads(httpx.get(f"{live.url}/openapi.json").text)
    assert {"/assets", "/assets/{asset_id}", "/v1.3/assets"} <= set(body["paths"])
    assert "422" not in body["paths"]["/assets/{asset_id}"]["get"]["responses"]
    assert settings.db_path.is_file() and (settings.media_dir / "assets").is_dir()


def test_a_probe_past_the_stall_limit_is_killed_and_fails_its_asset_with_the_reason(
    tmp_path: Path, files: dict[str, Path]
) -> None:
    """Probing runs in a child process killed past ``stall_seconds`` (a file that hangs the
    decoder would otherwise hold a worker thread of the server for good). A limit no probe can
    meet (1 ms) fails the asset with the reason; the next service, with the usual limit, probes
    the next asset: the workers went on."""
    hurried = open_assets(fake_settings(tmp_path / "data", stall_seconds=0.001))
    try:
        stuck = hurried.create(method="direct", file=files["video"])
        hung = wait_final(lambda: _record(hurried, stuck["_id"]), timeout=30)
        assert isinstance(hung, AssetRecord) and hung.status == "failed"
        assert hung.error is not None
        assert hung.error.startswith("Reading this file made no progress for 0.001 s and was stopped")
    finally:
        hurried.close()
    usual = open_assets(fake_settings(tmp_path / "data"))
    try:
        after = usual.create(method="direct", file=files["video"])
        fine = wait_final(lambda: _record(usual, after["_id"]), timeout=30)
        assert isinstance(fine, AssetRecord) and (fine.status, fine.asset_type) == ("ready", "video")
    finally:
        usual.close()
