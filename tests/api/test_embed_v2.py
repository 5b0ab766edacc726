"""Embed API v2 (``/embed-v2``, ``/embed-v2/tasks``) with the official SDK 1.3.6 against a real
server, and the embedded client's ``client.embed.v_2`` (CONTRACT.md §5)."""

from __future__ import annotations

import asyncio
import base64
import functools
import http.server
import io
import threading
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import av
import httpx
import numpy as np
import pytest
from conftest import FAKE, SPOKEN, LiveServer, make_fake_service, make_service
from pg import database_url, pg_admin, pg_database, pg_url  # noqa: F401
from PIL import Image
from twelvelabs import AsyncTwelveLabs, BadRequestError, NotFoundError, TwelveLabs
from twelvelabs.errors import ContentTooLargeError
from twelvelabs.types import MediaSource, TextInputRequest, VideoInputRequest

from vidembed import VidEmbed
from vidembed.devtools.synth import SegmentSpec, make_video, speak, tone
from vidembed.errors import BadRequestError as VidEmbedBadRequest

# Four shots with hard cuts at 5, 11 and 13 s; the third shot (2 s) is shorter than the default
# 4 s minimum, so dynamic segmentation may drop one of the cuts at 11 and 13.
CUTS = (5.0, 11.0, 13.0)
SHOT_LENGTHS = (5.0, 6.0, 2.0, 5.0)


