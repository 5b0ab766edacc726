"""Reading media with PyAV: probing, sampling frames at given times, and decoding audio to PCM."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from vidembed.errors import MediaError

AUDIO_RATE = 16_000
# A stream may end a little before the duration its container declares; beyond this it is cut.
TRUNCATION_SLACK_SEC = 2.0


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
    video_duration: float | None = None  # the video stream's own, when it declares one
    fps: float = 0.0  # the video stream's average frame rate, when it declares one


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
    if path.is_file() and path.stat().st_size == 0:
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
            video_duration=_seconds(video.duration, video.time_base) if video else None,
            fps=float(video.average_rate) if video is not None and video.average_rate else 0.0,
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


def _convert(
    frame: av.VideoFrame, req: FrameRequest, reformatter: VideoReformatter | None = None
) -> np.ndarray:
    w, h = _target_size(frame.width, frame.height, req)
    if reformatter is None:
        rgb = frame.to_ndarray(width=w, height=h, format="rgb24")
    else:  # the same pixels; the scaler is set up once per size instead of once per frame
        rgb = reformatter.reformat(frame, width=w, height=h, format="rgb24").to_ndarray()
    if req.crop_square:
        top, left = (h - req.width) // 2, (w - req.width) // 2
        rgb = rgb[top : top + req.width, left : left + req.width]
    # Phones store portrait video as landscape pixels plus a display rotation (counter-clockwise
    # degrees); turn the picture the way a player shows it.
    quarter_turns = round((frame.rotation or 0) / 90) % 4
    if quarter_turns:
        rgb = np.rot90(rgb, k=quarter_turns)
    return np.ascontiguousarray(rgb)


@dataclass(frozen=True)
class DecodedFrame:
    """A decoded picture of ``decode``'s ``video_range``, for a consumer that chooses frames as
    they come (shot detection); convert it before the next event, the frame is not kept."""

    time: float  # seconds from the start of the video
    frame: av.VideoFrame

    def convert(self, request: FrameRequest, reformatter: VideoReformatter | None = None) -> np.ndarray:
        """The picture at the request's size (its time is not used). A ``reformatter`` kept for one
        size makes a conversion 0.25 ms instead of 3.5-3.9 ms (480p to 224 or 57 px, measured here):
        PyAV's ``to_ndarray`` builds a new scaler every call."""
        return _convert(self.frame, request, reformatter)

    def thumbnail(self, longest: int, reformatter: VideoReformatter) -> np.ndarray:
        """A small RGB picture, ``longest`` px on its longer side, for statistics such as colour
        histograms (shot detection): 0.2 ms a frame with a kept ``reformatter``."""
        return _convert(self.frame, FrameRequest(0.0, longest, longest, crop_square=False), reformatter)


@dataclass(frozen=True)
class AudioChunk:
    time: float  # seconds from the start of the video of samples[0]
    samples: np.ndarray  # mono float32 at AUDIO_RATE


@dataclass
class DecodeReport:
    """What a decode pass had to skip: undecodable packets per stream ("video", "audio"), and the
    first decoder message of each, so a task can say how damaged its input was."""

    skipped_packets: dict[str, int] = field(default_factory=dict)
    first_error: dict[str, str] = field(default_factory=dict)

    def skip(self, kind: str, exc: av.error.FFmpegError) -> None:
        self.skipped_packets[kind] = self.skipped_packets.get(kind, 0) + 1
        self.first_error.setdefault(kind, str(exc.strerror or exc))


