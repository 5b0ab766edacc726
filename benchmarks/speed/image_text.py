"""Speed of image-text stacks (a ViT-B/32 CLIP, a SigLIP-B/16) against the built-in ConSE stack.

    python -m benchmarks.speed.image_text [--minutes 1] [--resolution 720p] [--repeat 3]

No real weights exist here, but random weights in a real architecture cost what real weights cost
(same graphs, same shapes; only the numbers differ). ``tests/tiny_models.py`` writes random
``CLIPModel`` / ``SiglipModel`` of ViT-B/32 and SigLIP-B/16 size in Immich's ONNX layout, once: the
exports are cached under a key of their configuration (sizes, opset, torch and transformers
versions). Their vectors mean nothing; only their speed and memory are measured.

In one run, side by side, each configuration in its own process (so peak RSS is its own): the
built-in ``conse-minilm-384`` and a stack of each random model (a temporary stacks file with
``image_text = FOLDER``), on the same test video (``benchmarks/speed/videos.py``): wall time,
realtime factor, peak RSS, model load time and the visual encoder's busy time and frames/s (the
configurations take turns, ``--repeat`` rounds, and each shows its fastest run). Before that, each
stack's first load in a fresh process (it encodes the class-name vector tables once). Then a
micro-benchmark of each image tower alone (frames/s at batch 1, 3 and 16, 1 and 2 threads) and of
each text tower (queries/s). Every measurement also records how busy the machine's other processes
kept the cores meanwhile (from /proc/stat), since the machine may be shared.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.speed.videos import looped_video
from vidembed.engine import Engine
from vidembed.engine.engine import FRAMES_PER_CLIP
from vidembed.engine.media import FrameRequest, decode, probe
from vidembed.models.stack import DEFAULT_STACK
from vidembed.models.weights import models_dir
from vidembed.segmentation import ClipParams

ROOT = Path(__file__).resolve().parents[2]
CLIP_LENGTH = 6.0
BATCHES = (1, 3, 16)
THREADS = (1, 2)  # the stack's encoders run on 1 thread each (StackSettings.threads); 2 = the whole CPU
MIN_SECONDS = 3.0  # each micro-benchmark loop runs at least this long (and at least 3 calls)
TEXT_BATCH = 16

# Real architectures: OpenAI ViT-B/32 (open_clip "ViT-B-32") and SigLIP-B/16 at 224 px
# (open_clip "ViT-B-16-SigLIP": text 768 wide, 12 layers, 64 tokens, 32000-token vocabulary).
MODELS: dict[str, dict[str, Any]] = {
    "ViT-B-32__random": {
        "kind": "clip",
        "image_size": 224,
        "patch_size": 32,
        "vision": {"width": 768, "layers": 12, "heads": 12, "mlp_width": 3072},
        "text": {"width": 512, "layers": 12, "heads": 8, "mlp_width": 2048},
        "embed_dim": 512,
        "context_length": 77,
        "vocab_size": 49408,
    },
    "ViT-B-16-SigLIP__random": {
        "kind": "siglip",
        "image_size": 224,
        "patch_size": 16,
        "vision": {"width": 768, "layers": 12, "heads": 12, "mlp_width": 3072},
        "text": {"width": 768, "layers": 12, "heads": 12, "mlp_width": 3072},
        "context_length": 64,
        "vocab_size": 32000,
    },
}
STACK_NAMES = {"ViT-B-32__random": "vit-b-32-random", "ViT-B-16-SigLIP__random": "siglip-b-16-random"}
QUERIES = [
    "a man walking a dog in the park",
    "a rabbit under a big tree",
    "a butterfly on a purple flower",
    "three small rodents throwing fruit",
    "sunrise over green hills",
    "a bird singing in the morning light",
    "an angry rabbit making a plan",
    "a close up of a flower in the forest",
    "someone cutting vegetables in the kitchen",
    "a red car parked next to a building",
    "waves crashing on a sandy beach at sunset",
    "a snowy mountain under a blue sky",
    "people walking through a busy train station",
    "a dog catching a frisbee in the air",
    "an old man reading a newspaper on a bench",
    "a helicopter flying over the city at night",
]


# --- measuring helpers -----------------------------------------------------------------------------


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds(who: int = resource.RUSAGE_SELF) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def machine_busy_seconds() -> float:
    """CPU seconds all processes of the machine have spent busy since boot (/proc/stat)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def rate(call: Callable[[], None], items: int, min_seconds: float = MIN_SECONDS) -> dict[str, float]:
    """Items per second of ``call`` (which handles ``items``), after one warm-up call: by its fastest
    call ("best": other processes only ever slow a call down, as timeit's docs say) and its median one."""
    call()
    times: list[float] = []
    started = time.perf_counter()
    while len(times) < 3 or time.perf_counter() - started < min_seconds:
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return {"best": items / min(times), "median": items / float(np.median(times))}


