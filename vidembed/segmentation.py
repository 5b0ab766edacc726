"""How an interval of a video is cut into clips (one rule for every stack and transport).

Three strategies (``ClipParams.strategy``, docs/SEGMENTATION.md):

- ``fixed``: consecutive clips of ``clip_length``; a last piece under 2 s is dropped;
- ``dynamic``: clips follow shot boundaries (hard cuts found while decoding), each at least
  ``min_duration`` long; a long shot is cut into pieces of at most ``MAX_SHOT_PIECE_SEC``;
- ``window``: one clip of ``clip_length`` from ``start`` (the v1.3 ``POST /embed`` audio window).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from vidembed import errors

# Floating-point slack when comparing offsets with a probed duration.
_EPS = 1e-6
# A shot longer than this is cut into equal pieces of at most this length (each still at least
# min_duration): a 40 s take is then 4 searchable clips instead of one vector averaging them all,
# the same granularity as the fixed strategy's longest clip (video_clip_length <= 10 s), and the
# engine never keeps more than about 10 s + min_duration of one open shot's frames and audio.
MAX_SHOT_PIECE_SEC = 10.0


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


@dataclass(frozen=True)
class Cut:
    """A hard cut: the time of the first frame of the new shot, and how sure the detector is
    (larger is stronger; only compared with other cuts' strengths)."""

    time: float
    strength: float


def _round(t: float) -> float:
    return round(t, 3)


def _too_short(duration: float) -> errors.BadRequestError:
    return errors.invalid(
        "video_clip_length",
        f"The video is {duration:.3f} s long; at least {MIN_CLIP_SEC:g} s are needed for one clip.",
    )


def _media_word(params: ClipParams) -> str:
    return "audio" if params.offset_names[1].startswith("audio") else "video"


def _end_of(duration: float, params: ClipParams) -> float:
    end = duration if params.end is None else params.end
    if params.end is not None and end > duration + _EPS:
        name = params.offset_names[1]
        raise errors.invalid(
            name, f"{name} ({end:g} s) is beyond the end of the {_media_word(params)} ({duration:.3f} s)."
        )
    return end


def plan_interval(duration: float, params: ClipParams) -> tuple[float, float]:
    """The interval [start, end] a dynamic plan covers; raises ``BadRequestError`` when the offsets
    do not fit the video or the interval is under 2 s."""
    start = 0.0 if params.start is None else params.start
    end = _end_of(duration, params)
    if duration < MIN_CLIP_SEC - _EPS:
        raise _too_short(duration)
    if end - start < MIN_CLIP_SEC - _EPS:
        name = params.offset_names[0]
        raise errors.invalid(
            name,
            f"{name} ({start:g} s) must be at least {MIN_CLIP_SEC:g} s before the end "
            f"of the interval ({end:.3f} s).",
        )
    return _round(start), _round(end)


def plan_clips(duration: float, params: ClipParams, cuts: Sequence[Cut] = ()) -> ClipPlan:
    """The clips of ``params.strategy`` over a video of ``duration`` seconds.

    ``fixed``: consecutive clips of ``clip_length`` from start to end; a last piece under 2 s is
    dropped. ``dynamic``: the shots between ``cuts`` (see :class:`ShotPlanner`). ``window``: one
    clip [start, min(start + clip_length, duration)].

    Raises ``BadRequestError`` for offsets that do not fit the video; the task service turns it
    into a failed task, because only now is the duration known.
    """
    if params.strategy == "window":
        return _plan_window(duration, params)
    if params.strategy == "dynamic":
        start, end = plan_interval(duration, params)
        return ClipPlan(start, end, plan_shots(start, end, cuts, params.min_duration))
    if params.strategy != "fixed":
        raise ValueError(f"unknown segmentation strategy {params.strategy!r}")
    start = 0.0 if params.start is None else params.start
    end = _end_of(duration, params)
    if start > max(duration - params.clip_length, 0.0) + _EPS:
        name = params.offset_names[0]
        raise errors.invalid(
            name,
            f"{name} ({start:g} s) must be at most the {_media_word(params)}'s duration "
            f"({duration:.3f} s) minus the clip length ({params.clip_length:g} s).",
        )
    clips: list[Clip] = []
    clip_start = start
    while end - clip_start >= MIN_CLIP_SEC - _EPS:
        clips.append(Clip(_round(clip_start), _round(min(clip_start + params.clip_length, end))))
        # Multiply rather than accumulate so that long videos keep exact boundaries.
        clip_start = start + len(clips) * params.clip_length
    if not clips:
        raise _too_short(duration)
    return ClipPlan(_round(start), _round(end), tuple(clips))


def _plan_window(duration: float, params: ClipParams) -> ClipPlan:
    """One clip from ``start``; no 2 s minimum (a 10 s window of a 3 s sound is that sound)."""
    start = 0.0 if params.start is None else params.start
    if start >= duration - _EPS:
        raise errors.invalid(
            "audio_start_offset_sec",
            f"audio_start_offset_sec ({start:g} s) is beyond the end of the audio ({duration:.3f} s).",
        )
    clip = Clip(_round(start), _round(min(start + params.clip_length, duration)))
    return ClipPlan(clip.start, clip.end, (clip,))


def plan_shots(
    start: float,
    end: float,
    cuts: Sequence[Cut],
    min_duration: float,
    max_piece: float = MAX_SHOT_PIECE_SEC,
) -> tuple[Clip, ...]:
    """The dynamic plan of [start, end] given every cut at once (the engine feeds
    :class:`ShotPlanner` as it decodes; both give the same clips)."""
    planner = ShotPlanner(start, end, min_duration, max_piece)
    clips: list[Clip] = []
    for cut in sorted(cuts, key=lambda c: c.time):
        clips += planner.cut(cut)
    return tuple(clips + planner.finish())


class ShotPlanner:
    """Closes dynamic clips online as cuts are confirmed, in time order.

    Rules: clips are contiguous and cover [start, end]; every inner boundary is a cut, or a split
    of a shot longer than ``max_piece``; every clip is at least ``min_duration`` long, unless the
    interval itself is shorter (then it is one clip). A shot shorter than the minimum joins the
    neighbour whose merged clip stays within ``max_piece``, and when both or neither do, the
    neighbour across the weaker of its two cuts (a flash or a quick insert stays with the scene it
    interrupts): a merge does not force a split inside a shot that the other side would avoid
    (decided one short shot at a time). The first shot can only join the next, the last only the
    previous. To decide, the last complete clip is held until the shot after it is known; when the
    choice depends on the next shot's length, the short shot joins it tentatively and goes back to
    the held clip when the next shot's end (a cut, or ``end``) shows the merge over ``max_piece``
    while the next shot alone is not; once the horizon is ``max_piece`` past the short shot, the
    next shot is over ``max_piece`` (split anyway) and the short shot stays with it.
    A clip longer than ``max_piece`` made of merged shots is split at the strongest of the cuts it
    absorbed that leaves both sides at least ``min_duration`` long; one without such a cut is split
    into equal pieces. An open shot is split as soon as it is ``max_piece + min_duration`` long
    ([open, open + max_piece] is then final whatever follows).
    """

    def __init__(self, start: float, end: float, min_duration: float, max_piece: float = MAX_SHOT_PIECE_SEC):
        if max_piece < 2 * min_duration:
            raise ValueError("max_piece must be at least twice min_duration, so that halves stay long enough")
        self.start, self.end, self.min_duration, self.max_piece = start, end, min_duration, max_piece
        self._open = start  # where the open shot begins
        self._open_cut = math.inf  # strength of the cut at _open (inf: the interval's start, or a split)
        self._held: Clip | None = None  # the last complete clip, not yet released
        self._held_cuts: list[Cut] = []  # cuts inside _held (dropped when short shots merged)
        self._open_cuts: list[Cut] = []  # cuts inside the open shot
        # a short shot that joined the open one tentatively: the cut that ended it and the cuts
        # inside it; it goes back to _held if the open shot turns out longer than max_piece
        self._tentative: tuple[Cut, list[Cut]] | None = None
        self._finished = False

    def cut(self, cut: Cut) -> list[Clip]:
        """Clips that are final once ``cut`` is known (cuts outside the open part are ignored)."""
        if not self._open + _EPS < cut.time < self.end - _EPS:
            return []
        out = self.advance(cut.time)
        self._settle(cut.time, ends=True)
        if cut.time - self._open >= self.min_duration - _EPS:
            out += self._release()
            self._held, self._held_cuts = Clip(self._open, cut.time), self._open_cuts
        elif self._held is not None and self._joins_previous(cut):
            self._join_previous(cut)
        else:  # the short shot joins the next one (perhaps tentatively): this cut is dropped
            self._open_cuts = [*self._open_cuts, cut]
            return out
        self._open, self._open_cut, self._open_cuts = cut.time, cut.strength, []
        return out

    def _joins_previous(self, cut: Cut) -> bool:
        """Whether the short open shot ending at ``cut`` joins the held clip now: when that merge
        stays within max_piece and its first cut is the weaker one. Otherwise it joins the next
        shot: for good when the held clip cannot take it within max_piece and ``cut`` is the
        weaker one; else tentatively (``_tentative``), until the next shot's length is known."""
        assert self._held is not None
        fits, weaker = cut.time - self._held.start <= self.max_piece + _EPS, self._open_cut < cut.strength
        if fits and weaker:
            return True
        if fits or weaker:
            self._tentative = cut, self._open_cuts
        return False

    def _join_previous(self, cut: Cut, inside: list[Cut] | None = None) -> None:
        """The short open shot (up to ``cut``, with the cuts ``inside`` it) joins the held clip."""
        assert self._held is not None
        inside = self._open_cuts if inside is None else inside
        self._held_cuts += [Cut(self._open, self._open_cut), *inside]
        self._held = Clip(self._held.start, cut.time)

    def _settle(self, until: float, ends: bool) -> None:
        """Decides a tentative merge once the next shot is known to reach ``until`` (and to end
        there when ``ends``). The short shot stays with the next shot when that shot alone is
        longer than max_piece (it is split anyway) or when the merge ends within max_piece;
        otherwise (the merge exceeds max_piece, the next shot alone would not) it goes back to the
        held clip, across the cut that ended it, which becomes the open shot's first cut again."""
        if self._tentative is None:
            return
        cut, inside = self._tentative
        if until - cut.time > self.max_piece + _EPS or (ends and until - self._open <= self.max_piece + _EPS):
            self._tentative = None
        elif ends:
            self._tentative = None
            self._join_previous(cut, inside)
            self._open, self._open_cut = cut.time, cut.strength
            self._open_cuts = [c for c in self._open_cuts if c.time > cut.time + _EPS]

    def advance(self, horizon: float) -> list[Clip]:
        """Clips that are final once no cut before ``horizon`` remains to be reported."""
        out: list[Clip] = []
        self._settle(min(horizon, self.end), ends=False)
        while min(horizon, self.end) - self._open >= self.max_piece + self.min_duration - _EPS:
            out += self._release()
            piece = Clip(self._open, self._open + self.max_piece)
            out.append(Clip(_round(piece.start), _round(piece.end)))
            self._open, self._open_cut = piece.end, math.inf
            self._open_cuts = [c for c in self._open_cuts if c.time > piece.end + _EPS]
        return out

    def finish(self) -> list[Clip]:
        """The remaining clips, up to ``end``."""
        if self._finished:
            return []
        self._finished = True
        out = self.advance(self.end)
        self._settle(self.end, ends=True)
        if self.end - self._open >= self.min_duration - _EPS or self._held is None:
            out += self._release()
            self._held, self._held_cuts = Clip(self._open, self.end), self._open_cuts
        else:  # the last shot is too short: it joins the previous clip
            self._held_cuts += [Cut(self._open, self._open_cut), *self._open_cuts]
            self._held = Clip(self._held.start, self.end)
        return out + self._release()

    def _release(self) -> list[Clip]:
        held, self._held = self._held, None
        if held is None:
            return []
        return [Clip(_round(c.start), _round(c.end)) for c in self._split(held, self._held_cuts)]

    def _split(self, clip: Clip, cuts: list[Cut]) -> list[Clip]:
        if clip.duration <= self.max_piece + _EPS:
            return [clip]
        usable = [c for c in cuts if min(c.time - clip.start, clip.end - c.time) >= self.min_duration - _EPS]
        if usable:
            at = max(usable, key=lambda c: c.strength).time
            left = [c for c in cuts if c.time < at - _EPS]
            right = [c for c in cuts if c.time > at + _EPS]
            return self._split(Clip(clip.start, at), left) + self._split(Clip(at, clip.end), right)
        pieces = math.ceil(clip.duration / self.max_piece - _EPS)
        step = clip.duration / pieces
        bounds = [clip.start + i * step for i in range(pieces)] + [clip.end]
        return [Clip(a, b) for a, b in zip(bounds, bounds[1:], strict=False)]


MIN_CLIP_SEC = 2.0


MAX_CLIP_SEC = 10.0


DEFAULT_CLIP_SEC = 6.0


STRATEGIES = ("fixed", "dynamic")  # dynamic: segments follow shot boundaries (docs/SEGMENTATION.md)


MIN_DYNAMIC_SEC = 2.0


MAX_DYNAMIC_SEC = 5.0


DEFAULT_DYNAMIC_SEC = 4.0


V13_OFFSETS = ("video_start_offset_sec", "video_end_offset_sec")  # the v1.3 names


@dataclass(frozen=True)
class ClipParams:
    """What to embed: the interval, how it is cut and the scopes. Offsets may be unset.

    ``strategy`` ``fixed`` cuts clips of ``clip_length``; ``dynamic`` cuts at shot boundaries,
    each clip at least ``min_duration`` long (``clip_length`` is then unused).
    """

    clip_length: float = DEFAULT_CLIP_SEC
    start: float | None = None
    end: float | None = None
    scopes: tuple[str, ...] = ("clip",)
    strategy: str = "fixed"
    min_duration: float = DEFAULT_DYNAMIC_SEC
    # an index task whose index has the thumbnail add-on: one JPEG per clip, made while indexing
    thumbnails: bool = False
    # what the request called the start and end offsets, for the messages of offsets that do not
    # fit the media (Embed v2: "video.start_sec", "audio.end_sec")
    offset_names: tuple[str, str] = V13_OFFSETS

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "clip_length": self.clip_length,
            "start": self.start,
            "end": self.end,
            "scopes": list(self.scopes),
            "strategy": self.strategy,
            "min_duration": self.min_duration,
        }
        # only when set: the CLI's task ids hash this dict (intake.fingerprint)
        if self.thumbnails:
            data["thumbnails"] = True
        if self.offset_names != V13_OFFSETS:
            data["offset_names"] = list(self.offset_names)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClipParams:
        """Stored parameters read back; what a row from an older release lacks takes the default
        (tasks stored before dynamic segmentation existed have no strategy: they are fixed)."""
        return cls(
            data.get("clip_length", DEFAULT_CLIP_SEC),
            data.get("start"),
            data.get("end"),
            tuple(data.get("scopes", ("clip",))),
            data.get("strategy", "fixed"),
            data.get("min_duration", DEFAULT_DYNAMIC_SEC),
            bool(data.get("thumbnails", False)),
            tuple(data.get("offset_names", V13_OFFSETS)),  # type: ignore[arg-type]
        )
