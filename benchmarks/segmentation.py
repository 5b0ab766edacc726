"""Segmentation benchmark: shot-cut detection on videos with known cuts, and its cost.

    python -m benchmarks.segmentation [--resolutions 720p,480p] [--seconds 60] [--repeat 2]
                                      [--stacks fake,conse-minilm-384] [--real PATH ...]

Builds Ken-Burns videos (H.264, 25 fps, PyAV) whose shots are real photos with fast pans, zooms,
a shaking camera or a still picture, cut hard from one to the next (every cut's time is known),
then prints per video:

- the detector's cuts (``vidembed.engine.shots.detect_cuts``: the same detector on the same decode
  the engine runs) against the true cuts: precision and recall within 0.25 s, the mean and worst
  offset, and the false cuts inside moving shots (pans, zooms, shakes);
- the boundaries of ``Engine.embed(strategy="dynamic", min_duration=2)``: the same measures;
- the wall time of dynamic against fixed segmentation on the same video in the same run, per
  stack (``fake``: the decode pass nearly alone; the built-in stack: options visual and audio),
  the fastest of ``--repeat`` runs each;

and for each ``--real`` video (no ground truth) how many cuts and clips dynamic segmentation finds.
Results: docs/SEGMENTATION.md.
"""

from __future__ import annotations

import math
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
    cuts, moving = [], []
    index = 0
    with av.open(str(path), "w") as container:
        options = {} if keyframes_at_cuts else {"x264-params": "scenecut=0"}
        stream = container.add_stream("libx264", rate=fps, options=options)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for n, shot in enumerate(shots):
            first = index
            frames = round(shot.duration * fps)
            if n:
                cuts.append(first / fps)
            picture = pictures[shot.photo % len(pictures)]
            for k in range(frames):
                box = _crop(shot.motion, k / max(1, frames - 1), index, picture.size, width / height)
                rgb = np.asarray(picture.resize((width, height), Image.Resampling.BILINEAR, box=box))
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
                frame.pts, frame.time_base = index, Fraction(1, fps)
                index += 1
                for packet in stream.encode(frame):
                    container.mux(packet)
            if shot.motion != "still":
                moving.append((first / fps, index / fps))
        for packet in stream.encode(None):
            container.mux(packet)
    return ShotVideo(path, tuple(cuts), tuple(moving), index / fps)
