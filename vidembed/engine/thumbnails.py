"""Thumbnails of clips (the Search API's ``thumbnail`` add-on): a JPEG of the frame at each clip's
middle, scaled to ``WIDTH`` pixels wide with the video's aspect ratio, made while indexing so that
search results can show them without touching the video again."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import av
from PIL import Image

WIDTH = 320  # TwelveLabs-like small previews; a 16:9 video gives 320x180, about 10-20 kB
JPEG_QUALITY = 80


def thumbnails(path: Path, times: Sequence[float], start_time: float = 0.0) -> list[bytes]:
    """One JPEG per time (seconds from the video's start, as clips count them): the first frame
    at or after it (the last frame when the time is past the end); [] for a file without a
    picture. Seeks to the keyframe before each time and decodes forward from it."""
    out: list[bytes] = []
    with av.open(str(path), metadata_errors="ignore") as container:
        if not container.streams.video:
            return []
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for moment in times:
            picture = _frame_at(container, stream, moment + start_time)
            out.append(_jpeg(picture) if picture is not None else b"")
    return out


def _frame_at(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream, seconds: float
) -> Image.Image | None:
    assert stream.time_base is not None
    container.seek(max(0, int(seconds / stream.time_base)), stream=stream, backward=True)
    last = None
    try:
        for frame in container.decode(stream):
            last = frame
            if frame.time is not None and frame.time >= seconds:
                break
    except av.error.FFmpegError:  # a damaged tail: the last frame decoded will do
        pass
    return last.to_image() if last is not None else None


def _jpeg(picture: Image.Image) -> bytes:
    height = max(1, round(WIDTH * picture.height / max(1, picture.width)))
    buffer = io.BytesIO()
    picture.convert("RGB").resize((WIDTH, height), Image.Resampling.BILINEAR).save(
        buffer, "JPEG", quality=JPEG_QUALITY
    )
    return buffer.getvalue()
