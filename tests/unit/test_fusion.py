"""Fusion and the placeholder rule of clip search, on vectors whose scores are known."""

from __future__ import annotations

import numpy as np
import pytest

from vidembed.records import StoredSegment
from vidembed.search.rank import FUSED, MIN_SAMPLE, MIN_SPREAD, fuse, is_placeholder, rank_clips, zscores


def unit(*values: float) -> np.ndarray:
    v = np.array(values, np.float32)
    return v / np.linalg.norm(v)


QUERY = unit(1, 0, 0, 0)
NO_SPEECH = unit(0, 0, 0, 1)


def segments(option: str, vectors: list[np.ndarray]) -> list[StoredSegment]:
    return [StoredSegment("t", option, "clip", 6.0 * i, 6.0 * (i + 1), v) for i, v in enumerate(vectors)]


def test_placeholder_clips_are_left_out_of_their_option_and_of_fusion() -> None:
    # 25 clips; the picture of clip 3 matches the query; only clip 0 has words, the others
    # hold the "no speech" vector. Before the rule, clip 0's transcription z-score was
    # sqrt(24) = 4.9 whatever the query, and it topped the fused list.
    visual = [unit(0.2, 1, 0.1 * i, 0) for i in range(25)]
    visual[3] = unit(1, 0.6, 0, 0)
    transcription = [unit(1, 0, 0.2, 0)] + [NO_SPEECH] * 24
    found = rank_clips(
        QUERY,
        segments("visual", visual) + segments("transcription", transcription),
        top=3,
        placeholders={"transcription": NO_SPEECH},
    )
    assert [h.start for h in found["transcription"]] == [0.0]  # only the clip with words
    assert found[FUSED][0].start == 18.0  # clip 3, found by its picture
    old_rule = fuse([np.stack(visual) @ QUERY, np.stack(transcription) @ QUERY], None, "z-max")
    assert int(old_rule.argmax()) == 0 and old_rule.max() == pytest.approx(np.sqrt(24), abs=1e-3)


def test_a_near_constant_option_does_not_turn_noise_into_evidence() -> None:
    scores = np.array([[0.300, 0.301, 0.299, 0.300]])  # every clip hears the same hum
    z = zscores(scores)
    assert np.abs(z).max() == pytest.approx(0.001 / MIN_SPREAD, rel=1e-3)
    spread = np.array([[0.1, 0.5, 0.1, 0.1]])
    assert zscores(spread)[0, 1] == pytest.approx(np.sqrt(3), rel=1e-3)  # a real spread is kept


def test_fusion_scores_each_clip_over_the_options_it_has() -> None:
    visual = np.array([[0.1, 0.2, 0.3, 0.4]])
    speech = np.array([[0.9, 0.0, 0.0, 0.0]])
    has_speech = np.array([True, True, False, False])
    masks = [np.ones(4, bool), has_speech]
    for method in ("z-max", "z-mean", "cosine-mean", "rrf"):
        assert np.isfinite(fuse([visual, speech], masks, method)).all(), method
    mean = fuse([visual, speech], masks, "cosine-mean")[0]
    assert mean.tolist() == pytest.approx([0.5, 0.1, 0.3, 0.4])
    nothing = fuse([visual, speech], [np.zeros(4, bool), np.zeros(4, bool)])
    assert np.isneginf(nothing).all()
    # z-max: speech in 2 of 4 clips counts sqrt(2/4) of its z-score, whose sample is filled up
    # to MIN_SAMPLE with the empty clip's score (the query against "no speech": 0.05 here)
    baseline = np.array([0.05])
    z_speech = zscores(speech, has_speech, baseline)[0, 0]
    sample = np.array([0.9, 0.0] + [0.05] * (MIN_SAMPLE - 2))
    assert z_speech == pytest.approx((0.9 - sample.mean()) / max(sample.std(), MIN_SPREAD))
    fused = fuse([visual, speech], masks, "z-max", [None, baseline])[0, 0]
    assert fused == pytest.approx(max(zscores(visual)[0, 0], z_speech * np.sqrt(0.5)))
    with pytest.raises(ValueError, match="unknown fusion method"):
        fuse([visual], None, "best")


def test_one_spoken_clip_among_few_is_compared_with_empty_clips() -> None:
    # one clip with words: no spread to z-score by on its own; against empty clips it stands out
    speech = np.array([[0.6, 0.0, 0.0]])
    alone = np.array([True, False, False])
    assert zscores(speech, alone)[0, 0] == 0.0
    assert zscores(speech, alone, np.array([0.05]))[0, 0] > 2.5


def test_placeholder_detection_is_exact_up_to_float_noise() -> None:
    vectors = np.stack([NO_SPEECH, unit(0.03, 0, 0, 1), unit(1, 0, 0, 0)])
    assert is_placeholder(vectors, NO_SPEECH).tolist() == [True, False, False]
    assert is_placeholder(vectors, None).tolist() == [False, False, False]
