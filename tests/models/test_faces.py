"""People in the visual option: BlazeFace (converted from MediaPipe's TFLite file) on real photos,
and its phrases in the clip vectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vidembed.devtools.synth import SegmentSpec, make_video
from vidembed.engine import Engine
from vidembed.models import weights as assets
from vidembed.models.catalog import load_stack
from vidembed.models.faces import (
    CLOSE_UP_WIDTH,
    MIN_FACE_SCORE,
    PEOPLE_PHRASES,
    Face,
    FaceDetector,
    face_weight,
    people_phrases,
)
from vidembed.segmentation import ClipParams

MEDIA = Path(__file__).resolve().parents[2] / ".cache" / "media"
MAN = MEDIA / "left06.jpg"  # a man at a desk, face in profile (opencv-doc)
SQUIRREL = MEDIA / "squirrel_cls.jpg"  # the photo whose best anchor scores highest without a face

pytestmark = pytest.mark.skipif(not SQUIRREL.exists(), reason="scripts/test.sh fetches opencv-doc samples")


def photo(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector(assets.face_detector_onnx())


def test_finds_the_face_in_a_real_photo(detector: FaceDetector) -> None:
    faces = detector.detect(photo(MAN))
    assert len(faces) == 1
    face = faces[0]
    # MediaPipe's own runtime scores this photo 0.86 (letterboxed); our square crop reads 0.89
    assert 0.85 <= face.score <= 0.93
    x0, y0, x1, y1 = face.box  # fractions of the 480 px side of a 640x480 photo
    assert 0.45 < x0 < x1 < 0.8 and 0.2 < y0 < y1 < 0.55
    assert 0.15 < face.width < CLOSE_UP_WIDTH


def test_no_face_in_a_squirrel_photo(detector: FaceDetector) -> None:
    assert detector.detect(photo(SQUIRREL)) == []
    # its best anchor is a near miss: the threshold is what keeps it out
    near = detector.detect(photo(SQUIRREL), min_score=0.5)
    assert near and 0.5 <= near[0].score < MIN_FACE_SCORE


def test_wide_frames_are_read_as_squares() -> None:
    """A face at the edge of a 16:9 frame is found in its own square, at full size."""
    detector = FaceDetector(assets.face_detector_onnx())
    man = photo(MAN)[:, 80:560]  # 480x480, face at the right
    wide = np.zeros((480, 854, 3), np.uint8)
    wide[:, 854 - 480 :] = man
    faces = detector.detect(wide)
    assert len(faces) == 1 and faces[0].score > 0.85
    assert faces[0].box[0] > 1.0  # in units of the frame height: beyond the first square


def test_people_phrases_weigh_by_score() -> None:
    assert people_phrases([]) == []
    small = Face(0.9, (0.1, 0.1, 0.2, 0.2))
    assert people_phrases([small]) == [(PEOPLE_PHRASES["person"], 0.9), (PEOPLE_PHRASES["face"], 0.9)]
    # below FULL_FACE_SCORE (0.85) the weight ramps down to 0 at MIN_FACE_SCORE (0.7)
    assert face_weight(0.85) == pytest.approx(0.85) and face_weight(0.7) == 0.0
    assert face_weight(0.8) == pytest.approx(0.8 * 2 / 3)
    assert people_phrases([Face(0.7, (0.1, 0.1, 0.2, 0.2))]) == []
    big = Face(0.8, (0.2, 0.2, 0.6, 0.6))
    group = people_phrases([small, big, Face(0.75, (0.7, 0.1, 0.8, 0.2))])
    assert dict(group) == pytest.approx(
        {
            PEOPLE_PHRASES["person"]: 0.9,
            PEOPLE_PHRASES["face"]: 0.9,
            PEOPLE_PHRASES["close_up"]: 0.8 * 2 / 3,
            PEOPLE_PHRASES["group"]: (0.9 + 0.8 * 2 / 3 + 0.75 / 3) / 3,
        }
    )


def test_a_clip_with_a_person_answers_people_queries(tmp_path: Path) -> None:
    """Through the engine on a real video: without the detectors, people queries can hardly tell
    the man from the squirrel (ImageNet has no person class); with them, the man's clip wins."""
    video = make_video(
        tmp_path / "man_and_squirrel.mp4",
        [SegmentSpec(3.0, image=photo(MAN)), SegmentSpec(3.0, image=photo(SQUIRREL))],
        with_audio=False,
    )
    stack = load_stack("marengo3.0")
    engine = Engine(stack)
    query = stack.encode_text(["somebody.", "a face."])

    def similarities() -> np.ndarray:
        result = engine.embed(video, ClipParams(clip_length=3.0), options=["visual"])
        vectors = np.stack([s.vector for s in result.segments])
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
        return query @ vectors.T  # (queries, [man, squirrel])

    with_faces = similarities()
    detectors = stack.visual.faces, stack.visual.objects
    stack.visual.faces = stack.visual.objects = None
    try:
        without_faces = similarities()
    finally:
        stack.visual.faces, stack.visual.objects = detectors
    assert (np.abs(without_faces[:, 0] - without_faces[:, 1]) < 0.05).all()
    assert (with_faces[:, 0] - with_faces[:, 1] > 0.2).all()
    assert (with_faces[:, 0] > without_faces[:, 0] + 0.1).all()
    np.testing.assert_allclose(with_faces[:, 1], without_faces[:, 1], atol=1e-6)  # no face: unchanged
