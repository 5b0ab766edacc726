"""Builders shared by the tests of several folders: store records and a wait for a task to end."""

from __future__ import annotations

import subprocess
import time
from dataclasses import replace

import pytest

from vidembed.api.embed.operations import TaskService
from vidembed.records import AssetRecord, TaskRecord
from vidembed.segmentation import ClipParams

T0 = 1_750_000_000.0  # creation times of the tasks and assets made here: 2025-06-15, well in the past


def wait_ready(service: TaskService, task_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = service.status(task_id)
        if status["status"] != "processing":
            return status
        time.sleep(0.1)
    raise AssertionError(f"task {task_id} still processing after {timeout} s")


def make_task(task_id: str, created: float = T0, **fields: object) -> TaskRecord:
    base = TaskRecord(
        id=task_id,
        owner="alice",
        model_name="marengo3.0",
        status="processing",
        params=ClipParams(clip_length=6.0, scopes=("clip", "video")),
        options=["visual", "audio"],
        created_at=created,
        updated_at=created,
    )
    return replace(base, **fields)  # type: ignore[arg-type]


def make_asset(asset_id: str, created: float = T0, **fields: object) -> AssetRecord:
    base = AssetRecord(
        id=asset_id,
        owner="alice",
        method="direct",
        status="processing",
        filename="clip.mp4",
        file_type="video/mp4",
        created_at=created,
        updated_at=created,
        path=f"/data/media/assets/{asset_id}/clip.mp4",
        size=1234,
    )
    return replace(base, **fields)  # type: ignore[arg-type]


def read_until_progress(proc: subprocess.Popen[str], timeout: float = 60) -> list[str]:
    """The stderr lines of a CLI process up to its first progress line past 0 % (the engine is
    embedding clips); fails the test if the command ends first or nothing moves in ``timeout``."""
    assert proc.stderr is not None
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        assert line, f"the command ended early: {seen}"
        seen.append(line.rstrip("\n"))
        if line.startswith("progress") and int(line.split()[1].rstrip("%")) > 0:
            return seen
    pytest.fail(f"no progress in {timeout:g} s: {seen}")
