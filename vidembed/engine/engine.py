"""Engine: a video file and clip parameters in, one vector per clip and option (and per video) out.

One decode pass feeds three stages that run side by side on bounded queues: the calling thread
demuxes and decodes (frames are converted to model size as they are decoded, audio resampled to
16 kHz mono), a visual thread runs the stack's visual encoder per clip, and an audio thread runs
its audio encoder per clip and streams the audio through its transcription session. ONNX Runtime,
CTranslate2 and FFmpeg release the GIL, so the stages use both cores; no stage holds more than a
few chunks, so memory does not grow with the video's length.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from av.video.reformatter import VideoReformatter

from vidembed.engine.media import (
    AUDIO_RATE,
    AudioChunk,
    DecodedFrame,
    DecodeReport,
    FrameRequest,
    MediaInfo,
    decode,
    probe,
)
from vidembed.engine.shots import DETECT_SIZE, CutDetector
from vidembed.engine.thumbnails import thumbnails
from vidembed.errors import MediaError
from vidembed.models.roles import FrameSpec
from vidembed.models.runtime import l2_normalise, timed
from vidembed.models.speech import Word, words_in
from vidembed.models.stack import ModelStack
from vidembed.records import MediaFacts
from vidembed.segmentation import Clip, ClipParams, ClipPlan, ShotPlanner, plan_clips, plan_interval

FRAMES_PER_CLIP = 3
AUDIO_JOB_SEC = 24.0  # audio is handed to the audio stage in jobs of about this length
AUDIO_CONTEXT_SEC = 1.0  # of audio either side of a job, for the sound encoder's windows
QUEUE_DEPTH = 4
MAX_PIXELS = 8192 * 8192  # a frame this size is ~100 MB decoded; larger headers are refused
INPUT_TYPES = ("video", "audio")
AUDIO_OPTIONS = ("audio", "transcription")  # what an audio input can be embedded for
# Dynamic plans choose a clip's frames when the clip closes, among model-size candidates kept
# while its shots were open: one every CANDIDATE_STEP_SEC (a clip of >= 2 s samples frames
# >= 0.67 s apart, so a candidate is at most 1/8 s from where the fixed strategy would sample),
# and a detail frame every DETAIL_STEP_SEC (one per clip is used, from its middle).
CANDIDATE_STEP_SEC = 0.25
DETAIL_STEP_SEC = 0.5
# At most this many candidates of each kind are kept (every other one is dropped beyond): the open
# shots span at most ~2 x (MAX_SHOT_PIECE_SEC + min_duration) = 28 s, i.e. 112 frames at 0.25 s and
# 56 details at 0.5 s, unless short shots keep merging; the caps bound memory whatever the video:
# 256 x 224 px RGB = 39 MB, 64 x 640x360 px = 44 MB.
MAX_CANDIDATES = 256
MAX_DETAIL_CANDIDATES = 64

Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class Segment:
    option: str
    scope: str
    start: float
    end: float
    vector: np.ndarray


@dataclass
class EmbeddingResult:
    duration: float
    plan: ClipPlan
    segments: list[Segment]
    transcript: str = ""
    stage_seconds: dict[str, float] = field(default_factory=dict)
    # undecodable packets skipped per stream ("video", "audio"): the input's damage, for the log
    skipped_packets: dict[str, int] = field(default_factory=dict)
    encoders: dict[str, str] = field(default_factory=dict)  # per role, the identity of its encoder
    # with the transcription option: each clip's spoken words, in plan order ("" for a silent clip);
    # index tasks keep them for lexical search and for the clips' ``transcription``
    clip_texts: list[str] = field(default_factory=list)
    # what the input is (TwelveLabs' system_metadata): width, height, fps, size in bytes, and the
    # language Whisper heard most (with the transcription option, when there was speech)
    media: MediaFacts = field(default_factory=dict)
    # with params.thumbnails: a JPEG of each clip's middle frame, in plan order (engine/thumbnails.py)
    thumbnails: list[bytes] = field(default_factory=list)


@dataclass
class _ClipFrames:
    index: int
    frames: list[np.ndarray | None]
    detail: np.ndarray | None = None  # the middle frame, for encoders that read one


@dataclass
class _AudioJob:
    start: float  # seconds from the start of the video of pcm[0]
    pcm: np.ndarray
    clips: list[int]  # clips whose [start, end) lies inside the job
    own: tuple[float, float]  # the part of pcm that is this job's own (the rest is context)
    last: bool


class _Stopped(Exception):
    pass


class _Stage(threading.Thread):
    """A worker thread over a bounded queue; the first error stops the whole pipeline."""

    def __init__(self, name: str, handle: Callable[[Any], None], pipeline: _Pipeline) -> None:
        super().__init__(name=name, daemon=True)
        self.inbox: queue.Queue[Any] = queue.Queue(QUEUE_DEPTH)
        self._handle = handle
        self._pipeline = pipeline
        self.busy_seconds = 0.0

    def put(self, item: Any) -> None:
        while True:
            if self._pipeline.failed.is_set():
                raise _Stopped
            try:
                self.inbox.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def run(self) -> None:
        while True:
            item = self.inbox.get()
            if item is None:
                return
            if self._pipeline.failed.is_set():
                continue
            started = time.perf_counter()
            try:
                self._handle(item)
            except BaseException as exc:  # handed to the decoding thread, which re-raises it
                self._pipeline.fail(exc)
            self.busy_seconds += time.perf_counter() - started


class _Pipeline:
    """The stages' shared state. ``clips`` grows as the feeder closes clips (all at once for fixed
    plans; as shots are confirmed for dynamic ones); a clip is appended before any stage sees it."""

    def __init__(
        self,
        stack: ModelStack,
        info: MediaInfo,
        clips: Sequence[Clip],
        options: Sequence[str],
        progress: Progress,
        expected_clips: float,
    ) -> None:
        self.stack, self.info, self.options = stack, info, list(options)
        self.clips = list(clips)
        self.expected_clips = expected_clips  # for progress, until the plan is complete
        self.progress = progress
        self.failed = threading.Event()
        self.error: BaseException | None = None
        self.vectors: dict[str, dict[int, np.ndarray]] = {o: {} for o in self.options}
        self.words: list[Word] = []
        self.speech = stack.transcription.session()
        self._done = {"visual": 0, "audio": 0, "transcription": 0}
        self._lock = threading.Lock()
        self.model_seconds = {"audio": 0.0, "speech": 0.0}  # the visual encoder reports its own

    def fail(self, exc: BaseException) -> None:
        if self.error is None:
            self.error = exc
        self.failed.set()

    def _advance(self, option: str, clips: int) -> None:
        with self._lock:
            self._done[option] += clips
            active = [o for o in self.options if o in self._done]
            total = max(len(self.clips), self.expected_clips, 1)
            fraction = sum(self._done[o] for o in active) / (len(active) * total)
        self.progress(min(0.99, 0.02 + 0.97 * fraction), option)

    # --- visual stage ------------------------------------------------------------------------

    def visual(self, clip: _ClipFrames) -> None:
        frames = np.stack([f for f in clip.frames if f is not None])
        self.vectors["visual"][clip.index] = np.asarray(self.stack.visual.encode_clip(frames, clip.detail))
        self._advance("visual", 1)

    # --- audio stage -------------------------------------------------------------------------

    def audio(self, job: _AudioJob) -> None:
        windows = [self._window(job, self.clips[i]) for i in job.clips]
        if "audio" in self.vectors:
            pcm = job.pcm if self.info.has_audio else None
            with timed(self.model_seconds, "audio"):
                rows = self.stack.audio.encode_clips(pcm, windows)
            self.vectors["audio"].update(zip(job.clips, rows, strict=True))
            self._advance("audio", len(job.clips))
        if "transcription" in self.vectors:
            if self.info.has_audio:
                lo, hi = (round((t - job.start) * AUDIO_RATE) for t in job.own)
                with timed(self.model_seconds, "speech"):  # e.g. VAD and Whisper
                    self.words += self.speech.add(job.pcm[lo:hi], job.own[0])
                    if job.last:
                        self.words += self.speech.flush()
            self._advance("transcription", len(job.clips))

    @staticmethod
    def _window(job: _AudioJob, clip: Clip) -> tuple[int, int]:
        return round((clip.start - job.start) * AUDIO_RATE), round((clip.end - job.start) * AUDIO_RATE)

    def matrix(self, option: str) -> np.ndarray:
        """One row per clip, in clip order."""
        rows = self.vectors[option]
        return np.stack([rows[i] for i in range(len(self.clips))]).astype(np.float32, copy=False)


class _AudioBuffer:
    """PCM from ``start`` on, filled by time (gaps stay silent), cut into jobs as it arrives."""

    def __init__(self, start: float, end: float) -> None:
        self.start, self.end = start, end
        self.base = 0  # sample index (from ``start``) of buf[0]
        self.buf = np.zeros(0, np.float32)
        self.filled = 0

    def add(self, chunk: AudioChunk) -> None:
        offset = round((chunk.time - self.start) * AUDIO_RATE) - self.base
        samples = chunk.samples
        if offset < 0:
            samples, offset = samples[-offset:], 0
        total = round((self.end - self.start) * AUDIO_RATE) - self.base
        samples = samples[: max(0, total - offset)]
        if not len(samples):
            return
        needed = offset + len(samples)
        if needed > len(self.buf):
            self.buf = np.concatenate([self.buf, np.zeros(needed - len(self.buf), np.float32)])
        self.buf[offset:needed] = samples
        self.filled = max(self.filled, self.base + needed)

    def seconds_filled(self) -> float:
        return self.start + self.filled / AUDIO_RATE

    def slice(self, t0: float, t1: float) -> np.ndarray:
        lo = max(0, round((t0 - self.start) * AUDIO_RATE) - self.base)
        hi = round((t1 - self.start) * AUDIO_RATE) - self.base
        out = self.buf[lo:hi]
        return np.pad(out, (0, max(0, hi - lo - len(out))))

    def drop_before(self, t: float) -> None:
        cut = round((t - self.start) * AUDIO_RATE) - self.base
        if cut > 0:
            self.buf = self.buf[cut:]
            self.base += cut


def _audio_jobs(plan: ClipPlan) -> list[list[int]]:
    """Consecutive clips grouped into chunks of about AUDIO_JOB_SEC."""
    per_chunk = max(1, int(AUDIO_JOB_SEC // max(c.duration for c in plan.clips)))
    n = len(plan.clips)
    return [list(range(i, min(i + per_chunk, n))) for i in range(0, n, per_chunk)]


class _AudioFeed:
    """Hands the audio stage its jobs (consecutive clips and their PCM, with context) as soon as
    the buffer holds a job's audio. Fixed plans know their jobs up front (``_audio_jobs``);
    dynamic ones group clips as they close (``clip_closed``, then ``close`` after the last)."""

    def __init__(
        self, pipeline: _Pipeline, stage: _Stage, buffer: _AudioBuffer, end: float, jobs: list[list[int]]
    ) -> None:
        self.pipeline, self.stage, self.buffer, self.end = pipeline, stage, buffer, end
        self.jobs = jobs
        self.complete = bool(jobs)  # no job is added once complete (the last one flushes speech)
        self._next = 0
        self._group: list[int] = []

    def clip_closed(self, index: int) -> None:
        clips = self.pipeline.clips
        if self._group and clips[index].end - clips[self._group[0]].start > AUDIO_JOB_SEC:
            self.jobs.append(self._group)
            self._group = []
        self._group.append(index)

    def close(self) -> None:
        if self._group:
            self.jobs.append(self._group)
            self._group = []
        self.complete = True

    def flush(self, final: bool) -> None:
        clips, buffer = self.pipeline.clips, self.buffer
        while self._next < len(self.jobs):
            group = self.jobs[self._next]
            own = (clips[group[0]].start, clips[group[-1]].end)
            t0 = max(buffer.start, own[0] - AUDIO_CONTEXT_SEC)
            t1 = min(self.end, own[1] + AUDIO_CONTEXT_SEC)
            if not final and buffer.seconds_filled() < t1:
                return
            last = self.complete and self._next == len(self.jobs) - 1
            self.stage.put(_AudioJob(t0, buffer.slice(t0, t1), group, own, last))
            buffer.drop_before(own[1] - AUDIO_CONTEXT_SEC)
            self._next += 1


def _request(spec: FrameSpec, time: float = 0.0) -> FrameRequest:
    return FrameRequest(time, spec.size, spec.size, spec.crop_square)


class _Candidates:
    """Frames at one model size, one every ``step`` seconds of decoded video, kept until the clip
    they belong to closes (dynamic plans: a clip's frames are chosen when its end is known)."""

    def __init__(self, spec: FrameSpec, step: float, cap: int) -> None:
        self.request, self.step, self.cap = _request(spec), step, cap
        self.items: list[tuple[float, np.ndarray]] = []
        self._scaler = VideoReformatter()

    def offer(self, frame: DecodedFrame) -> None:
        if self.items and frame.time - self.items[-1][0] < self.step - 1e-6:
            return
        self.items.append((frame.time, frame.convert(self.request, self._scaler)))
        if len(self.items) > self.cap:
            self.items = self.items[::2]

    def nearest(self, time: float, clip: Clip) -> np.ndarray | None:
        """The candidate inside ``clip`` nearest ``time`` (any candidate if none is inside)."""
        inside = [item for item in self.items if clip.start - 1e-3 <= item[0] < clip.end] or self.items
        return min(inside, key=lambda item: abs(item[0] - time))[1] if inside else None

    def drop_before(self, time: float) -> None:
        # the latest candidate stays: it stands in for a clip past the picture's end
        self.items = [item for item in self.items[:-1] if item[0] >= time - 1e-3] + self.items[-1:]


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.1f} s"