# --- the random models: exported once, cached by their configuration -------------------------------


def model_key(name: str) -> str:
    import importlib.metadata as md

    spec = {
        **MODELS[name],
        "opset": _tiny_models().OPSET,
        "torch": md.version("torch"),
        "transformers": md.version("transformers"),
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]


def _tiny_models() -> Any:
    tests = str(ROOT / "tests")
    if tests not in sys.path:
        sys.path.insert(0, tests)
    import tiny_models

    return tiny_models


def export_model(name: str, folder: Path) -> None:
    """(In a child process: torch stays out of the measured ones.) Writes ``folder`` atomically."""
    tiny_models = _tiny_models()
    spec = dict(MODELS[name])
    kind = spec.pop("kind")
    spec["vision"] = tiny_models.TowerSize(**spec["vision"])
    spec["text"] = tiny_models.TowerSize(**spec["text"])
    make = tiny_models.make_tiny_clip if kind == "clip" else tiny_models.make_tiny_siglip
    started = time.perf_counter()
    partial = folder.with_name(f"{folder.name}.partial-{os.getpid()}")
    model = make(partial, **spec).model
    seconds = time.perf_counter() - started
    towers = (
        {"vision": ("vision_model", "visual_projection"), "text": ("text_model", "text_projection")}
        if kind == "clip"
        else {"vision": ("vision_model",), "text": ("text_model",)}
    )
    params = {
        tower: sum(p.numel() for part in parts for p in getattr(model, part).parameters())
        for tower, parts in towers.items()
    }
    info = {"export_seconds": seconds, "params": params, "key": folder.name.rsplit("-", 1)[-1]}
    (partial / "benchmark-export.json").write_text(json.dumps(info, indent=2))
    partial.replace(folder)


def random_model(name: str, cache: Path) -> tuple[Path, bool]:
    """The cached export of ``name`` (exported now if missing) and whether it was exported now."""
    folder = cache / f"{name}-{model_key(name)}"
    if (folder / "benchmark-export.json").exists():
        return folder, False
    cache.mkdir(parents=True, exist_ok=True)
    print(f"exporting {name} to {folder} (once) ...", file=sys.stderr, flush=True)
    child("--export", name, str(folder))
    return folder, True


# --- child processes -------------------------------------------------------------------------------


def child(*args: str) -> dict[str, Any]:
    """Runs this module with ``args`` in a fresh process; its last stdout line is a JSON object. Adds
    how many cores the machine's other processes kept busy during it."""
    cpu, busy, started = cpu_seconds(resource.RUSAGE_CHILDREN), machine_busy_seconds(), time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.speed.image_text", *args], capture_output=True, text=True
    )
    wall = time.perf_counter() - started
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    own = cpu_seconds(resource.RUSAGE_CHILDREN) - cpu
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["process_seconds"] = wall
    result["others_cores"] = max(0.0, (machine_busy_seconds() - busy - own) / wall)
    return result


def catalog_for(stacks_file: str) -> Any:
    from vidembed.models.catalog import StackCatalog
    from vidembed.models.stack import StackSettings

    return StackCatalog(StackSettings(stacks_file=Path(stacks_file) if stacks_file else None))


def labels_dir() -> Path:
    return models_dir() / "labels"  # where the registry caches class-name vectors


def run_load(stack: str, stacks_file: str) -> dict[str, Any]:
    """A fresh process's first load of the stack (encodes its class-name tables if not cached)."""
    before = set(labels_dir().glob("*.npy"))
    started = time.perf_counter()
    dimension = catalog_for(stacks_file).load(stack).dimension
    load = time.perf_counter() - started
    # Tables of this stack's width only: other processes may write tables of their own meanwhile.
    new = [
        p
        for p in set(labels_dir().glob("*.npy")) - before
        if np.load(p, mmap_mode="r").shape[-1] == dimension
    ]
    return {"load": load, "new_label_tables": len(new)}


