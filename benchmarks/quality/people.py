"""Quality check on real photos and footage: do queries about people find the clips that show people?

ImageNet-1k has no person class, so the visual option only finds people through the detectors'
phrases (faces, COCO objects). This builds one video of 3 s segments, each a real photo (Debian's
``opencv-doc`` samples and scikit-image's data files: 6 with people, 22 without), adds the 6 s
clips of a real surveillance video of pedestrians (``vtest.avi``, also from ``opencv-doc``: people
walking, seen from above, faces too small to detect), and prints the average precision (AP) of
people queries over all these clips, with each detector on or off, in one run. Face queries count
only the photos with a visible face as relevant, "several people." only the pedestrian clips.
The per-photo label queries ("a cat.", "an astronaut.") give Recall@1 on everyday photos, beyond
the animals of ``benchmarks.quality.run``.

    python -m benchmarks.quality.people

Small set, and the detectors' thresholds were read off the scores of these photos: a sanity check
of the detectors' phrases, not a held-out benchmark.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np

from benchmarks.quality.fusion import add_stack_arguments, stack_from_arguments
from benchmarks.quality.run import load_image
from vidembed.devtools.synth import SegmentSpec, make_video
from vidembed.engine import Engine
from vidembed.models.weights import models_dir
from vidembed.segmentation import ClipParams

OPENCV = "usr/share/doc/opencv-doc/examples/data/"
SKIMAGE = "skimage/data/"
SKIMAGE_WHEEL = "scikit-image==0.26.0"
SEGMENT_SEC = 3.0
# photo -> (its own query, shows people, a face is visible)
PHOTOS = {
    SKIMAGE + "astronaut.png": ("an astronaut.", True, True),
    SKIMAGE + "camera.png": ("a man with a camera.", True, True),
    OPENCV + "basketball1.png": ("two people playing basketball.", True, True),
    OPENCV + "left06.jpg": ("a man holding a chessboard.", True, True),
    OPENCV + "messi5.jpg": ("a football player kicking a ball.", True, False),
    OPENCV + "left01.jpg": ("a chessboard held up in an office.", True, False),
    SKIMAGE + "chelsea.png": ("a cat.", False, False),
    SKIMAGE + "coffee.png": ("a cup of coffee.", False, False),
    SKIMAGE + "horse.png": ("a horse.", False, False),
    SKIMAGE + "moon.png": ("the moon.", False, False),
    SKIMAGE + "motorcycle_left.png": ("a motorcycle.", False, False),
    SKIMAGE + "rocket.jpg": ("a rocket.", False, False),
    OPENCV + "apple.jpg": ("an apple.", False, False),
    OPENCV + "baboon.jpg": ("a baboon.", False, False),
    OPENCV + "butterfly.jpg": ("a butterfly.", False, False),
    OPENCV + "building.jpg": ("a building.", False, False),
    OPENCV + "chicky_512.png": ("a small dog.", False, False),
    OPENCV + "fruits.jpg": ("fruits.", False, False),
    OPENCV + "home.jpg": ("a palace under a blue sky.", False, False),
    OPENCV + "orange.jpg": ("an orange.", False, False),
    OPENCV + "squirrel_cls.jpg": ("a squirrel.", False, False),
    OPENCV + "HappyFish.jpg": ("a fish.", False, False),
    OPENCV + "starry_night.jpg": ("a painting.", False, False),
    OPENCV + "aloeL.jpg": ("a plant in a pot.", False, False),
    OPENCV + "aero1.jpg": ("an aerial view of a town.", False, False),
    OPENCV + "board.jpg": ("a circuit board.", False, False),
    OPENCV + "smarties.png": ("sweets.", False, False),
    OPENCV + "stuff.jpg": ("a pen on a table.", False, False),
}
# query -> relevant clips: 1 every clip with people, 2 the photos with a visible face, 3 the
# pedestrian clips (several people in every frame)
PEOPLE_QUERIES = {
    "a man.": 1,
    "people.": 1,
    "somebody.": 1,
    "a face.": 2,
    "a portrait.": 2,
    "several people.": 3,
}
PEDESTRIANS = OPENCV + "vtest.avi"  # 79.5 s, 768x576 MPEG-4, people walking in a hall


def fetch_photos(cache: Path) -> Path:
    root = cache / "photos"
    if not (root / OPENCV).exists():
        root.mkdir(parents=True, exist_ok=True)
        subprocess.run(["apt-get", "download", "opencv-doc"], cwd=root, check=True)
        deb = next(root.glob("opencv-doc_*.deb"))
        subprocess.run(["dpkg", "-x", str(deb), str(root)], check=True)
        deb.unlink()
    if not (root / SKIMAGE).exists():
        pip = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", SKIMAGE_WHEEL, "-d", str(root)]
        subprocess.run(pip, check=True)
        wheel = next(root.glob("scikit_image-*.whl"))
        with zipfile.ZipFile(wheel) as archive:
            for name in PHOTOS:
                if name.startswith(SKIMAGE):
                    archive.extract(name, root)
        wheel.unlink()
    return root


def average_precision(scores: np.ndarray, relevant: np.ndarray) -> float:
    order = np.argsort(-scores)
    hits = np.cumsum(relevant[order])
    return float((hits / np.arange(1, len(order) + 1))[relevant[order]].sum() / relevant.sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=models_dir().parent / "benchmarks")
    add_stack_arguments(parser)
    args = parser.parse_args()
    root = fetch_photos(args.cache)
    video = args.cache / "people-photos.mp4"
    if not video.exists():
        make_video(video, [SegmentSpec(SEGMENT_SEC, image=load_image(root / n)) for n in PHOTOS])
    stack = stack_from_arguments(args)
    engine = Engine(stack)
    faces, objects = stack.visual.faces, stack.visual.objects
    runs = {}
    for name, use_faces, use_objects in (
        ("faces + objects (default)", True, True),
        ("faces only", True, False),
        ("objects only", False, True),
        ("neither (ImageNet classes + OCR)", False, False),
    ):
        stack.visual.faces = faces if use_faces else None
        stack.visual.objects = objects if use_objects else None
        photos = engine.embed(video, ClipParams(clip_length=SEGMENT_SEC), options=["visual"])
        walking = engine.embed(root / PEDESTRIANS, ClipParams(clip_length=6.0), options=["visual"])
        runs[name] = np.stack([s.vector for s in photos.segments + walking.segments])
    stack.visual.faces, stack.visual.objects = faces, objects
    n_walking = len(runs[name]) - len(PHOTOS)
    people = np.array([p for _, p, _ in PHOTOS.values()] + [True] * n_walking)
    face = np.array([f for _, _, f in PHOTOS.values()] + [False] * n_walking)
    relevant = {1: people, 2: face, 3: np.arange(len(people)) >= len(PHOTOS)}
    queries = stack.encode_text(list(PEOPLE_QUERIES))
    own = stack.encode_text([q for q, _, _ in PHOTOS.values()])
    print(
        f"{len(PHOTOS)} photos ({people[: len(PHOTOS)].sum()} with people, {face.sum()} with a visible "
        f"face) and {n_walking} clips of pedestrians\n"
    )
    header = " | ".join(f"AP '{q}'" for q in PEOPLE_QUERIES)
    print(f"| visual option, detectors | {header} | mean AP | own label R@1 |")
    print("|---|" + "---|" * (len(PEOPLE_QUERIES) + 2))
    for name, vectors in runs.items():
        aps = [
            average_precision(q @ vectors.T, relevant[kind])
            for q, kind in zip(queries, PEOPLE_QUERIES.values(), strict=True)
        ]
        scores = own @ vectors[: len(PHOTOS)].T
        r1 = float((scores.argmax(axis=1) == np.arange(len(own))).mean())
        print(f"| {name} | " + " | ".join(f"{a:.2f}" for a in aps) + f" | {np.mean(aps):.2f} | {r1:.2f} |")


if __name__ == "__main__":
    main()
