"""Load on loopback (slow; run with `bash scripts/test.sh -m slow`): clients keep creating small
tasks and polling for a bounded time; every task completes, no request fails, and status calls
stay fast while the workers are busy. Prints the figures reported in the README."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from conftest import LiveServer, make_service

from vidembed.devtools.synth import SegmentSpec, make_video

DURATION = float(os.environ.get("VIDEMBED_LOAD_SECONDS", "120"))
CLIENTS = 4


@pytest.mark.slow
def test_clients_creating_and_polling(tmp_path: Path) -> None:
    video = make_video(
        tmp_path / "small.mp4",
        [SegmentSpec(3, image=np.full((90, 160, 3), 128, np.uint8))],
        width=160,
        height=90,
        with_audio=False,
    ).read_bytes()
    live = LiveServer(make_service(tmp_path / "data"))
    created: list[str] = []
    errors: list[str] = []
    latencies: list[float] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + DURATION

    def client(n: int) -> None:
        with httpx.Client(base_url=live.url, timeout=30) as http:
            while time.monotonic() < stop_at:
                response = http.post(
                    "/embed/tasks",
                    data={"model_name": "marengo3.0", "embedding_option": "visual"},
                    files={"video_file": ("s.mp4", video, "video/mp4")},
                )
                if response.status_code != 200:
                    with lock:
                        errors.append(response.text)
                    continue
                task_id = response.json()["_id"]
                with lock:
                    created.append(task_id)
                for _ in range(20):
                    started = time.perf_counter()
                    status = http.get(f"/embed/tasks/{task_id}/status")
                    with lock:
                        latencies.append(time.perf_counter() - started)
                        if status.status_code != 200:
                            errors.append(status.text)
                    time.sleep(0.05)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        deadline = time.monotonic() + 600
        pending = set(created)
        while pending and time.monotonic() < deadline:
            pending = {t for t in pending if live.service.status(t)["status"] == "processing"}
            time.sleep(0.5)
        statuses = [live.service.status(t)["status"] for t in created]
    finally:
        live.stop()
    p50, p99 = np.percentile(latencies, [50, 99]) * 1000
    print(
        f"\nload: {CLIENTS} clients for {DURATION:.0f} s: {len(created)} tasks created, "
        f"{statuses.count('ready')} ready, {len(errors)} request errors; "
        f"{len(latencies)} status calls, p50 {p50:.1f} ms, p99 {p99:.1f} ms"
    )
    assert errors == []
    assert statuses.count("ready") == len(created) > 0
    assert p99 < 500