def _wait(fetch, is_done, timeout: float = 120.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if is_done(value):
            return value
        assert time.monotonic() < deadline, f"still not done: {value}"
        time.sleep(0.2)


def _shot_picture(seed: int) -> np.ndarray:
    """A picture unlike the others: a coloured gradient with a pattern of its own."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, 3)
    ramp = np.linspace(0, 1, 320)[None, :, None]
    picture = (base * ramp + (255 - base) * (1 - ramp)).repeat(180, axis=0)
    tiles = (np.indices((180, 320)).sum(axis=0) // (20 + 10 * seed) % 2)[..., None] * 60
    return np.clip(picture + tiles, 0, 255).astype(np.uint8)


PHOTOS = [
    Path(__file__).resolve().parents[2] / ".cache" / "media" / n
    for n in ("messi5.jpg", "left06.jpg", "squirrel_cls.jpg")
]


@pytest.fixture(scope="module")
def shots_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real photos as still shots: a footballer, a chessboard, a squirrel, then the right half of
    the footballer photo (a second shot of the same scene: similar colours)."""
    pictures = [np.asarray(Image.open(p).convert("RGB")) for p in PHOTOS]
    pictures.append(pictures[0][:, pictures[0].shape[1] // 2 :])
    folder = tmp_path_factory.mktemp("shots")
    return make_video(
        folder / "shots.mp4",
        [SegmentSpec(length, image=picture) for picture, length in zip(pictures, SHOT_LENGTHS, strict=True)],
        fps=25,
    )


@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An audio-only file: 1 s of a tone, then a spoken sentence."""
    samples = np.concatenate([tone(440, 1.0), speak(SPOKEN)])
    path = tmp_path_factory.mktemp("audio") / "speech.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return path


@pytest.fixture(scope="module")
def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(_shot_picture(7)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def v2_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server of the fake stack that fetches local URLs (the tests serve files on loopback)."""
    live = LiveServer(make_fake_service(tmp_path_factory.mktemp("v2-data"), allow_local_urls=True))
    yield live
    live.stop()


@pytest.fixture(scope="module")
def idle_v2_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """No workers: tasks stay processing (listing, paging, ownership)."""
    live = LiveServer(make_fake_service(tmp_path_factory.mktemp("v2-idle"), start_workers=False), {"a", "b"})
    yield live
    live.stop()


@pytest.fixture(scope="module")
def file_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A plain HTTP file server on 127.0.0.1 over a folder: (base URL, folder)."""
    folder = tmp_path_factory.mktemp("served")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", folder
    httpd.shutdown()


class _SlowHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the folder after a pause: a URL asset made from it is still processing when the
    next call comes (the notebook creates its task at once)."""

    def send_head(self):  # type: ignore[no-untyped-def]
        time.sleep(1.5)
        return super().send_head()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture(scope="module")
def slow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A file server on 127.0.0.1 that answers every request 1.5 s late: (base URL, folder)."""
    folder = tmp_path_factory.mktemp("slow")
    handler = functools.partial(_SlowHandler, directory=str(folder))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", folder
    httpd.shutdown()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _bounds(data, option: str, scope: str = "clip") -> list[tuple[float, float]]:  # type: ignore[no-untyped-def]
    return [
        (d.start_sec, d.end_sec) for d in data if d.embedding_option == option and d.embedding_scope == scope
    ]


# --- the quickstart -------------------------------------------------------------------------------


def test_quickstart_on_the_default_stack(
    tmp_path_factory: pytest.TempPathFactory, labelled_video: Path, file_server: tuple[str, Path]
) -> None:
    """The quickstart's calls, unchanged, on marengo3.0 (the built-in stack): an asset by upload
    and one by URL, a v2 task on the asset with the default options and scopes, then a text query
    that finds the spoken clip."""
    base, folder = file_server
    (folder / "labelled.mp4").write_bytes(labelled_video.read_bytes())
    live = LiveServer(make_service(tmp_path_factory.mktemp("quickstart"), allow_local_urls=True))
    try:
        client = TwelveLabs(api_key="key", base_url=live.url)
        with open(labelled_video, "rb") as fh:
            uploaded = client.assets.create(method="direct", file=fh)
        by_url = client.assets.create(method="url", url=f"{base}/labelled.mp4")
        for asset in (uploaded, by_url):
            ready = _wait(lambda a=asset: client.assets.retrieve(a.id), lambda a: a.status != "processing")
            assert ready.status == "ready"
        task = client.embed.v_2.tasks.create(
            input_type="video",
            model_name="marengo3.0",
            video=VideoInputRequest(media_source=MediaSource(asset_id=uploaded.id)),
        )
        assert task.status == "processing" and len(task.id) == 24
        done = _wait(
            lambda: client.embed.v_2.tasks.retrieve(task.id), lambda t: t.status != "processing", 300
        )
        assert done.status == "ready", done.error
        assert done.metadata.input_type == "video" and done.metadata.duration == pytest.approx(18.0, abs=0.1)
        assert done.metadata.embedding_options == ["visual", "audio", "transcription"]
        assert done.metadata.embedding_scopes == ["clip", "asset"]
        assert {(d.embedding_option, d.embedding_scope) for d in done.data} == {
            (o, s) for o in ("visual", "audio", "transcription") for s in ("clip", "asset")
        }
        assert all(len(d.embedding) == 384 for d in done.data)
        # dynamic by default (min 4 s): the labelled video's three 6 s scenes
        assert _bounds(done.data, "visual") == [(0.0, 6.0), (6.0, 12.0), (12.0, 18.0)]
        query = client.embed.v_2.create(
            input_type="text",
            model_name="marengo3.0",
            text=TextInputRequest(input_text="someone cutting vegetables"),
        )
        vector = np.array(query.data[0].embedding)
        spoken = next(d for d in done.data if d.embedding_option == "transcription" and d.start_sec == 0.0)
        assert vector.shape == (384,) and float(vector @ np.array(spoken.embedding)) > 0.3
    finally:
        live.stop()


def test_notebook_creates_its_task_before_the_asset_is_ready(
    v2_server: LiveServer, labelled_video: Path, slow_server: tuple[str, Path]
) -> None:
    """TwelveLabs' Embeddings quickstart notebook, in its order: an asset by URL, then at once (no
    wait) a v2 task on it, then polling retrieve, then the results. The task is accepted (202)
    while the asset is processing, waits for it, then runs; the synchronous route waits too."""
    base, folder = slow_server
    (folder / "notebook.mp4").write_bytes(labelled_video.read_bytes())
    client = TwelveLabs(api_key="key", base_url=v2_server.url)
    asset = client.assets.create(method="url", url=f"{base}/notebook.mp4")
    task = client.embed.v_2.tasks.create(
        input_type="video",
        model_name=FAKE,
        video=VideoInputRequest(media_source=MediaSource(asset_id=asset.id)),
    )
    assert task.status == "processing"
    stored = v2_server.service.store.get(task.id)
    assert stored is not None and (stored.stage, stored.source_path) == ("waiting for asset", None)
    assert client.assets.retrieve(asset.id).status == "processing"  # the notebook did not wait
    while (result := client.embed.v_2.tasks.retrieve(task.id)).status == "processing":
        time.sleep(0.5)
    assert result.status == "ready", result.error
    assert result.metadata.input_filename == "notebook.mp4"
    assert {(d.embedding_option, d.embedding_scope) for d in result.data} == {
        (o, s) for o in ("visual", "audio", "transcription") for s in ("clip", "asset")
    }
    assert _bounds(result.data, "visual", "asset") == [(0.0, pytest.approx(18.0, abs=0.1))]
    # the synchronous route on an asset still processing waits for it, within its wait
    again = client.assets.create(method="url", url=f"{base}/notebook.mp4")
    answer = client.embed.v_2.create(
        input_type="video",
        model_name=FAKE,
        video={
            "media_source": {"asset_id": again.id},
            "segmentation": {"strategy": "fixed", "fixed": {"duration_sec": 6}},
            "embedding_option": ["visual"],
        },
    )
    assert _bounds(answer.data, "visual") == [(0.0, 6.0), (6.0, 12.0), (12.0, 18.0)]
    # our client, with wait_for_done
    with VidEmbed(base_url=v2_server.url) as ours:
        third = ours.assets.create(method="url", url=f"{base}/notebook.mp4")
        made = ours.embed.v_2.tasks.create(
            input_type="video",
            model_name=FAKE,
            video={"media_source": {"asset_id": third.id}, "embedding_option": ["audio"]},
        )
        done = ours.embed.v_2.tasks.wait_for_done(made.id, sleep_interval=0.2)
    assert done.status == "ready" and {d.embedding_option for d in done.data} == {"audio"}


def test_a_task_waiting_for_an_asset_that_fails_fails_with_its_reason(
    v2_server: LiveServer, png_bytes: bytes, slow_server: tuple[str, Path]
) -> None:
    base, folder = slow_server
    (folder / "broken.mp4").write_bytes(b"not a video" * 100)
    (folder / "picture.png").write_bytes(png_bytes)
    client = TwelveLabs(api_key="key", base_url=v2_server.url)
    broken = client.assets.create(method="url", url=f"{base}/broken.mp4")
    task = client.embed.v_2.tasks.create(
        input_type="video", model_name=FAKE, video={"media_source": {"asset_id": broken.id}}
    )
    done = _wait(lambda: client.embed.v_2.tasks.retrieve(task.id), lambda t: t.status != "processing")
    failed_asset = client.assets.retrieve(broken.id)
    assert failed_asset.status == "failed" and failed_asset.error is not None
    assert done.status == "failed" and done.data is None
    assert done.error.message == f"The asset {broken.id} failed to process: {failed_asset.error.message}"
    # an image is not a video: known only once the asset is processed, so the task fails then
    picture = client.assets.create(method="url", url=f"{base}/picture.png")
    on_image = client.embed.v_2.tasks.create(
        input_type="video", model_name=FAKE, video={"media_source": {"asset_id": picture.id}}
    )
    done = _wait(lambda: client.embed.v_2.tasks.retrieve(on_image.id), lambda t: t.status != "processing")
    assert done.status == "failed"
    assert done.error.message == (
        f"The video.media_source.asset_id parameter is invalid. The asset {picture.id} is a image; "
        "input_type video takes video assets."
    )
    # the synchronous route waits for the asset, then answers 400 with its reason
    late = client.assets.create(method="url", url=f"{base}/broken.mp4")
    with pytest.raises(BadRequestError) as info:
        client.embed.v_2.create(
            input_type="video", model_name=FAKE, video={"media_source": {"asset_id": late.id}}
        )
    assert f"The asset {late.id} failed to process" in info.value.body["error"]["message"]


def test_a_waiting_task_survives_a_crash_and_any_server_starts_it(
    tmp_path: Path,
    labelled_video: Path,
    database_url: str | None,  # noqa: F811
) -> None:
    """On both stores: the task is stored waiting; the process dies; another process completes
    the asset but dies before it starts the task (no Embed v2 there); a third one, sharing the
    database, finds the task in its sweep and runs it."""
    from conftest import fake_settings

    from vidembed.api.compose import compose, open_assets
    from vidembed.stores.open import open_store

    settings = fake_settings(tmp_path / "data", database_url=database_url)
    first = compose(settings, start_workers=False)
    try:
        asset = first.assets.create(method="direct", file=str(labelled_video))  # type: ignore[union-attr]
        body = {
            "input_type": "video",
            "model_name": FAKE,
            "video": {
                "media_source": {"asset_id": asset["_id"]},
                "segmentation": {"strategy": "fixed", "fixed": {"duration_sec": 6}},
            },
        }
        task = first.embed_v2.create_task(body)
    finally:
        first.close()
    assets_only = open_assets(settings)  # asset workers, and no one to start the waiting task
    try:
        _wait(lambda: assets_only.core.get(str(asset["_id"]), None), lambda a: a.status == "ready")
    finally:
        assets_only.close()
    store = open_store(settings.database_url, settings.db_path)
    try:
        stored = store.get(str(task["_id"]))
        assert stored is not None and (stored.status, stored.stage) == ("processing", "waiting for asset")
    finally:
        store.close()
    second = compose(settings)
    try:
        done = _wait(lambda: second.embed_v2.retrieve(task["_id"]), lambda t: t["status"] != "processing", 60)
        assert done["status"] == "ready", done
        assert {(d["start_sec"], d["end_sec"]) for d in done["data"] if d["embedding_scope"] == "clip"} == {
            (0.0, 6.0),
            (6.0, 12.0),
            (12.0, 18.0),
        }
    finally:
        second.close()


def test_servers_settling_one_waiting_task_at_once_start_it_once(
    tmp_path: Path, labelled_video: Path
) -> None:
    """Four settlers (as four servers' asset workers sweeping at the same instant) on one task
    whose asset became ready: the task is started once, with one copy of the file, and claimable."""
    from concurrent.futures import ThreadPoolExecutor

    from conftest import fake_settings

    from vidembed.api.compose import compose, open_assets

    settings = fake_settings(tmp_path / "data")
    services = compose(settings, start_workers=False)
    try:
        asset = services.assets.create(method="direct", file=str(labelled_video))  # type: ignore[union-attr]
        body = {
            "input_type": "audio",
            "model_name": FAKE,
            "audio": {"media_source": {"asset_id": asset["_id"]}},
        }
        task_id = str(services.embed_v2.create_task(body)["_id"])
        worker = open_assets(settings)  # its asset workers do not know of Embed v2
        try:
            _wait(lambda: worker.core.get(str(asset["_id"]), None), lambda a: a.status == "ready")
        finally:
            worker.close()
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda _: services.embed_v2.settle_waiting(), range(4)))
        task = services.core.store.get(task_id)
        assert task is not None and (task.status, task.stage) == ("processing", "queued")
        assert (
            task.source_path is not None
            and Path(task.source_path).read_bytes() == labelled_video.read_bytes()
        )
        copies = sorted(p.name for p in (settings.media_dir / task_id).iterdir())
        assert len(copies) == 1 and copies[0].startswith("from-asset-"), copies
        claimed = services.core.store.claim("w", 60, 3)
        assert claimed is not None and claimed.id == task_id
    finally:
        services.close()


def test_quickstart_with_the_async_client(v2_server: LiveServer, labelled_video: Path) -> None:
    async def run() -> tuple[str, list[tuple[float, float]]]:
        client = AsyncTwelveLabs(api_key="key", base_url=v2_server.url)
        with open(labelled_video, "rb") as fh:
            asset = await client.assets.create(method="direct", file=fh)
        while (await client.assets.retrieve(asset.id)).status == "processing":
            await asyncio.sleep(0.1)
        task = await client.embed.v_2.tasks.create(
            input_type="video",
            model_name=FAKE,
            video={
                "media_source": {"asset_id": asset.id},
                "segmentation": {"strategy": "fixed", "fixed": {"duration_sec": 6}},
            },
        )
        while (done := await client.embed.v_2.tasks.retrieve(task.id)).status == "processing":
            await asyncio.sleep(0.2)
        return done.status, _bounds(done.data, "audio")

    status, bounds = asyncio.run(run())
    assert status == "ready" and bounds == [(0.0, 6.0), (6.0, 12.0), (12.0, 18.0)]


# --- segmentation ---------------------------------------------------------------------------------


def test_fixed_segmentation_gives_exact_boundaries(v2_server: LiveServer, labelled_video: Path) -> None:
    client = TwelveLabs(api_key="key", base_url=v2_server.url)
    result = client.embed.v_2.create(
        input_type="video",
        model_name=FAKE,
        video={
            "media_source": {"base64_string": _b64(labelled_video.read_bytes())},
            "segmentation": {"strategy": "fixed", "fixed": {"duration_sec": 4}},
            "embedding_option": ["visual", "audio"],
            "embedding_scope": ["clip"],
        },
    )
    assert _bounds(result.data, "visual") == [(0.0, 4.0), (4.0, 8.0), (8.0, 12.0), (12.0, 16.0), (16.0, 18.0)]
    assert _bounds(result.data, "audio") == _bounds(result.data, "visual")
    assert {d.embedding_scope for d in result.data} == {"clip"}
    assert result.metadata.clip_length == 4 and result.metadata.embedding_options == ["visual", "audio"]


def test_dynamic_segmentation_follows_the_cuts(v2_server: LiveServer, shots_video: Path) -> None:
    client = TwelveLabs(api_key="key", base_url=v2_server.url)
    task = client.embed.v_2.tasks.create(
        input_type="video",
        model_name=FAKE,
        video={
            "media_source": {"base64_string": _b64(shots_video.read_bytes())},
            "segmentation": {"strategy": "dynamic", "dynamic": {"min_duration_sec": 4}},
            "embedding_option": ["visual"],
        },
    )
    done = _wait(lambda: client.embed.v_2.tasks.retrieve(task.id), lambda t: t.status != "processing")
    assert done.status == "ready", done.error
    bounds = _bounds(done.data, "visual")
    assert bounds[0][0] == 0.0 and bounds[-1][1] == pytest.approx(sum(SHOT_LENGTHS), abs=0.1)
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:], strict=False))  # contiguous
    assert all(end - start >= 4.0 - 1e-6 for start, end in bounds)
    inner = [end for _, end in bounds[:-1]]
    assert all(min(abs(t - cut) for cut in CUTS) <= 0.25 for t in inner), inner
    assert len(inner) >= len(CUTS) - 1  # only the cut that the 4 s minimum forbids may be missed
    assert _bounds(done.data, "visual", "asset") == [(0.0, bounds[-1][1])]
    # v1.3 takes the same segmentation as our extension (video_segmentation, video_min_duration_sec)
    with VidEmbed(base_url=v2_server.url) as ours:
        v1 = ours.embed.tasks.create(
            model_name=FAKE,
            video_file=str(shots_video),
            video_segmentation="dynamic",
            video_min_duration_sec=4,
        )
        assert ours.embed.tasks.wait_for_done(v1.id, sleep_interval=0.2).status == "ready"
        result = ours.embed.tasks.retrieve(v1.id, embedding_option="visual")
        with pytest.raises(VidEmbedBadRequest) as wrong:
            ours.embed.tasks.create(model_name=FAKE, video_url="https://e/v.mp4", video_segmentation="shots")
    segments = result.video_embedding.segments  # type: ignore[union-attr]
    assert [(s.start_offset_sec, s.end_offset_sec) for s in segments] == bounds
    assert result.video_embedding.metadata.video_segmentation == {
        "strategy": "dynamic",
        "min_duration_sec": 4.0,
    }  # type: ignore[union-attr]
    assert wrong.value.message == "The video_segmentation parameter is invalid. Use fixed or dynamic."


# --- the synchronous route's inputs ----------------------------------------------------------------


def test_sync_text_image_text_image_audio_and_video(
    v2_server: LiveServer, png_bytes: bytes, speech_wav: Path, labelled_video: Path
) -> None:
    client = TwelveLabs(api_key="key", base_url=v2_server.url)
    text = client.embed.v_2.create(input_type="text", model_name=FAKE, text={"input_text": SPOKEN})
    image = client.embed.v_2.create(
        input_type="image", model_name=FAKE, image={"media_source": {"base64_string": _b64(png_bytes)}}
    )
    both = client.embed.v_2.create(
        input_type="text_image",
        model_name=FAKE,
        text_image={"media_source": {"base64_string": _b64(png_bytes)}, "input_text": SPOKEN},
    )
    vectors = [np.array(r.data[0].embedding) for r in (text, image, both)]
    assert all(v.shape == (16,) and abs(np.linalg.norm(v) - 1) < 1e-5 for v in vectors)
    mean = (vectors[0] + vectors[1]) / np.linalg.norm(vectors[0] + vectors[1])
    assert np.allclose(vectors[2], mean, atol=1e-5)
    assert image.metadata.input_type == "image" and both.metadata.input_type == "text_image"
    assert text.data[0].embedding_option is None and text.data[0].start_sec is None
    audio = client.embed.v_2.create(
        input_type="audio",
        model_name=FAKE,
        audio={
            "media_source": {"base64_string": _b64(speech_wav.read_bytes())},
            "segmentation": {"strategy": "fixed", "fixed": {"duration_sec": 2}},
        },
    )
    duration = audio.metadata.duration
    assert audio.metadata.input_type == "audio" and audio.metadata.embedding_options == [
        "audio",
        "transcription",
    ]
    assert {d.embedding_option for d in audio.data} == {"audio", "transcription"}
    assert _bounds(audio.data, "audio")[0] == (0.0, 2.0)
    assert _bounds(audio.data, "audio", "asset") == [(0.0, pytest.approx(duration, abs=1e-3))]
    video = client.embed.v_2.create(
        input_type="video",
        model_name=FAKE,
        video={
            "media_source": {"base64_string": _b64(labelled_video.read_bytes())},
            "start_sec": 6,
            "end_sec": 12,
        },
    )
    assert _bounds(video.data, "visual") == [(6.0, 12.0)]
    assert video.metadata.start_offset_sec == 6.0 and video.metadata.end_offset_sec == 12.0
    # the synchronous route's task is gone once answered: it lists nowhere
    assert all(t.id for t in client.embed.v_2.tasks.list()) is not None
    assert v2_server.service.store.list(None, None, None, None, 0, 50, api="v2-sync")[1] == 0


def test_multi_input_text_and_images_make_one_vector(v2_server: LiveServer, png_bytes: bytes) -> None:
    """The SDK 1.3.6 docstring's example (text alone, model marengo3.5) and text with named images
    (what Marengo 3.0 combines): one vector, the normalised mean of the text's and the images'.
    Video, audio and document sources need Marengo 3.5: a 400 that says so."""
    from twelvelabs import MultiInputRequest
    from twelvelabs.types import MultiInputMediaSource

    client = TwelveLabs(api_key="key", base_url=v2_server.url)
    example = client.embed.v_2.create(
        input_type="multi_input",
        model_name="marengo3.5",
        multi_input=MultiInputRequest(input_text="man walking a dog"),
    )
    alone = client.embed.v_2.create(
        input_type="text", model_name="marengo3.5", text={"input_text": "man walking a dog"}
    )
    assert np.allclose(example.data[0].embedding, alone.data[0].embedding, atol=1e-6)
    other = io.BytesIO()
    Image.fromarray(_shot_picture(3)).save(other, format="PNG")
    combined = client.embed.v_2.create(
        input_type="multi_input",
        model_name=FAKE,
        multi_input=MultiInputRequest(
            input_text="a chef wearing <@top> beside <@pan>",
            media_sources=[
                MultiInputMediaSource(name="top", media_type="image", base_64_string=_b64(png_bytes)),
                MultiInputMediaSource(name="pan", media_type="image", base_64_string=_b64(other.getvalue())),
            ],
        ),
    )
    assert combined.metadata is not None and combined.metadata.input_type == "multi_input"
    parts = [
        client.embed.v_2.create(
            input_type="text", model_name=FAKE, text={"input_text": "a chef wearing beside"}
        ),
        client.embed.v_2.create(
            input_type="image", model_name=FAKE, image={"media_source": {"base64_string": _b64(png_bytes)}}
        ),
        client.embed.v_2.create(
            input_type="image",
            model_name=FAKE,
            image={"media_source": {"base64_string": _b64(other.getvalue())}},
        ),
    ]
    mean = np.sum([np.array(p.data[0].embedding) for p in parts], axis=0)
    assert np.allclose(combined.data[0].embedding, mean / np.linalg.norm(mean), atol=1e-5)
    images_only = client.embed.v_2.create(
        input_type="multi_input",
        model_name=FAKE,
        multi_input={"media_sources": [{"media_type": "image", "base64_string": _b64(png_bytes)}]},
    )
    assert np.allclose(images_only.data[0].embedding, parts[1].data[0].embedding, atol=1e-6)
    import httpx

    source = {"media_type": "document", "url": "https://e/x.pdf"}
    answer = httpx.post(
        f"{v2_server.url}/embed-v2",
        json={"input_type": "multi_input", "model_name": FAKE, "multi_input": {"media_sources": [source]}},
    )
    message = "A document source in a multi_input needs Marengo 3.5"
    assert answer.status_code == 400 and message in answer.json()["error"]["message"], answer.text
    mixed = [
        {"media_type": "image", "url": "https://e/a.png"},
        {"media_type": "video", "url": "https://e/v.mp4"},
    ]
    with pytest.raises(BadRequestError) as no_text:
        client.embed.v_2.create(
            input_type="multi_input", model_name=FAKE, multi_input={"media_sources": mixed}
        )
    assert no_text.value.body["error"]["code"] == "parameter_not_provided"
    with pytest.raises(BadRequestError) as dangling:
        client.embed.v_2.create(
            input_type="multi_input",
            model_name=FAKE,
            multi_input={
                "input_text": "a <@hat>",
                "media_sources": [{"media_type": "image", "url": "https://e/a.png"}],
            },
        )
    assert dangling.value.body["error"]["message"] == (
        "The multi_input.input_text parameter is invalid. It refers to <@hat>, but no media source has the name hat."
    )
    eleven = [{"media_type": "image", "url": "https://e/a.png"}] * 11
    with pytest.raises(BadRequestError) as too_many:
        client.embed.v_2.create(
            input_type="multi_input", model_name=FAKE, multi_input={"media_sources": eleven}
        )
    assert "at most 10 media sources" in too_many.value.body["error"]["message"]


def test_sdk_examples_for_marengo_35_tasks(
    v2_server: LiveServer, png_bytes: bytes, speech_wav: Path, file_server: tuple[str, Path]
) -> None:
    """The SDK 1.3.6 docstring's audio task (marengo3.5, temporal fixed segments): its 1 s segments
    are under the documented 2 s minimum (a 400 that gives the range), 2 s ones run; an async image
    task gives one image vector, the image's own."""
    from twelvelabs import (
        AsyncAudioInputRequest,
        AsyncImageInputRequest,
        AsyncTemporalSegmentation,
        TemporalSegmentation_Fixed,
        TemporalSegmentationFixedFixed,
    )

    base, folder = file_server
    (folder / "speech.wav").write_bytes(speech_wav.read_bytes())
    client = TwelveLabs(api_key="key", base_url=v2_server.url)

    def audio(seconds: int, end: float = 3600.0) -> AsyncAudioInputRequest:
        return AsyncAudioInputRequest(
            media_source=MediaSource(url=f"{base}/speech.wav"),
            start_sec=0.0,
            end_sec=end,
            segmentation=AsyncTemporalSegmentation(
                temporal=TemporalSegmentation_Fixed(
                    fixed=TemporalSegmentationFixedFixed(duration_sec=seconds)
                )
            ),
            embedding_option=["audio"],
            embedding_scope=["clip", "asset"],
        )

    with pytest.raises(BadRequestError) as short:
        client.embed.v_2.tasks.create(input_type="audio", model_name="marengo3.5", audio=audio(1))
    assert short.value.body["error"]["message"] == (
        "The audio.segmentation.temporal.fixed.duration_sec parameter is invalid. It must be from 2 to 10 seconds."
    )
    # the example's end_sec, 3600, is past the end of our 7 s file: the task fails saying so in
    # Embed v2's own names (see docs/EMBED_V2.md)
    past = client.embed.v_2.tasks.create(input_type="audio", model_name="marengo3.5", audio=audio(2))
    failed = _wait(lambda: client.embed.v_2.tasks.retrieve(past.id), lambda t: t.status != "processing", 300)
    assert failed.status == "failed"
    assert (
        "The audio.end_sec parameter is invalid. audio.end_sec (3600 s) is beyond the end of the audio"
        in str(failed.error)
    )
    task = client.embed.v_2.tasks.create(input_type="audio", model_name="marengo3.5", audio=audio(2, 6.0))
    done = _wait(lambda: client.embed.v_2.tasks.retrieve(task.id), lambda t: t.status != "processing", 300)
    assert done.status == "ready", done.error
    assert _bounds(done.data, "audio") == [(0.0, 2.0), (2.0, 4.0), (4.0, 6.0)]
    assert {d.embedding_option for d in done.data} == {"audio"}
    # an image task: one vector, the same as the synchronous route's
    made = client.embed.v_2.tasks.create(
        input_type="image",
        model_name=FAKE,
        image=AsyncImageInputRequest(media_source=MediaSource(base_64_string=_b64(png_bytes))),
    )
    image = _wait(lambda: client.embed.v_2.tasks.retrieve(made.id), lambda t: t.status != "processing")
    assert image.status == "ready" and len(image.data) == 1
    entry = image.data[0]
    assert (entry.embedding_option, entry.embedding_scope, entry.start_sec) == ("visual", "asset", None)
    assert image.metadata.input_type == "image" and image.metadata.embedding_scopes == ["asset"]
    same = client.embed.v_2.create(
        input_type="image", model_name=FAKE, image={"media_source": {"base64_string": _b64(png_bytes)}}
    )
    assert np.allclose(entry.embedding, same.data[0].embedding, atol=1e-6)
    listed = next(t for t in client.embed.v_2.tasks.list(page_limit=50) if t.id == made.id)
    assert listed.image_embedding is not None and listed.image_embedding.metadata.image_embedding_scope == [
        "asset"
    ]
    with pytest.raises(BadRequestError) as scope:
        client.embed.v_2.tasks.create(
            input_type="image",
            model_name=FAKE,
            image={"media_source": {"base64_string": _b64(png_bytes)}, "embedding_scope": ["clip"]},
        )
    assert scope.value.body["error"]["message"] == (
        "The image.embedding_scope parameter is invalid. clip is not one of: asset."
    )


def test_multi_input_with_video_and_audio_sources(
    v2_server: LiveServer, labelled_video: Path, speech_wav: Path, tmp_path: Path
) -> None:
    """A video source (at most 30 s) counts as its asset vector of visual and audio (Marengo 3.5's
    default options), an audio source as its audio asset vector; with the text, one vector."""
    client = TwelveLabs(api_key="key", base_url=v2_server.url)
    combined = client.embed.v_2.create(
        input_type="multi_input",
        model_name=FAKE,
        multi_input={
            "input_text": "a kitchen",
            "media_sources": [
                {"media_type": "video", "base64_string": _b64(labelled_video.read_bytes())},
                {"media_type": "audio", "base64_string": _b64(speech_wav.read_bytes())},
            ],
        },
    )
    fixed = {"strategy": "fixed", "fixed": {"duration_sec": 6}}
    video = client.embed.v_2.create(
        input_type="video",
        model_name=FAKE,
        video={
            "media_source": {"base64_string": _b64(labelled_video.read_bytes())},
            "segmentation": fixed,
            "embedding_option": ["visual", "audio"],
            "embedding_scope": ["asset"],
        },
    )
    sound = client.embed.v_2.create(
        input_type="audio",
        model_name=FAKE,
        audio={
            "media_source": {"base64_string": _b64(speech_wav.read_bytes())},
            "segmentation": fixed,
            "embedding_option": ["audio"],
            "embedding_scope": ["asset"],
        },
    )
    text = client.embed.v_2.create(input_type="text", model_name=FAKE, text={"input_text": "a kitchen"})

    def unit(vectors: list) -> np.ndarray:  # type: ignore[type-arg]
        total = np.sum([np.array(v) for v in vectors], axis=0)
        return total / np.linalg.norm(total)

    parts = [text.data[0].embedding, unit([d.embedding for d in video.data]), unit([sound.data[0].embedding])]
    assert np.allclose(combined.data[0].embedding, unit(parts), atol=1e-5)
    long = tmp_path / "long.mp4"
    make_video(long, [SegmentSpec(31.0)], fps=2)
    with pytest.raises(BadRequestError) as too_long:
        client.embed.v_2.create(
            input_type="multi_input",
            model_name=FAKE,
            multi_input={
                "media_sources": [{"media_type": "video", "base64_string": _b64(long.read_bytes())}]
            },
        )
    assert "a multi_input source takes at most 30 s" in too_long.value.body["error"]["message"]


def test_sync_refuses_media_longer_than_ten_minutes(v2_server: LiveServer, tmp_path: Path) -> None:
    path = tmp_path / "long.mp4"
    with av.open(str(path), "w") as out:  # 601 s at 1 frame per second, tiny: encodes in about a second
        stream = out.add_stream("libx264", rate=1)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        frame = av.VideoFrame.from_ndarray(np.zeros((64, 64, 3), np.uint8), format="rgb24")
        for i in range(601):
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    client = TwelveLabs(api_key="key", base_url=v2_server.url)
    video = {"media_source": {"base64_string": _b64(path.read_bytes())}, "embedding_option": ["visual"]}
    with pytest.raises(BadRequestError) as info:
        client.embed.v_2.create(input_type="video", model_name=FAKE, video=video)
    message = info.value.body["error"]["message"]
    assert "601.0 s long" in message and "POST /embed-v2/tasks" in message
    shorter = client.embed.v_2.create(
        input_type="video",
        model_name=FAKE,
        video={**video, "end_sec": 30, "segmentation": {"strategy": "fixed", "fixed": {"duration_sec": 10}}},
    )
    assert _bounds(shorter.data, "visual") == [(0.0, 10.0), (10.0, 20.0), (20.0, 30.0)]


# --- bad requests and unknown ids -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        (
            {"input_type": "text", "text": {"input_text": "x"}},
            "parameter_not_provided",
            "The model_name parameter is required",
        ),
        (
            {"input_type": "text", "model_name": "nope", "text": {"input_text": "x"}},
            "parameter_invalid",
            "Available models",
        ),
        (
            {"input_type": "document", "model_name": FAKE, "document": {}},
            "parameter_invalid",
            "Marengo 3.5 input",
        ),
        (
            {
                "input_type": "text",
                "model_name": FAKE,
                "text": {"input_text": "x"},
                "embedding_uncertainty": True,
            },
            "parameter_invalid",
            "Only Marengo 3.5 has it",
        ),
        (
            {"input_type": "text", "model_name": FAKE, "text": {"input_txt": "x"}},
            "parameter_unknown",
            "The text.input_txt parameter is unknown.",
        ),
        (
            {
                "input_type": "image",
                "model_name": FAKE,
                "image": {"media_source": {"url": "https://e/a.png", "asset_id": "x"}},
            },
            "parameter_invalid",
            "Set exactly one of url, base64_string and asset_id (the request set url, asset_id)",
        ),
        (
            {"input_type": "image", "model_name": FAKE, "image": {"media_source": {"base64_string": "%%%"}}},
            "parameter_invalid",
            "It is not valid base64.",
        ),
        (
            {
                "input_type": "video",
                "model_name": FAKE,
                "video": {
                    "media_source": {"url": "https://e/v.mp4"},
                    "segmentation": {"strategy": "fixed", "fixed": {"duration_sec": 11}},
                },
            },
            "parameter_invalid",
            "video.segmentation.fixed.duration_sec parameter is invalid. It must be from 2 to 10 seconds.",
        ),
        (
            {
                "input_type": "video",
                "model_name": FAKE,
                "video": {
                    "media_source": {"url": "https://e/v.mp4"},
                    "segmentation": {"strategy": "dynamic", "dynamic": {"min_duration_sec": 6}},
                },
            },
            "parameter_invalid",
            "It must be from 2 to 5 seconds.",
        ),
        (
            {
                "input_type": "video",
                "model_name": "marengo3.5",
                "video": {
                    "media_source": {"url": "https://e/v.mp4"},
                    "segmentation": {"strategy": "fixed", "fixed": {"duration_sec": 4}},
                },
            },
            "parameter_invalid",
            'put the settings in {"temporal"',
        ),
        (
            {
                "input_type": "audio",
                "model_name": FAKE,
                "audio": {"media_source": {"url": "https://e/a.wav"}, "embedding_option": ["visual"]},
            },
            "parameter_invalid",
            "visual is not one of: audio, transcription.",
        ),
        (
            {
                "input_type": "video",
                "model_name": FAKE,
                "video": {"media_source": {"url": "https://e/v.mp4"}, "start_sec": 5, "end_sec": 3},
            },
            "parameter_invalid",
            "It must be greater than start_sec.",
        ),
    ],
)
def test_bad_requests_get_400_with_a_clear_message(
    v2_server: LiveServer, body: dict[str, object], code: str, message: str
) -> None:
    import httpx

    for route in ("embed-v2", "embed-v2/tasks"):
        if route == "embed-v2/tasks" and body.get("input_type") in ("text", "image"):
            continue  # inputs of the synchronous route only
        response = httpx.post(f"{v2_server.url}/{route}", json=body)
        assert response.status_code == 400, response.text
        error = response.json()["error"]  # every Embed v2 error is nested (CONTRACT.md §1.4)
        assert error["code"] == code and message in error["message"]


