"""The default stack's visual option: ConSE over EfficientNet-Lite0 classes, plus what the clip's
middle frame says: text read by OCR, people found by the face detector and COCO objects found by
the object detector.

How the parts combine: the class mix (top-10 class-name vectors weighted by probability, unit
length), plus the OCR text's vector with weight 1, plus the detections' mix (the phrases of faces
and objects, each weighted by its detector's ramped score, made unit length) with the weight of
the strongest detection; the sum is L2-normalised.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np

from vidembed.models.faces import PEOPLE_PHRASES, FaceDetector, people_phrases
from vidembed.models.objects import COCO_NAMES, ObjectDetector, object_phrase, object_phrases
from vidembed.models.roles import FrameSpec
from vidembed.models.runtime import conse, l2_normalise, session, timed

log = logging.getLogger(__name__)

INPUT_SIZE = 224
DETAIL_FRAME_MAX = 640  # OCR and the detectors read the middle frame; OCR cost falls ~4x from 960 px
# A detail frame this close to the previous one (mean absolute difference of a 1/16 thumbnail, in
# grey levels) is the same picture: its reading is reused (static shots cost no OCR).
SAME_PICTURE = 2.0
TOP_K = 10
OCR_MIN_CONFIDENCE = 0.75
OCR_MIN_CHARS = 3
IMAGE_TEMPLATES = ("a photo of a {}.", "a video frame showing a {}.")


@dataclass(frozen=True)
class FrameReading:
    """What one still frame says besides its classes: OCR text and (phrase, weight) pairs."""

    text: str = ""
    phrases: tuple[tuple[str, float], ...] = ()  # from the face and object detectors


# Every phrase a detector can add to a clip's mix; their vectors are a cached table (stack.py).
DETECTOR_PHRASES = (*PEOPLE_PHRASES.values(), *(object_phrase(n) for n in COCO_NAMES))


class ConseVisualEncoder:
    """Frames -> class probabilities -> weighted class-name vectors; what the clip's middle frame
    says (OCR text, people, COCO objects) is added on top. Fills the visual role."""

    frame_size = INPUT_SIZE
    frames = FrameSpec(INPUT_SIZE, crop_square=True)
    detail = FrameSpec(DETAIL_FRAME_MAX, crop_square=False)

    def __init__(
        self,
        model_path: Path,
        label_vectors: np.ndarray,
        encode_text: Callable[[Sequence[str]], np.ndarray],
        use_ocr: bool = True,
        threads: int = 1,
        face_model: Path | None = None,
        object_model: Path | None = None,
        phrase_vectors: Mapping[str, np.ndarray] | None = None,
        identity: str = "conse-efficientnet-lite0",
    ) -> None:
        self._session = session(model_path, threads)
        self._labels = label_vectors
        self._encode_text = encode_text
        self._ocr = _load_ocr() if use_ocr else None
        self.faces = FaceDetector(face_model, threads) if face_model is not None else None
        self.objects = ObjectDetector(object_model, threads) if object_model is not None else None
        self._phrase_vectors = phrase_vectors or {}  # for every one of DETECTOR_PHRASES
        self.identity = identity
        self._busy = {"image_classes": 0.0, "ocr": 0.0, "faces": 0.0, "objects": 0.0}
        self._last_reading: tuple[np.ndarray, FrameReading] | None = None

    def busy_seconds(self) -> Mapping[str, float]:
        return dict(self._busy)

    def encode_clip(self, frames: np.ndarray, detail: np.ndarray | None) -> np.ndarray:
        """The visual role: a clip's frames (n, 224, 224, 3) and its middle frame -> (dim,)."""
        reading = self._read_detail(detail) if detail is not None else FrameReading()
        with timed(self._busy, "image_classes"):
            return self.encode_clips([frames], [reading])[0]

    def _read_detail(self, image: np.ndarray) -> FrameReading:
        """OCR, faces and objects of a clip's middle frame; reused when the picture has not
        changed since the last one (static shots)."""
        thumb = image[::16, ::16].astype(np.float32).mean(axis=2)
        if self._last_reading is not None and self._last_reading[0].shape == thumb.shape:
            if float(np.abs(self._last_reading[0] - thumb).mean()) < SAME_PICTURE:
                return self._last_reading[1]
        with timed(self._busy, "ocr"):
            text = self.read_text(image)
        with timed(self._busy, "faces"):
            people = self.read_people(image)
        with timed(self._busy, "objects"):
            objects = self.read_objects(image)
        reading = FrameReading(text, people + objects)
        self._last_reading = (thumb, reading)
        return reading

    def class_probabilities(self, frames: np.ndarray) -> np.ndarray:
        """frames: (n, 224, 224, 3) uint8 RGB -> (n, 1000) softmax probabilities."""
        x = (frames.astype(np.float32).transpose(0, 3, 1, 2) - 127.0) / 128.0
        logits = np.concatenate(
            [self._session.run(["logits"], {"image": x[i : i + 16]})[0] for i in range(0, len(x), 16)]
        )
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        return e / e.sum(axis=1, keepdims=True)

    def read_text(self, image: np.ndarray) -> str:
        if self._ocr is None:
            return ""
        result, _ = self._ocr(image)
        words = [text for _box, text, score in result or [] if float(score) >= OCR_MIN_CONFIDENCE]
        text = " ".join(words).strip()
        return text if sum(c.isalnum() for c in text) >= OCR_MIN_CHARS else ""

    def read_people(self, image: np.ndarray) -> tuple[tuple[str, float], ...]:
        if self.faces is None:
            return ()
        return tuple(people_phrases(self.faces.detect(image)))

    def read_objects(self, image: np.ndarray) -> tuple[tuple[str, float], ...]:
        if self.objects is None:
            return ()
        reading = self.objects.read(image)
        return tuple(object_phrases(reading.presence, reading.people))

    def read_frame(self, image: np.ndarray) -> FrameReading:
        return FrameReading(self.read_text(image), self.read_people(image) + self.read_objects(image))

    def encode_clips(
        self, frames_per_clip: Sequence[np.ndarray], readings: Sequence[FrameReading]
    ) -> np.ndarray:
        """One vector per clip: ConSE of the clip's mean class distribution, plus its frame reading."""
        probs = np.stack([self.class_probabilities(f).mean(axis=0) for f in frames_per_clip])
        return self.encode_probabilities(probs, readings)

    def encode_probabilities(self, probs: np.ndarray, readings: Sequence[FrameReading]) -> np.ndarray:
        """(clips, 1000) class distributions and frame readings -> (clips, dim) unit vectors."""
        vectors = conse(probs, self._labels, TOP_K)
        with_text = [i for i, r in enumerate(readings) if r.text]
        if with_text:
            vectors[with_text] += self._encode_text([readings[i].text for i in with_text])
        for i, reading in enumerate(readings):
            if reading.phrases:
                # phrases is not empty, so the sum is an array, never sum's start 0
                mix = cast(np.ndarray, sum(w * self._phrase_vectors[p] for p, w in reading.phrases))
                vectors[i] += max(w for _, w in reading.phrases) * l2_normalise(mix)
        return l2_normalise(vectors)


def _load_ocr() -> Callable | None:
    try:
        from rapidocr_onnxruntime import RapidOCR
    except ImportError:  # OCR is optional: without it the visual option is classes only.
        log.warning("rapidocr-onnxruntime is not installed: visual vectors will not include OCR text")
        return None
    single_thread = {
        f"{part}_{kind}_op_num_threads": 1 for part in ("det", "cls", "rec") for kind in ("intra", "inter")
    }
    # Detection on the frame's own size (the engine passes at most 640 px) instead of upscaling its
    # short side to 736, and no 180-degree classifier: about 0.05 s instead of 0.36 s per frame.
    return RapidOCR(det_limit_side_len=960, det_limit_type="max", use_cls=False, **single_thread)