def run_pipeline(stack_name: str, stacks_file: str, video: str) -> dict[str, Any]:
    started = time.perf_counter()
    stack = catalog_for(stacks_file).load(stack_name)  # loads and warms up
    load = time.perf_counter() - started
    cpu = cpu_seconds()
    started = time.perf_counter()
    result = Engine(stack).embed(Path(video), ClipParams(clip_length=CLIP_LENGTH))
    wall = time.perf_counter() - started
    return {
        "wall": wall,
        "load": load,
        "cpu": cpu_seconds() - cpu,
        "duration": result.duration,
        "clips": len(result.plan.clips),
        "frames": len(result.plan.clips) * FRAMES_PER_CLIP,
        "stages": {k: v for k, v in result.stage_seconds.items() if k != "wall"},
        "peak_rss_mb": peak_rss_mb(),
    }


def sample_frames(video: str, size: int, crop_square: bool, count: int = max(BATCHES)) -> list[np.ndarray]:
    """``count`` frames spread over the video, decoded as the engine hands them to the encoder."""
    info = probe(Path(video))
    requests = [
        FrameRequest(info.duration * (i + 0.5) / count, size, size, crop_square) for i in range(count)
    ]
    frames: list[np.ndarray | None] = [None] * count
    for event in decode(Path(video), info, requests, None):
        if isinstance(event, tuple):
            frames[event[0]] = event[1]
    return [f for f in frames if f is not None]


def image_tower_rates(run: Callable[[np.ndarray], Any], pixels: np.ndarray) -> dict[str, dict[str, float]]:
    return {str(b): rate(lambda b=b: run(pixels[:b]), b) for b in BATCHES}


def run_micro(folder: str, video: str) -> dict[str, Any]:
    """Image tower alone (preprocessed pixels into the ONNX session, vidembed's session options) and
    text tower (tokenize + run, as a query costs); ``folder`` empty: the built-in stack's models."""
    from vidembed.models.runtime import session

    out: dict[str, Any] = {"image": {}, "text": {}}
    if folder:
        from vidembed.models.openclip import ImageTextModel

        probe_model = ImageTextModel(Path(folder))
        size = probe_model.image_size
        frames = sample_frames(video, 2 * size, crop_square=False)  # as ImageTextVisualEncoder asks
        pixels = probe_model.preprocess(frames)
        out["preprocess_ms"] = 1000 / rate(lambda: probe_model.preprocess(frames), len(frames), 1.0)["best"]
        out["frame_shape"] = list(frames[0].shape)
        for threads in THREADS:
            graph = session(Path(folder) / "visual" / "model.onnx", threads)
            name = graph.get_inputs()[0].name
            out["image"][str(threads)] = image_tower_rates(
                lambda x, g=graph, n=name: g.run(None, {n: x}), pixels
            )
            del graph
            model = ImageTextModel(Path(folder), threads=threads)
            out["text"][str(threads)] = text_rates(model.encode_text)
            del model
    else:
        from vidembed.models import weights as assets
        from vidembed.models.text import MiniLMTextEncoder

        files = assets.prepare_all()
        frames = np.stack(sample_frames(video, 224, crop_square=True))  # ConseVisualEncoder.frames

        def prepare() -> np.ndarray:  # ConseVisualEncoder.class_probabilities' own preprocessing
            return (frames.astype(np.float32).transpose(0, 3, 1, 2) - 127.0) / 128.0

        pixels = prepare()
        out["preprocess_ms"] = 1000 / rate(prepare, len(frames), 1.0)["best"]
        out["frame_shape"] = list(frames[0].shape)
        for threads in THREADS:
            graph = session(files["efficientnet"], threads)
            out["image"][str(threads)] = image_tower_rates(
                lambda x, g=graph: g.run(["logits"], {"image": x}), pixels
            )
            del graph
            text = MiniLMTextEncoder(files["minilm"], files["minilm_tokenizer"], threads=threads)
            out["text"][str(threads)] = text_rates(text.encode)
            del text
    return out


