"""Hard-cut detection on the frames of the engine's decode pass (no second decode, no OpenCV).

Each decoded frame is subsampled to about 64 px (``DecodedFrame.thumbnail``: 0.1 ms) and compared
with the previous decoded frame (``frame_score``); its score is the sum of

- the distance of the colour histograms (hue x saturation, and value, in HSV): half their L1
  distance, in [0, 1]. A histogram ignores where colours are, so a pan, a zoom or fast motion
  inside a shot hardly changes it, while a cut to a shot of other colours changes it at once;
- the mean absolute difference of the pictures blurred to 16 px (4x4 blocks), in [0, 1], and
- ``LUMA_WEIGHT`` times that of the luma pictures at 64 px, in [0, 1]: these see a change of
  picture content that keeps the colours (another object on a wall of the same colour, two shots
  of one scene), which the histogram misses. Both are measured after moving the previous picture
  by the camera's whole-picture shift, found by phase correlation of the luma pictures
  (``translation``: an FFT of each 64 x 36 picture and one inverse, ~0.07 ms), so a pan or a
  shaking camera leaves less of them, while a cut to another picture, which no shift explains,
  leaves them whole.

The threshold is adaptive, as in PySceneDetect's AdaptiveDetector: a frame is a cut when its score
is above ``MIN_SCORE`` and ``RATIO`` times the mean score of the ``WINDOW`` frames either side (a
shot that moves fast scores high on its neighbours too, a zoom most: it is no shift). Deciding a
frame waits for ``WINDOW`` more decoded frames, so cuts come out a few frames late, in time order.

Measured on ``python -m benchmarks.segmentation``'s generator at 480p (6 videos of real photos
and film frames with fast pans, zooms and an 8 %-per-frame shaking camera, 72 cuts; 6 look-alike
videos, one object per shot on textured walls, most cuts between shots of the same colours): the
colour terms alone (histogram + blurred difference, unshifted: the detector before issue 23 item
7) found 67 of the 72 and about 6 in 10 look-alike cuts; with the shift compensated and the luma
difference added, all of both, with no false cut. Details: docs/SEGMENTATION.md.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from av.video.reformatter import VideoReformatter

from vidembed.engine.media import DecodedFrame, decode, probe
from vidembed.segmentation import Cut

DETECT_SIZE = 64  # px, the longer side; 64x36 for 16:9: enough for a wall's grain in the luma picture
HUE_BINS, SAT_BINS, VALUE_BINS = 16, 4, 8
BLUR_BLOCK = 4  # px of the thumbnail averaged into one for the picture difference (64 -> 16 px)
WINDOW = 2  # frames either side whose scores set the adaptive threshold
RATIO = 3.0  # a cut's score is at least this many times its neighbours' mean
MIN_SCORE = 0.15  # and at least this (frame_score: histogram distance + picture differences)
LUMA_WEIGHT = 2.0  # the weight of the motion-compensated luma difference in frame_score


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
    """The picture averaged over BLUR_BLOCK x BLUR_BLOCK blocks, in [0, 1]. (Summed in integers,
    rows then columns: 5x faster than a float mean over both block axes, the same values to 1e-7.)"""
    h, w = rgb.shape[0] // BLUR_BLOCK, rgb.shape[1] // BLUR_BLOCK
    rows = rgb[: h * BLUR_BLOCK, : w * BLUR_BLOCK].reshape(h, BLUR_BLOCK, w * BLUR_BLOCK, -1)
    sums = rows.sum(axis=1, dtype=np.uint32).reshape(h, w, BLUR_BLOCK, -1).sum(axis=2)
    return sums.astype(np.float32) * np.float32(1.0 / (255 * BLUR_BLOCK * BLUR_BLOCK))


def histogram_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Half the L1 distance of two ``colour_histogram``s, averaged over their two parts: in [0, 1]."""
    return float(np.abs(a - b).sum() / 4.0)


_LUMA = np.array([0.299, 0.587, 0.114], np.float32) / 255.0


def luma(rgb: np.ndarray) -> np.ndarray:
    """The luma of the picture (BT.601, in [0, 1]): at 64 px the grain of a textured wall (bricks,
    boards, fabric) still shows, and tells one wall from another of the same colour."""
    return rgb.astype(np.float32) @ _LUMA


