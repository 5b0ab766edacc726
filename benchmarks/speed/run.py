"""Speed benchmark: vidembed's pipeline against a naive reference, side by side, same run.

    python -m benchmarks.speed.run [--resolutions 480p,720p,1080p] [--minutes 1,10,60]
                                   [--naive-max-minutes 10] [--options visual,audio,transcription]
                                   [--stacks conse-minilm-384,conse-muse-512]

For each input it prints wall time, realtime factor (video seconds per wall second), peak RSS and
time per stage for (a) the pipeline (``vidembed.engine.Engine``) and (b) a naive implementation of
the same outputs written here: decode every frame, embed sampled frames one by one, OCR and sound
per clip, and Whisper per clip. Each run is a separate process, so peak RSS is its own. It also
checks that (a) and (b) agree: cosine of each segment's vectors, per option. With several
``--stacks``, the pipeline runs once per stack on the same input, side by side (the naive
reference with the first stack only).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np

from benchmarks.speed.videos import looped_video
from vidembed.engine import Engine
from vidembed.engine.engine import FRAMES_PER_CLIP
from vidembed.engine.media import AUDIO_RATE, FrameRequest, _convert, probe
from vidembed.models.catalog import load_stack
from vidembed.models.speech import words_in
from vidembed.models.visual import DETAIL_FRAME_MAX as OCR_FRAME_MAX
from vidembed.models.weights import models_dir
from vidembed.segmentation import ClipParams, plan_clips


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    """User + system CPU time of this process so far, all threads (CTranslate2's and onnxruntime's too)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_pipeline(path: Path, options: list[str], stack_name: str) -> dict:
    started = time.perf_counter()
    stack = load_stack(stack_name)  # loads and warms up: kept out of the wall time
    load = time.perf_counter() - started
    cpu = cpu_seconds()
    result = Engine(stack).embed(path, ClipParams(), options)
    wall = time.perf_counter() - started - load
    cpu = cpu_seconds() - cpu
    stages = {k: round(v, 1) for k, v in result.stage_seconds.items() if k != "wall"}
    vectors = {f"{s.option}:{s.start}": s.vector.tolist() for s in result.segments}
    return {
        "wall": wall,
        "load": load,
        "cpu": cpu,
        "duration": result.duration,
        "stages": stages,
        "vectors": vectors,
    }


