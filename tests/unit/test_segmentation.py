from __future__ import annotations

import numpy as np
import pytest

from vidembed import BadRequestError
from vidembed.segmentation import Clip, ClipParams, Cut, ShotPlanner, plan_clips, plan_shots


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


# --- dynamic (shot) plans: vidembed.segmentation.plan_shots / ShotPlanner -------------------------


def shots(
    start: float, end: float, cuts: list[tuple[float, float]], minimum: float = 4
) -> list[tuple[float, float]]:
    """The dynamic plan's (start, end) pairs for cuts given as (time, strength)."""
    return [(c.start, c.end) for c in plan_shots(start, end, [Cut(t, s) for t, s in cuts], minimum)]


def assert_covers(clips: list[tuple[float, float]], start: float, end: float, minimum: float) -> None:
    assert clips[0][0] == start and clips[-1][1] == end
    assert all(a[1] == b[0] for a, b in zip(clips, clips[1:], strict=False))
    assert all(b - a >= minimum - 1e-9 for a, b in clips)


def test_shots_long_enough_are_clips_as_they_are() -> None:
    assert shots(0, 20, [(5, 1), (11, 1), (15.5, 1)]) == [(0, 5), (5, 11), (11, 15.5), (15.5, 20)]


def test_a_short_shot_joins_the_neighbour_across_the_weaker_cut() -> None:
    # [5, 6) is 1 s: its cut at 6 (0.5) is weaker than its cut at 5 (1.0): it joins the next shot
    assert shots(0, 20, [(5, 1.0), (6, 0.5), (12, 1.0)]) == [(0, 5), (5, 12), (12, 20)]
    # the cut at 5 is weaker: it joins the previous one
    assert shots(0, 20, [(5, 0.5), (6, 1.0), (12, 1.0)]) == [(0, 6), (6, 12), (12, 20)]


def test_a_short_shot_joins_the_neighbour_that_keeps_the_clip_within_10_s() -> None:
    # issue 23 item 7: an 8.4 s shot, a 2.6 s shot (under the 3 s minimum), a 5 s shot. The cut at
    # 8.4 is the weaker, but merging there makes 11 s, which would be split inside the 8.4 s shot;
    # merging across the stronger cut makes 7.6 s: every boundary stays on a cut
    assert shots(0, 16, [(8.4, 0.3), (11.0, 0.9)], minimum=3) == [(0, 8.4), (8.4, 16)]
    # mirrored: the weaker cut is after the short shot, but the next shot is 9.5 s: merging there
    # makes 11 s; merging into the 5 s shot before it makes 6.5 s
    assert shots(0, 16, [(5, 0.9), (6.5, 0.3)], minimum=2) == [(0, 6.5), (6.5, 16)]
    # the same, decided at the end of the interval instead of at a cut
    assert shots(0, 16, [(5, 0.9), (6.5, 0.3), (16, 1.0)], minimum=2) == [(0, 6.5), (6.5, 16)]
    # both merges fit: the weaker cut decides, as before
    assert shots(0, 14, [(5, 0.9), (6.5, 0.3)], minimum=2) == [(0, 5), (5, 14)]
    assert shots(0, 14, [(5, 0.3), (6.5, 0.9)], minimum=2) == [(0, 6.5), (6.5, 14)]
    # neither fits: the weaker cut decides (one split inside a shot is unavoidable)
    assert shots(0, 20, [(9, 0.3), (10.5, 0.9)], minimum=2) == [(0, 5.25), (5.25, 10.5), (10.5, 20)]
    # the next shot alone is over 10 s (it is split anyway): the short shot stays with it
    assert shots(0, 19, [(5, 0.9), (7, 0.3)], minimum=3) == [(0, 5), (5, 15), (15, 19)]


def test_the_online_planner_gives_the_plan_of_all_cuts_at_once() -> None:
    """The engine feeds the planner cuts and horizons as frames are decoded; the clips are the same
    as plan_shots' (tentative merges included) and each is final when released."""
    rng = np.random.default_rng(5)
    for trial in range(300):
        end = round(float(rng.uniform(5, 90)), 3)
        minimum = float(rng.choice([2, 3, 4, 5]))
        times = np.sort(rng.uniform(0, end, trial % 25))
        cuts = [
            Cut(round(float(t), 3), float(s))
            for t, s in zip(times, rng.uniform(0.1, 1, len(times)), strict=True)
        ]
        planner = ShotPlanner(0, end, minimum)
        online: list[Clip] = []
        frame = 0.0
        for cut in cuts:
            while frame < cut.time:  # a horizon every 0.04 s up to the cut
                online += planner.advance(frame)
                frame += 0.04
            online += planner.cut(cut)
        online += planner.finish()
        assert tuple(online) == plan_shots(0, end, cuts, minimum)


