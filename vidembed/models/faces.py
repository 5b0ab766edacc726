"""Faces in a frame (BlazeFace short range, from MediaPipe's wheel), read as words of the visual space.

ImageNet-1k has no class for a person or a face, and most real videos are people: a detected face
adds the phrases of ``PEOPLE_PHRASES`` to the clip's class mix (see ``visual.py``), weighted by the
detector's confidence, so that a query "a person" or "a face" meets the clip.

The model takes a 128x128 RGB picture scaled to [-1, 1] and scores 896 SSD anchors; box offsets
are in pixels of that 128 px input. It is the short-range model (faces within a few metres): a
whole 16:9 frame shrunk to 128 px makes faces too small for it (measured: scores fell from 0.79-0.92
to 0.42-0.55 on the same photos), so a wide frame is read as overlapping squares of its height.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from vidembed.models.runtime import ramped, session

INPUT_SIZE = 128
# Scores measured: real faces in photos 0.79-0.92; a squirrel, an orange, a cat 0.56-0.63; a
# cartoon bunny's face 0.57-0.76; 0.65 let a drawn animal through on the quality benchmark. A
# face's weight ramps from 0 at MIN to its full score at FULL, so a borderline detection adds
# little and a score crossing MIN does not make the vector jump.
MIN_FACE_SCORE = 0.7
FULL_FACE_SCORE = 0.85
CLOSE_UP_WIDTH = 0.3  # a face this wide (fraction of the frame's longer side) fills the shot
GROUP_SIZE = 3
OVERLAP_IOU = 0.3


@dataclass(frozen=True)
class Face:
    score: float
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 as fractions of the frame's shorter side

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]


def _anchors() -> np.ndarray:
    """(896, 2) anchor centres: 2 per cell of the 16x16 grid (stride 8), 6 per cell of 8x8 (stride 16)."""
    centres = []
    for stride, per_cell in ((8, 2), (16, 6)):
        cells = INPUT_SIZE // stride
        for y in range(cells):
            for x in range(cells):
                centres += [((x + 0.5) / cells, (y + 0.5) / cells)] * per_cell
    return np.array(centres, np.float32)


_ANCHORS = _anchors()


def _squares(h: int, w: int) -> list[tuple[int, int]]:
    """Top-left corners of the overlapping squares (side min(h, w)) that cover the frame."""
    side, long = min(h, w), max(h, w)
    count = 1 if long == side else math.ceil(long / side) + 1
    offsets = np.linspace(0, long - side, count).round().astype(int)
    return [(0, int(o)) if w >= h else (int(o), 0) for o in offsets]


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


class FaceDetector:
    def __init__(self, model_path: Path, threads: int = 1) -> None:
        self._session = session(model_path, threads)
        self._input = self._session.get_inputs()[0].name

    def detect(self, rgb: np.ndarray, min_score: float = MIN_FACE_SCORE) -> list[Face]:
        """Faces in an RGB frame (any size), best first, overlapping boxes merged."""
        h, w = rgb.shape[:2]
        side = min(h, w)
        corners = _squares(h, w)
        batch = np.stack(
            [
                np.asarray(
                    Image.fromarray(rgb[y : y + side, x : x + side]).resize(
                        (INPUT_SIZE, INPUT_SIZE), Image.Resampling.BILINEAR
                    )
                )
                for y, x in corners
            ]
        )
        x_in = (batch.astype(np.float32) / 127.5 - 1.0).transpose(0, 3, 1, 2)
        candidates: list[Face] = []
        for (top, left), square in zip(corners, x_in, strict=True):
            outputs = self._session.run(None, {self._input: square[None]})
            boxes, logits = sorted(outputs, key=lambda o: -o.shape[-1])  # (1, 896, 16), (1, 896, 1)
            scores = 0.5 * (1.0 + np.tanh(0.5 * logits[0, :, 0]))  # sigmoid without overflow
            for i in np.flatnonzero(scores >= min_score):
                cx, cy = _ANCHORS[i] + boxes[0, i, :2] / INPUT_SIZE
                half_w, half_h = boxes[0, i, 2:4] / INPUT_SIZE / 2
                dx, dy = left / side, top / side
                box = (
                    float(cx - half_w + dx),
                    float(cy - half_h + dy),
                    float(cx + half_w + dx),
                    float(cy + half_h + dy),
                )
                candidates.append(Face(float(scores[i]), box))
        faces: list[Face] = []
        for face in sorted(candidates, key=lambda f: -f.score):
            if all(_iou(face.box, f.box) < OVERLAP_IOU for f in faces):
                faces.append(face)
        return faces


# What a detection says, in words of the text space; each phrase weighs its face's score.
PEOPLE_PHRASES = {
    "person": "a person.",
    "face": "a human face.",
    "close_up": "a close-up of a person's face.",
    "group": "a group of people.",
}


def face_weight(score: float) -> float:
    return ramped(score, MIN_FACE_SCORE, FULL_FACE_SCORE)


def people_phrases(faces: list[Face]) -> list[tuple[str, float]]:
    """(phrase, weight) pairs for the faces of one frame: none when no face was found."""
    weights = [face_weight(f.score) for f in faces]
    if not faces or max(weights) <= 0.0:
        return []
    best = max(weights)
    phrases = [(PEOPLE_PHRASES["person"], best), (PEOPLE_PHRASES["face"], best)]
    close = [w for f, w in zip(faces, weights, strict=True) if f.width >= CLOSE_UP_WIDTH]
    if close:
        phrases.append((PEOPLE_PHRASES["close_up"], max(close)))
    if len(faces) >= GROUP_SIZE:
        phrases.append((PEOPLE_PHRASES["group"], float(np.mean(weights))))
    return phrases