def decode(
    path: Path,
    info: MediaInfo,
    requests: Sequence[FrameRequest],
    audio_range: tuple[float, float] | None,
    skip_non_reference: bool = True,
    report: DecodeReport | None = None,
    video_range: tuple[float, float] | None = None,
) -> Iterator[tuple[int, np.ndarray] | AudioChunk | DecodedFrame]:
    """One demux and decode pass over both streams, in file order.

    Yields ``(request index, RGB array)`` for each frame request (the first decoded frame at or
    after its time, converted to the requested size during decode, so no full frame is kept) and
    ``AudioChunk``s of 16 kHz mono PCM covering ``audio_range``. With ``skip_non_reference`` the
    decoder drops frames nothing else refers to (B-frames): a sample then takes the next
    reference frame, at most a few frames later, for a large saving in decode time. With
    ``video_range`` every decoded frame from its start to its end is also yielded, as a
    ``DecodedFrame`` (dynamic segmentation detects cuts on them).

    A packet that does not decode is skipped, as players do, and counted in ``report``: a bad
    packet in one stream does not stop the other (Debian opencv-doc's Megamind.avi has one bad
    AC-3 packet at 0 s before 11 s of good video and audio). Only a stream that yields nothing
    usable fails the pass, with a message naming that stream.
    """
    report = report if report is not None else DecodeReport()
    order = sorted(range(len(requests)), key=lambda i: requests[i].time)
    want_video = bool(order) or video_range is not None
    want_audio = audio_range is not None and info.has_audio
    with _open(path) as container:
        streams: list[av.VideoStream | av.AudioStream] = []
        if want_video:
            video = container.streams.video[0]
            video.thread_type = "AUTO"
            if skip_non_reference:
                video.codec_context.skip_frame = "NONREF"
            streams.append(video)
        if want_audio:
            streams.append(container.streams.audio[0])
            resampler = av.AudioResampler(format="flt", layout="mono", rate=AUDIO_RATE)
        if not streams:
            return
        starts = [requests[order[0]].time] if order else []
        if video_range is not None:
            starts.append(video_range[0])
        if want_audio:
            assert audio_range is not None
            starts.append(audio_range[0])
        first = min(starts)
        if first > 1.0:
            container.seek(int((first - 1.0 + info.start_time) * av.time_base), backward=True)
        last: av.VideoFrame | None = None
        pending, audio_cursor, audio_done = 0, None, not want_audio
        video_done = not want_video
        range_done = video_range is None
        demux_error: av.error.FFmpegError | None = None
        try:
            for packet in container.demux(streams):
                kind = packet.stream.type
                if (kind == "video" and video_done) or (kind == "audio" and audio_done):
                    continue
                try:
                    frames = packet.decode()
                except av.error.FFmpegError as exc:
                    report.skip(kind, exc)
                    continue
                for frame in frames:
                    # only video and audio streams are demuxed, so a packet's frames are theirs
                    assert isinstance(frame, (av.VideoFrame, av.AudioFrame))
                    if frame.time is None:
                        continue
                    t = frame.time - info.start_time
                    if isinstance(frame, av.VideoFrame):  # kind == "video"
                        last = frame
                        if video_range is not None and not range_done and t >= video_range[0] - 1e-3:
                            yield DecodedFrame(t, frame)
                            range_done = t >= video_range[1] - 1e-3
                        while pending < len(order) and requests[order[pending]].time <= t + 1e-3:
                            yield order[pending], _convert(frame, requests[order[pending]])
                            pending += 1
                        video_done = pending == len(order) and range_done
                    else:
                        assert audio_range is not None
                        if audio_cursor is None:
                            audio_cursor = t
                        for out in resampler.resample(frame):
                            samples = out.to_ndarray().reshape(-1)
                            yield AudioChunk(audio_cursor, samples)
                            audio_cursor += len(samples) / AUDIO_RATE
                        audio_done = audio_cursor >= audio_range[1]
                if video_done and audio_done:
                    break
        except av.error.FFmpegError as exc:
            # The container itself is damaged past this point: keep what decoded. Samples past the
            # damage take the last frame; missing audio stays silent.
            demux_error = exc
        if want_video and last is None:
            reason = report.first_error.get("video")
            if reason is None and demux_error is not None:
                reason = str(demux_error.strerror or demux_error)
            if reason is None:
                raise MediaError("The video stream contains no decodable frames.")
            raise MediaError(f"The video stream ({info.video_codec}) could not be decoded: {reason}.")
        if want_audio and audio_cursor is None and report.skipped_packets.get("audio"):
            raise MediaError(
                f"The audio stream ({info.audio_codec}) could not be decoded: "
                f"{report.first_error['audio']}. Embed the visual option only "
                "(embedding_option=visual), or re-encode the audio."
            )
        if video_range is not None and not range_done:
            assert last is not None and last.time is not None  # only frames with a time are kept
            _check_not_truncated(info, last.time - info.start_time, video_range[1])
        if pending < len(order):
            assert last is not None and last.time is not None
            _check_not_truncated(info, last.time - info.start_time, requests[order[-1]].time)
            for index in order[pending:]:  # the last frame stands in for the final instants
                yield index, _convert(last, requests[index])


def _check_not_truncated(info: MediaInfo, ended: float, wanted: float) -> None:
    """Audio may run on after the picture ends; only a video stream that stops before the length
    it declares itself is cut."""
    declared = info.video_duration or info.duration
    if min(declared, wanted) > ended + TRUNCATION_SLACK_SEC:
        raise MediaError(
            f"The video stream ends at {ended:.1f} s although the file declares "
            f"{info.duration:.1f} s: the file looks truncated or damaged."
        )
