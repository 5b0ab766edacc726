"""GPU check (issue 21): what vidembed does on a CUDA machine, side by side with the CPU provider.

    bash scripts/gpu_check.sh [--out DIR] [options of this module]
    python -m benchmarks.gpu_check [--out DIR] [--minutes M] [--batches 1,16,64] [--models ...]

In one process and one run: the environment (which onnxruntime execution providers are installed,
which ones ``vidembed.models.providers.choose_providers`` picks, what CTranslate2 sees); then for
the tiny CLIP/SigLIP stacks the tests make (``tests/tiny_models.py``) and for random stacks of real
architecture size (ViT-B/32 and SigLIP-B/16, the sizes of ``benchmarks/speed/image_text.py``):

- per backend (onnxruntime with the CPU provider, onnxruntime with the providers vidembed chooses
  when that is not the CPU alone, and torch on CUDA as a reference when torch sees a GPU, since the
  onnxruntime in a bare GPU image is often the CPU build): the provider in use, the image tower's
  images/s and clips/s (3 frames a clip) at each batch size, GPU memory;
- parity of the image vectors against onnxruntime's CPU provider (cosine; 0.999 passes);
- the realtime factor of a video through ``vidembed.engine.Engine`` with the ViT-B/32-sized stack
  (visual option; audio and speech are fakes, so the number is the visual path's: decode + image
  tower), per backend;
- Whisper (faster-whisper / CTranslate2): the device ``vidembed.models.speech`` chooses, whether
  loading on CUDA works (or why not), and the time of 30 s of audio on each device.

Each part that cannot run (a package missing, no GPU) says so in the table instead of failing. It
writes ``gpu_check.md`` and ``gpu_check.json`` under ``--out`` (default ``$OUT``, else
``.cache/gpu-check``) and prints the markdown. Random weights cost what real ones cost (same graphs,
same shapes), so the speeds hold for real models; the vectors mean nothing, but parity between
backends is still a real test.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FRAMES_PER_CLIP = 3  # vidembed.engine.engine.FRAMES_PER_CLIP (checked in main)
CLIP_LENGTH = 6.0
PARITY = 0.999
CPU_PROVIDER = "CPUExecutionProvider"
NO_GPU_LINE = "no GPU here: only the CPU columns are measured (GPU columns say why they are empty)"

# Real architectures, as benchmarks/speed/image_text.py (kept in step by tests/unit/test_gpu_check.py).
REAL_SIZES: dict[str, dict[str, Any]] = {
    "vit-b-32": {
        "kind": "clip",
        "image_size": 224,
        "patch_size": 32,
        "vision": {"width": 768, "layers": 12, "heads": 12, "mlp_width": 3072},
        "text": {"width": 512, "layers": 12, "heads": 8, "mlp_width": 2048},
        "embed_dim": 512,
        "context_length": 77,
        "vocab_size": 49408,
    },
    "siglip-b-16": {
        "kind": "siglip",
        "image_size": 224,
        "patch_size": 16,
        "vision": {"width": 768, "layers": 12, "heads": 12, "mlp_width": 3072},
        "text": {"width": 768, "layers": 12, "heads": 12, "mlp_width": 3072},
        "context_length": 64,
        "vocab_size": 32000,
    },
}
TINY = {"tiny-clip": "clip", "tiny-siglip": "siglip"}  # tests/tiny_models.py defaults
ALL_MODELS = (*TINY, *REAL_SIZES)
ENGINE_MODEL = "vit-b-32"


# --- environment -------------------------------------------------------------------------------------


def run_text(cmd: Sequence[str], timeout: float = 20) -> str:
    try:
        out = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"({exc})"
    return (out.stdout or out.stderr).strip()


def has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def version_of(module: str) -> str:
    if not has(module):
        return "not installed"
    try:
        mod = __import__(module)
        return str(getattr(mod, "__version__", "?")) + f" ({Path(mod.__file__ or '?').parent})"
    except Exception as exc:  # a broken install is a finding, not a crash
        return f"import failed: {exc}"


def environment() -> dict[str, Any]:
    env: dict[str, Any] = {
        "date_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "python": f"{platform.python_version()} ({sys.executable})",
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "nvidia_smi": "not found",
        "torch": version_of("torch"),
        "torch_cuda": False,
        "onnxruntime": version_of("onnxruntime"),
        "ctranslate2": version_of("ctranslate2"),
        "faster_whisper": version_of("faster_whisper"),
        "av": version_of("av"),
    }
    if shutil.which("nvidia-smi"):
        env["nvidia_smi"] = run_text(
            [
                "nvidia-smi",
                "--query-gpu=name,driver_version,memory.total,memory.used",
                "--format=csv,noheader",
            ]
        )
    if has("torch"):
        import torch

        env["torch_cuda"] = bool(torch.cuda.is_available())
        if env["torch_cuda"]:
            env["torch_device"] = f"{torch.cuda.get_device_name(0)}, CUDA {torch.version.cuda}"
    import onnxruntime as ort

    with contextlib.suppress(Exception):  # onnxruntime >= 1.21: load CUDA/cuDNN from the nvidia-* wheels
        if "CUDAExecutionProvider" in ort.get_available_providers() and hasattr(ort, "preload_dlls"):
            ort.preload_dlls()
    from vidembed.models.providers import choose_providers

    env["ort_available"] = ort.get_available_providers()
    env["vidembed_providers"] = choose_providers()
    env["ct2_cuda_devices"] = "n/a"
    if has("ctranslate2"):
        try:
            import ctranslate2

            env["ct2_cuda_devices"] = ctranslate2.get_cuda_device_count()
        except Exception as exc:
            env["ct2_cuda_devices"] = f"error: {exc}"
    env["gpu"] = (
        env["torch_cuda"]
        or env["vidembed_providers"][0] != CPU_PROVIDER
        or (isinstance(env["ct2_cuda_devices"], int) and env["ct2_cuda_devices"] > 0)
    )
    return env


def machine_busy_seconds() -> float:
    """CPU seconds all processes of the machine have spent busy since boot (/proc/stat; 0 where
    there is none)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    import resource

    usage = [resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    return sum(u.ru_utime + u.ru_stime for u in usage)


def gpu_used_mib() -> float | None:
    """This process's GPU memory by nvidia-smi (the whole GPU's used memory when the process is not
    listed, as in some containers), in MiB; None without nvidia-smi."""
    if not shutil.which("nvidia-smi"):
        return None
    apps = run_text(["nvidia-smi", "--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"])
    for line in apps.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 2 and parts[0] == str(os.getpid()) and parts[1].isdigit():
            return float(parts[1])
    total = run_text(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"])
    try:
        return float(total.splitlines()[0])
    except (ValueError, IndexError):
        return None


# --- models --------------------------------------------------------------------------------------------


def tiny_models_module() -> Any:
    tests = str(ROOT / "tests")
    if tests not in sys.path:
        sys.path.insert(0, tests)
    import tiny_models

    return tiny_models


def make_model(name: str, folder: Path) -> Any:
    """A random CLIP/SigLIP exported in Immich's layout to ``folder``: the ``TinyModel`` (its torch
    model included) of tests/tiny_models.py."""
    tm = tiny_models_module()
    if name in TINY:
        return (tm.make_tiny_clip if TINY[name] == "clip" else tm.make_tiny_siglip)(folder)
    spec = dict(REAL_SIZES[name])
    kind = spec.pop("kind")
    spec["vision"] = tm.TowerSize(**spec["vision"])
    spec["text"] = tm.TowerSize(**spec["text"])
    return (tm.make_tiny_clip if kind == "clip" else tm.make_tiny_siglip)(folder, **spec)


# --- test media ----------------------------------------------------------------------------------------


def synthetic_video(folder: Path, seconds: float, size: tuple[int, int] = (1280, 720), fps: int = 25) -> Path:
    """An H.264 video with moving, changing content: a base of at most 60 s encoded once, then
    looped by remuxing its packets (as benchmarks/speed/videos.py does), so 10 minutes cost seconds."""
    import av

    width, height = size
    base_seconds = int(min(60, max(2, round(seconds))))
    base = folder / f"base-{width}x{height}-{base_seconds}s.mp4"
    if not base.exists():
        rng = np.random.default_rng(0)
        tiles = rng.integers(0, 256, (8, height // 8, width // 8, 3), dtype=np.uint8)
        with av.open(str(base), "w") as out:
            stream = out.add_stream("libx264", rate=fps, options={"preset": "veryfast", "crf": "23"})
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            for i in range(base_seconds * fps):
                scene = tiles[(i // (3 * fps)) % len(tiles)]  # a new scene every 3 s
                rgb = np.roll(np.repeat(np.repeat(scene, 8, 0), 8, 1), i * 4, axis=1)
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
                frame.pts, frame.time_base = i, Fraction(1, fps)
                for packet in stream.encode(frame):
                    out.mux(packet)
            for packet in stream.encode(None):
                out.mux(packet)
    loops = max(1, int(round(seconds / base_seconds)))
    if loops == 1:
        return base
    path = folder / f"{width}x{height}-{loops * base_seconds}s.mp4"
    if path.exists():
        return path
    with av.open(str(base)) as src, av.open(str(path), "w") as out:
        stream = out.add_stream_from_template(src.streams.video[0])
        end: int | None = None
        for _ in range(loops):
            src.seek(0)
            shift: int | None = None
            for packet in src.demux(video=0):
                if packet.dts is None:
                    continue
                if shift is None:
                    shift = (end if end is not None else packet.dts) - packet.dts
                packet.pts = None if packet.pts is None else packet.pts + shift
                packet.dts += shift
                end = packet.dts + (packet.duration or 1)
                packet.stream = stream
                out.mux(packet)
    return path


def sample_frames(video: Path, size: int, count: int) -> list[np.ndarray]:
    """``count`` frames spread over the video, decoded as the engine hands them to the image-text
    encoder (fitted inside ``size``)."""
    from vidembed.engine.media import FrameRequest, decode, probe

    info = probe(video)
    requests = [FrameRequest(info.duration * (i + 0.5) / count, size, size, False) for i in range(count)]
    frames: list[np.ndarray | None] = [None] * count
    for event in decode(video, info, requests, None):
        if isinstance(event, tuple):
            frames[event[0]] = event[1]
    got = [f for f in frames if f is not None]
    return [got[i % len(got)] for i in range(count)]


# --- measuring -----------------------------------------------------------------------------------------


def rate(call: Callable[[], None], items: int, min_seconds: float, min_calls: int = 3) -> float:
    """Items per second of ``call`` by its fastest call, after one warm-up call."""
    call()
    times: list[float] = []
    started = time.perf_counter()
    while len(times) < min_calls or time.perf_counter() - started < min_seconds:
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return items / min(times)


def bound(run: Callable[[np.ndarray], Any], x: np.ndarray) -> Callable[[], None]:
    def call() -> None:
        run(x)

    return call


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    return np.sum(a * b, axis=-1)


@dataclass
class Backend:
    """One way to run an image tower: ``run(pixels) -> vectors``, and the provider it reports."""

    name: str
    provider: str
    run: Callable[[np.ndarray], np.ndarray]
    gpu: bool
    close: Callable[[], None] = lambda: None
    memory: Callable[[], float | None] = lambda: None
    note: str = ""
    rates: bool = True  # False: parity only


@dataclass
class Row:
    model: str
    backend: str
    provider: str
    rates: dict[int, float | str] = field(default_factory=dict)  # images/s by batch, or why not
    parity: str = ""
    gpu_mib: str = ""
    note: str = ""


def ort_backend(folder: Path, providers: list[str], threads: int, label: str) -> Backend:
    from vidembed.models.runtime import session

    graph = session(folder / "visual" / "model.onnx", threads, providers)
    name = graph.get_inputs()[0].name
    in_use = graph.get_providers()[0]
    gpu = in_use != CPU_PROVIDER

    def run(pixels: np.ndarray) -> np.ndarray:
        return np.asarray(graph.run(None, {name: pixels})[0])

    note = "" if in_use == providers[0] else f"asked for {providers[0]}: onnxruntime fell back to {in_use}"
    return Backend(label, in_use, run, gpu, memory=gpu_used_mib if gpu else (lambda: None), note=note)


def torch_backend(tiny: Any, device_name: str = "cuda") -> Backend:
    import torch

    device = torch.device(device_name)
    if device_name == "cpu":
        model = tiny.model.eval()
        features = tiny_models_module()._features

        def run_cpu(pixels: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                return (
                    features(model.get_image_features(pixel_values=torch.from_numpy(pixels))).float().numpy()
                )

        return Backend(
            "torch CPU (parity self-test)",
            f"torch {torch.__version__} on CPU",
            run_cpu,
            False,
            note="checks the parity code where no GPU is: the exported graph against its torch model; "
            "no rates",
            rates=False,
        )
    model = tiny.model.to(device).eval()
    features = tiny_models_module()._features
    # fp32 as exported (no TF32), so parity compares the same arithmetic
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False

    def run(pixels: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            x = torch.from_numpy(pixels).to(device, non_blocking=True)
            out = features(model.get_image_features(pixel_values=x))
            return out.float().cpu().numpy()

    def close() -> None:
        tiny.model.to("cpu")
        torch.cuda.empty_cache()

    def memory() -> float:
        return torch.cuda.max_memory_allocated() / 2**20

    torch.cuda.reset_peak_memory_stats()
    return Backend(
        "torch CUDA (reference)",
        f"torch {torch.__version__} on {torch.cuda.get_device_name(0)}",
        run,
        True,
        close,
        memory,
        "not vidembed's path (vidembed runs ONNX); same weights, fp32",
    )


def backends_for(
    tiny: Any, folder: Path, env: dict[str, Any], threads: int
) -> tuple[list[Backend], list[Row]]:
    """The backends that can run here, and rows saying why the others cannot."""
    out = [ort_backend(folder, [CPU_PROVIDER], threads, "onnxruntime CPU")]
    skipped: list[Row] = []
    chosen = env["vidembed_providers"]
    if chosen[0] != CPU_PROVIDER:
        try:
            out.append(ort_backend(folder, chosen, threads, "onnxruntime, vidembed's choice"))
        except Exception as exc:
            skipped.append(Row("", "onnxruntime, vidembed's choice", chosen[0], note=f"failed: {exc}"[:300]))
    else:
        skipped.append(
            Row(
                "",
                "onnxruntime GPU",
                "-",
                note=f"not run: onnxruntime {env['onnxruntime'].split()[0]} offers "
                f"{', '.join(env['ort_available'])} only (no CUDA build installed)",
            )
        )
    if env["torch_cuda"] and tiny is not None:
        out.append(torch_backend(tiny))
    elif not env["torch_cuda"]:
        skipped.append(Row("", "torch CUDA (reference)", "-", note="not run: torch sees no CUDA device"))
        if tiny is not None and has("torch"):
            out.append(torch_backend(tiny, "cpu"))
    return out, skipped


def measure_model(
    name: str,
    tiny: Any,
    folder: Path,
    frames: list[np.ndarray],
    env: dict[str, Any],
    args: argparse.Namespace,
) -> list[Row]:
    from vidembed.models.openclip import ImageTextModel

    model = ImageTextModel(folder)
    pixels = model.preprocess(frames[: max(args.batches)])
    backends, skipped = backends_for(tiny, folder, env, args.threads)
    reference = backends[0].run(pixels[:16])
    rows = []
    for backend in backends:
        row = Row(name, backend.name, backend.provider, note=backend.note)
        try:
            vectors = backend.run(pixels[:16])
            c = cosines(vectors, reference)
            row.parity = (
                "reference"
                if backend is backends[0]
                else f"{c.min():.5f} {'PASS' if c.min() >= PARITY else 'FAIL'}"
            )
            for batch in args.batches if backend.rates else ():
                call = bound(backend.run, np.ascontiguousarray(pixels[:batch]))
                row.rates[batch] = rate(call, batch, args.min_seconds, args.min_calls)
            mib = backend.memory()
            row.gpu_mib = "-" if mib is None else f"{mib:.0f}"
            if not backend.rates:
                row.rates = {b: "not measured" for b in args.batches}
        except Exception as exc:
            row.note = f"failed: {type(exc).__name__}: {exc}"[:300]
        finally:
            backend.close()
        rows.append(row)
    for row in skipped:
        row.model = name
    return rows + skipped


# --- the engine ----------------------------------------------------------------------------------------


class TorchVisualEncoder:
    """vidembed's ImageTextVisualEncoder with the image tower in torch on CUDA (a reference for what
    the pipeline gains when the tower runs on a GPU; vidembed itself runs the ONNX graph)."""

    detail = None

    def __init__(self, model: Any, tiny: Any) -> None:
        self.model = model
        self._run = torch_backend(tiny).run
        self._busy = {"image_text": 0.0}
        self.identity = "torch-cuda-reference"

    @property
    def frames(self) -> Any:
        from vidembed.models.roles import FrameSpec

        return FrameSpec(2 * self.model.image_size, crop_square=False)

    def encode_clip(self, frames: np.ndarray, detail: np.ndarray | None) -> np.ndarray:
        from vidembed.models.runtime import l2_normalise

        started = time.perf_counter()
        try:
            return l2_normalise(l2_normalise(self._run(self.model.preprocess(list(frames)))).mean(axis=0))
        finally:
            self._busy["image_text"] += time.perf_counter() - started

    def busy_seconds(self) -> dict[str, float]:
        return dict(self._busy)


def engine_run(visual: Any, video: Path) -> dict[str, Any]:
    from vidembed.engine import Engine
    from vidembed.models import fake
    from vidembed.models.stack import ModelStack
    from vidembed.segmentation import ClipParams

    text = fake.FakeTextEncoder()
    stack = ModelStack(
        "gpu-check",
        text,
        visual,
        fake.FakeAudioEncoder(text),
        fake.FakeTranscriptionEncoder(text),
        options=("visual",),
    )
    visual.encode_clip(np.zeros((1, 64, 64, 3), np.uint8), None)  # warm up, as ModelStack.warm_up does
    started = time.perf_counter()
    result = Engine(stack).embed(video, ClipParams(clip_length=CLIP_LENGTH), options=["visual"])
    wall = time.perf_counter() - started
    busy = visual.busy_seconds().get("image_text", 0.0)
    return {
        "wall": wall,
        "duration": result.duration,
        "realtime": result.duration / wall,
        "clips": len(result.plan.clips),
        "image_busy": busy,
    }


def measure_engine(
    tiny: Any, folder: Path, video: Path, env: dict[str, Any], threads: int
) -> list[list[str]]:
    from vidembed.models.image_text import ImageTextVisualEncoder
    from vidembed.models.openclip import ImageTextModel

    configs: list[tuple[str, Callable[[], Any]]] = [
        ("onnxruntime CPU", lambda: ImageTextVisualEncoder(ImageTextModel(folder, threads, [CPU_PROVIDER])))
    ]
    if env["vidembed_providers"][0] != CPU_PROVIDER:
        configs.append(
            (
                "onnxruntime, vidembed's choice",
                lambda: ImageTextVisualEncoder(ImageTextModel(folder, threads)),
            )
        )
    if env["torch_cuda"] and tiny is not None:
        configs.append(("torch CUDA (reference)", lambda: TorchVisualEncoder(ImageTextModel(folder), tiny)))
    rows = []
    for label, build in configs:
        try:
            visual = build()
            provider = (
                getattr(getattr(visual, "model", None), "provider", "torch") if label[0] == "o" else "torch"
            )
            r = engine_run(visual, video)
            rows.append(
                [
                    label,
                    str(provider),
                    f"{r['duration']:.0f} s",
                    str(r["clips"]),
                    f"{r['realtime']:.1f}x",
                    f"{r['wall']:.1f} s",
                    f"{r['image_busy']:.1f} s",
                    f"{r['clips'] / r['wall']:.1f}",
                ]
            )
        except Exception as exc:
            rows.append([label, "-", "-", "-", "-", "-", "-", f"failed: {type(exc).__name__}: {exc}"[:300]])
    return rows


# --- Whisper -------------------------------------------------------------------------------------------


def whisper_folder(args: argparse.Namespace) -> Path | None:
    if args.whisper:
        return Path(args.whisper)
    carried = Path(os.environ.get("VIDEMBED_GPU_WHEELS") or ROOT / ".cache" / "gpu-wheels")
    for candidate in sorted(carried.glob("load*/tiny-whisper")) + sorted(carried.glob("tiny-whisper")):
        if (candidate / "model.bin").exists():
            return candidate
    try:
        from vidembed.models import weights

        return weights.whisper_dir()  # the default stack's Whisper base (prepared by scripts/setup.sh)
    except Exception:
        return None


def measure_whisper(args: argparse.Namespace, env: dict[str, Any]) -> tuple[list[list[str]], str]:
    if not (has("faster_whisper") and has("ctranslate2")):
        return [], "not run: faster-whisper / ctranslate2 not installed"
    folder = whisper_folder(args)
    if folder is None:
        return [], "not run: no Whisper model folder (--whisper DIR)"
    from vidembed.models.speech import AUTO, CPU, CUDA, WhisperTranscriber, choose_device

    rng = np.random.default_rng(0)
    seconds = 30
    t = np.arange(seconds * 16000) / 16000
    pcm = (0.05 * np.sin(2 * np.pi * 220 * t) * (np.sin(2 * np.pi * 0.5 * t) > 0)).astype(np.float32)
    pcm += (0.005 * rng.standard_normal(pcm.shape)).astype(np.float32)
    rows = []
    asked = [CPU, AUTO] + (
        [CUDA] if isinstance(env["ct2_cuda_devices"], int) and env["ct2_cuda_devices"] else []
    )
    for device in asked:
        try:
            started = time.perf_counter()
            whisper = WhisperTranscriber(folder, threads=args.threads, beam_size=1, device=device)
            load = time.perf_counter() - started
            whisper.transcribe_windows(pcm, [(0, len(pcm))])  # warm-up
            started = time.perf_counter()
            words = whisper.transcribe_windows(pcm, [(0, len(pcm))])
            wall = time.perf_counter() - started
            fell_back = device == AUTO and choose_device(AUTO) != whisper.device
            rows.append(
                [
                    device,
                    f"{whisper.device} ({whisper.compute_type})"
                    + (" after a CUDA failure" if fell_back else ""),
                    f"{load:.1f} s",
                    f"{wall:.2f} s",
                    f"{seconds / wall:.0f}x",
                    str(len(words)),
                ]
            )
        except Exception as exc:
            rows.append(
                [device, f"failed: {type(exc).__name__}: {str(exc).strip()[:250]}", "-", "-", "-", "-"]
            )
    return rows, f"model: {folder}"


# --- report --------------------------------------------------------------------------------------------


def table(columns: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(c).replace("|", "/") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def fmt_rate(value: float | str | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    return (
        f"{value:.0f} ({value / FRAMES_PER_CLIP:.0f})"
        if value >= 10
        else f"{value:.1f} ({value / FRAMES_PER_CLIP:.2f})"
    )


def best_batches(rows: list[Row], batches: Sequence[int]) -> list[str]:
    """Per model and backend, the batch size with the most images/s (the default per device is to be
    chosen from these on a GPU run)."""
    lines = []
    for row in rows:
        measured = {b: v for b, v in row.rates.items() if isinstance(v, float)}
        if not measured:
            continue
        best = max(measured, key=lambda b: measured[b])
        within = min(b for b in measured if measured[b] >= 0.9 * measured[best])
        lines.append(
            f"- {row.model}, {row.backend}: most images/s at batch {best} ({measured[best]:.0f}/s); "
            f"the smallest batch within 10% of it: {within}"
        )
    return lines


def report(
    env: dict[str, Any],
    rows: list[Row],
    engine: list[list[str]],
    video: str,
    whisper: tuple[list[list[str]], str],
    args: argparse.Namespace,
    seconds: float,
    timings: dict[str, float],
) -> str:
    parts = [f"## GPU check, {env['date_utc']}", ""]
    if not env["gpu"]:
        parts += [f"**{NO_GPU_LINE}**", ""]
    busy = timings.get("others_cores")
    parts += [
        table(
            ["", ""],
            [
                ["python", env["python"]],
                [
                    "machine",
                    env["machine"]
                    + (f"; other processes kept {busy:.2f} cores busy meanwhile" if busy is not None else ""),
                ],
                ["nvidia-smi", env["nvidia_smi"]],
                [
                    "torch",
                    env["torch"]
                    + (f"; CUDA: {env.get('torch_device')}" if env["torch_cuda"] else "; no CUDA"),
                ],
                ["onnxruntime", env["onnxruntime"]],
                ["onnxruntime providers installed", ", ".join(env["ort_available"])],
                ["vidembed chooses (choose_providers)", ", ".join(env["vidembed_providers"])],
                ["ctranslate2", f"{env['ctranslate2']}; CUDA devices seen: {env['ct2_cuda_devices']}"],
                ["faster-whisper / av", f"{env['faster_whisper']} / {env['av']}"],
                [
                    "settings",
                    f"batches {','.join(map(str, args.batches))}; onnxruntime CPU threads {args.threads}; "
                    f"each rate: a warm-up call, then at least {getattr(args, 'min_calls', 3)} timed calls "
                    f"and {args.min_seconds:g} s",
                ],
            ],
        ),
        "",
        "### Image towers: provider, parity with the CPU provider, images/s (clips/s at 3 frames a clip)",
        "",
        "Preprocessed frames (from the test video) into the image tower; each rate is the fastest call "
        "after a warm-up. Parity: the lowest cosine of 16 image vectors against onnxruntime's CPU "
        f"provider (PASS at >= {PARITY}). GPU MiB: torch's peak allocation for torch; for onnxruntime "
        "nvidia-smi's figure for this process (or the whole GPU where it lists no process), which "
        "includes torch's CUDA context once torch has run.",
        "",
        table(
            [
                "model",
                "backend",
                "provider in use",
                "parity (min cosine)",
                *(f"batch {b}" for b in args.batches),
                "GPU MiB",
                "note",
            ],
            [
                [
                    r.model,
                    r.backend,
                    r.provider,
                    r.parity or "-",
                    *(fmt_rate(r.rates.get(b)) for b in args.batches),
                    r.gpu_mib or "-",
                    r.note,
                ]
                for r in rows
            ],
        ),
        "",
        "Best batch per backend (the default batch per device is left to a GPU run):",
        "",
        *(best_batches(rows, args.batches) or ["- nothing measured"]),
        "",
        f"### Engine: realtime factor, {ENGINE_MODEL}-sized stack, visual option ({video})",
        "",
        table(
            ["backend", "provider", "video", "clips", "realtime", "wall", "image tower busy", "clips/s"],
            engine,
        )
        if engine
        else "not run",
        "",
        "### Whisper (faster-whisper / CTranslate2), 30 s of a tone in noise, beam 1",
        "",
        whisper[1],
        "",
        table(["device asked", "device used", "load", "30 s of audio", "realtime", "words"], whisper[0])
        if whisper[0]
        else "",
        "",
        "Timings (s): "
        + ", ".join(f"{k} {v:.1f}" for k, v in timings.items() if k != "others_cores")
        + f"; total {seconds:.0f} s.",
    ]
    return "\n".join(parts) + "\n"


# --- carrying wheels to a machine without a package index --------------------------------------------
# The device tool carries at most 64 MiB a call, the working tree included, and keeps ignored files
# written earlier while the machine stays warm. ``pack`` puts files into loads of at most ``limit``
# bytes (a bigger file, such as onnxruntime-gpu's 256 MB wheel, is cut into parts across loads), one
# folder per call; ``assemble`` joins the parts of every file whose parts have all arrived and checks
# its sha256. Each load holds a ``MANIFEST.json`` naming every file of the whole set.

MIB = 2**20


def pack(files: Sequence[Path], dest: Path, limit: int = 56 * MIB) -> list[Path]:
    """Copies ``files`` (in this order) into ``dest/load1``, ``dest/load2``, ...; folders (a model)
    are copied whole and must fit one load. Returns the loads."""
    import hashlib

    loads: list[Path] = []
    room = 0
    manifest: dict[str, Any] = {"files": {}}

    def next_load() -> Path:
        nonlocal room
        load = dest / f"load{len(loads) + 1}"
        if load.exists():
            shutil.rmtree(load)
        load.mkdir(parents=True)
        loads.append(load)
        room = limit
        return load

    for src in files:
        if src.is_dir():
            size = sum(f.stat().st_size for f in src.rglob("*") if f.is_file())
            if size > limit:
                raise ValueError(f"{src}: a folder of {size} bytes does not fit a load of {limit}")
            if not loads or size > room:
                next_load()
            shutil.copytree(src, loads[-1] / src.name)
            room -= size
            manifest["files"][src.name] = {"folder": True}
            continue
        data = src.read_bytes()
        entry: dict[str, Any] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "parts": []}
        if len(data) <= limit and (not loads or len(data) > room):
            next_load()  # a file that fits a load is never cut
        offset = 0
        while offset < len(data):
            if not loads or room <= 0:
                next_load()
            chunk = data[offset : offset + room]
            name = src.name if len(chunk) == len(data) else f"{src.name}.part{len(entry['parts']) + 1:02d}"
            (loads[-1] / name).write_bytes(chunk)
            entry["parts"].append(f"{loads[-1].name}/{name}")
            offset += len(chunk)
            room -= len(chunk)
        manifest["files"][src.name] = entry
    for load in loads:
        (load / "MANIFEST.json").write_text(json.dumps(manifest, indent=2))
    return loads


def assemble(dest: Path, out: Path) -> tuple[list[Path], list[str]]:
    """The files of ``dest``'s loads that are complete (parts joined into ``out``, sha256 checked),
    and a line for each one that is not (parts missing)."""
    import hashlib

    manifests = sorted(dest.glob("load*/MANIFEST.json"))
    if not manifests:
        return [], []
    manifest = json.loads(manifests[0].read_text())
    ready: list[Path] = []
    missing: list[str] = []
    for name, entry in manifest["files"].items():
        if entry.get("folder"):
            found = sorted(dest.glob(f"load*/{name}"))
            (ready.append(found[0]) if found else missing.append(f"{name}: folder not here"))
            continue
        parts = [dest / p for p in entry["parts"]]
        absent = [p for p in entry["parts"] if not (dest / p).exists()]
        if absent:
            missing.append(f"{name}: {len(absent)} of {len(parts)} parts not here ({', '.join(absent)})")
            continue
        if len(parts) == 1:
            target = parts[0]
        else:
            out.mkdir(parents=True, exist_ok=True)
            target = out / name
            if not (target.exists() and target.stat().st_size == entry["size"]):
                with open(target.with_suffix(".partial"), "wb") as joined:
                    for part in parts:
                        joined.write(part.read_bytes())
                target.with_suffix(".partial").replace(target)
        digest = hashlib.sha256(target.read_bytes()).hexdigest()
        if digest != entry["sha256"]:
            missing.append(f"{name}: sha256 {digest[:12]}, expected {entry['sha256'][:12]}")
            continue
        ready.append(target)
    return ready, missing


def wheels_main(argv: Sequence[str]) -> int:
    """``pack DEST FILE...`` / ``assemble DEST OUT`` (prints the ready files, one a line)."""
    if argv[0] == "pack":
        for load in pack([Path(a) for a in argv[2:]], Path(argv[1])):
            size = sum(f.stat().st_size for f in load.rglob("*") if f.is_file())
            print(f"{load} {size / MIB:.1f} MiB")
        return 0
    ready, missing = assemble(Path(argv[1]), Path(argv[2]))
    for line in missing:
        print(f"[gpu-check] not complete: {line}", file=sys.stderr)
    for path in ready:
        print(path)
    return 0


# --- main ----------------------------------------------------------------------------------------------


@contextlib.contextmanager
def step(timings: dict[str, float], key: str) -> Iterator[None]:
    started = time.perf_counter()
    print(f"[gpu-check] {key} ...", file=sys.stderr, flush=True)
    try:
        yield
    finally:
        timings[key] = timings.get(key, 0.0) + time.perf_counter() - started


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_out = os.environ.get("OUT") or str(ROOT / ".cache" / "gpu-check")
    parser.add_argument("--out", type=Path, default=Path(default_out), help="folder for gpu_check.md/.json")
    parser.add_argument(
        "--work", type=Path, default=None, help="folder for models and videos (default: temporary)"
    )
    parser.add_argument(
        "--minutes", type=float, default=None, help="video length (default 10 on a GPU, 0.5 on CPU)"
    )
    parser.add_argument(
        "--batches", default=None, help="image batch sizes (default 1,16,64 on a GPU, 1,16 on CPU)"
    )
    parser.add_argument("--models", default=",".join(ALL_MODELS), help=f"any of {','.join(ALL_MODELS)}")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="onnxruntime CPU threads")
    parser.add_argument(
        "--min-seconds", type=float, default=None, help="time per rate (default 2 GPU, 1 CPU)"
    )
    parser.add_argument(
        "--whisper", default="", help="CTranslate2 Whisper folder (default: carried tiny, else base)"
    )
    parser.add_argument(
        "--min-calls", type=int, default=None, help="timed calls per rate (default 3 GPU, 1 CPU)"
    )
    parser.add_argument(
        "--budget", type=float, default=400, help="seconds after which models and parts not begun are skipped"
    )
    parser.add_argument("--no-engine", action="store_true")
    parser.add_argument("--no-whisper", action="store_true")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("pack", "assemble"):
        return wheels_main(argv)
    started = time.perf_counter()
    args = parse_args(argv)
    timings: dict[str, float] = {}
    sys.path.insert(0, str(ROOT))
    with step(timings, "environment"):
        env = environment()
    from vidembed.engine.engine import FRAMES_PER_CLIP as engine_frames

    assert engine_frames == FRAMES_PER_CLIP, engine_frames
    if not env["gpu"]:
        print(NO_GPU_LINE, flush=True)
    args.batches = [int(b) for b in (args.batches or ("1,16,64" if env["gpu"] else "1,16")).split(",")]
    args.minutes = args.minutes if args.minutes is not None else (10.0 if env["gpu"] else 0.5)
    args.min_seconds = args.min_seconds if args.min_seconds is not None else (2.0 if env["gpu"] else 1.0)
    args.min_calls = args.min_calls if args.min_calls is not None else (3 if env["gpu"] else 1)
    names = [n for n in args.models.split(",") if n]
    unknown = set(names) - set(ALL_MODELS)
    if unknown:
        raise SystemExit(f"unknown models {sorted(unknown)}; known: {', '.join(ALL_MODELS)}")
    rows: list[Row] = []
    engine_rows: list[list[str]] = []
    whisper: tuple[list[list[str]], str] = (
        [],
        "not run (--no-whisper)" if args.no_whisper else "not run yet",
    )
    video_label = f"{args.minutes:g} min 720p H.264 25 fps, synthetic"

    busy0, own0 = machine_busy_seconds(), own_cpu_seconds()

    def write(final: bool) -> str:
        """The report so far, written after each part (a run cut short still leaves one)."""
        seconds = time.perf_counter() - started
        others = machine_busy_seconds() - busy0 - (own_cpu_seconds() - own0)
        timings["others_cores"] = max(0.0, others / max(seconds, 1e-9))
        markdown = report(env, rows, engine_rows, video_label, whisper, args, seconds, timings)
        if not final:
            markdown += "\n(partial: the check was still running)\n"
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "gpu_check.md").write_text(markdown)
        state: dict[str, Any] = {"env": env, "rows": [r.__dict__ for r in rows], "engine": engine_rows}
        state["whisper"] = whisper
        state |= {"timings": timings, "seconds": seconds, "final": final}
        (args.out / "gpu_check.json").write_text(json.dumps(state, indent=2, default=str))
        return markdown

    def over_budget() -> bool:
        return time.perf_counter() - started > args.budget

    with contextlib.ExitStack() as stack:
        work = args.work or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="vidembed-gpu-")))
        work.mkdir(parents=True, exist_ok=True)
        with step(timings, "test video"):
            video = synthetic_video(work, args.minutes * 60)
        frames_cache: dict[int, list[np.ndarray]] = {}
        for name in names:
            if over_budget():
                rows.append(Row(name, "-", "-", note=f"skipped: past the time budget of {args.budget:g} s"))
                continue
            folder = work / name
            try:
                with step(timings, f"export {name}"):
                    if folder.exists():
                        shutil.rmtree(folder)
                    tiny = make_model(name, folder)
                size = 2 * tiny.image_size
                if size not in frames_cache:
                    frames_cache[size] = sample_frames(video, size, max(max(args.batches), 16))
                with step(timings, f"image tower {name}"):
                    rows += measure_model(name, tiny, folder, frames_cache[size], env, args)
                write(False)
                if name == ENGINE_MODEL and not args.no_engine:
                    with step(timings, "engine"):
                        engine_rows = measure_engine(tiny, folder, video, env, args.threads)
                    write(False)
            except Exception as exc:
                traceback.print_exc()
                rows.append(Row(name, "-", "-", note=f"failed: {type(exc).__name__}: {exc}"[:300]))
            tiny = None
        if not args.no_whisper:
            if over_budget():
                whisper = ([], f"skipped: past the time budget of {args.budget:g} s")
            else:
                with step(timings, "whisper"):
                    whisper = measure_whisper(args, env)
    markdown = write(True)
    print(markdown, flush=True)
    seconds = time.perf_counter() - started
    print(f"[gpu-check] wrote {args.out / 'gpu_check.md'} in {seconds:.0f} s", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