def _check_input(input_type: str, params: ClipParams, options: list[str]) -> None:
    """Programming errors upstream validation prevents (the HTTP layer answers 400 before)."""
    if input_type not in INPUT_TYPES:
        raise ValueError(f"input_type must be one of {', '.join(INPUT_TYPES)}, not {input_type!r}")
    if input_type != "audio":
        return
    other = [o for o in options if o not in AUDIO_OPTIONS]
    if other:
        raise ValueError(f"an audio input is embedded for audio and transcription only, not {other}")
    if params.strategy == "dynamic":
        raise ValueError("dynamic segmentation follows shots: audio input takes the fixed or window strategy")


def _check_media(info: MediaInfo, input_type: str, max_duration: float | None) -> None:
    noun = "video" if input_type == "video" else "file"
    if input_type == "audio":
        if not info.has_audio:
            raise MediaError(
                "The file has no audio stream; upload an audio file (WAV, MP3, M4A or OGG) or a video "
                "with sound, or embed this file as a video for its picture."
            )
    else:
        if not info.has_video:
            raise MediaError("The file has no video stream (it looks like audio only); upload a video.")
        if info.width * info.height > MAX_PIXELS:
            raise MediaError(
                f"The video's resolution ({info.width}x{info.height}) is larger than this service "
                "decodes (at most 8192x8192 pixels); scale it down first."
            )
    if max_duration is not None and info.duration > max_duration:
        raise MediaError(
            f"The {noun} is {_minutes(info.duration)} long; this service accepts {noun}s up to "
            f"{_minutes(max_duration)} (VIDEMBED_MAX_DURATION)."
        )


