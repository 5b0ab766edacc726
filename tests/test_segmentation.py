from __future__ import annotations

import pytest

from vidembed import BadRequestError
from vidembed.params import ClipParams
from vidembed.segmentation import plan_clips


def bounds(duration: float, **kw: object) -> list[tuple[float, float]]:
    return [(c.start, c.end) for c in plan_clips(duration, ClipParams(**kw)).clips]  # type: ignore[arg-type]


def test_31_seconds_at_6_gives_5_clips_and_drops_the_last_second() -> None:
    assert bounds(31.0) == [(0, 6), (6, 12), (12, 18), (18, 24), (24, 30)]


def test_last_clip_may_be_shorter_but_not_under_2_seconds() -> None:
    assert bounds(33.0) == [(0, 6), (6, 12), (12, 18), (18, 24), (24, 30), (30, 33)]
    assert bounds(32.0)[-1] == (30, 32)
    assert bounds(31.99)[-1] == (24, 30)


def test_offsets_are_absolute_in_the_source() -> None:
    assert bounds(60.0, clip_length=5, start=7.5, end=20) == [(7.5, 12.5), (12.5, 17.5), (17.5, 20)]
    plan = plan_clips(60.0, ClipParams(clip_length=5, start=7.5, end=20))
    assert (plan.start, plan.end) == (7.5, 20)


def test_short_video_gets_one_clip_and_too_short_fails() -> None:
    assert bounds(4.0) == [(0, 4.0)]
    with pytest.raises(BadRequestError, match="at least 2 s"):
        plan_clips(1.5, ClipParams())


def test_offsets_beyond_the_video_are_rejected() -> None:
    with pytest.raises(BadRequestError, match="video_end_offset_sec parameter is invalid"):
        plan_clips(10.0, ClipParams(start=0, end=12))
    with pytest.raises(BadRequestError, match="video_start_offset_sec parameter is invalid"):
        plan_clips(10.0, ClipParams(start=6, end=10, clip_length=6))


def test_long_video_boundaries_do_not_drift() -> None:
    clips = bounds(7200.0, clip_length=2.2)
    assert len(clips) == 3272
    assert clips[-1] == (7196.2, 7198.4)  # the last 1.6 s are dropped