def text_rates(encode: Callable[[list[str]], Any]) -> dict[str, dict[str, float]]:
    state = {"i": 0}

    def one() -> None:  # a different query each call (tokenizing is part of a query's cost)
        encode([QUERIES[state["i"] % len(QUERIES)]])
        state["i"] += 1

    return {"1": rate(one, 1), str(TEXT_BATCH): rate(lambda: encode(QUERIES[:TEXT_BATCH]), TEXT_BATCH)}


# --- the report ------------------------------------------------------------------------------------


def table(columns: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def visual_model_seconds(stages: dict[str, float]) -> tuple[str, float]:
    """The visual encoder's model time on the sampled frames: the image tower (image_text), or
    EfficientNet-Lite0 for ConSE (its OCR, face and object readers of the middle frame apart)."""
    if "image_text" in stages:
        return "image_text", stages["image_text"]
    return "image_classes", stages.get("image_classes", 0.0)


@contextlib.contextmanager
def stacks_file(models: dict[str, Path]) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="vidembed-bench-") as tmp:
        path = Path(tmp) / "stacks.toml"
        path.write_text(
            "".join(
                f'[stacks.{STACK_NAMES[n]}]\nimage_text = "{f.as_posix()}"\n\n' for n, f in models.items()
            )
        )
        yield path


def fmt(value: float, digits: int = 1) -> str:
    return f"{value:.{digits}f}"