class Engine:
    def __init__(self, stack: ModelStack) -> None:
        self.stack = stack

    def embed(
        self,
        path: Path,
        params: ClipParams,
        options: Sequence[str] | None = None,
        progress: Progress | None = None,
        max_duration: float | None = None,
        input_type: str = "video",
    ) -> EmbeddingResult:
        """Raises MediaError (unusable media) or BadRequestError (offsets beyond the video).

        ``input_type`` ``audio``: an audio file (or a video's sound, its picture ignored), for the
        audio and transcription options only (all of them when ``options`` is None); it takes the
        fixed and window strategies. ``params.strategy`` ``dynamic`` detects cuts in the same decode
        pass and closes clips as they are confirmed (docs/SEGMENTATION.md). Asking an audio input
        for ``visual`` or ``dynamic`` raises ValueError: upstream validation refuses both."""
        report = progress or (lambda fraction, stage: None)
        if options is None and input_type == "audio":
            options = [o for o in self.stack.options if o in AUDIO_OPTIONS]
        options = list(options or self.stack.options)
        _check_input(input_type, params, options)
        info = probe(path)
        _check_media(info, input_type, max_duration)
        if params.strategy == "dynamic":
            interval = plan_interval(info.duration, params)
            planned: tuple[Clip, ...] = ()
            expected = (interval[1] - interval[0]) / 6.0  # a guess for progress until the plan is known
        else:
            fixed = plan_clips(info.duration, params)
            interval, planned, expected = (fixed.start, fixed.end), fixed.clips, len(fixed.clips)
        report(0.02, "probed")
        started = time.perf_counter()
        pipeline = _Pipeline(self.stack, info, planned, options, report, expected)
        visual_busy = dict(self.stack.visual.busy_seconds())
        stages = {name: _Stage(name, getattr(pipeline, name), pipeline) for name in ("visual", "audio")}
        for stage in stages.values():
            stage.start()
        decode_seconds = 0.0
        damage = DecodeReport()
        try:
            if params.strategy == "dynamic":
                decode_seconds = self._feed_shots(path, info, params, interval, pipeline, stages, damage)
            else:
                decode_seconds = self._feed(path, info, interval, pipeline, stages, damage)
        except _Stopped:
            pass
        except BaseException as exc:
            pipeline.fail(exc)
        finally:
            for stage in stages.values():
                stage.inbox.put(None)
            for stage in stages.values():
                stage.join()
        if pipeline.error is not None:
            raise pipeline.error
        timings = {
            "decode": decode_seconds,
            **{f"{k}_busy": v.busy_seconds for k, v in stages.items()},
            **{k: v for k, v in pipeline.model_seconds.items() if v},
            **{
                k: v - visual_busy.get(k, 0.0)
                for k, v in self.stack.visual.busy_seconds().items()
                if v > visual_busy.get(k, 0.0)
            },
            "wall": time.perf_counter() - started,
        }
        plan = ClipPlan(interval[0], interval[1], tuple(pipeline.clips))
        result = self._result(info, plan, params, options, pipeline, timings)
        result.media = {"width": info.width, "height": info.height, "fps": round(info.fps, 3)}
        result.media["size"] = os.path.getsize(path)
        heard = "transcription" in options and pipeline.words  # words, not just a batch of noise
        language = pipeline.speech.detected_language if heard else None
        if language:
            result.media["language"] = language
        if params.thumbnails and info.has_video:
            middles = [c.start + c.duration / 2 for c in plan.clips]
            result.thumbnails = thumbnails(path, middles, info.start_time)
        result.skipped_packets = dict(damage.skipped_packets)
        result.encoders = self.stack.identities()
        return result

    def _feed(
        self,
        path: Path,
        info: MediaInfo,
        interval: tuple[float, float],
        pipeline: _Pipeline,
        stages: dict[str, _Stage],
        damage: DecodeReport,
    ) -> float:
        """A fixed plan: decodes once and hands each clip's frames (sampled at times known from
        the plan) and each audio job to its stage."""
        started = time.perf_counter()
        clips, options = pipeline.clips, pipeline.options
        requests: list[FrameRequest] = []
        owners: list[tuple[int, int]] = []  # (clip, slot); slot FRAMES_PER_CLIP is the detail frame
        detail = self.stack.visual.detail
        if "visual" in options:
            spec = self.stack.visual.frames
            for i, c in enumerate(clips):
                for k in range(FRAMES_PER_CLIP):
                    requests.append(_request(spec, c.start + c.duration * (k + 0.5) / FRAMES_PER_CLIP))
                    owners.append((i, k))
                if detail is not None:
                    requests.append(_request(detail, c.start + c.duration / 2))
                    owners.append((i, FRAMES_PER_CLIP))
        wants_audio = "audio" in options or "transcription" in options
        plan = ClipPlan(interval[0], interval[1], tuple(clips))
        buffer = _AudioBuffer(max(0.0, plan.start - AUDIO_CONTEXT_SEC), plan.end)
        jobs = _audio_jobs(plan) if wants_audio else []
        feed = _AudioFeed(pipeline, stages["audio"], buffer, plan.end, jobs)
        pending = {i: _ClipFrames(i, [None] * FRAMES_PER_CLIP) for i in range(len(clips))}
        per_clip = FRAMES_PER_CLIP + (detail is not None)
        missing = {i: per_clip for i in pending} if requests else {}
        audio_range = (buffer.start, plan.end) if wants_audio and info.has_audio else None
        for event in decode(path, info, requests, audio_range, report=damage):
            if isinstance(event, AudioChunk):
                buffer.add(event)
                feed.flush(final=False)
                continue
            assert isinstance(event, tuple)
            index, array = event
            clip, slot = owners[index]
            if slot == FRAMES_PER_CLIP:
                pending[clip].detail = array
            else:
                pending[clip].frames[slot] = array
            missing[clip] -= 1
            if missing[clip] == 0:
                stages["visual"].put(pending.pop(clip))
        feed.flush(final=True)
        return time.perf_counter() - started

    def _feed_shots(
        self,
        path: Path,
        info: MediaInfo,
        params: ClipParams,
        interval: tuple[float, float],
        pipeline: _Pipeline,
        stages: dict[str, _Stage],
        damage: DecodeReport,
    ) -> float:
        """A dynamic plan, in the same single decode pass: every decoded frame of the interval goes
        to the cut detector (at 64 px), confirmed cuts to the planner, and each clip the planner
        closes gets its frames from the candidates kept meanwhile, and its audio job."""
        started = time.perf_counter()
        options = pipeline.options
        planner = ShotPlanner(interval[0], interval[1], params.min_duration)
        detector = CutDetector()
        visual = "visual" in options
        detail_spec = self.stack.visual.detail
        frames = _Candidates(self.stack.visual.frames, CANDIDATE_STEP_SEC, MAX_CANDIDATES)
        details = None
        if detail_spec is not None:
            details = _Candidates(detail_spec, DETAIL_STEP_SEC, MAX_DETAIL_CANDIDATES)
        wants_audio = "audio" in options or "transcription" in options
        buffer = _AudioBuffer(max(0.0, interval[0] - AUDIO_CONTEXT_SEC), interval[1])
        feed = _AudioFeed(pipeline, stages["audio"], buffer, interval[1], [])

        def close(clips: list[Clip]) -> None:
            for clip in clips:
                index = len(pipeline.clips)
                pipeline.clips.append(clip)
                if visual:
                    stages["visual"].put(self._choose(index, clip, frames, details))
                if wants_audio:
                    feed.clip_closed(index)
            if clips and wants_audio:
                feed.flush(final=False)

        audio_range = (buffer.start, interval[1]) if wants_audio and info.has_audio else None
        for event in decode(path, info, [], audio_range, report=damage, video_range=interval):
            if isinstance(event, AudioChunk):
                buffer.add(event)
                feed.flush(final=False)
                continue
            assert isinstance(event, DecodedFrame)
            if visual:
                frames.offer(event)
                if details is not None:
                    details.offer(event)
            for cut in detector.add(event.time, event.thumbnail(DETECT_SIZE, detector.scaler)):
                close(planner.cut(cut))
            close(planner.advance(detector.horizon))
        for cut in detector.finish():
            close(planner.cut(cut))
        close(planner.finish())
        pipeline.expected_clips = len(pipeline.clips)
        if wants_audio:
            feed.close()
            feed.flush(final=True)
        return time.perf_counter() - started

    @staticmethod
    def _choose(index: int, clip: Clip, frames: _Candidates, details: _Candidates | None) -> _ClipFrames:
        """The clip's frames where a fixed plan would sample them, from the nearest candidates."""
        times = [clip.start + clip.duration * (k + 0.5) / FRAMES_PER_CLIP for k in range(FRAMES_PER_CLIP)]
        chosen = _ClipFrames(index, [frames.nearest(t, clip) for t in times])
        frames.drop_before(clip.end)
        if details is not None:
            chosen.detail = details.nearest(clip.start + clip.duration / 2, clip)
            details.drop_before(clip.end)
        return chosen

    def _result(
        self,
        info: MediaInfo,
        plan: ClipPlan,
        params: ClipParams,
        options: list[str],
        pipeline: _Pipeline,
        timings: dict[str, float],
    ) -> EmbeddingResult:
        words = sorted(pipeline.words, key=lambda w: w.start)
        matrices = {o: pipeline.matrix(o) for o in options if o != "transcription"}
        texts: list[str] = []
        if "transcription" in options:
            texts = [words_in(words, c.start, c.end) for c in plan.clips]
            matrices["transcription"] = self.stack.transcription.encode_texts(texts)
        transcript = " ".join(w.text for w in words)
        durations = np.array([c.duration for c in plan.clips], np.float32)
        segments: list[Segment] = []
        for option in options:
            vectors = matrices[option]
            segments += [
                Segment(option, "clip", c.start, c.end, vectors[i]) for i, c in enumerate(plan.clips)
            ]
            if "video" in params.scopes:
                if option == "transcription":
                    whole = self.stack.transcription.encode_texts([transcript])[0]
                else:
                    whole = l2_normalise((vectors * durations[:, None]).sum(axis=0))
                segments.append(Segment(option, "video", plan.start, plan.end, whole))
        return EmbeddingResult(info.duration, plan, segments, transcript, timings, clip_texts=texts)