def run_naive(path: Path, options: list[str], stack_name: str) -> dict:
    """The same outputs the obvious way: every frame decoded, one model call per item."""
    started = time.perf_counter()
    stack = load_stack(stack_name)  # loads and warms up: kept out of the wall time
    load = time.perf_counter() - started
    cpu = cpu_seconds()
    t0 = time.perf_counter()
    info = probe(path)
    plan = plan_clips(info.duration, ClipParams())
    stages: dict[str, float] = {}
    vectors: dict[str, list[float]] = {}
    if "visual" in options:
        times = [
            [c.start + c.duration * (k + 0.5) / FRAMES_PER_CLIP for k in range(FRAMES_PER_CLIP)]
            for c in plan.clips
        ]
        wanted = sorted(
            (t, i, k)
            for i, ts in enumerate(times)
            for k, t in enumerate(ts + [plan.clips[i].start + plan.clips[i].duration / 2])
        )
        picked: dict[tuple[int, int], np.ndarray] = {}
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            j = 0
            for frame in container.decode(stream):  # every frame, kept as full-size RGB
                rgb = frame.to_ndarray(format="rgb24")
                while j < len(wanted) and wanted[j][0] <= frame.time + 1e-3:
                    _, i, k = wanted[j]
                    size = OCR_FRAME_MAX if k == FRAMES_PER_CLIP else stack.visual.frame_size
                    request = FrameRequest(0, size, size, k != FRAMES_PER_CLIP)
                    picked[(i, k)] = _convert(av.VideoFrame.from_ndarray(rgb, format="rgb24"), request)
                    j += 1
        stages["decode"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        for i, c in enumerate(plan.clips):
            probs = np.mean(
                [
                    stack.visual.class_probabilities(picked[(i, k)][None])[0]  # one frame per call
                    for k in range(FRAMES_PER_CLIP)
                ],
                axis=0,
            )
            reading = stack.visual.read_frame(picked[(i, FRAMES_PER_CLIP)])
            vector = stack.visual.encode_probabilities(probs[None], [reading])[0]
            vectors[f"visual:{c.start}"] = vector.tolist()
        stages["visual"] = time.perf_counter() - t1
    if "audio" in options or "transcription" in options:
        t1 = time.perf_counter()
        with av.open(str(path)) as container:
            resampler = av.AudioResampler(format="flt", layout="mono", rate=AUDIO_RATE)
            pcm = np.concatenate(
                [o.to_ndarray().reshape(-1) for f in container.decode(audio=0) for o in resampler.resample(f)]
            )
        stages["audio_decode"] = time.perf_counter() - t1
        windows = [(round(c.start * AUDIO_RATE), round(c.end * AUDIO_RATE)) for c in plan.clips]
        if "audio" in options:
            t1 = time.perf_counter()
            for c, v in zip(plan.clips, stack.audio.encode_clips(pcm, windows), strict=True):
                vectors[f"audio:{c.start}"] = v.tolist()
            stages["audio"] = time.perf_counter() - t1
        if "transcription" in options:
            t1 = time.perf_counter()
            for c, (lo, hi) in zip(plan.clips, windows, strict=True):
                words = stack.transcription.transcriber.transcribe(pcm[lo:hi])
                text = words_in(words, 0, c.duration + 1)
                vectors[f"transcription:{c.start}"] = stack.transcription.encode_texts([text])[0].tolist()
            stages["transcription"] = time.perf_counter() - t1
    wall = time.perf_counter() - started - load
    return {
        "wall": wall,
        "load": load,
        "cpu": cpu_seconds() - cpu,
        "duration": info.duration,
        "stages": {k: round(v, 1) for k, v in stages.items()},
        "vectors": vectors,
    }


def one(kind: str, path: Path, options: list[str], stack_name: str) -> None:
    result = (run_pipeline if kind == "pipeline" else run_naive)(path, options, stack_name)
    result["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(result))


def measure(kind: str, path: Path, options: list[str], stack_name: str) -> dict:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.speed.run",
            "--one",
            kind,
            str(path),
            "--options",
            ",".join(options),
            "--stacks",
            stack_name,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def agreement(a: dict, b: dict) -> dict[str, tuple[float, float]]:
    """Per option: (lowest, median) cosine between the two implementations' segment vectors."""
    cosines: dict[str, list[float]] = {}
    for key, va in a["vectors"].items():
        if key in b["vectors"]:
            cosines.setdefault(key.split(":")[0], []).append(float(np.dot(va, b["vectors"][key])))
    return {o: (min(c), float(np.median(c))) for o, c in cosines.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolutions", default="720p")
    parser.add_argument("--minutes", default="1")
    parser.add_argument("--naive-max-minutes", type=int, default=10)
    parser.add_argument("--options", default="visual,audio,transcription")
    parser.add_argument("--folder", type=Path, default=models_dir().parent / "benchmarks" / "speed-videos")
    parser.add_argument(
        "--stacks", default="marengo3.0", help="stacks to time side by side (comma-separated)"
    )
    parser.add_argument("--one", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    options = args.options.split(",")
    stacks = args.stacks.split(",")
    if args.one:
        one(args.one[0], Path(args.one[1]), options, stacks[0])
        return
    print(f"options: {', '.join(options)}\n")
    columns = [
        "input",
        "impl",
        "wall s",
        "realtime x",
        "peak RSS MB",
        "load s",
        "CPU s (cores busy)",
        "stages (s)",
        "speed-up",
        "cosine a~b (min/median)",
    ]
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for resolution in args.resolutions.split(","):
        for minutes in (int(m) for m in args.minutes.split(",")):
            path = looped_video(args.folder, resolution, minutes)
            runs = {f"(a) vidembed {stack}": measure("pipeline", path, options, stack) for stack in stacks}
            a = next(iter(runs.values()))
            b = measure("naive", path, options, stacks[0]) if minutes <= args.naive_max_minutes else None
            name = f"{resolution} {minutes} min"
            for label, r in (*runs.items(), (f"(b) naive {stacks[0]}", b)):
                if r is None:
                    skipped = f"| {name} | (b) naive | skipped (over --naive-max-minutes) |"
                    print(skipped + " |" * (len(columns) - 3))
                    continue
                speedup = (
                    f"{b['wall'] / r['wall']:.2f}x" if b and r is not None and label.startswith("(a)") else ""
                )
                pairs = agreement(r, b).items() if b and r is a else []
                agree = ", ".join(f"{o} {lo:.3f}/{med:.3f}" for o, (lo, med) in pairs)
                stages = " ".join(f"{k} {v}" for k, v in r["stages"].items())
                print(
                    f"| {name} | {label} | {r['wall']:.1f} | {r['duration'] / r['wall']:.1f} | "
                    f"{r['peak_rss_mb']:.0f} | {r['load']:.1f} | "
                    f"{r['cpu']:.1f} ({r['cpu'] / r['wall']:.2f}) | {stages} | {speedup} | {agree} |",
                    flush=True,
                )
    print(
        "\nwall excludes model load and warm-up ('load s'); CPU s is user+system time of all threads"
        " during the wall time, and 'cores busy' is CPU s / wall (this machine has 2)."
    )


if __name__ == "__main__":
    main()
