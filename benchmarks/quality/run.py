"""Quality benchmark: text -> clip retrieval on labelled videos built from Tux Paint stamps.

Each 6 s segment shows a stamp's picture, plays its sound effect from 0 s (peak 0.3) and speaks a sentence
naming it from 2.5 s (espeak-ng). The query for a segment is the stamp's English label ("A
horse."); a hit is the query's own segment. Recall@k is computed over all clips of all videos of
a half, for each option and for fusions of the three (max or mean of per-option z-scored
cosines, as `vidembed search` does).
Videos alternate between a development half and a held-out half; both are reported. The row
"audio, sound effect alone" scores each stamp's sound effect by itself (no speech over it): what
the audio option could reach on these sounds if speech did not interfere.

    python -m benchmarks.quality.run [--videos 10] [--per-video 6]

Stamps: Debian's ``tuxpaint-stamps-default`` (GPL-2), only ``animals/`` and ``food/``; the
package is fetched with ``apt-get download`` into the cache folder if it is not there yet.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from PIL import Image

from benchmarks.quality.fusion import ClipTable, add_stack_arguments, recall, stack_from_arguments
from vidembed.devtools.synth import AUDIO_RATE, SegmentSpec, make_video
from vidembed.engine import Engine
from vidembed.models.weights import models_dir
from vidembed.segmentation import ClipParams

SEGMENT_SEC = 6.0
SOUND_PEAK = 0.3  # espeak-ng speech peaks near 0.8
CATEGORIES = ("animals", "food")


@dataclass(frozen=True)
class Stamp:
    name: str
    label: str  # "A horse."
    image: Path
    sound: Path


CrossedVideo = tuple[Path, list[tuple[Stamp, Stamp, Stamp]]]  # per segment: seen, heard, said


def stamps_root(cache: Path) -> Path:
    root = cache / "tuxpaint" / "usr/share/tuxpaint/stamps"
    if not root.exists():
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run(["apt-get", "download", "tuxpaint-stamps-default"], cwd=cache, check=True)
        deb = next(cache.glob("tuxpaint-stamps-default_*.deb"))
        subprocess.run(["dpkg", "-x", str(deb), str(cache / "tuxpaint")], check=True)
        deb.unlink()
    return root


def find_stamps(root: Path) -> list[Stamp]:
    stamps = []
    for category in CATEGORIES:
        for sound in sorted((root / category).rglob("*.ogg")):
            if "_desc" in sound.stem:
                continue
            image, text = sound.with_suffix(".png"), sound.with_suffix(".txt")
            if image.exists() and text.exists():
                label = text.read_text(errors="ignore").splitlines()[0].strip()
                if label:
                    stamps.append(Stamp(sound.stem, label, image, sound))
    # One stamp per label: variants ("pig_golden2") would make duplicate queries.
    unique = {s.label.lower(): s for s in stamps}
    return sorted(unique.values(), key=lambda s: s.name)


def load_sound(path: Path, seconds: float) -> np.ndarray:
    with av.open(str(path)) as container:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=AUDIO_RATE)
        chunks = [
            out.to_ndarray().reshape(-1)
            for frame in container.decode(audio=0)
            for out in resampler.resample(frame)
        ]
    samples = np.concatenate(chunks) if chunks else np.zeros(1, np.float32)
    # Sound effects are mastered loud; keep them under the speech, as in most real videos.
    return (
        SOUND_PEAK * samples[: int(seconds * AUDIO_RATE)] / max(float(np.abs(samples).max(initial=0)), 1e-6)
    )


def load_image(path: Path) -> np.ndarray:
    picture = Image.open(path).convert("RGBA")
    background = Image.new("RGBA", picture.size, (255, 255, 255, 255))
    return np.asarray(Image.alpha_composite(background, picture).convert("RGB"))


def segment(seen: Stamp, heard: Stamp, said: Stamp) -> SegmentSpec:
    """One segment: ``seen``'s picture, ``heard``'s sound from 0 s, "Here is {said}" from 2.5 s."""
    return SegmentSpec(
        SEGMENT_SEC,
        image=load_image(seen.image),
        audio=load_sound(heard.sound, 5.5),
        speech=f"Here is {said.label.rstrip('.').lower()}.",
        speech_delay=2.5,
    )


def build_videos(
    stamps: list[Stamp], n_videos: int, per_video: int, out: Path
) -> list[tuple[Path, list[Stamp]]]:
    rng = random.Random(7)
    chosen = rng.sample(stamps, min(len(stamps), n_videos * per_video))
    out.mkdir(parents=True, exist_ok=True)
    videos = []
    for v in range(n_videos):
        items = chosen[v * per_video : (v + 1) * per_video]
        if not items:
            break
        path = out / f"video{v:02d}.mp4"
        if not path.exists():
            make_video(path, [segment(s, s, s) for s in items])
        videos.append((path, items))
    return videos


def build_crossed_videos(stamps: list[Stamp], n_videos: int, per_video: int, out: Path) -> list[CrossedVideo]:
    """Videos whose every segment shows one stamp, plays another's sound and names a third: what
    is seen, heard and said are about different things, as often in real footage. No label is
    used twice in the set."""
    rng = random.Random(11)
    n = min(n_videos, len(stamps) // (3 * per_video))
    chosen = rng.sample(stamps, n * per_video * 3)
    out.mkdir(parents=True, exist_ok=True)
    videos = []
    for v in range(n):
        first = v * per_video * 3
        triples = [
            (chosen[first + 3 * i], chosen[first + 3 * i + 1], chosen[first + 3 * i + 2])
            for i in range(per_video)
        ]
        path = out / f"crossed{v:02d}.mp4"
        if not path.exists():
            make_video(path, [segment(*triple) for triple in triples])
        videos.append((path, triples))
    return videos


def embed_all(engine: Engine, paths: list[Path]) -> ClipTable:
    table = ClipTable(engine.stack)
    for path in paths:
        table.add(path.stem, engine.embed(path, ClipParams(clip_length=SEGMENT_SEC)))
    return table


def evaluate(
    engine: Engine, videos: list[tuple[Path, list[Stamp]]]
) -> tuple[dict[str, tuple[float, float]], dict[str, dict[str, float]]]:
    """Recall@1 and @5 per option and fusion over the half, and R@1 per video (its queries, all
    clips)."""
    table = embed_all(engine, [path for path, _ in videos])
    labels = [s.label for _, items in videos for s in items]
    truth = np.arange(len(labels))
    per_option = table.scores(labels)
    # The audio option's ceiling here: each stamp's sound effect alone, without speech or video.
    queries = engine.stack.encode_text(labels)
    sounds = [load_sound(s.sound, 5.5).astype(np.float32) for _, items in videos for s in items]
    alone = np.stack([engine.stack.audio.encode_clips(pcm, [(0, len(pcm))])[0] for pcm in sounds])
    per_option["audio, sound effect alone"] = queries @ alone.T
    summary = {o: (recall(s, truth, 1), recall(s, truth, 5)) for o, s in per_option.items()}
    per_video, first = {}, 0
    for path, items in videos:
        rows = slice(first, first + len(items))
        per_video[path.stem] = {o: recall(s[rows], truth[rows], 1) for o, s in per_option.items()}
        first += len(items)
    return summary, per_video


def evaluate_crossed(engine: Engine, videos: list[CrossedVideo]) -> dict[str, dict[str, float]]:
    """R@1 per ranking, for the queries about what is seen, heard and said, and over all three."""
    table = embed_all(engine, [path for path, _ in videos])
    triples = [t for _, ts in videos for t in ts]
    kinds = {"seen": 0, "heard": 1, "said": 2}
    out: dict[str, dict[str, float]] = {}
    truth = np.arange(len(triples))
    per_kind = {k: table.scores([t[i].label for t in triples]) for k, i in kinds.items()}
    for ranking in per_kind["seen"]:
        row = {k: recall(per_kind[k][ranking], truth, 1) for k in kinds}
        row["all"] = sum(row.values()) / len(kinds)
        out[ranking] = row
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=10)
    parser.add_argument("--per-video", type=int, default=6)
    parser.add_argument("--crossed-videos", type=int, default=3)
    parser.add_argument("--cache", type=Path, default=models_dir().parent / "benchmarks")
    add_stack_arguments(parser)
    args = parser.parse_args()
    stamps = find_stamps(stamps_root(args.cache))
    videos = build_videos(stamps, args.videos, args.per_video, args.cache / "quality-videos")
    engine = Engine(stack_from_arguments(args))
    halves = {"development": videos[0::2], "held-out": videos[1::2]}
    started = time.perf_counter()
    evaluated = {name: evaluate(engine, part) for name, part in halves.items()}
    results = {name: table for name, (table, _) in evaluated.items()}
    per_video = {name: videos for name, (_, videos) in evaluated.items()}
    n = {name: sum(len(items) for _, items in part) for name, part in halves.items()}
    print(
        f"{len(stamps)} labelled stamps; {len(videos)} videos of {args.per_video} x {SEGMENT_SEC:g} s "
        f"({time.perf_counter() - started:.0f} s)\n"
    )
    print("| option | " + " | ".join(f"{h} R@1 | {h} R@5" for h in halves) + " |")
    print("|---|" + "---|---|" * len(halves))
    for option in results["development"]:
        cells = " | ".join(f"{results[h][option][0]:.2f} | {results[h][option][1]:.2f}" for h in halves)
        print(f"| {option} | {cells} |")
    print("\nclips per half: " + ", ".join(f"{h} {n[h]}" for h in halves))
    crossed = build_crossed_videos(stamps, args.crossed_videos, args.per_video, args.cache / "quality-videos")
    crossed_table = evaluate_crossed(engine, crossed)
    print(
        f"\nCrossed set: {len(crossed)} videos of {args.per_video} segments, each showing one stamp, "
        "playing a second one's sound and naming a third; R@1 of the queries about each:\n"
    )
    print("| ranking | seen | heard | said | all |")
    print("|---|---|---|---|---|")
    for ranking, row in crossed_table.items():
        print(
            f"| {ranking} | " + " | ".join(f"{row[k]:.2f}" for k in ("seen", "heard", "said", "all")) + " |"
        )
    print("\nR@1 per video (its queries against all clips of its half):\n")
    options = list(results["development"])
    print("| video | half | " + " | ".join(options) + " |")
    print("|---|---|" + "---|" * len(options))
    for h in halves:
        for video, row in per_video[h].items():
            print(f"| {video} | {h} | " + " | ".join(f"{row[o]:.2f}" for o in options) + " |")


if __name__ == "__main__":
    main()
