"""How an interval of a video is cut into clips (one rule for every stack and transport)."""

from __future__ import annotations

from dataclasses import dataclass

from vidembed import errors
from vidembed.params import MIN_CLIP_SEC, ClipParams

# Floating-point slack when comparing offsets with a probed duration.
_EPS = 1e-6


@dataclass(frozen=True)
class Clip:
    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class ClipPlan:
    """The clips to embed, with absolute timestamps in the source, and the whole interval."""

    start: float
    end: float
    clips: tuple[Clip, ...]


def _round(t: float) -> float:
    return round(t, 3)


def plan_clips(duration: float, params: ClipParams) -> ClipPlan:
    """Consecutive clips of ``clip_length`` from start to end; a last piece under 2 s is dropped.

    Raises ``BadRequestError`` for offsets that do not fit the video; the task service turns it
    into a failed task, because only now is the duration known.
    """
    start = 0.0 if params.start is None else params.start
    end = duration if params.end is None else params.end
    if params.end is not None and end > duration + _EPS:
        raise errors.invalid(
            "video_end_offset_sec",
            f"video_end_offset_sec ({end:g} s) is beyond the end of the video ({duration:.3f} s).",
        )
    if start > max(duration - params.clip_length, 0.0) + _EPS:
        raise errors.invalid(
            "video_start_offset_sec",
            f"video_start_offset_sec ({start:g} s) must be at most the video's duration "
            f"({duration:.3f} s) minus video_clip_length ({params.clip_length:g} s).",
        )
    clips: list[Clip] = []
    clip_start = start
    while end - clip_start >= MIN_CLIP_SEC - _EPS:
        clips.append(Clip(_round(clip_start), _round(min(clip_start + params.clip_length, end))))
        # Multiply rather than accumulate so that long videos keep exact boundaries.
        clip_start = start + len(clips) * params.clip_length
    if not clips:
        raise errors.invalid(
            "video_clip_length",
            f"The video is {duration:.3f} s long; at least {MIN_CLIP_SEC:g} s are needed for one clip.",
        )
    return ClipPlan(_round(start), _round(end), tuple(clips))
