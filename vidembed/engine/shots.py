"""Hard-cut detection on the frames of the engine's decode pass (no second decode, no OpenCV).

Each decoded frame is subsampled to about 64 px (``DecodedFrame.thumbnail``: 0.1 ms) and compared
with the previous decoded frame in two ways, summed into its score:

- colour histograms (hue x saturation, and value, in HSV): half their L1 distance, in [0, 1].
  A histogram ignores where colours are, so a pan, a zoom or fast motion inside a shot hardly
  changes it, while a cut to another shot changes it at once;
- the mean absolute difference of the pictures blurred to 16 px (4x4 blocks), in [0, 1]: it
  catches cuts between shots of similar colours (two scenes of one film), which the histogram
  alone misses; motion moves it too, which the adaptive threshold absorbs.

The threshold is adaptive, as in PySceneDetect's AdaptiveDetector: a frame is a cut when its score
is above ``MIN_SCORE`` and ``RATIO`` times the mean score of the ``WINDOW`` frames either side (a
shot that moves fast scores high on its neighbours too). Deciding a frame waits for ``WINDOW``
more decoded frames, so cuts come out a few frames late, in time order.

Measured on ``python -m benchmarks.segmentation``'s generator (real photos and film frames with
fast pans, zooms and an 8 %-per-frame shaking camera; 6 videos of 60 s, 72 cuts, 480p): the
histogram alone (>= 0.3, ratio 3) found 54 cuts with no false one; with the blurred difference
added (sum >= 0.15, ratio 3) 67 with no false one (the 5 missed are cuts into or out of the
shaking camera or a 1.3 s whip pan, whose neighbours score as high as a cut). Details:
docs/SEGMENTATION.md.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path

import numpy as np
from av.video.reformatter import VideoReformatter

from vidembed.engine.media import DecodedFrame, decode, probe
from vidembed.segmentation import Cut

DETECT_SIZE = 64  # px, the longer side; 64x36 for 16:9. The histogram needs no more detail.
HUE_BINS, SAT_BINS, VALUE_BINS = 16, 4, 8
BLUR_BLOCK = 4  # px of the thumbnail averaged into one for the picture difference (64 -> 16 px)
WINDOW = 2  # frames either side whose scores set the adaptive threshold
RATIO = 3.0  # a cut's score is at least this many times its neighbours' mean
MIN_SCORE = 0.15  # and at least this (histogram distance + picture difference, in [0, 2])


def _bins_of_colours() -> tuple[np.ndarray, np.ndarray]:
    """The (hue x saturation) bin and the value bin of every colour quantised to 4 bits a channel:
    a frame's histogram is then two table look-ups and two counts (0.1 ms instead of 0.3 ms for
    converting its pixels to HSV)."""
    levels = (np.arange(16, dtype=np.float32) + 0.5) / 16
    r, g, b = (a.reshape(-1) for a in np.meshgrid(levels, levels, levels, indexing="ij"))
    pixels = np.stack([r, g, b], axis=1)
    top = pixels.max(axis=1)
    spread = top - pixels.min(axis=1)
    saturation = spread / top
    hue_bin = np.minimum((_hue(pixels, top, spread) * HUE_BINS).astype(np.int32), HUE_BINS - 1)
    sat_bin = np.minimum((saturation * SAT_BINS).astype(np.int32), SAT_BINS - 1)
    hue_bin[sat_bin == 0] = 0  # grey pixels have no meaningful hue
    value_bin = np.minimum((top * VALUE_BINS).astype(np.int32), VALUE_BINS - 1)
    return (hue_bin * SAT_BINS + sat_bin).astype(np.intp), value_bin.astype(np.intp)


def colour_histogram(rgb: np.ndarray) -> np.ndarray:
    """Normalised hue-saturation and value histograms of an RGB uint8 image, concatenated (each
    part sums to 1)."""
    quantised = rgb.reshape(-1, 3) >> 4
    colour = (quantised[:, 0].astype(np.intp) << 8) | (quantised[:, 1].astype(np.intp) << 4) | quantised[:, 2]
    joint = np.bincount(_JOINT_BIN[colour], minlength=HUE_BINS * SAT_BINS)
    value = np.bincount(_VALUE_BIN[colour], minlength=VALUE_BINS)
    return np.concatenate([joint, value]).astype(np.float32) / float(len(colour))


def _hue(pixels: np.ndarray, top: np.ndarray, spread: np.ndarray) -> np.ndarray:
    """Hue in [0, 1) (0 where the pixel is grey)."""
    r, g, b = pixels[:, 0], pixels[:, 1], pixels[:, 2]
    safe = np.where(spread > 0, spread, 1.0)
    sextant = np.where(top == g, (b - r) / safe + 2.0, (r - g) / safe + 4.0)
    hue = np.where(top == r, (g - b) / safe % 6.0, sextant)
    return np.where(spread > 0, hue / 6.0, 0.0)


_JOINT_BIN, _VALUE_BIN = _bins_of_colours()


def blurred(rgb: np.ndarray) -> np.ndarray:
    """The picture averaged over BLUR_BLOCK x BLUR_BLOCK blocks, in [0, 1]."""
    h, w = rgb.shape[0] // BLUR_BLOCK, rgb.shape[1] // BLUR_BLOCK
    blocks = rgb[: h * BLUR_BLOCK, : w * BLUR_BLOCK].astype(np.float32) / 255.0
    return blocks.reshape(h, BLUR_BLOCK, w, BLUR_BLOCK, -1).mean(axis=(1, 3))


def histogram_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Half the L1 distance of two ``colour_histogram``s, averaged over their two parts: in [0, 1]."""
    return float(np.abs(a - b).sum() / 4.0)


class CutDetector:
    """Fed decoded frames (time, small RGB) in decode order; reports confirmed cuts."""

    def __init__(self, ratio: float = RATIO, min_score: float = MIN_SCORE, window: int = WINDOW) -> None:
        self.ratio, self.min_score, self.window = ratio, min_score, window
        self._previous: tuple[np.ndarray, np.ndarray] | None = None  # histogram, blurred picture
        self.scaler = VideoReformatter()  # for the thumbnails of DecodedFrames (set up once)
        self._scores: deque[tuple[float, float]] = deque()  # (time, score): the frames not yet decided
        self._past: deque[float] = deque(maxlen=window)  # scores of the last decided frames
        self.horizon = -np.inf  # every cut before this time has been reported
        self.scores: list[tuple[float, float]] = []  # every frame's (time, score), when keep_scores
        self.keep_scores = False

    def add(self, time: float, rgb: np.ndarray) -> list[Cut]:
        """Cuts confirmed now that the frame at ``time`` is known (at most one)."""
        current = colour_histogram(rgb), blurred(rgb)
        score = 0.0
        if self._previous is not None and self._previous[1].shape == current[1].shape:
            difference = float(np.abs(current[1] - self._previous[1]).mean())
            score = histogram_distance(self._previous[0], current[0]) + difference
        self._previous = current
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
            cuts += detector.add(event.time, event.thumbnail(DETECT_SIZE, detector.scaler))
    return cuts + detector.finish()
