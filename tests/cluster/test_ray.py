"""The Ray executor and ``vidembed batch`` on a local Ray cluster: a head and 2 worker nodes.

The cluster (tests/raycluster.py) listens on 127.0.0.2-4, all on loopback, and is started once per
session (5-6 s) with lean settings and fast health checks (a killed node is noticed in about 3 s).
Tasks use the fake stack.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
import pytest

ray = pytest.importorskip("ray")

from conftest import FAKE, fake_settings  # noqa: E402
from pg import database_url, pg_admin, pg_database, pg_url  # noqa: E402, F401
from ray.cluster_utils import Cluster  # noqa: E402
from raycluster import (  # noqa: E402, F401
    HEAD,
    SERVE_WITH_FAKE,
    WORKER_A,
    WORKER_B,
    make_videos,
    ray_cluster,
    served_segments,
    wait_http,
)

from vidembed.api.compose import open_tasks  # noqa: E402
from vidembed.api.embed.operations import TaskService  # noqa: E402
from vidembed.batch import BatchSettings, run_batch  # noqa: E402
from vidembed.cli import main as cli_main  # noqa: E402
from vidembed.executors.ray import ActorSlot, RayExecutor  # noqa: E402
from vidembed.records import TaskRecord  # noqa: E402
from vidembed.stores.open import open_store  # noqa: E402


@pytest.fixture(scope="session")
def short_videos(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return make_videos(tmp_path_factory.mktemp("ray-videos"), 4, 6.0)


def _run_all(service: TaskService, videos: list[Path], timeout: float = 120) -> dict[str, list[np.ndarray]]:
    """Creates one task per video (fake stack, 2 s clips), waits; each video's vectors, by name."""
    ids = {v.name: service.create(model_name=FAKE, video_file=v, video_clip_length=2)["_id"] for v in videos}
    deadline = time.monotonic() + timeout
    while any(service.store.get(i).status == "processing" for i in ids.values()):  # type: ignore[union-attr]
        assert time.monotonic() < deadline, "tasks did not finish"
        time.sleep(0.1)
    for task_id in ids.values():
        task = service.store.get(task_id)
        assert task is not None and task.status == "ready", (task_id, task and task.error)
    return {name: [s.vector for s in service.store.segments([i])] for name, i in ids.items()}


def test_ray_executor_matches_thread_executor(
    ray_cluster: Cluster,  # noqa: F811
    short_videos: list[Path],
    tmp_path: Path,
    database_url: str | None,  # noqa: F811
) -> None:
    """On either store: SQLite in the data folder, and PostgreSQL (the store several machines share)."""
    threads = open_tasks(fake_settings(tmp_path / "threads"))
    try:
        expected = _run_all(threads, short_videos)
    finally:
        threads.close()
    on_ray = open_tasks(fake_settings(tmp_path / "ray", executor="ray", workers=2, database_url=database_url))
    try:
        assert isinstance(on_ray.workers, RayExecutor)
        got = _run_all(on_ray, short_videos)
        nodes = {ray.get(slot.actor.ready.remote()) for slot in on_ray.workers.slots}
    finally:
        on_ray.close()
    assert nodes <= {HEAD, WORKER_A, WORKER_B} and len(nodes) == 2  # SPREAD: two nodes, loopback
    assert sorted(got) == sorted(expected) == [f"v{n}.mp4" for n in range(4)]
    for name, vectors in expected.items():
        assert len(got[name]) == len(vectors) == 9  # 3 clips x 3 options
        for mine, theirs in zip(got[name], vectors, strict=True):
            assert np.array_equal(mine, theirs)