def test_errors_through_the_sdk(v2_server: LiveServer, idle_v2_server: LiveServer) -> None:
    client = TwelveLabs(api_key="key", base_url=v2_server.url)
    with pytest.raises(NotFoundError) as missing:
        client.embed.v_2.tasks.retrieve("0" * 24)
    assert missing.value.body == {
        "error": {
            "code": "resource_not_exist",
            "message": f"Resource with id {'0' * 24} does not exist in embed_v2_tasks.",
            "details": {},
        }
    }
    huge = "A" * (37 * 1024 * 1024 * 4 // 3)  # 37 MB once decoded: over the 36 MB limit
    with pytest.raises(ContentTooLargeError) as too_large:
        client.embed.v_2.create(
            input_type="video", model_name=FAKE, video={"media_source": {"base64_string": huge}}
        )
    assert too_large.value.status_code == 413
    assert (
        too_large.value.body.error.code == "content_too_large"
        and "36 MB" in too_large.value.body.error.message
    )
    with pytest.raises(BadRequestError) as dimension:
        client.embed.v_2.create(
            input_type="text", model_name=FAKE, text={"input_text": "x"}, embedding_dimension=512
        )
    assert "makes 16-dimensional vectors" in dimension.value.body["error"]["message"]
    ok = client.embed.v_2.create(
        input_type="text", model_name=FAKE, text={"input_text": "x"}, embedding_dimension=16
    )
    assert len(ok.data[0].embedding) == 16
    # a v1.3 task's id is not a v2 task, and the other way round
    keyed = TwelveLabs(api_key="a", base_url=idle_v2_server.url)
    v1 = keyed.embed.tasks.create(model_name=FAKE, video_url="https://example.com/v.mp4")
    with pytest.raises(NotFoundError):
        keyed.embed.v_2.tasks.retrieve(v1.id)


def _nested(response, status: int, code: str) -> dict:  # type: ignore[no-untyped-def]
    """The inner object of an Embed v2 error body, after checking its shape."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}, body
    assert body["error"]["code"] == code, body
    return body["error"]


def test_every_v2_error_is_nested_over_http_and_through_the_sdk(
    tmp_path: Path, v2_server: LiveServer, idle_v2_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """400, 401, 404, 405, 413, 429 and 500 of /embed-v2 and /embed-v2/tasks, under the root and
    /v1.3: ``{"error": {code, message, details}}`` as TwelveLabs' OpenAPI documents say; the SDK
    hands the same body over (``e.body["error"]["code"]``). Other APIs stay flat."""
    import httpx
    from twelvelabs.core.api_error import ApiError as SdkApiError
    from twelvelabs.errors import InternalServerError, TooManyRequestsError

    text = {"input_type": "text", "model_name": FAKE, "text": {"input_text": "x"}}
    video = {"input_type": "video", "model_name": FAKE, "video": {"media_source": {"url": "https://e/v.mp4"}}}
    once = {"max_retries": 0}
    for prefix in ("", "/v1.3"):
        url = f"{v2_server.url}{prefix}"
        for route in ("embed-v2", "embed-v2/tasks"):
            _nested(httpx.post(f"{url}/{route}", json={**video, "video": {}}), 400, "parameter_not_provided")
        _nested(
            httpx.post(f"{url}/embed-v2", content=b"{", headers={"content-type": "application/json"}),
            400,
            "parameter_invalid",
        )
        _nested(httpx.get(f"{url}/embed-v2/tasks", params={"page_limit": 51}), 400, "parameter_invalid")
        missing = _nested(httpx.get(f"{url}/embed-v2/tasks/{'0' * 24}"), 404, "resource_not_exist")
        assert missing["message"] == f"Resource with id {'0' * 24} does not exist in embed_v2_tasks."
        _nested(httpx.get(f"{url}/embed-v2/tasks/a/b"), 404, "not_found")  # no such route under v2
        wrong = _nested(httpx.delete(f"{url}/embed-v2/tasks/{'0' * 24}"), 405, "method_not_allowed")
        assert "it takes GET, HEAD" in wrong["message"] or "it takes GET" in wrong["message"]
        huge = httpx.post(
            f"{url}/embed-v2",
            json={**video, "video": {"media_source": {"base64_string": "A" * (37 * 1024 * 1024 * 4 // 3)}}},
        )
        assert _nested(huge, 413, "content_too_large")["details"]["limit_bytes"] > 0
        # 401 (a server with keys)
        keyed = f"{idle_v2_server.url}{prefix}"
        _nested(httpx.post(f"{keyed}/embed-v2", json=text), 401, "api_key_invalid")
        _nested(httpx.get(f"{keyed}/embed-v2/tasks", headers={"x-api-key": "nope"}), 401, "api_key_invalid")
        # v1.3 and assets stay flat
        flat = httpx.get(f"{url}/embed/tasks/{'0' * 24}").json()
        assert set(flat) == {"code", "message"} and flat["code"] == "resource_not_exist"
        assert set(httpx.get(f"{url}/assets/{'0' * 24}").json()) == {"code", "message"}

    client = TwelveLabs(api_key="key", base_url=v2_server.url)
    with pytest.raises(BadRequestError) as bad_request:
        client.embed.v_2.create(input_type="text", model_name=FAKE, text={})  # type: ignore[arg-type]
    assert bad_request.value.body["error"]["code"] == "parameter_not_provided"
    with pytest.raises(BadRequestError) as bad_task:
        client.embed.v_2.tasks.create(input_type="video", model_name=FAKE, video={"media_source": {}})
    assert bad_task.value.body["error"]["code"] == "parameter_invalid"
    with pytest.raises(NotFoundError) as not_found:
        client.embed.v_2.tasks.retrieve("0" * 24)
    assert not_found.value.body["error"]["code"] == "resource_not_exist"
    with pytest.raises(SdkApiError) as unauthorized:
        TwelveLabs(api_key="nope", base_url=idle_v2_server.url).embed.v_2.tasks.list()
    assert unauthorized.value.status_code == 401
    assert unauthorized.value.body["error"]["code"] == "api_key_invalid"

    # 500: a bug behind the route
    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(v2_server.services.embed_v2, "retrieve", broken)
    raw = _nested(httpx.get(f"{v2_server.url}/v1.3/embed-v2/tasks/{'1' * 24}"), 500, "internal_error")
    assert raw["message"] == "The server failed to handle the request."
    monkeypatch.setattr(v2_server.services.embed_v2, "create_task", broken)
    with pytest.raises(InternalServerError) as internal:
        client.embed.v_2.tasks.create(
            input_type="video",
            model_name=FAKE,
            video={"media_source": {"url": "https://e/v.mp4"}},
            request_options=once,
        )
    assert internal.value.status_code == 500 and internal.value.body["error"]["code"] == "internal_error"
    monkeypatch.undo()

    # 429: one task at a time per key, on a server with no workers
    live = LiveServer(
        make_fake_service(tmp_path / "limited", start_workers=False, max_active_tasks_per_owner=1)
    )
    try:
        limited = TwelveLabs(api_key="key", base_url=live.url)
        limited.embed.v_2.tasks.create(input_type="video", model_name=FAKE, video=video["video"])  # type: ignore[arg-type]
        for prefix in ("", "/v1.3"):
            for route, body in (
                ("embed-v2/tasks", video),
                ("embed-v2", {**video, "input_type": "audio", "audio": video["video"], "video": None}),
            ):
                body = {k: v for k, v in body.items() if v is not None}
                answer = httpx.post(f"{live.url}{prefix}/{route}", json=body)
                _nested(answer, 429, "too_many_requests")
                assert answer.headers["retry-after"] == "30"
        with pytest.raises(TooManyRequestsError) as too_many:
            limited.embed.v_2.tasks.create(
                input_type="video",
                model_name=FAKE,
                video=video["video"],
                request_options=once,  # type: ignore[arg-type]
            )
        assert too_many.value.body["error"]["code"] == "too_many_requests"
    finally:
        live.stop()


def test_a_broken_file_fails_its_task_with_a_reason(v2_server: LiveServer) -> None:
    client = TwelveLabs(api_key="key", base_url=v2_server.url)
    task = client.embed.v_2.tasks.create(
        input_type="video",
        model_name=FAKE,
        video={"media_source": {"base64_string": _b64(b"not a video" * 100)}},
    )
    done = _wait(lambda: client.embed.v_2.tasks.retrieve(task.id), lambda t: t.status != "processing")
    assert done.status == "failed" and done.data is None
    assert "not a video that can be decoded" in done.error.message
    with pytest.raises(BadRequestError) as info:  # the synchronous route answers 400 with the reason
        client.embed.v_2.create(
            input_type="video", model_name=FAKE, video={"media_source": {"base64_string": _b64(b"x" * 1000)}}
        )
    message = info.value.body["error"]["message"]
    assert "could not be decoded" in message or "not a video" in message


# --- lists ----------------------------------------------------------------------------------------


def test_lists_page_newest_first_per_key_and_per_api(idle_v2_server: LiveServer) -> None:
    a = TwelveLabs(api_key="a", base_url=idle_v2_server.url)
    b = TwelveLabs(api_key="b", base_url=idle_v2_server.url)
    body = {"media_source": {"url": "https://example.com/v.mp4"}}
    made = [a.embed.v_2.tasks.create(input_type="video", model_name=FAKE, video=body).id for _ in range(3)]
    made.append(a.embed.v_2.tasks.create(input_type="audio", model_name=FAKE, audio=body).id)
    listed = [t.id for t in a.embed.v_2.tasks.list(page_limit=2)]
    assert listed[: len(made)] == made[::-1]  # newest first, across pages of 2
    first = a.embed.v_2.tasks.list(page_limit=2)
    assert first.items[0].video_embedding is None and first.items[0].audio_embedding is not None
    assert all(t.id not in made for t in b.embed.v_2.tasks.list())  # another key sees none of them
    assert all(t.id not in made for t in a.embed.tasks.list())  # nor does the v1.3 list
    with pytest.raises(NotFoundError):
        b.embed.v_2.tasks.retrieve(made[0])
    assert a.embed.v_2.tasks.retrieve(made[0]).status == "processing"


# --- the embedded client -------------------------------------------------------------------------


def test_embedded_client_has_the_same_surface(fake_client: VidEmbed, labelled_video: Path) -> None:
    asset = fake_client.assets.create(method="direct", file=str(labelled_video))
    _wait(lambda: fake_client.assets.retrieve(asset.id), lambda a: a.status == "ready")
    task = fake_client.embed.v_2.tasks.create(
        input_type="video",
        model_name=FAKE,
        video={
            "media_source": {"asset_id": asset.id},
            "segmentation": {"strategy": "fixed", "fixed": {"duration_sec": 6}},
        },
    )
    done = fake_client.embed.v_2.tasks.wait_for_done(task.id, sleep_interval=0.2)
    assert done.status == "ready" and done.metadata.input_filename == "labelled.mp4"
    assert _bounds(done.data, "transcription") == [(0.0, 6.0), (6.0, 12.0), (12.0, 18.0)]
    assert task.id in [t.id for t in fake_client.embed.v_2.tasks.list()]
    found = fake_client.clips.search(
        query_text="a red screen", model_name=FAKE, task_id=task.id, page_limit=5
    )
    hits = found.data["visual"]  # clip search covers v2 tasks too
    assert {(h.start_offset_sec, h.end_offset_sec) for h in hits} == {(0.0, 6.0), (6.0, 12.0), (12.0, 18.0)}
    text = fake_client.embed.v_2.create(input_type="text", model_name=FAKE, text={"input_text": "hello"})
    assert len(text.data[0].embedding) == 16
    fake_client.assets.delete(asset.id)  # the task keeps its own link to the file and its vectors
    assert fake_client.embed.v_2.tasks.retrieve(task.id).status == "ready"


# --- v1.3 POST /embed with image and audio --------------------------------------------------------


def test_v13_embed_takes_image_and_audio_files(
    v2_server: LiveServer, png_bytes: bytes, speech_wav: Path
) -> None:
    """``client.embed.create`` with image_file and audio_file in one call (CONTRACT.md §3): the
    audio embedding covers 10 s from audio_start_offset_sec, as the audio option of a clip."""
    client = TwelveLabs(api_key="key", base_url=v2_server.url)
    with open(speech_wav, "rb") as sound:
        answer = client.embed.create(
            model_name=FAKE, text="a chef", image_file=png_bytes, audio_file=sound, audio_start_offset_sec=1
        )
    assert answer.text_embedding is not None and answer.image_embedding is not None
    audio = answer.audio_embedding
    assert audio is not None and audio.metadata.input_filename == "speech.wav"
    segment = audio.segments[0]
    with wave.open(str(speech_wav)) as w:
        length = w.getnframes() / w.getframerate()
    assert segment.start_offset_sec == 1.0 and segment.end_offset_sec == pytest.approx(
        min(11.0, length), abs=1e-3
    )
    assert len(segment.float_) == 16 and abs(np.linalg.norm(segment.float_) - 1) < 1e-5
    # the same sound through the v2 route, as its asset vector (the mean of its 6 s clips): nearly
    # the same vector (one engine, one audio encoder; the windows differ slightly)
    v2 = client.embed.v_2.create(
        input_type="audio",
        model_name=FAKE,
        audio={
            "media_source": {"base64_string": _b64(speech_wav.read_bytes())},
            "start_sec": 1,
            "embedding_option": ["audio"],
            "embedding_scope": ["asset"],
        },
    )
    assert float(np.dot(v2.data[0].embedding, segment.float_)) > 0.99
    with pytest.raises(BadRequestError) as late:
        client.embed.create(model_name=FAKE, audio_file=speech_wav.read_bytes(), audio_start_offset_sec=60)
    assert late.value.body["message"].startswith("The audio_file parameter is invalid.")
    assert "audio_start_offset_sec" in late.value.body["message"]


def test_hits_of_a_base64_task_name_their_source(v2_server: LiveServer, labelled_video: Path) -> None:
    """A v2 task whose video came as base64 has no file name nor URL: its hits say so (they
    showed "source": "" before)."""
    client = TwelveLabs(api_key="key", base_url=v2_server.url)
    task = client.embed.v_2.tasks.create(
        input_type="video",
        model_name=FAKE,
        video={"media_source": {"base64_string": _b64(labelled_video.read_bytes())}},
    )
    done = _wait(lambda: client.embed.v_2.tasks.retrieve(task.id), lambda t: t.status != "processing")
    assert done.status == "ready"
    found = httpx.post(
        f"{v2_server.url}/clips/search",
        data={"query_text": "anything", "model_name": FAKE, "task_id": task.id},
        files=[("x", ("", b""))],
    ).json()
    sources = {hit["source"] for hits in found["data"].values() for hit in hits}
    assert sources == {"base64 upload"}


def test_an_unknown_asset_is_a_nested_404_on_both_creates(v2_server: LiveServer) -> None:
    """The 404 the OpenAPI document lists for POST /embed-v2 and POST /embed-v2/tasks."""
    missing = "f" * 24
    video = {"media_source": {"asset_id": missing}}
    for route in ("/embed-v2", "/embed-v2/tasks"):
        answer = httpx.post(
            f"{v2_server.url}{route}", json={"input_type": "video", "model_name": FAKE, "video": video}
        )
        assert answer.status_code == 404, (route, answer.text)
        assert answer.json()["error"]["code"] == "resource_not_exist"
        assert answer.json()["error"]["message"] == f"Resource with id {missing} does not exist in assets."
