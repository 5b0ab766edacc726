"""Issue 13's whole picture on one machine: PostgreSQL, the S3 fake (moto), a local 3-node Ray
cluster on loopback and two API servers started with ``--database-url URL --media-url s3://...
--executor ray --ray-address HOST:PORT``. Twelve tasks are created through both servers, one
worker node is killed with SIGKILL while they run; every task ends ready exactly once, with the
vectors the embedded mode gives for the same inputs."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import psycopg
from conftest import FAKE, fake_settings
from pg import pg_admin, pg_database, pg_url  # noqa: F401
from ray.cluster_utils import Cluster
from raycluster import (  # noqa: F401
    LEAN,
    SERVE_WITH_FAKE,
    WORKER_A,
    WORKER_B,
    make_videos,
    ray_cluster,
    served_segments,
    wait_http,
)
from s3fake import S3Fake, s3_fake, s3_fake_server  # noqa: F401

from vidembed.api.compose import open_tasks

TASKS = 12
CPUS = 3  # the cluster's: 1 per node (raycluster.LEAN), so at most 3 actors run at once


def _ensure_worker_nodes(cluster: Cluster) -> None:
    """Both worker nodes up (an earlier test may have killed one)."""
    alive = {node.node_ip_address for node in cluster.worker_nodes}
    for address in (WORKER_A, WORKER_B):
        if address not in alive:
            cluster.add_node(node_ip_address=address, **LEAN)
            cluster.wait_for_nodes()


def _start_server(
    tmp: Path, name: str, cluster: Cluster, pg: str, s3: S3Fake
) -> tuple[subprocess.Popen[bytes], str, Path]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [
        sys.executable,
        "-c",
        SERVE_WITH_FAKE,
        "--data-dir",
        str(tmp / name),
        "serve",
        "--port",
        str(port),
    ]
    command += ["--executor", "ray", "--ray-address", cluster.address, "--workers", "2"]
    command += ["--database-url", pg, "--media-url", s3.media_url]
    log = tmp / f"{name}.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **s3.env()},
        )
    return server, f"http://127.0.0.1:{port}", log


def test_two_servers_on_postgres_s3_and_ray_survive_a_node_kill(
    ray_cluster: Cluster,  # noqa: F811
    pg_url: str,  # noqa: F811
    s3_fake: S3Fake,  # noqa: F811
    tmp_path: Path,
) -> None:
    # 2 inputs of 240 s, 6 tasks each: about 1.4 s of work per task on the fake stack (its audio
    # dominates), long enough for the kill to land while tasks run
    videos = make_videos(tmp_path / "videos", 2, 240.0)
    embedded = open_tasks(fake_settings(tmp_path / "embedded"))
    try:
        expected = {}
        for video in videos:
            task_id = embedded.create(model_name=FAKE, video_file=str(video), video_clip_length=2)["_id"]
            while (task := embedded.store.get(task_id)) is not None and task.status == "processing":
                time.sleep(0.1)
            expected[video.name] = {
                (s.option, s.scope, s.start): s.vector for s in embedded.store.segments([task_id])
            }
    finally:
        embedded.close()
    _ensure_worker_nodes(ray_cluster)
    killed: list[str] = []
    servers = [_start_server(tmp_path, name, ray_cluster, pg_url, s3_fake) for name in ("one", "two")]
    try:
        for process, url, log in servers:
            wait_http(f"{url}/ready", process, log)
        killer = threading.Thread(target=_kill_a_worker_node_mid_run, args=(ray_cluster, pg_url, killed))
        killer.start()
        created: dict[str, str] = {}  # task id -> video name
        for n in range(TASKS):
            video = videos[n % len(videos)]
            _, url, _ = servers[n % 2]  # alternately through both servers
            with open(video, "rb") as file:
                form = {"model_name": FAKE, "video_clip_length": "2"}
                reply = httpx.post(
                    f"{url}/v1.3/embed/tasks", data=form, files={"video_file": (video.name, file)}
                )
            assert reply.status_code == 200, reply.text
            created[reply.json()["_id"]] = video.name
        assert any(key.startswith("media/") for key in s3_fake.keys())  # the uploads went to the bucket
        killer.join(timeout=180)
        assert killed, "no task was under way to kill a node under"
        got = {task_id: served_segments(f"{servers[1][1]}/v1.3", task_id, timeout=240) for task_id in created}
    finally:
        for process, _, _ in servers:
            os.killpg(process.pid, signal.SIGTERM)
        for process, _, _ in servers:
            process.wait(timeout=60)
    for task_id, name in created.items():
        assert sorted(got[task_id]) == sorted(expected[name])
        for key, vector in expected[name].items():
            assert np.array_equal(got[task_id][key], vector), (task_id, key)
    logs = "".join(log.read_text() for _, _, log in servers)
    for task_id in created:  # ready exactly once, by one server
        assert logs.count(f"task {task_id}: ready on ") == 1, task_id
    assert "(attempt 2)" in logs  # the killed node's task ran again


def _kill_a_worker_node_mid_run(cluster: Cluster, pg: str, killed: list[str], timeout: float = 120) -> None:
    """SIGKILL to one worker node's processes as soon as tasks are under way (read straight from the
    database every 20 ms: the servers record progress only every 2 s); its address goes into
    ``killed``."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(pg, autocommit=True) as conn:
        while time.monotonic() < deadline:
            running = conn.execute(
                # claimed: a slot claims only for an idle, placed actor, so its task is running
                "SELECT count(*) FROM tasks WHERE status = 'processing' AND lease_owner IS NOT NULL"
            ).fetchone()
            if running and running[0] >= CPUS:  # an actor busy on every node, worker nodes included
                node = next(iter(cluster.worker_nodes))
                cluster.remove_node(node, allow_graceful=False)
                killed.append(node.node_ip_address)
                return
            time.sleep(0.02)