def spectrum(luma: np.ndarray) -> np.ndarray:
    """The Fourier transform of a picture less its mean, for ``translation``."""
    return np.fft.rfft2(luma - luma.mean())


def translation(before: np.ndarray, after: np.ndarray, shape: tuple[int, int]) -> tuple[int, int]:
    """The whole-pixel shift (dy, dx) that best maps the picture of spectrum ``before`` onto the
    picture of spectrum ``after`` (``after[y, x] ~ before[y - dy, x - dx]``), by phase correlation:
    the peak of the inverse transform of the normalised cross-power spectrum. Up to half the
    picture either way."""
    cross = after * np.conj(before)
    cross /= np.abs(cross) + 1e-9
    peak = int(np.argmax(np.fft.irfft2(cross, s=shape)))
    dy, dx = divmod(peak, shape[1])
    return dy - shape[0] if dy > shape[0] // 2 else dy, dx - shape[1] if dx > shape[1] // 2 else dx


def shifted_difference(before: np.ndarray, after: np.ndarray, dy: int, dx: int) -> float:
    """The mean absolute difference of two pictures where they overlap once ``before`` is moved by
    (dy, dx) (the whole pictures when the overlap would be under half of each side)."""
    h, w = before.shape[:2]
    if 2 * abs(dy) > h or 2 * abs(dx) > w:
        dy = dx = 0
    a = before[max(0, -dy) : h - max(0, dy), max(0, -dx) : w - max(0, dx)]
    b = after[max(0, dy) : h - max(0, -dy), max(0, dx) : w - max(0, -dx)]
    return float(np.abs(a - b).mean())


@dataclass(frozen=True)
class FrameSignature:
    """What the detector keeps of a frame to compare the next one with."""

    histogram: np.ndarray  # colour_histogram
    blurred: np.ndarray  # blurred, 16 px
    luma: np.ndarray  # luma, 64 px
    spectrum: np.ndarray  # spectrum of luma

    @classmethod
    def of(cls, rgb: np.ndarray) -> FrameSignature:
        picture = luma(rgb)
        return cls(colour_histogram(rgb), blurred(rgb), picture, spectrum(picture))


def frame_score(before: FrameSignature, after: FrameSignature) -> float:
    """How much ``after`` differs from ``before``, in [0, 4]: the colour histograms' distance plus
    the blurred pictures' and ``LUMA_WEIGHT`` times the luma pictures' differences, both measured
    after moving ``before`` by the camera's whole-picture shift (``translation``). A pan or a
    shaking camera then leaves less of either difference; a cut to another picture, even one of
    the same colours, leaves it all."""
    dy, dx = translation(before.spectrum, after.spectrum, before.luma.shape)
    dy_blurred, dx_blurred = round(dy / BLUR_BLOCK), round(dx / BLUR_BLOCK)
    blurred_difference = shifted_difference(before.blurred, after.blurred, dy_blurred, dx_blurred)
    luma_difference = shifted_difference(before.luma, after.luma, dy, dx)
    colours = histogram_distance(before.histogram, after.histogram)
    return colours + blurred_difference + LUMA_WEIGHT * luma_difference


class CutDetector:
    """Fed decoded frames (time, small RGB) in decode order; reports confirmed cuts."""

    def __init__(self, ratio: float = RATIO, min_score: float = MIN_SCORE, window: int = WINDOW) -> None:
        self.ratio, self.min_score, self.window = ratio, min_score, window
        self._previous: FrameSignature | None = None
        self.scaler = VideoReformatter()  # for the thumbnails of DecodedFrames (set up once)
        self._scores: deque[tuple[float, float]] = deque()  # (time, score): the frames not yet decided
        self._past: deque[float] = deque(maxlen=window)  # scores of the last decided frames
        self.horizon = -np.inf  # every cut before this time has been reported
        self.scores: list[tuple[float, float]] = []  # every frame's (time, score), when keep_scores
        self.keep_scores = False

    def add(self, time: float, rgb: np.ndarray) -> list[Cut]:
        """Cuts confirmed now that the frame at ``time`` is known (at most one)."""
        current = FrameSignature.of(rgb)
        score = 0.0
        if self._previous is not None and self._previous.luma.shape == current.luma.shape:
            score = frame_score(self._previous, current)
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
