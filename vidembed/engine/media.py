"""Reading media with PyAV: probing, sampling frames at given times, and decoding audio to PCM."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from vidembed.errors import MediaError

AUDIO_RATE = 16_000


@dataclass(frozen=True)
class MediaInfo:
    duration: float
    has_video: bool
    has_audio: bool
    width: int = 0
    height: int = 0
    video_codec: str = ""
    audio_codec: str = ""
    start_time: float = 0.0  # container start; timestamps we report are relative to it


def _open(path: Path) -> av.container.InputContainer:
    try:
        return av.open(str(path), mode="r", metadata_errors="ignore")
    except (av.error.InvalidDataError, av.error.EOFError):
        raise MediaError(
            "The file is not a video that can be decoded (unknown or damaged container). "
            "Upload a video file such as MP4, MOV, MKV, WebM or AVI."
        ) from None
    except av.error.FFmpegError as exc:
        raise MediaError(f"The video could not be opened: {exc.strerror or exc}.") from None


def _seconds(value: int | None, base: Fraction | None) -> float | None:
    if value is None or base is None:
        return None
    return float(value * base)


def probe(path: Path) -> MediaInfo:
    """Duration and streams; raises MediaError with a reason a person can act on."""
    if path.stat().st_size == 0:
        raise MediaError("The file is empty (0 bytes).")
    with _open(path) as container:
        video = container.streams.video[0] if container.streams.video else None
        audio = container.streams.audio[0] if container.streams.audio else None
        if video is None and audio is None:
            raise MediaError("The file has no video or audio stream.")
        start = container.start_time / av.time_base if container.start_time is not None else 0.0
        duration = container.duration / av.time_base if container.duration else None
        if not duration:
            stream = video or audio
            assert stream is not None
            duration = _seconds(stream.duration, stream.time_base)
        if not duration:
            duration = _scan_duration(container, start)
        return MediaInfo(
            duration=float(duration or 0.0),
            has_video=video is not None,
            has_audio=audio is not None,
            width=video.codec_context.width if video else 0,
            height=video.codec_context.height if video else 0,
            video_codec=video.codec_context.name if video else "",
            audio_codec=audio.codec_context.name if audio else "",
            start_time=start,
        )


def _scan_duration(container: av.container.InputContainer, start: float) -> float:
    """Last packet end time, for containers that do not state a duration."""
    end = 0.0
    for packet in container.demux():
        if packet.pts is not None and packet.time_base is not None:
            t = float((packet.pts + (packet.duration or 0)) * packet.time_base)
            end = max(end, t - start)
    return end


@dataclass(frozen=True)
class FrameRequest:
    time: float  # seconds from the start of the video
    width: int
    height: int
    crop_square: bool  # resize the shorter side to width, then centre-crop a square


def _target_size(frame_w: int, frame_h: int, req: FrameRequest) -> tuple[int, int]:
    if req.crop_square:
        scale = req.width / min(frame_w, frame_h)
    else:
        scale = min(1.0, req.width / frame_w, req.height / frame_h)
    return max(1, round(frame_w * scale)), max(1, round(frame_h * scale))


def _convert(frame: av.VideoFrame, req: FrameRequest) -> np.ndarray:
    w, h = _target_size(frame.width, frame.height, req)
    rgb = frame.to_ndarray(width=w, height=h, format="rgb24")
    if req.crop_square:
        top, left = (h - req.width) // 2, (w - req.width) // 2
        rgb = rgb[top : top + req.width, left : left + req.width]
    return np.ascontiguousarray(rgb)


def sample_frames(
    path: Path, info: MediaInfo, requests: Sequence[FrameRequest]
) -> Iterator[tuple[int, np.ndarray]]:
    """Yields (request index, RGB array) in one forward decode pass.

    Each request takes the first frame at or after its time (or the last frame, if the stream
    ends first), converted to the requested size during decode, so nothing holds full frames.
    """
    order = sorted(range(len(requests)), key=lambda i: requests[i].time)
    if not order:
        return
    with _open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        first = requests[order[0]].time
        if first > 1.0:
            container.seek(int((first + info.start_time) * av.time_base), backward=True)
        pending = 0
        last: av.VideoFrame | None = None
        try:
            for frame in container.decode(stream):
                if frame.time is None:
                    continue
                t = frame.time - info.start_time
                last = frame
                while pending < len(order) and requests[order[pending]].time <= t + 1e-3:
                    idx = order[pending]
                    yield idx, _convert(frame, requests[idx])
                    pending += 1
                if pending == len(order):
                    return
        except av.error.FFmpegError as exc:
            if last is None:
                raise MediaError(f"The video stream could not be decoded: {exc.strerror or exc}.") from None
        if last is None:
            raise MediaError("The video stream contains no decodable frames.")
        for idx in order[pending:]:
            yield idx, _convert(last, requests[idx])


def decode_audio(path: Path, info: MediaInfo, start: float, end: float) -> np.ndarray:
    """Mono float32 PCM at 16 kHz for [start, end) seconds; zeros where the stream has gaps."""
    n_samples = max(0, round((end - start) * AUDIO_RATE))
    pcm = np.zeros(n_samples, dtype=np.float32)
    with _open(path) as container:
        stream = container.streams.audio[0]
        if start > 1.0:
            container.seek(int((start + info.start_time) * av.time_base), backward=True)
        resampler = av.AudioResampler(format="flt", layout="mono", rate=AUDIO_RATE)
        cursor: float | None = None  # time of the next resampled sample
        try:
            for frame in container.decode(stream):
                if cursor is None:
                    cursor = (frame.time or 0.0) - info.start_time
                for out in resampler.resample(frame):
                    cursor = _place(pcm, out.to_ndarray().reshape(-1), cursor, start)
                if cursor - start >= end - start:
                    break
        except av.error.FFmpegError:
            # A damaged tail: keep what decoded; the gap stays silent.
            pass
        if cursor is not None and cursor - start < end - start:
            for out in resampler.resample(None):
                cursor = _place(pcm, out.to_ndarray().reshape(-1), cursor, start)
    return pcm


def _place(pcm: np.ndarray, samples: np.ndarray, cursor: float, start: float) -> float:
    offset = round((cursor - start) * AUDIO_RATE)
    lo, hi = max(offset, 0), min(offset + len(samples), len(pcm))
    if hi > lo:
        pcm[lo:hi] = samples[lo - offset : hi - offset]
    return cursor + len(samples) / AUDIO_RATE
