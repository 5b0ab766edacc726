"""Tasks per minute of the Ray executor with 1, 2 and 3 local Ray nodes (and the thread executor).

    python -m benchmarks.ray_throughput [--nodes 1,2,3] [--tasks 24] [--seconds 60] [--stack fake|default]

Each round starts a local Ray cluster of that many nodes (a head on 127.0.0.2, worker nodes on
127.0.0.3, ...: loopback addresses Ray keeps as given), 1 CPU each, and a TaskService with
``executor="ray"`` and one actor per node (SQLite store in a temporary folder). It first runs one
task per actor (model loading, not counted), then creates ``--tasks`` tasks of one generated video
(``--seconds`` long, 320x240, a tone; every task embeds its own copy) and times from the first
create to the last ``ready``. A thread-executor round with as many worker threads follows for
comparison. All nodes share this machine's cores: the numbers show the executor's overhead and how
far one machine goes, not what N machines give (docs/RAY.md has the projection).

``--stack fake`` (default): the tests' fake stack, so decode and orchestration dominate. ``--stack
default``: the real default stack (each actor loads it: about 1 GB of RAM per actor).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from vidembed.api.compose import open_tasks
from vidembed.api.embed.operations import TaskService
from vidembed.config import Settings
from vidembed.devtools.synth import SegmentSpec, make_video, tone
from vidembed.engine.media import probe
from vidembed.models.fake import FAKE_STACK
from vidembed.models.stack import DEFAULT_STACK

ADDRESSES = ("127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5")
LEAN = {"num_cpus": 1, "object_store_memory": 100 * 2**20}


def settings_for(data: Path, executor: str, workers: int) -> Settings:
    return Settings(
        data_dir=data,
        executor=executor,
        workers=workers,
        poll_seconds=0.05,
        heartbeat_seconds=0.5,
        extra_stacks=(FAKE_STACK,),
    )


def run_tasks(service: TaskService, video: Path, model: str, count: int) -> float:
    """Seconds from the first create to the last task ready (all must end ready)."""
    started = time.perf_counter()
    ids = [service.create(model_name=model, video_file=video)["_id"] for _ in range(count)]
    pending = set(ids)
    while pending:
        for task_id in list(pending):
            task = service.store.get(task_id)
            assert task is not None
            if task.status == "failed":
                raise SystemExit(f"task {task_id} failed: {task.error}")
            if task.status == "ready":
                pending.discard(task_id)
        time.sleep(0.02)
    return time.perf_counter() - started


def ray_round(nodes: int, video: Path, model: str, count: int, folder: Path) -> float:
    import ray
    from ray.cluster_utils import Cluster

    head = {"node_ip_address": ADDRESSES[0], "include_dashboard": False, **LEAN}
    cluster = Cluster(initialize_head=True, head_node_args=head)
    try:
        for address in ADDRESSES[1:nodes]:
            cluster.add_node(node_ip_address=address, **LEAN)  # one after another: 2 at once time out
            cluster.wait_for_nodes()
        ray.init(address=cluster.address, log_to_driver=False)
        service = open_tasks(settings_for(folder / f"ray-{nodes}", "ray", nodes))
        try:
            run_tasks(service, video, model, nodes)  # warm-up: each actor loads the stack
            return run_tasks(service, video, model, count)
        finally:
            service.close()
            ray.shutdown()
    finally:
        cluster.shutdown()


def thread_round(workers: int, video: Path, model: str, count: int, folder: Path) -> float:
    service = open_tasks(settings_for(folder / f"threads-{workers}", "threads", workers))
    try:
        run_tasks(service, video, model, workers)  # warm-up: each engine process loads the stack
        return run_tasks(service, video, model, count)
    finally:
        service.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", default="1,2,3", help="node counts to measure (default 1,2,3)")
    parser.add_argument("--tasks", type=int, default=24, help="tasks per round (default 24)")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the video (default 60)")
    parser.add_argument("--stack", choices=("fake", "default"), default="fake")
    parser.add_argument("--video", type=Path, default=None, help="embed this file instead of a generated one")
    args = parser.parse_args()
    model = FAKE_STACK.name if args.stack == "fake" else DEFAULT_STACK
    folder = Path(tempfile.mkdtemp(prefix="vr-"))  # short: Ray's socket paths must stay < 108 bytes
    os.environ.update(RAY_TMPDIR=str(folder), RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0")
    try:
        video, length = args.video, args.seconds
        if video is None:
            picture = np.full((240, 320, 3), (180, 60, 40), np.uint8)
            spec = SegmentSpec(length, image=picture, audio=tone(330, length - 0.5))
            video = make_video(folder / "bench.mp4", [spec], width=320, height=240)
        else:
            length = probe(video).duration
        print(f"{args.tasks} tasks of {video.name} ({length:.1f} s), stack {model}, {os.cpu_count()} cores")
        print(f"{'executor':<10} {'nodes/workers':>13} {'seconds':>8} {'tasks/min':>10} {'x realtime':>10}")
        for n in [int(v) for v in args.nodes.split(",")]:
            for name, round_ in (("ray", ray_round), ("threads", thread_round)):
                seconds = round_(n, video, model, args.tasks, folder)
                per_minute = args.tasks / seconds * 60
                realtime = args.tasks * length / seconds
                print(f"{name:<10} {n:>13} {seconds:>8.1f} {per_minute:>10.1f} {realtime:>10.1f}", flush=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