def best_median(rates: dict[str, float]) -> str:
    return f"{rates['best']:.1f} / {rates['median']:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=int, default=1)
    parser.add_argument("--resolution", default="720p")
    parser.add_argument("--folder", type=Path, default=models_dir().parent / "benchmarks" / "speed-videos")
    parser.add_argument(
        "--cache", type=Path, default=models_dir().parent / "benchmarks" / "image-text-models",
        help="where the random models are exported (once per configuration)",
    )  # fmt: skip
    parser.add_argument(
        "--repeat", type=int, default=3, help="pipeline runs per stack (the fastest is shown)"
    )
    parser.add_argument("--export", nargs=2, metavar=("NAME", "FOLDER"), help=argparse.SUPPRESS)
    parser.add_argument("--load", nargs=2, metavar=("STACK", "STACKS_FILE"), help=argparse.SUPPRESS)
    parser.add_argument(
        "--pipeline", nargs=3, metavar=("STACK", "STACKS_FILE", "VIDEO"), help=argparse.SUPPRESS
    )
    parser.add_argument("--micro", nargs=2, metavar=("FOLDER", "VIDEO"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.export:
        export_model(args.export[0], Path(args.export[1]))
        print(json.dumps({"peak_rss_mb": peak_rss_mb()}))
        return
    if args.load or args.pipeline or args.micro:
        if args.load:
            result = run_load(*args.load)
        elif args.pipeline:
            result = run_pipeline(*args.pipeline)
        else:
            result = run_micro(*args.micro)
        result["peak_rss_mb"] = peak_rss_mb()
        print(json.dumps(result))
        return

    video = looped_video(args.folder, args.resolution, args.minutes)
    exported: dict[str, bool] = {}
    folders: dict[str, Path] = {}
    for name in MODELS:
        folders[name], exported[name] = random_model(name, args.cache)
    import onnxruntime

    print(
        f"video: {video.name} ({args.resolution}, {args.minutes} min); clips of {CLIP_LENGTH:g} s, "
        f"{FRAMES_PER_CLIP} frames per clip; {os.cpu_count()} cores ({platform.processor() or 'cpu'}), "
        f"onnxruntime {onnxruntime.__version__} CPU\n"
    )

    # 1. The random models.
    rows = []
    for name, folder in folders.items():
        spec, info = MODELS[name], json.loads((folder / "benchmark-export.json").read_text())
        v, t = spec["vision"], spec["text"]
        mb = {tower: (folder / tower / "model.onnx").stat().st_size / 1e6 for tower in ("visual", "textual")}
        rows.append([
            name, spec["kind"],
            f"{v['width']} w, {v['layers']} l, {v['heads']} h, "
            f"patch {spec['patch_size']}, {spec['image_size']} px",
            f"{t['width']} w, {t['layers']} l, {t['heads']} h, {spec['context_length']} tokens, "
            f"vocab {spec['vocab_size']}",
            spec.get("embed_dim", v["width"]),
            f"{info['params']['vision'] / 1e6:.1f} / {info['params']['text'] / 1e6:.1f}",
            f"{mb['visual']:.0f} / {mb['textual']:.0f}",
            f"{info['export_seconds']:.0f}" + ("" if exported[name] else " (cached)"),
        ])  # fmt: skip
    print("Random models (tests/tiny_models.py, Immich's ONNX layout, fp32):\n")
    print(table(
        ["model", "kind", "vision tower", "text tower", "embed dim", "params M (vision / text)",
         "ONNX MB (visual / textual)", "export s"],
        rows,
    ))  # fmt: skip

    with stacks_file(folders) as stacks:
        configs = [(DEFAULT_STACK, "", "")] + [
            (STACK_NAMES[n], str(stacks), str(f)) for n, f in folders.items()
        ]
        # 2. First load in a fresh process (fills the class-name vector cache), then the pipeline runs.
        loads = {stack: child("--load", stack, file) for stack, file, _ in configs}
        # The configurations take turns, --repeat rounds; each keeps its fastest run (other processes
        # on a shared machine only ever slow a run down) and lists them all.
        tries: dict[str, list[dict[str, Any]]] = {stack: [] for stack, _, _ in configs}
        for round_ in range(args.repeat):
            for stack, file, _ in configs:
                print(f"embedding with {stack} ({round_ + 1}/{args.repeat}) ...", file=sys.stderr, flush=True)
                tries[stack].append(child("--pipeline", stack, file, str(video)))
        runs = {stack: min(rs, key=lambda r: r["wall"]) for stack, rs in tries.items()}
        # 3. Micro-benchmarks, each model in its own process.
        micro = {}
        for stack, _, folder in configs:
            print(f"micro-benchmark of {stack} ...", file=sys.stderr, flush=True)
            micro[stack] = child("--micro", folder, str(video))

    print(f"\nPipeline (vidembed.engine.Engine, all options, ClipParams(clip_length={CLIP_LENGTH:g})), "
          f"each run in its own process; the fastest of {args.repeat} runs per stack:\n")  # fmt: skip
    rows = []
    for stack, r in runs.items():
        key, seconds = visual_model_seconds(r["stages"])
        stages = " ".join(f"{k} {v:.1f}" for k, v in r["stages"].items())
        rows.append([
            stack, fmt(r["wall"]), fmt(r["duration"] / r["wall"]), f"{r['peak_rss_mb']:.0f}", fmt(r["load"]),
            f"{fmt(r['cpu'])} ({r['cpu'] / r['wall']:.2f})", fmt(r["stages"].get("visual_busy", 0.0)),
            f"{key} {seconds:.1f}", f"{r['frames']} ({r['clips']} clips)", fmt(r["frames"] / seconds),
            stages, f"{r['others_cores']:.2f}",
            ", ".join(f"{t['wall']:.1f} ({t['others_cores']:.2f})" for t in tries[stack]),
        ])  # fmt: skip
    print(table(
        ["stack", "wall s", "realtime x", "peak RSS MB", "load s", "CPU s (cores busy)",
         "visual stage busy s", "visual model s", "frames", "visual model frames/s", "stage_seconds",
         "others' cores busy", "every run: wall s (others' cores)"],
        rows,
    ))  # fmt: skip
    print(
        "\nFirst load in a fresh process (model load + warm-up + class-name vectors, cached on disk after):\n"
    )
    print(table(
        ["stack", "first load s", "class-name tables encoded", "load s in the pipeline run (tables cached)",
         "others' cores busy"],
        [[s, fmt(loads[s]["load"]), loads[s]["new_label_tables"], fmt(runs[s]["load"]),
          f"{loads[s]['others_cores']:.2f}"] for s in loads],
    ))  # fmt: skip

    names = {DEFAULT_STACK: "EfficientNet-Lite0 (ConSE classes)"} | {STACK_NAMES[n]: n for n in folders}
    print("\nImage towers alone (preprocessed frames into the ONNX session; frames/s by the fastest / the "
          "median call; preprocessing by the fastest):\n")  # fmt: skip
    rows = []
    for stack, m in micro.items():
        for threads in THREADS:
            rates = m["image"][str(threads)]
            rows.append([
                names[stack], "x".join(map(str, m["frame_shape"])), threads, fmt(m["preprocess_ms"], 2),
                *(best_median(rates[str(b)]) for b in BATCHES), f"{m['others_cores']:.2f}",
            ])  # fmt: skip
    print(table(
        ["image tower", "frame in", "threads", "preprocess ms/frame", *(f"batch {b}" for b in BATCHES),
         "others' cores busy"],
        rows,
    ))  # fmt: skip
    text_names = {DEFAULT_STACK: "all-MiniLM-L6-v2 int8"} | {STACK_NAMES[n]: n for n in folders}
    print("\nText towers (tokenize + run, queries/s by the fastest / the median call):\n")
    rows = [
        [
            text_names[s],
            threads,
            best_median(m["text"][str(threads)]["1"]),
            best_median(m["text"][str(threads)][str(TEXT_BATCH)]),
        ]
        for s, m in micro.items()
        for threads in THREADS
    ]
    print(table(["text tower", "threads", "1 query per call", f"{TEXT_BATCH} per call"], rows))
    print("\n" + tradeoffs(runs, micro, folders))
    print(
        "\n'others' cores busy': CPU time of every other process on the machine during that measurement "
        "(from /proc/stat, minus the measured process's own), per second: the machine has "
        f"{os.cpu_count()} cores, so anything above 0 took cores from the measurement."
    )


def relation(a: float, b: float) -> str:
    if abs(a - b) <= 0.1 * max(a, b):
        return "about the same as"
    return "above" if a > b else "below"


def tradeoffs(runs: dict[str, Any], micro: dict[str, Any], folders: dict[str, Path]) -> str:
    """The trade-offs of frames per clip and batch size, computed from the measured frames/s (1 thread,
    as the stack runs its encoders), preprocessing included."""
    n, hour = FRAMES_PER_CLIP, 3600 / CLIP_LENGTH  # frames per clip, clips per hour of video
    parts = []
    for name in folders:
        stack = STACK_NAMES[name]
        m, r = micro[stack], runs[stack]
        fps = {b: r["best"] for b, r in m["image"]["1"].items()}
        pre = m["preprocess_ms"] / 1000

        def cost(frames: int, batch: int, fps: dict[str, float] = fps, pre: float = pre) -> float:
            return frames / fps[str(batch)] + frames * pre  # seconds per clip

        three, one, calls, sixteen = cost(n, n), cost(1, 1), cost(n, 1), cost(n, 16)
        _, visual = visual_model_seconds(r["stages"])
        second = m["image"]["2"][str(n)]["best"] / fps[str(n)]
        busy = m["others_cores"]
        audio = r["stages"].get("audio_busy", 0.0)
        # The pipeline's image tower time scaled to 1 frame per clip by the micro-benchmark's ratio.
        visual_one = visual * one / three
        parts.append(
            f"**{name}** (1 thread): {n} frames per {CLIP_LENGTH:g} s clip in one batch of {n} cost "
            f"{three * 1000:.0f} ms per clip ({three * hour / 60:.1f} min of one core per hour of video, "
            f"{CLIP_LENGTH / three:.0f}x realtime for the image tower alone); 1 frame per clip would cost "
            f"{one * 1000:.0f} ms ({one * hour / 60:.1f} min per hour, {CLIP_LENGTH / one:.0f}x): "
            f"{n} frames cost {three / one:.1f}x one frame. The same {n} frames as {n} calls of batch 1 "
            f"(a graph with a fixed batch of 1) cost {calls * 1000:.0f} ms ({calls / three:.2f}x the batch "
            f"of {n}); in batches of 16 (frames of several clips per call) {sixteen * 1000:.0f} ms per clip "
            f"({sixteen / three:.2f}x). A second thread gave {second:.2f}x the frames/s at batch {n}"
            + (
                f" (while other processes kept {busy:.2f} cores busy: no free core to gain from)"
                if busy > 0.25
                else " (in the pipeline Whisper uses the second core)"
            )
            + f". In the pipeline run the image tower was busy {visual:.1f} s and the audio stage (YAMNet + "
            f"Whisper) {audio:.1f} s of {r['wall']:.1f} s wall ({r['duration'] / r['wall']:.1f}x realtime); "
            f"at 1 frame per clip the image tower would be busy about {visual_one:.1f} s "
            f"({relation(visual_one, audio)} the audio stage's {audio:.1f} s)."
        )
    return "Trade-offs, from the measured frames/s (best calls, preprocessing included):\n\n" + "\n\n".join(
        parts
    )


if __name__ == "__main__":
    main()
