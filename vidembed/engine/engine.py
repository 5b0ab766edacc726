"""Engine: a video file and clip parameters in, one vector per clip and option (and per video) out.

One decode pass feeds three stages that run side by side on bounded queues: the calling thread
demuxes and decodes (frames are converted to model size as they are decoded, audio resampled to
16 kHz mono), a visual thread runs the stack's visual encoder per clip, and an audio thread runs
its audio encoder per clip and streams the audio through its transcription session. ONNX Runtime,
CTranslate2 and FFmpeg release the GIL, so the stages use both cores; no stage holds more than a
few chunks, so memory does not grow with the video's length.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vidembed.engine.media import (
    AUDIO_RATE,
    AudioChunk,
    DecodeReport,
    FrameRequest,
    MediaInfo,
    decode,
    probe,
)
from vidembed.errors import MediaError
from vidembed.models.runtime import l2_normalise, timed
from vidembed.models.speech import Word, words_in
from vidembed.models.stack import ModelStack
from vidembed.params import ClipParams
from vidembed.segmentation import Clip, ClipPlan, plan_clips

FRAMES_PER_CLIP = 3
AUDIO_JOB_SEC = 24.0  # audio is handed to the audio stage in jobs of about this length
AUDIO_CONTEXT_SEC = 1.0  # of audio either side of a job, for the sound encoder's windows
QUEUE_DEPTH = 4
MAX_PIXELS = 8192 * 8192  # a frame this size is ~100 MB decoded; larger headers are refused

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
    def __init__(
        self, stack: ModelStack, info: MediaInfo, plan: ClipPlan, options: Sequence[str], progress: Progress
    ) -> None:
        self.stack, self.info, self.plan, self.options = stack, info, plan, list(options)
        self.progress = progress
        self.failed = threading.Event()
        self.error: BaseException | None = None
        n = len(plan.clips)
        dim = stack.dimension
        self.vectors = {o: np.zeros((n, dim), np.float32) for o in self.options}
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
            fraction = sum(self._done[o] for o in active) / (len(active) * len(self.plan.clips))
        self.progress(min(0.99, 0.02 + 0.97 * fraction), option)

    # --- visual stage ------------------------------------------------------------------------

    def visual(self, clip: _ClipFrames) -> None:
        frames = np.stack([f for f in clip.frames if f is not None])
        self.vectors["visual"][clip.index] = self.stack.visual.encode_clip(frames, clip.detail)
        self._advance("visual", 1)

    # --- audio stage -------------------------------------------------------------------------

    def audio(self, job: _AudioJob) -> None:
        windows = [self._window(job, self.plan.clips[i]) for i in job.clips]
        if "audio" in self.vectors:
            pcm = job.pcm if self.info.has_audio else None
            with timed(self.model_seconds, "audio"):
                self.vectors["audio"][job.clips] = self.stack.audio.encode_clips(pcm, windows)
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


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.1f} s"


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

        ``input_type`` ``audio``: an audio file (or a video's sound), for the audio and
        transcription options only."""
        report = progress or (lambda fraction, stage: None)
        options = list(options or self.stack.options)
        info = probe(path)
        if not info.has_video:
            raise MediaError("The file has no video stream (it looks like audio only); upload a video.")
        if info.width * info.height > MAX_PIXELS:
            raise MediaError(
                f"The video's resolution ({info.width}x{info.height}) is larger than this service "
                "decodes (at most 8192x8192 pixels); scale it down first."
            )
        if max_duration is not None and info.duration > max_duration:
            raise MediaError(
                f"The video is {_minutes(info.duration)} long; this service accepts videos up to "
                f"{_minutes(max_duration)} (VIDEMBED_MAX_DURATION)."
            )
        plan = plan_clips(info.duration, params)
        report(0.02, "probed")
        started = time.perf_counter()
        pipeline = _Pipeline(self.stack, info, plan, options, report)
        visual_busy = dict(self.stack.visual.busy_seconds())
        stages = {name: _Stage(name, getattr(pipeline, name), pipeline) for name in ("visual", "audio")}
        for stage in stages.values():
            stage.start()
        decode_seconds = 0.0
        damage = DecodeReport()
        try:
            decode_seconds = self._feed(path, info, plan, options, pipeline, stages, damage)
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
        result = self._result(info, plan, params, options, pipeline, timings)
        result.skipped_packets = dict(damage.skipped_packets)
        result.encoders = self.stack.identities()
        return result

    def _feed(
        self,
        path: Path,
        info: MediaInfo,
        plan: ClipPlan,
        options: list[str],
        pipeline: _Pipeline,
        stages: dict[str, _Stage],
        damage: DecodeReport,
    ) -> float:
        """Decodes once and hands each clip's frames and each audio chunk to its stage."""
        started = time.perf_counter()
        requests: list[FrameRequest] = []
        owners: list[tuple[int, int]] = []  # (clip, slot); slot FRAMES_PER_CLIP is the detail frame
        detail = self.stack.visual.detail
        if "visual" in options:
            spec = self.stack.visual.frames
            for i, c in enumerate(plan.clips):
                for k in range(FRAMES_PER_CLIP):
                    t = c.start + c.duration * (k + 0.5) / FRAMES_PER_CLIP
                    requests.append(FrameRequest(t, spec.size, spec.size, spec.crop_square))
                    owners.append((i, k))
                if detail is not None:
                    t = c.start + c.duration / 2
                    requests.append(FrameRequest(t, detail.size, detail.size, detail.crop_square))
                    owners.append((i, FRAMES_PER_CLIP))
        wants_audio = "audio" in options or "transcription" in options
        jobs = _audio_jobs(plan) if wants_audio else []
        buffer = _AudioBuffer(max(0.0, plan.start - AUDIO_CONTEXT_SEC), plan.end)
        pending = {i: _ClipFrames(i, [None] * FRAMES_PER_CLIP) for i in range(len(plan.clips))}
        per_clip = FRAMES_PER_CLIP + (detail is not None)
        missing = {i: per_clip for i in pending} if requests else {}
        next_job = 0

        def flush_audio(final: bool) -> None:
            nonlocal next_job
            while next_job < len(jobs):
                clips = jobs[next_job]
                own = (plan.clips[clips[0]].start, plan.clips[clips[-1]].end)
                t0 = max(buffer.start, own[0] - AUDIO_CONTEXT_SEC)
                t1 = min(plan.end, own[1] + AUDIO_CONTEXT_SEC)
                if not final and buffer.seconds_filled() < t1:
                    return
                stages["audio"].put(
                    _AudioJob(t0, buffer.slice(t0, t1), clips, own, next_job == len(jobs) - 1)
                )
                buffer.drop_before(own[1] - AUDIO_CONTEXT_SEC)
                next_job += 1

        audio_range = (buffer.start, plan.end) if wants_audio and info.has_audio else None
        for event in decode(path, info, requests, audio_range, report=damage):
            if isinstance(event, AudioChunk):
                buffer.add(event)
                flush_audio(final=False)
                continue
            index, array = event
            clip, slot = owners[index]
            if slot == FRAMES_PER_CLIP:
                pending[clip].detail = array
            else:
                pending[clip].frames[slot] = array
            missing[clip] -= 1
            if missing[clip] == 0:
                stages["visual"].put(pending.pop(clip))
        flush_audio(final=True)
        return time.perf_counter() - started

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
        if "transcription" in options:
            texts = [words_in(words, c.start, c.end) for c in plan.clips]
            pipeline.vectors["transcription"] = self.stack.transcription.encode_texts(texts)
        transcript = " ".join(w.text for w in words)
        durations = np.array([c.duration for c in plan.clips], np.float32)
        segments: list[Segment] = []
        for option in options:
            vectors = pipeline.vectors[option]
            segments += [
                Segment(option, "clip", c.start, c.end, vectors[i]) for i, c in enumerate(plan.clips)
            ]
            if "video" in params.scopes:
                if option == "transcription":
                    whole = self.stack.transcription.encode_texts([transcript])[0]
                else:
                    whole = l2_normalise((vectors * durations[:, None]).sum(axis=0))
                segments.append(Segment(option, "video", plan.start, plan.end, whole))
        return EmbeddingResult(info.duration, plan, segments, transcript, timings)
