"""Images as queries: ``POST /embed`` / ``client.embed.create`` with ``image_file`` or ``image_url``
(alone or with text), and clip search by a picture (``query_image``, ``vidembed search --image``).

An image is embedded by the stack's visual encoder as a clip that shows only that picture, so it
compares by cosine with the visual option: natively with an image-text model (the tiny random CLIP
of tests/tiny_models.py, against its reference implementation), through the classifier with the
built-in ConSE stack (three real photos from opencv-doc)."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from conftest import LiveServer, make_service, make_settings
from PIL import Image
from tiny_models import TinyModel, make_tiny_clip

from vidembed import BadRequestError, VidEmbed
from vidembed.api.embed.rules import NO_QUERY, NOTHING_TO_EMBED
from vidembed.client.transports.local import LocalTransport
from vidembed.devtools.synth import SegmentSpec, make_video
from vidembed.engine.still import load_image, prepare_frame
from vidembed.errors import MediaError
from vidembed.models.roles import FrameSpec

ROOT = Path(__file__).resolve().parents[2]
PHOTOS = [ROOT / ".cache" / "media" / name for name in ("messi5.jpg", "left06.jpg", "squirrel_cls.jpg")]


def cosine(a: object, b: object) -> float:
    x, y = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(x @ y / (np.linalg.norm(x) * np.linalg.norm(y)))


def error_body(response: httpx.Response, code: str) -> str:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == code, body
    return str(body["message"])


# --- still pictures, without models ---------------------------------------------------------------


def test_frames_are_prepared_as_the_engine_prepares_video_frames() -> None:
    picture = np.zeros((300, 500, 3), np.uint8)
    picture[:, 200:300] = 255  # a white band in the middle
    square = prepare_frame(picture, FrameSpec(224, crop_square=True))
    assert square.shape == (224, 224, 3)
    assert square[:, 112].min() == 255 and square[:, 0].max() == 0  # the centre kept
    assert prepare_frame(picture, FrameSpec(100, crop_square=False)).shape == (60, 100, 3)
    assert prepare_frame(picture, FrameSpec(640, crop_square=False)).shape == (300, 500, 3)  # never enlarged


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` x ``height`` (its pixel data is never read)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0"))
        + chunk(b"IEND", b"")
    )


def test_load_image_turns_pictures_upright_and_refuses_what_it_cannot_use(tmp_path: Path) -> None:
    tall = Image.new("RGB", (40, 20), (200, 10, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: a viewer turns it 90 degrees clockwise
    tall.save(tmp_path / "sideways.jpg", exif=exif)
    assert load_image(tmp_path / "sideways.jpg").shape == (40, 20, 3)

    Image.new("LA", (8, 6), (0, 0)).save(tmp_path / "clear.png")  # transparent: on white
    clear = load_image(tmp_path / "clear.png")
    assert clear.shape == (6, 8, 3) and clear.dtype == np.uint8 and clear.min() == 255
    assert load_image(PHOTOS[1]).shape == (480, 640, 3)  # a greyscale JPEG comes back RGB

    (tmp_path / "notes.txt").write_text("not a picture")
    with pytest.raises(MediaError, match=r"^The file is not an image that can be decoded "):
        load_image(tmp_path / "notes.txt")
    (tmp_path / "cut.jpg").write_bytes((tmp_path / "sideways.jpg").read_bytes()[:200])
    with pytest.raises(MediaError, match=r"^The file is not an image that can be decoded "):
        load_image(tmp_path / "cut.jpg")
    (tmp_path / "huge.png").write_bytes(_png_header_only(9000, 8000))
    with pytest.raises(MediaError) as huge:
        load_image(tmp_path / "huge.png")
    assert str(huge.value) == (
        "The image's resolution (9000x8000) is larger than this service decodes "
        "(at most 8192x8192 pixels); scale it down first."
    )


# --- the built-in stack: a real server, its workers and the embedded client on its data ------------


@pytest.fixture(scope="module")
def builtin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Path]]:
    """A server of the built-in stack that refuses local URLs, and its data folder."""
    data = tmp_path_factory.mktemp("builtin-data")
    live = LiveServer(make_service(data, allow_local_urls=False))
    yield live, data
    live.stop()


@pytest.fixture(scope="module")
def three_photos_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """18 s: [0,6) messi5.jpg, [6,12) left06.jpg, [12,18) squirrel_cls.jpg, each still."""
    return make_video(
        tmp_path_factory.mktemp("three") / "three-photos.mp4",
        [SegmentSpec(6, image=np.asarray(Image.open(p).convert("RGB"))) for p in PHOTOS],
        width=640,
        height=480,
    )


def test_an_image_embeds_as_a_still_video_of_it_does(
    builtin: tuple[LiveServer, Path], tmp_path: Path
) -> None:
    """Each photo as a 6 s still video (its own size) and as an image: the same visual vector,
    the video's from the engine process, the image's from the server process."""
    live, _ = builtin
    with VidEmbed(base_url=live.url) as client:
        tasks = {}
        for photo in PHOTOS:
            picture = load_image(photo)
            height, width = (picture.shape[0] // 2) * 2, (picture.shape[1] // 2) * 2
            video = make_video(
                tmp_path / f"{photo.stem}.mp4", [SegmentSpec(6, image=picture)], width=width, height=height
            )
            tasks[photo] = client.embed.tasks.create(
                model_name="marengo3.0", video_file=str(video), embedding_option=["visual"]
            ).id
        for photo, task_id in tasks.items():
            assert client.embed.tasks.wait_for_done(task_id, sleep_interval=0.2).status == "ready"
            segments = client.embed.tasks.retrieve(task_id).video_embedding.segments
            assert segments is not None and len(segments) == 1
            image = client.embed.create(model_name="marengo3.0", image_file=str(photo)).image_embedding
            assert image is not None and image.segments is not None
            assert image.metadata is not None and image.metadata.input_filename == photo.name
            vector = image.segments[0].float_
            assert len(vector) == 384 and np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)
            assert cosine(vector, segments[0].float_) >= 0.99, photo.name


def test_an_image_query_finds_the_clip_that_shows_it(
    builtin: tuple[LiveServer, Path], three_photos_video: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    live, data = builtin
    clips = {photo: (6.0 * i, 6.0 * (i + 1)) for i, photo in enumerate(PHOTOS)}
    with VidEmbed(base_url=live.url) as client:
        with open(three_photos_video, "rb") as fh:
            task = client.embed.tasks.create(model_name="marengo3.0", video_file=fh)  # every option
        assert client.embed.tasks.wait_for_done(task.id, sleep_interval=0.2).status == "ready"

        for photo, clip in clips.items():
            found = client.clips.search(query_image=str(photo), task_id=task.id, page_limit=3)
            assert list(found.data) == ["visual"]  # an image is compared with what is seen
            assert found.query_image == photo.name and found.query_text is None
            assert [(h.start_offset_sec, h.end_offset_sec) for h in found.best][0] == clip, photo.name
            assert len(found.best) == 3

        asked = client.clips.search(
            query_image=PHOTOS[2].read_bytes(), task_id=task.id, embedding_option=["visual"]
        )
        assert list(asked.data) == ["visual"] and asked.best[0].start_offset_sec == 12.0
        with pytest.raises(BadRequestError) as other_options:
            client.clips.search(query_image=str(PHOTOS[0]), embedding_option=["visual", "transcription"])
        assert other_options.value.message == (
            "The embedding_option parameter is invalid. An image query is compared with what the clips "
            "show: it searches the visual option only, not transcription. Leave embedding_option out, "
            "or use visual."
        )
        with pytest.raises(BadRequestError) as both:
            client.clips.search(query_text="a dog", query_image=str(PHOTOS[0]))
        assert both.value.message == (
            "The following parameters are invalid: query_text, query_image. "
            "Send one query: query_text or query_image, not both."
        )
        with pytest.raises(BadRequestError) as neither:
            client.clips.search()
        assert (neither.value.code, neither.value.message) == ("parameter_not_provided", NO_QUERY)
        text = client.clips.search(query_text="a squirrel", task_id=task.id)  # text searches every option
        assert list(text.data) == ["fused", "visual", "audio", "transcription"]

    # the form part as such, and a file that is no picture
    url = f"{live.url}/v1.3/clips/search"
    with open(PHOTOS[1], "rb") as fh:
        raw = httpx.post(url, data={"task_id": task.id}, files={"query_image": ("q.jpg", fh, "image/jpeg")})
    assert raw.status_code == 200, raw.text
    assert raw.json()["query_image"] == "q.jpg" and raw.json()["data"]["visual"][0]["start_offset_sec"] == 6.0
    not_image = httpx.post(url, files={"query_image": ("q.jpg", b"GIF89a but not really", "image/gif")})
    assert error_body(not_image, "parameter_invalid").startswith(
        "The query_image parameter is invalid. The file is not an image that can be decoded"
    )

    # the embedded client on the same data, with a binary file object
    with VidEmbed(transport=LocalTransport(make_settings(data), start_workers=False)) as embedded:
        with open(PHOTOS[0], "rb") as fh:
            found = embedded.clips.search(query_image=fh, task_id=task.id)
        assert list(found.data) == ["visual"] and found.best[0].start_offset_sec == 0.0
        assert found.query_image == PHOTOS[0].name

    # the CLI: --image instead of the query text, and exactly one of them
    from vidembed.cli import main

    capsys.readouterr()
    assert main(["--data-dir", str(data), "search", "--image", str(PHOTOS[2]), "--task", task.id]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "== visual (cosine with the query)"
    assert "12.0-18.0 s" in printed[1] and "three-photos.mp4" in printed[1]
    assert main(["--data-dir", str(data), "search", "a squirrel", "--image", str(PHOTOS[2])]) == 2
    assert capsys.readouterr().err == (
        "error: The following parameters are invalid: query, --image. "
        "Send one query: query or --image, not both.\n"
    )
    assert main(["--data-dir", str(data), "search"]) == 2
    assert (
        capsys.readouterr().err
        == "error: No query was provided: send query (a text) or --image (an image file).\n"
    )
    assert main(["--data-dir", str(data), "search", "--image", str(data / "missing.jpg")]) == 2
    assert capsys.readouterr().err.startswith("error: no such file: ")


def test_bad_embed_inputs_are_400s_that_say_why(builtin: tuple[LiveServer, Path]) -> None:
    live, _ = builtin
    url = f"{live.url}/v1.3/embed"
    nothing = httpx.post(url, data={"model_name": "marengo3.0", "text": " "}, files={"x": ("", b"")})
    assert error_body(nothing, "parameter_not_provided") == NOTHING_TO_EMBED
    not_image = httpx.post(
        url, data={"model_name": "marengo3.0"}, files={"image_file": ("notes.txt", b"hello", "text/plain")}
    )
    assert error_body(not_image, "parameter_invalid").startswith(
        "The image_file parameter is invalid. The file is not an image that can be decoded"
    )
    local = httpx.post(url, data={"model_name": "marengo3.0", "image_url": f"{live.url}/a.png"})
    assert error_body(local, "parameter_invalid") == (
        "The image_url parameter is invalid. image_url resolves to a non-public address (127.0.0.1); "
        "this server does not fetch from loopback, private or link-local networks. To allow file:// "
        "and loopback, private or link-local addresses, start the server with --allow-local-urls "
        "(or VIDEMBED_ALLOW_LOCAL_URLS=1)."
    )
    no_file_urls = httpx.post(url, data={"model_name": "marengo3.0", "image_url": f"file://{PHOTOS[0]}"})
    assert error_body(no_file_urls, "parameter_invalid").startswith(
        "The image_url parameter is invalid. This server does not read file:// URLs."
    )
    with open(PHOTOS[0], "rb") as fh:
        two = httpx.post(
            url,
            data={"model_name": "marengo3.0", "image_url": "https://example.com/a.jpg"},
            files={"image_file": ("a.jpg", fh, "image/jpeg")},
        )
    assert error_body(two, "parameter_invalid") == (
        "The following parameters are invalid: image_file, image_url. "
        "Send one image: image_file or image_url, not both."
    )
    local_audio = httpx.post(url, data={"model_name": "marengo3.0", "audio_url": f"{live.url}/a.mp3"})
    assert error_body(local_audio, "parameter_invalid").startswith(
        "The audio_url parameter is invalid. audio_url resolves to a non-public address (127.0.0.1)"
    )
    not_audio = httpx.post(
        url, data={"model_name": "marengo3.0"}, files={"audio_file": ("a.mp3", b"ID3", "audio/mpeg")}
    )
    assert error_body(not_audio, "parameter_invalid").startswith(
        "The audio_file parameter is invalid. The file"
    )
    two_sounds = httpx.post(
        url,
        data={"model_name": "marengo3.0", "audio_url": "https://example.com/a.mp3"},
        files={"audio_file": ("a.mp3", b"ID3", "audio/mpeg")},
    )
    assert error_body(two_sounds, "parameter_invalid") == (
        "The following parameters are invalid: audio_file, audio_url. "
        "Send one audio file: audio_file or audio_url, not both."
    )
    text_only = httpx.post(url, data={"model_name": "marengo3.0", "text": "a dog"}).json()
    assert set(text_only) == {"model_name", "text_embedding"}  # text alone: as before
    unused = httpx.post(
        url, data={"model_name": "marengo3.0", "text": "a dog"}, files={"image_file": ("", b"")}
    )
    assert unused.json() == text_only  # a form's empty file field is no image

    with VidEmbed(base_url=live.url) as client, pytest.raises(BadRequestError) as sdk_like:
        client.embed.create(model_name="marengo3.0")
    assert (sdk_like.value.code, sdk_like.value.message) == ("parameter_not_provided", NOTHING_TO_EMBED)


# --- an image-text stack (the tiny random CLIP) ----------------------------------------------------


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[TinyModel, Path]:
    """The tiny CLIP and a stacks file serving it as my-clip (alias marengo3.0)."""
    root = tmp_path_factory.mktemp("tiny-clip")
    clip = make_tiny_clip(root / "ViT-tiny__clip")
    stacks = root / "stacks.toml"
    stacks.write_text(f'[stacks.my-clip]\nimage_text = "{clip.folder}"\naliases = ["marengo3.0"]\n')
    return clip, stacks


def test_an_image_text_stack_embeds_images_with_its_image_tower(
    tiny_clip: tuple[TinyModel, Path], tmp_path: Path
) -> None:
    clip, stacks = tiny_clip
    photo = Image.open(PHOTOS[0]).convert("RGB")
    settings = make_settings(tmp_path, stacks_file=stacks)
    with VidEmbed(transport=LocalTransport(settings, start_workers=False)) as client:
        only = client.embed.create(model_name="my-clip", image_file=str(PHOTOS[0]))
        assert only.model_name == "my-clip" and only.text_embedding is None
        assert only.image_embedding is not None and only.image_embedding.segments is not None
        vector = only.image_embedding.segments[0].float_
        assert vector is not None and len(vector) == clip.embed_dim
        assert cosine(vector, clip.reference_image_embedding(photo)) >= 0.98

        both = client.embed.create(
            model_name="marengo3.0", text="a man kicking a ball", image_url=PHOTOS[0].as_uri()
        )  # the alias; the embedded client reads file:// URLs
        assert both.text_embedding is not None and both.text_embedding.segments is not None
        assert both.image_embedding is not None and both.image_embedding.segments is not None
        assert both.image_embedding.metadata is not None
        assert both.image_embedding.metadata.input_url == PHOTOS[0].as_uri()
        assert both.image_embedding.metadata.input_filename is None
        text = both.text_embedding.segments[0].float_
        assert cosine(text, clip.reference_text_embedding("a man kicking a ball")) >= 0.999
        assert cosine(both.image_embedding.segments[0].float_, vector) >= 0.9999


def test_the_official_sdk_embeds_an_image_file(tiny_clip: tuple[TinyModel, Path], tmp_path: Path) -> None:
    from twelvelabs import TwelveLabs
    from twelvelabs.core.api_error import ApiError as SdkApiError

    clip, stacks = tiny_clip
    live = LiveServer(make_service(tmp_path, start_workers=False, stacks_file=stacks, allow_local_urls=False))
    try:
        sdk = TwelveLabs(api_key="k", base_url=f"{live.url}/v1.3")
        with open(PHOTOS[2], "rb") as fh:
            answer = sdk.embed.create(model_name="my-clip", image_file=fh)
        assert answer.model_name == "my-clip" and answer.text_embedding is None
        assert answer.image_embedding is not None and answer.image_embedding.segments is not None
        assert answer.image_embedding.metadata is not None
        assert answer.image_embedding.metadata.input_filename == "squirrel_cls.jpg"
        vector = answer.image_embedding.segments[0].float_
        assert vector is not None and len(vector) == clip.embed_dim
        reference = clip.reference_image_embedding(Image.open(PHOTOS[2]).convert("RGB"))
        assert cosine(vector, reference) >= 0.98

        with open(PHOTOS[2], "rb") as fh:
            both = sdk.embed.create(model_name="marengo3.0", text="a squirrel", image_file=fh)
        assert both.text_embedding is not None and both.image_embedding is not None
        assert both.image_embedding.segments is not None
        assert cosine(both.image_embedding.segments[0].float_, vector) >= 0.9999

        buffer = io.BytesIO()
        Image.open(PHOTOS[1]).save(buffer, format="PNG")
        with VidEmbed(base_url=live.url) as ours:  # our HTTP client: bytes, and the same answer shape
            png = ours.embed.create(model_name="my-clip", image_file=buffer.getvalue())
        assert png.image_embedding is not None and png.image_embedding.metadata is not None
        assert png.image_embedding.metadata.input_filename == "upload"

        with pytest.raises(SdkApiError) as nothing:
            sdk.embed.create(model_name="my-clip")
        assert nothing.value.status_code == 400
        assert nothing.value.body == {"code": "parameter_not_provided", "message": NOTHING_TO_EMBED}
    finally:
        live.stop()
