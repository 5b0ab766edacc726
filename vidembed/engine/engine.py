"""Engine: a video file and a clip plan in, one vector per clip and option (and per video) out."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vidembed.engine.media import AUDIO_RATE, FrameRequest, MediaInfo, decode_audio, probe, sample_frames
from vidembed.errors import MediaError
from vidembed.models.runtime import l2_normalise
from vidembed.models.speech import words_in
from vidembed.models.stack import ModelStack
from vidembed.params import ClipParams
from vidembed.segmentation import ClipPlan, plan_clips

FRAMES_PER_CLIP = 3
OCR_FRAME_MAX = 960

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


def _frame_times(plan: ClipPlan) -> list[float]:
    return [
        c.start + c.duration * (i + 0.5) / FRAMES_PER_CLIP for c in plan.clips for i in range(FRAMES_PER_CLIP)
    ]


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
    ) -> EmbeddingResult:
        """Raises MediaError (unusable media) or BadRequestError (offsets beyond the video)."""
        report = progress or (lambda fraction, stage: None)
        options = list(options or self.stack.options)
        timings: dict[str, float] = {}
        info = probe(path)
        if not info.has_video:
            raise MediaError("The file has no video stream (it looks like audio only); upload a video.")
        if max_duration is not None and info.duration > max_duration:
            raise MediaError(
                f"The video is {info.duration / 3600:.2f} h long; the limit is {max_duration / 3600:g} h."
            )
        plan = plan_clips(info.duration, params)
        report(0.02, "probed")
        clip_vectors: dict[str, np.ndarray] = {}
        transcript = ""
        if "visual" in options:
            t0 = time.perf_counter()
            clip_vectors["visual"] = self._visual(path, info, plan)
            timings["visual"] = time.perf_counter() - t0
            report(0.5, "visual")
        pcm = None
        if info.has_audio and ("audio" in options or "transcription" in options):
            t0 = time.perf_counter()
            pcm = decode_audio(path, info, plan.start, plan.end)
            timings["audio_decode"] = time.perf_counter() - t0
        windows = [
            (round((c.start - plan.start) * AUDIO_RATE), round((c.end - plan.start) * AUDIO_RATE))
            for c in plan.clips
        ]
        if "audio" in options:
            t0 = time.perf_counter()
            clip_vectors["audio"] = self.stack.audio.encode_clips(pcm, windows)
            timings["audio"] = time.perf_counter() - t0
            report(0.6, "audio")
        video_texts: dict[str, str] = {}
        if "transcription" in options:
            t0 = time.perf_counter()
            words = self.stack.transcription.transcriber.transcribe(pcm) if pcm is not None else []
            texts = [words_in(words, c.start - plan.start, c.end - plan.start) for c in plan.clips]
            transcript = " ".join(w.text for w in words)
            clip_vectors["transcription"] = self.stack.transcription.encode_texts(texts)
            video_texts["transcription"] = transcript
            timings["transcription"] = time.perf_counter() - t0
        report(0.95, "pooling")
        segments: list[Segment] = []
        durations = np.array([c.duration for c in plan.clips], np.float32)
        for option in options:
            vectors = clip_vectors[option]
            segments += [
                Segment(option, "clip", c.start, c.end, vectors[i]) for i, c in enumerate(plan.clips)
            ]
            if "video" in params.scopes:
                if option == "transcription":
                    whole = self.stack.transcription.encode_texts([video_texts[option]])[0]
                else:
                    whole = l2_normalise((vectors * durations[:, None]).sum(axis=0))
                segments.append(Segment(option, "video", plan.start, plan.end, whole))
        return EmbeddingResult(info.duration, plan, segments, transcript, timings)

    def _visual(self, path: Path, info: MediaInfo, plan: ClipPlan) -> np.ndarray:
        size = self.stack.visual.frame_size
        times = _frame_times(plan)
        requests = [FrameRequest(t, size, size, True) for t in times]
        middle = [c.start + c.duration / 2 for c in plan.clips]
        requests += [FrameRequest(t, OCR_FRAME_MAX, OCR_FRAME_MAX, False) for t in middle]
        frames: list[np.ndarray | None] = [None] * len(requests)
        for index, array in sample_frames(path, info, requests):
            frames[index] = array
        n = len(times)
        per_clip = [
            np.stack(frames[i * FRAMES_PER_CLIP : (i + 1) * FRAMES_PER_CLIP]) for i in range(len(plan.clips))
        ]
        vectors, _texts = self.stack.visual.encode_clips(per_clip, frames[n:])
        return vectors