def test_an_input_not_on_the_node_fails_with_what_to_do(
    ray_cluster: Cluster,  # noqa: F811
    short_videos: list[Path],
    tmp_path: Path,
) -> None:
    """A local media folder that the actor's node cannot see (here: the file removed before the
    task runs) fails the task with a reason that says how to deploy, not "internal error"."""
    service = open_tasks(fake_settings(tmp_path / "data", executor="ray"), start_workers=False)
    try:
        task_id = service.create(model_name=FAKE, video_file=short_videos[0], video_clip_length=2)["_id"]
        task = service.store.get(task_id)
        assert task is not None and task.source_path
        Path(task.source_path).unlink()
        service.workers.start()
        [done] = _wait_all(service, [task_id])
    finally:
        service.close()
    assert done.status == "failed" and done.attempts == 1
    node = done.error.split("Ray node ")[1].split(". ")[0] if done.error else ""
    assert node in (HEAD, WORKER_A, WORKER_B)
    assert done.error == (
        f"The task's input {task.source_path} is not on the Ray node {node}. With --executor ray on "
        "several machines, keep media in S3 (--media-url s3://bucket/prefix) or mount the media folder "
        "at the same path on every node."
    )


def test_batch_resumes_and_lists_failures(
    ray_cluster: Cluster,  # noqa: F811
    short_videos: list[Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    fake_cli: str,
) -> None:
    folder = tmp_path / "library"
    folder.mkdir()
    for video in short_videos[:3]:
        shutil.copy(video, folder / video.name)
    (folder / "broken.mp4").write_bytes(b"this is not a video" * 100)
    data = tmp_path / "data"
    settings = BatchSettings(
        inputs=(str(folder),), model_name=FAKE, actors=2, stacks=fake_settings(data).stacks
    )
    url = f"sqlite:///{data / 'vidembed.sqlite3'}"

    first = run_batch(settings, open_store(url, data / "unused"))
    assert sorted(Path(v).name for v in first.embedded) == ["v0.mp4", "v1.mp4", "v2.mp4"]
    assert first.skipped == []
    broken = "The file is not a video that can be decoded (unknown or damaged container)."
    assert [(Path(p).name, r.split(" Upload")[0]) for p, r in first.failed] == [("broken.mp4", broken)]
    assert first.hours == pytest.approx(3 * 6 / 3600, rel=0.05)

    # the same store through the service: the tasks are ready and searchable
    service = open_tasks(fake_settings(data, database_url=url), start_workers=False)
    try:
        ready = service.store.ready_tasks(None)
        assert sorted(t.input_filename or "" for t in ready) == ["v0.mp4", "v1.mp4", "v2.mp4"]
        found = service.search("red", model_name=FAKE, options=["visual"], top=3)
        assert {hit.task_id for hit in found.ranked["visual"]} <= {t.id for t in ready}
        assert len(found.ranked["visual"]) == 3
    finally:
        service.close()

    # a rerun through the command: nothing embedded again, the broken file still listed
    code = cli_main(
        ["batch", str(folder / "*.mp4"), "--database-url", url, "--model", fake_cli, "--actors", "2"]
        + ["--data-dir", str(data)]
    )
    captured = capsys.readouterr()
    assert code == 1
    assert "0 embedded, 3 already done, 1 failed" in captured.err
    assert f"failed: {folder / 'broken.mp4'}: {broken}" in captured.err
    store = open_store(url, data / "unused")
    try:
        tasks = [store.get(t.id) for t in ready]
        assert [t.attempts for t in tasks if t] == [1, 1, 1]  # not claimed again
    finally:
        store.close()


def test_actor_killed_mid_task(ray_cluster: Cluster, tmp_path: Path) -> None:  # noqa: F811
    """The actor's process gets SIGKILL while it embeds (as a crashing decoder would do): the task
    is given back, runs again on a new actor and ends ready once; the other tasks are not touched."""
    videos = make_videos(tmp_path / "long", 1, 240.0) * 4  # about 1.4 s of work per task (see below)
    service = open_tasks(fake_settings(tmp_path / "data", executor="ray", workers=2))
    try:
        executor = service.workers
        assert isinstance(executor, RayExecutor)
        ids = [service.create(model_name=FAKE, video_file=v, video_clip_length=2)["_id"] for v in videos]
        slot, task_id = _busy_slot(executor, service, lambda node: True)
        assert slot.actor is not None
        os.kill(ray.get(slot.actor.pid.remote()), signal.SIGKILL)  # all nodes are on this machine
        tasks = _wait_all(service, ids)
        retried = service.store.get(task_id)
    finally:
        service.close()
    assert [t.status for t in tasks] == ["ready"] * 4
    assert sorted(t.attempts for t in tasks) == [1, 1, 1, 2]
    assert retried is not None and retried.attempts == 2
    assert retried.error and "The Ray actor embedding this video died" in retried.error


def test_worker_node_killed_mid_run(
    ray_cluster: Cluster,  # noqa: F811
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # 240 s of sound: about 1.4 s of work per task on the fake stack (its audio dominates), so
    # that the kill lands while a task is in progress; 6 tasks of the same file
    videos = make_videos(tmp_path / "long", 1, 240.0) * 6
    service = open_tasks(fake_settings(tmp_path / "data", executor="ray", workers=2))
    caplog.set_level(logging.INFO, logger="vidembed.ray")
    try:
        executor = service.workers
        assert isinstance(executor, RayExecutor)
        ids = [service.create(model_name=FAKE, video_file=v, video_clip_length=2)["_id"] for v in videos]
        slot, task_id = _busy_slot(executor, service, lambda node: node != HEAD)
        assert slot.actor is not None
        victim = ray.get(slot.actor.ready.remote())
        node = next(n for n in ray_cluster.worker_nodes if n.node_ip_address == victim)
        ray_cluster.remove_node(node, allow_graceful=False)  # SIGKILL to the node's processes
        tasks = _wait_all(service, ids)
    finally:
        service.close()
    assert [t.status for t in tasks] == ["ready"] * 6
    attempts = {t.id: t.attempts for t in tasks}
    assert sorted(attempts.values()) == [1, 1, 1, 1, 1, 2]
    # the killed node's task ran again. Which task that is can differ from the one seen busy
    # before the kill (the slot may have moved on to its next task in between): it is the one
    # with two attempts, and it was not finished on the killed node
    rerun = next(i for i, n in attempts.items() if n == 2)
    assert task_id in ids
    ready_lines = [r.getMessage() for r in caplog.records if ": ready on " in r.getMessage()]
    assert sorted(line.split(":")[0].removeprefix("task ") for line in ready_lines) == sorted(ids)
    assert all(f"ready on {victim}" not in line for line in ready_lines if rerun in line)


def _busy_slot(
    executor: RayExecutor, service: TaskService, on_node: Callable[[str], bool]
) -> tuple[ActorSlot, str]:
    """Waits until an actor on a node that ``on_node`` accepts is embedding a task past its start
    (progress recorded); that slot and the task's id."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for slot in executor.slots:
            actor, current = slot.actor, slot.current
            if actor is None or current is None:
                continue
            task = service.store.get(current)
            # early in its work (not near its end), so that the kill lands before it completes
            # even on a loaded machine
            started = task is not None and 0 < task.progress < 0.5
            if started and on_node(ray.get(actor.ready.remote())):
                return slot, task.id
        time.sleep(0.05)
    raise AssertionError("no actor on such a node started a task")


def _wait_all(service: TaskService, ids: list[str], timeout: float = 120) -> list[TaskRecord]:
    """The tasks once none is processing any more."""
    deadline = time.monotonic() + timeout
    while True:
        tasks = [service.store.get(i) for i in ids]
        done = [t for t in tasks if t is not None and t.status != "processing"]
        if len(done) == len(ids):
            return done
        assert time.monotonic() < deadline, "tasks did not finish after the kill"
        time.sleep(0.2)


def test_vidembed_serve_with_the_ray_executor(
    ray_cluster: Cluster,  # noqa: F811
    short_videos: list[Path],
    tmp_path: Path,
    pg_url: str,  # noqa: F811
) -> None:
    """`vidembed serve --executor ray --ray-address HOST:PORT --database-url postgresql://...` as a
    process of its own (a second driver of the cluster): tasks created over HTTP end ready with the
    vectors the embedded mode gives."""
    embedded = open_tasks(fake_settings(tmp_path / "embedded"))
    try:
        expected = {
            name: _by_segment(embedded, i) for name, i in _created(embedded, short_videos[:3]).items()
        }
    finally:
        embedded.close()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [sys.executable, "-c", SERVE_WITH_FAKE, "--data-dir", str(tmp_path / "served"), "serve"]
    command += ["--port", str(port), "--executor", "ray", "--ray-address", ray_cluster.address]
    command += ["--workers", "2", "--database-url", pg_url]
    log = tmp_path / "server.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/v1.3"
    try:
        wait_http(f"http://127.0.0.1:{port}/ready", server, log)
        ids = {}
        for video in short_videos[:3]:
            with open(video, "rb") as file:
                form = {"model_name": FAKE, "video_clip_length": "2"}
                reply = httpx.post(f"{url}/embed/tasks", data=form, files={"video_file": (video.name, file)})
            assert reply.status_code == 200, reply.text
            ids[video.name] = reply.json()["_id"]
        got = {name: served_segments(url, task_id) for name, task_id in ids.items()}
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
    assert "Ray actor ready on node 127.0.0." in log.read_text()
    assert sorted(got) == sorted(expected) == ["v0.mp4", "v1.mp4", "v2.mp4"]
    for name, segments in expected.items():
        assert sorted(got[name]) == sorted(segments) and len(segments) == 9
        for key, vector in segments.items():
            assert np.array_equal(got[name][key], vector), (name, key)


def _created(service: TaskService, videos: list[Path]) -> dict[str, str]:
    ids = {v.name: service.create(model_name=FAKE, video_file=v, video_clip_length=2)["_id"] for v in videos}
    assert [t.status for t in _wait_all(service, list(ids.values()))] == ["ready"] * len(ids)
    return ids


def _by_segment(service: TaskService, task_id: str) -> dict[tuple[str, str, float], np.ndarray]:
    return {(s.option, s.scope, s.start): s.vector for s in service.store.segments([task_id])}


def test_actor_resources_decide_how_many_actors_a_node_takes(
    ray_cluster: Cluster,  # noqa: F811
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """--ray-actor-cpus: with half a CPU each, four actors fit on the three 1-CPU nodes (with the
    default 1 CPU they would not); with 2 CPUs none fits, nothing is claimed, and the log says what
    an actor waits for."""
    from vidembed.errors import ConfigurationError
    from vidembed.executors import ray as ray_executor

    service = open_tasks(fake_settings(tmp_path / "half", executor="ray", workers=4, ray_actor_cpus=0.5))
    try:
        executor = service.workers
        assert isinstance(executor, RayExecutor)
        deadline = time.monotonic() + 90
        while not all(s.placed for s in executor.slots):
            assert time.monotonic() < deadline, "four half-CPU actors were not all placed"
            time.sleep(0.2)
        assert len(executor.slots) == 4
    finally:
        service.close()
    monkeypatch.setattr(ray_executor, "PLACEMENT_WARNING_SECONDS", 1.0)
    caplog.set_level(logging.WARNING, logger="vidembed.executors.ray")
    service = open_tasks(fake_settings(tmp_path / "two", executor="ray", workers=1, ray_actor_cpus=2))
    try:
        task_id = service.create(model_name=FAKE, video_file=str(make_videos(tmp_path / "v", 1, 4.0)[0]))[
            "_id"
        ]
        deadline = time.monotonic() + 20
        while "free CPU" not in caplog.text:
            assert time.monotonic() < deadline, "no warning about the unplaceable actor"
            time.sleep(0.2)
        task = service.store.get(task_id)
        assert task is not None and (task.status, task.attempts) == ("processing", 0)  # never claimed
        assert "waited 1 s for a node with 2 free CPU" in caplog.text and "--ray-actor-cpus" in caplog.text
    finally:
        service.close()
    with pytest.raises(ConfigurationError, match="--ray-actor-cpus must be above 0"):
        open_tasks(fake_settings(tmp_path / "zero", executor="ray", workers=1, ray_actor_cpus=0))
