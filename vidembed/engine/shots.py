"""Hard-cut detection on the frames of the engine's decode pass (no second decode, no OpenCV).

Each decoded frame is scaled to at most 64x64 pixels during decode and summarised by a colour
histogram (hue x saturation, and value, in HSV). A frame's score is the distance between its
histogram and the previous decoded frame's (half the L1 distance: 0 for equal histograms, 1 for
disjoint ones). Histograms ignore where colours are, so a pan, a zoom or fast motion inside a
shot moves the picture without changing its histogram much, while a cut to another shot changes
it at once. The threshold is adaptive, as PySceneDetect's AdaptiveDetector's: a frame is a cut
when its score is both above ``MIN_SCORE`` and ``RATIO`` times the mean score of the ``WINDOW``
frames either side (a shot whose colours change steadily, e.g. a flickering light or a camera
whip, has high scores on its neighbours too). Deciding a frame therefore waits for ``WINDOW``
more frames: cuts come out a few frames late, in time order.

Thresholds were chosen on ``python -m benchmarks.segmentation`` (docs/SEGMENTATION.md).
"""

from __future__ import annotations

from collections import deque
from pathlib import Path

import numpy as np

from vidembed.engine.media import DecodedFrame, FrameRequest, decode, probe
from vidembed.segmentation import Cut

DETECT_SIZE = 64  # px, the longer side; 64x36 for 16:9. The histogram needs no more detail.
DETECT_REQUEST = FrameRequest(0.0, DETECT_SIZE, DETECT_SIZE, crop_square=False)
HUE_BINS, SAT_BINS, VALUE_BINS = 16, 4, 8
WINDOW = 2  # frames either side whose scores set the adaptive threshold
RATIO = 3.0  # a cut's score is at least this many times its neighbours' mean
MIN_SCORE = 0.3  # and at least this (a histogram distance in [0, 1])


def colour_histogram(rgb: np.ndarray) -> np.ndarray:
    """Normalised hue-saturation and value histograms of an RGB uint8 image, concatenated (each
    part sums to 1)."""
    pixels = rgb.reshape(-1, 3).astype(np.float32) / 255.0
    top = pixels.max(axis=1)
    spread = top - pixels.min(axis=1)
    saturation = np.divide(spread, top, out=np.zeros_like(top), where=top > 0)
    hue = _hue(pixels, top, spread)
    hue_bin = np.minimum((hue * HUE_BINS).astype(np.int32), HUE_BINS - 1)
    sat_bin = np.minimum((saturation * SAT_BINS).astype(np.int32), SAT_BINS - 1)
    value_bin = np.minimum((top * VALUE_BINS).astype(np.int32), VALUE_BINS - 1)
    # Grey pixels have no meaningful hue: they count in saturation bin 0 with hue 0.
    hue_bin[sat_bin == 0] = 0
    joint = np.bincount(hue_bin * SAT_BINS + sat_bin, minlength=HUE_BINS * SAT_BINS)
    value = np.bincount(value_bin, minlength=VALUE_BINS)
    n = float(len(pixels))
    return np.concatenate([joint / n, value / n]).astype(np.float32)


def _hue(pixels: np.ndarray, top: np.ndarray, spread: np.ndarray) -> np.ndarray:
    """Hue in [0, 1) (0 where the pixel is grey)."""
    r, g, b = pixels[:, 0], pixels[:, 1], pixels[:, 2]
    safe = np.where(spread > 0, spread, 1.0)
    sextant = np.where(top == g, (b - r) / safe + 2.0, (r - g) / safe + 4.0)
    hue = np.where(top == r, (g - b) / safe % 6.0, sextant)
    return np.where(spread > 0, hue / 6.0, 0.0)


def histogram_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Half the L1 distance of two ``colour_histogram``s, averaged over their two parts: in [0, 1]."""
    return float(np.abs(a - b).sum() / 4.0)


class CutDetector:
    """Fed decoded frames (time, small RGB) in decode order; reports confirmed cuts."""

    def __init__(self, ratio: float = RATIO, min_score: float = MIN_SCORE, window: int = WINDOW) -> None:
        self.ratio, self.min_score, self.window = ratio, min_score, window
        self._previous: np.ndarray | None = None
        self._scores: deque[tuple[float, float]] = deque()  # (time, score): the frames not yet decided
        self._past: deque[float] = deque(maxlen=window)  # scores of the last decided frames
        self.horizon = -np.inf  # every cut before this time has been reported
        self.scores: list[tuple[float, float]] = []  # every frame's (time, score), when keep_scores
        self.keep_scores = False

    def add(self, time: float, rgb: np.ndarray) -> list[Cut]:
        """Cuts confirmed now that the frame at ``time`` is known (at most one)."""
        histogram = colour_histogram(rgb)
        score = 0.0 if self._previous is None else histogram_distance(self._previous, histogram)
        self._previous = histogram
        self._scores.append((time, score))
        if self.keep_scores:
            self.scores.append((time, score))
        if len(self._scores) <= self.window:
            return []
        return self._decide()

    def finish(self) -> list[Cut]:
        """Cuts among the last frames (decided with the neighbours they have)."""
        cuts: list[Cut] = []
        while self._scores:
            cuts += self._decide()
        self.horizon = np.inf
        return cuts

    def _decide(self) -> list[Cut]:
        time, score = self._scores.popleft()
        ahead = [s for _, s in list(self._scores)[: self.window]]
        neighbours = list(self._past) + ahead
        self._past.append(score)
        self.horizon = self._scores[0][0] if self._scores else time
        baseline = float(np.mean(neighbours)) if neighbours else 0.0
        if score >= self.min_score and score >= self.ratio * baseline:
            return [Cut(time, score)]
        return []


def detect_cuts(
    path: Path,
    interval: tuple[float, float] | None = None,
    detector: CutDetector | None = None,
    skip_non_reference: bool = True,
) -> list[Cut]:
    """The cuts of a file (or of ``interval``) in a decode pass of their own, with the frames the
    engine's pass decodes. The engine does not call this (it runs the detector in its single pass);
    it serves tests and ``benchmarks.segmentation``."""
    info = probe(path)
    span = interval or (0.0, info.duration)
    detector = detector or CutDetector()
    cuts: list[Cut] = []
    for event in decode(path, info, [], None, skip_non_reference, video_range=span):
        if isinstance(event, DecodedFrame):
            cuts += detector.add(event.time, event.convert(DETECT_REQUEST))
    return cuts + detector.finish()
