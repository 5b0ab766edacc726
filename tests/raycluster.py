"""A local Ray cluster for the tests: a head on 127.0.0.2 and worker nodes on 127.0.0.3 and 127.0.0.4.

Import the fixture into a test module (``from raycluster import ray_cluster  # noqa: F401``). Ray
rewrites 127.0.0.1 to the machine's network address but keeps other loopback addresses, so all
traffic stays on loopback (../shared/RAY.md). One cluster per test process, whichever modules
import the fixture (this process is its driver: ``ray.init`` may run once); ``cluster.address``
(``127.0.0.2:PORT``) is what a ``vidembed serve --executor ray --ray-address`` subprocess takes, with
``RAY_TMPDIR`` and the other variables set here in its environment.

Lean settings (no dashboard, 1 CPU and a 100 MiB object store per node: by default each node's
store takes 30 % of RAM) and fast health checks, so that a killed node is noticed in about 3 s
instead of 12-15 s. Nodes start one after another: two raylets at once time out on 2 cores.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import ray
from ray.cluster_utils import Cluster

from vidembed.devtools.synth import SegmentSpec, make_video, tone

HEAD, WORKER_A, WORKER_B = "127.0.0.2", "127.0.0.3", "127.0.0.4"
LEAN = {"num_cpus": 1, "object_store_memory": 100 * 2**20}
FAST_HEALTH_CHECKS = {
    "health_check_period_ms": 500,
    "health_check_failure_threshold": 3,
    "health_check_timeout_ms": 500,
    "health_check_initial_delay_ms": 0,
}
STARTS = 2
ENVIRONMENT = ("RAY_TMPDIR", "RAY_AUTH_MODE", "RAY_USAGE_STATS_ENABLED")

_cluster: Cluster | None = None
_users = 0


def _start() -> Cluster:
    folder = tempfile.mkdtemp(prefix="vr-")  # short: Unix socket paths must stay under 108 bytes
    os.environ.update(RAY_TMPDIR=folder, RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0")
    # Ray waits 30 s (fixed) for a raylet to register; on a machine whose 2 cores run other suites
    # too (load average 50 seen) that ran out once, so a cluster that fails to start is tried again.
    for attempt in range(STARTS):
        cluster = Cluster()
        try:
            head = {"node_ip_address": HEAD, "include_dashboard": False, "_system_config": FAST_HEALTH_CHECKS}
            cluster.add_node(**LEAN, **head)
            for address in (WORKER_A, WORKER_B):
                cluster.add_node(node_ip_address=address, **LEAN)
                cluster.wait_for_nodes()
        except Exception:
            cluster.shutdown()
            if attempt == STARTS - 1:
                raise
            continue
        ray.init(address=cluster.address, log_to_driver=False)
        return cluster
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[Cluster]:
    """The cluster, this process its driver; stopped after the last module that uses it."""
    global _cluster, _users
    saved = {key: os.environ.get(key) for key in ENVIRONMENT}
    if _cluster is None:
        _cluster = _start()
    _users += 1
    yield _cluster
    _users -= 1
    if _users == 0:
        folder = os.environ["RAY_TMPDIR"]
        ray.shutdown()
        _cluster.shutdown()
        _cluster = None
        shutil.rmtree(folder, ignore_errors=True)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def make_videos(folder: Path, count: int, seconds: float) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n in range(count):
        picture = np.full((120, 160, 3), COLOURS[n % len(COLOURS)], np.uint8)
        spec = SegmentSpec(seconds, image=picture, audio=tone(220 + 110 * n, seconds - 0.5))
        paths.append(make_video(folder / f"v{n}.mp4", [spec], width=160, height=120))
    return paths


# `vidembed serve` with the fake stack served beside the built-in one (config.Settings replaced
# before the CLI builds its settings; the actors get the stack through StackSettings).
SERVE_WITH_FAKE = """
import dataclasses, sys
from vidembed.models.fake import FAKE_STACK
from vidembed import config

@dataclasses.dataclass
class WithFake(config.Settings):
    extra_stacks: tuple = (FAKE_STACK,)

config.Settings = WithFake
from vidembed import cli
sys.exit(cli.main(sys.argv[1:]))
"""


def wait_http(ready_url: str, server: subprocess.Popen[bytes], log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert server.poll() is None, f"the server exited: {log.read_text()[-2000:]}"
        try:
            if httpx.get(ready_url, timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"the server was not ready after {timeout} s: {log.read_text()[-2000:]}")


def served_segments(url: str, task_id: str, timeout: float = 90) -> dict[tuple[str, str, float], np.ndarray]:
    """The task's segments over HTTP once it is ready."""
    deadline = time.monotonic() + timeout
    while (status := httpx.get(f"{url}/embed/tasks/{task_id}/status").json()["status"]) == "processing":
        assert time.monotonic() < deadline, f"task {task_id} still processing"
        time.sleep(0.2)
    assert status == "ready"
    options = {"embedding_option": ["visual", "audio", "transcription"]}
    body = httpx.get(f"{url}/embed/tasks/{task_id}", params=options).json()
    return {
        (s["embedding_option"], s["embedding_scope"], s["start_offset_sec"]): np.array(s["float"], np.float32)
        for s in body["video_embedding"]["segments"]
    }


COLOURS = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30), (30, 200, 200), (200, 30, 200)]