def test_the_first_and_last_short_shots_join_their_only_neighbour() -> None:
    assert shots(0, 20, [(1, 9.0), (10, 1.0), (19, 9.0)]) == [(0, 10), (10, 20)]


def test_a_run_of_short_shots_merges_until_long_enough() -> None:
    cuts = [(t, 1.0 + 0.1 * i) for i, t in enumerate([4, 5, 6, 7, 8, 9])]
    clips = shots(0, 16, cuts)
    assert_covers(clips, 0, 16, 4)
    assert all(a in (4, 5, 6, 7, 8, 9) for a, _ in clips[1:])


def test_a_long_shot_is_split_into_pieces_of_at_most_10_s() -> None:
    assert shots(0, 25, []) == [(0, 10), (10, 20), (20, 25)]
    assert shots(0, 13, []) == [(0, 6.5), (6.5, 13)]  # a rest over 10 s: two equal halves
    clips = shots(3, 47.5, [(30, 1)], minimum=5)
    assert_covers(clips, 3, 47.5, 5)
    assert 30 in [a for a, _ in clips] and max(b - a for a, b in clips) <= 10


def test_a_merged_clip_over_10_s_is_split_at_the_strongest_absorbed_cut() -> None:
    # every shot is under 5 s; they merge into [0, 13], split at 7.5 (the strongest cut, 0.9)
    assert shots(0, 13, [(3, 0.2), (7.5, 0.9), (10, 0.3)], minimum=5) == [(0, 7.5), (7.5, 13)]


def test_an_interval_shorter_than_the_minimum_is_one_clip() -> None:
    assert shots(2, 5, [(3, 1.0), (4, 1.0)]) == [(2, 5)]


def test_cuts_outside_the_interval_are_ignored() -> None:
    assert shots(10, 30, [(2, 1), (9.9, 1), (20, 1), (30, 1), (41, 1)]) == [(10, 20), (20, 30)]


def test_random_cuts_always_give_a_valid_plan() -> None:
    rng = np.random.default_rng(3)
    for trial in range(300):
        end = float(rng.uniform(2, 120))
        minimum = float(rng.choice([2, 3, 4, 5]))
        cuts = [
            (float(t), float(s))
            for t, s in zip(rng.uniform(0, end, 40), rng.uniform(0.3, 1, 40), strict=True)
        ]
        clips = shots(0, round(end, 3), cuts[: trial % 40], minimum)
        if end >= minimum:
            assert_covers(clips, 0, round(end, 3), minimum)
        assert max(b - a for a, b in clips) <= 10 + 1e-9 or len(clips) == 1


def test_dynamic_offsets_are_checked_against_the_video() -> None:
    plan = plan_clips(30.0, ClipParams(strategy="dynamic"), [Cut(12.0, 1.0)])
    # [0, 12] is over 10 s without a cut inside: halves; [12, 30]: 10 s, then the 8 s rest
    assert [(c.start, c.end) for c in plan.clips] == [(0, 6), (6, 12), (12, 22), (22, 30)]
    with pytest.raises(BadRequestError, match="at least 2 s"):
        plan_clips(1.5, ClipParams(strategy="dynamic"))
    with pytest.raises(BadRequestError, match="video_start_offset_sec parameter is invalid"):
        plan_clips(10.0, ClipParams(start=9, end=10, strategy="dynamic"))
    with pytest.raises(BadRequestError, match="video_end_offset_sec parameter is invalid"):
        plan_clips(10.0, ClipParams(start=0, end=12, strategy="dynamic"))


def test_the_window_strategy_is_one_clip_from_the_start_offset() -> None:
    assert bounds(60.0, clip_length=10, start=12.5, strategy="window") == [(12.5, 22.5)]
    assert bounds(3.2, clip_length=10, strategy="window") == [(0, 3.2)]  # no 2 s minimum
    assert bounds(20.0, clip_length=10, start=19.5, strategy="window") == [(19.5, 20.0)]
    with pytest.raises(BadRequestError, match=r"beyond the end of the audio \(20\.000 s\)"):
        plan_clips(20.0, ClipParams(start=20, strategy="window"))
