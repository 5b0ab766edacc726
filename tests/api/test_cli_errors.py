"""Errors that say what is wrong with what the user gave, never blame a flag they did not type
(issue 23, items 5 and 6): a still image given as a video, a video too short for one clip, local
URLs refused at create time by the one guard on input URLs; and the embed summary's real clip
lengths."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import fake_settings, make_service
from PIL import Image

from vidembed import intake
from vidembed.api.compose import compose
from vidembed.cli import build_parser, clip_lengths, embedded_seconds, failure_reason, main
from vidembed.devtools.synth import SegmentSpec, make_video, tone
from vidembed.errors import BadRequestError
from vidembed.intake import ALLOW_LOCAL_HINT

LOCAL_REFUSAL = (
    "{p} resolves to a non-public address ({a}); this server does not fetch from loopback, private "
    "or link-local networks. " + ALLOW_LOCAL_HINT
)


def _photo(path: Path, kind: str = "JPEG") -> Path:
    picture = np.full((48, 64, 3), (200, 120, 40), np.uint8)
    Image.fromarray(picture).save(path, kind)
    return path


# --- item 5: a still image is not a video ---------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind", "shown"),
    [("photo.jpg", "JPEG", "JPEG"), ("p.png", "PNG", "PNG"), ("p.webp", "WEBP", "WebP")],
)
def test_still_image_format_recognises_pictures(tmp_path: Path, name: str, kind: str, shown: str) -> None:
    photo = _photo(tmp_path / name, kind)
    assert intake.still_image_upload(str(photo)) == shown
    assert intake.still_image_upload(photo.read_bytes()) == shown
    with open(photo, "rb") as fh:
        fh.read(3)
        assert intake.still_image_upload(("x", fh)) is None  # read from where it is: not a signature
        fh.seek(0)
        assert intake.still_image_upload(fh) == shown and fh.tell() == 0  # put back


def test_a_video_is_not_a_still_image(tmp_path: Path) -> None:
    video = make_video(tmp_path / "v.mp4", [SegmentSpec(2)], width=64, height=48)
    assert intake.still_image_upload(str(video)) is None
    assert intake.still_image_upload(b"GIF89a...") is None  # animated formats are the decoder's
    assert intake.still_image_upload(io.BytesIO(b"")) is None


def test_embed_of_a_photo_says_it_is_a_still_image_and_what_to_use(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photo = _photo(tmp_path / "photo.jpg")
    assert main(["--data-dir", str(tmp_path / "d"), "embed", str(photo)]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"error: {photo} is a still image (JPEG), not a video: search the clips with it with "
        f"`vidembed search --image {photo}`, or embed it with the embed API's image input "
        "(client.embed.create(image_file=...), POST /embed with image_file)\n"
    )
    assert "--clip-length" not in err
    assert not (tmp_path / "d" / "vidembed.sqlite3").exists()  # nothing was created


def test_the_api_refuses_a_still_image_as_video_file_at_create_time(tmp_path: Path) -> None:
    service = make_service(tmp_path / "data", start_workers=False)
    photo = _photo(tmp_path / "photo.png", "PNG")
    try:
        for upload in (str(photo), photo.read_bytes(), open(photo, "rb")):  # noqa: SIM115
            with pytest.raises(BadRequestError) as caught:
                service.create(model_name="marengo3.0", video_file=upload)
            assert caught.value.message == (
                "The video_file parameter is invalid. The file is a still image (PNG), not a video. Embed a "
                "picture with POST /embed (image_file or image_url: a vector to compare with the clips' "
                "visual vectors), or search the clips with it (POST /clips/search, query_image)."
            )
        assert service.store.count_active("") == 0
    finally:
        service.close()


def test_a_video_too_short_for_one_clip_does_not_blame_a_flag_the_user_did_not_type(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fake_cli: str
) -> None:
    short = make_video(tmp_path / "short.mp4", [SegmentSpec(1, audio=tone(440, 1))], width=64, height=48)
    assert main(["--data-dir", str(tmp_path / "d"), "embed", str(short), "--model", fake_cli]) == 1
    last = capsys.readouterr().err.splitlines()[-1]
    assert last.endswith("failed: The video is 1.000 s long; at least 2 s are needed for one clip.")


def test_failure_reason_keeps_a_flag_the_user_typed() -> None:
    reason = "The video_clip_length parameter is invalid. The video is 1.000 s long; at least 2 s are needed."
    typed = build_parser().parse_args(["embed", "v.mp4", "--clip-length", "4"])
    untyped = build_parser().parse_args(["embed", "v.mp4"])
    assert failure_reason(reason, typed).startswith("The --clip-length parameter is invalid. The video is")
    assert failure_reason(reason, untyped) == "The video is 1.000 s long; at least 2 s are needed."
    end = "The video_end_offset_sec parameter is invalid. video_end_offset_sec (30 s) is beyond the end."
    beyond = build_parser().parse_args(["embed", "v.mp4", "--start", "0", "--end", "30"])
    assert failure_reason(end, beyond) == "The --end parameter is invalid. --end (30 s) is beyond the end."


# --- item 5: local URLs refused at create time, one rule for tasks and assets ---------------


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("http://127.0.0.1/v.mp4", "127.0.0.1"),
        ("http://localhost:8000/v.mp4", None),
        ("https://10.1.2.3/v.mp4", "10.1.2.3"),
        ("http://[::1]/v.mp4", "::1"),
    ],
)
def test_check_url_resolves_the_host_at_create_time(url: str, address: str | None) -> None:
    with pytest.raises(BadRequestError) as caught:
        intake.check_url(url, allow_local=False, parameter="video_url")
    message = caught.value.message
    prefix = "The video_url parameter is invalid. video_url resolves to a non-public address ("
    assert message.startswith(prefix)
    shown = message[len(prefix) : message.index(")")]
    assert message == "The video_url parameter is invalid. " + LOCAL_REFUSAL.format(p="video_url", a=shown)
    assert address is None or shown == address
    intake.check_url(url, allow_local=True)  # allowed: nothing to say


def test_check_url_leaves_a_host_that_does_not_resolve_to_the_download() -> None:
    intake.check_url("http://no-such-host.invalid/v.mp4", allow_local=False)


def test_v13_tasks_and_url_assets_refuse_local_urls_alike_at_create(tmp_path: Path) -> None:
    services = compose(fake_settings(tmp_path / "data", allow_local_urls=False), start_workers=False)
    try:
        with pytest.raises(BadRequestError) as task_error:
            services.embed.create(model_name="marengo3.0", video_url="http://localhost/v.mp4")
        assert services.assets is not None
        with pytest.raises(BadRequestError) as asset_error:
            services.assets.create(method="url", url="http://localhost/v.mp4")
        assert services.embed.store.count_active("") == 0
    finally:
        services.close()
    task_message = task_error.value.message
    assert task_message.startswith("The video_url parameter is invalid. video_url resolves to a non-public")
    assert asset_error.value.message == task_message.replace("video_url", "url")


# --- item 6: the summary counts what was embedded ------------------------------------------


def test_clip_lengths_are_the_real_ones() -> None:
    assert clip_lengths([(0.0, 6.0), (6.0, 12.0), (12.0, 18.0)]) == "3 x 6.0 s"
    assert clip_lengths([(0.0, 5.306)]) == "1 x 5.31 s"
    assert clip_lengths([(0.0, 6.0), (6.0, 12.0), (12.0, 15.31)]) == "2 x 6.0 s + 1 x 3.31 s"
    assert clip_lengths([]) == "none"


def test_realtime_counts_the_embedded_part() -> None:
    assert embedded_seconds(120.0, None, None) == 120.0
    assert embedded_seconds(120.0, 0.0, 30.0) == 30.0
    assert embedded_seconds(20.0, 10.0, 30.0) == 10.0  # an end beyond the video: up to its end


def test_embed_summary_of_a_short_video_shows_its_one_clip_as_long_as_it_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fake_cli: str
) -> None:
    video = make_video(tmp_path / "short.mp4", [SegmentSpec(5.3, audio=tone(440, 5))], width=64, height=48)
    out = tmp_path / "out.json"
    argv = ["--data-dir", str(tmp_path / "d"), "embed", str(video), "--model", fake_cli, "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    [segment] = json.loads(out.read_text())["video_embedding"]["segments"][:1]
    length = round(segment["end_offset_sec"] - segment["start_offset_sec"], 2)
    assert 5.2 < length < 5.4
    assert f"clips:      1 x {length} s\n" in printed
