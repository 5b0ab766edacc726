"""``vidembed embed`` as a user runs it, in a subprocess: Ctrl-C mid-task, then the same command
again (one task, resumed, then reused), and ``--force``.

The command serves the fake stack (as the ``fake_cli`` fixture does, in the subprocess) and its
engine child is slowed down by a ``sitecustomize`` on ``PYTHONPATH`` (0.4 s per clip while
``SLOW_CLIP_SECONDS`` is set), so that SIGINT lands while the task is being embedded.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
from builders import read_until_progress
from conftest import FAKE

from vidembed.devtools.synth import SegmentSpec, make_video, tone

RUNNER = """
import signal
import sys
from dataclasses import dataclass

# A terminal's Ctrl-C, whatever launched the tests: a shell starting a job in the background
# (`bash scripts/test.sh &`) makes it ignore SIGINT, its children inherit that, and Python then
# installs no handler of its own (the interrupt tests failed so, 2026-12-06).
signal.signal(signal.SIGINT, signal.default_int_handler)

from vidembed import config
from vidembed.models.fake import FAKE_STACK
from vidembed.models.stacks_file import StackConfig


@dataclass
class FakeStackSettings(config.Settings):
    extra_stacks: tuple[StackConfig, ...] = (FAKE_STACK,)


config.Settings = FakeStackSettings
from vidembed.cli import main

sys.exit(main(sys.argv[1:]))
"""

SLOW_ENGINE = """
import os

if os.environ.get("SLOW_CLIP_SECONDS"):
    import time

    from vidembed.models import fake

    _encode_clip = fake.FakeVisualEncoder.encode_clip

    def encode_clip(self, frames, detail):
        time.sleep(float(os.environ["SLOW_CLIP_SECONDS"]))
        return _encode_clip(self, frames, detail)

    fake.FakeVisualEncoder.encode_clip = encode_clip
"""


@pytest.fixture(scope="module")
def long_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """120 s, 12 scenes of 10 s, small (320x180, 10 fps)."""
    folder = tmp_path_factory.mktemp("long")
    scenes = [
        SegmentSpec(10, image=np.full((90, 160, 3), (i * 20, 80, 160), np.uint8), audio=tone(300 + 20 * i, 9))
        for i in range(12)
    ]
    return make_video(folder / "long.mp4", scenes, width=320, height=180, fps=10)


@pytest.fixture
def harness(tmp_path: Path) -> Path:
    """A folder with the runner and the slowing sitecustomize."""
    folder = tmp_path / "harness"
    folder.mkdir()
    (folder / "run_cli.py").write_text(textwrap.dedent(RUNNER))
    (folder / "sitecustomize.py").write_text(textwrap.dedent(SLOW_ENGINE))
    return folder


def _env(harness: Path, slow: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SLOW_CLIP_SECONDS", "VIDEMBED_HOME")}
    env["PYTHONPATH"] = os.pathsep.join([str(harness), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    if slow:
        env["SLOW_CLIP_SECONDS"] = "0.4"
    return env


def _run(harness: Path, argv: list[str], slow: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(harness / "run_cli.py"), *argv],
        env=_env(harness, slow),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _tasks(data: Path) -> list[tuple[str, str, str, int, str | None]]:
    with sqlite3.connect(data / "vidembed.sqlite3") as db:
        return db.execute(
            "SELECT id, status, stage, attempts, lease_owner FROM tasks ORDER BY created_at"
        ).fetchall()


def test_ctrl_c_stops_embed_at_once_and_the_same_command_resumes_then_reuses_the_task(
    tmp_path: Path, long_video: Path, harness: Path
) -> None:
    data = tmp_path / "data"
    argv = ["--data-dir", str(data), "embed", str(long_video), "--model", FAKE]
    assert not (data / "vidembed.sqlite3").exists()
    proc = subprocess.Popen(
        [sys.executable, str(harness / "run_cli.py"), *argv],
        env=_env(harness, slow=True),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        seen = read_until_progress(proc)  # the engine is embedding clips
        task_id = seen[0].split()[1]
        children = psutil.Process(proc.pid).children(recursive=True)
        assert children, "the engine runs in a child process"
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        rest_out, rest_err = proc.communicate(timeout=10)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert took < 2.0, f"Ctrl-C took {took:.1f} s"
    assert proc.returncode == 130
    assert "Traceback" not in rest_err and rest_out == ""
    assert rest_err.splitlines()[-1] == (
        f"interrupted: task {task_id} is saved unfinished (processing, nothing embedded yet); "
        "run the same command again to resume it"
    )
    for child in children:  # the engine stopped with the command
        assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE
    # processing, its lease given back (free for the next claimer at once), the attempt not counted
    assert _tasks(data) == [(task_id, "processing", "interrupted", 0, None)]

    started = time.monotonic()
    again = _run(harness, argv)
    assert again.returncode == 0, again.stderr
    assert time.monotonic() - started < 30  # claimed at once, not after a 60 s lease
    assert again.stderr.splitlines()[0] == (
        f"task {task_id}: resuming the task an earlier run left unfinished"
    )
    assert f"task:       {task_id}" in again.stdout and "clips:      20 x 6.0 s" in again.stdout
    assert [(t[0], t[1]) for t in _tasks(data)] == [(task_id, "ready")]

    third = _run(harness, argv)
    assert third.returncode == 0, third.stderr
    assert third.stderr.splitlines()[0] == (
        f"task {task_id}: already embedded (same video, same parameters); showing its results "
        "(--force embeds it again)"
    )
    assert "(embedded by an earlier run: its results, nothing embedded now)" in third.stdout
    assert "clips:      20 x 6.0 s" in third.stdout
    assert len(_tasks(data)) == 1

    # search sees each clip once: one task
    found = _run(harness, ["--data-dir", str(data), "search", "a tone", "--model", FAKE, "--top", "100"])
    assert found.returncode == 0, found.stderr
    hits = [line for line in found.stdout.splitlines() if line.startswith("  +") or line.startswith("  -")]
    assert hits and all(line.endswith(f"(task {task_id})") for line in hits)


def test_other_parameters_make_another_task_and_force_makes_a_new_one(
    tmp_path: Path, long_video: Path, harness: Path
) -> None:
    data = tmp_path / "data"
    argv = ["--data-dir", str(data), "embed", str(long_video), "--model", FAKE, "--start", "0", "--end", "30"]
    first = _run(harness, argv)
    assert first.returncode == 0, first.stderr
    # the realtime speed counts the 30 s embedded, not the 120 s of the file
    assert "embedded:   0-30 s" in first.stdout and "clips:      5 x 6.0 s" in first.stdout
    seconds, speed = first.stdout.split("time taken: ")[1].split(" s (")
    assert float(speed.split("x")[0]) == pytest.approx(30 / float(seconds), rel=0.2, abs=0.2)

    other = _run(harness, [*argv, "--clip-length", "5"])
    assert other.returncode == 0, other.stderr
    forced = _run(harness, [*argv, "--force"])
    assert forced.returncode == 0, forced.stderr
    assert forced.stderr.splitlines()[0].endswith("created")
    assert len({t[0] for t in _tasks(data)}) == 3


def test_a_run_killed_outright_is_resumed_at_once_by_the_next(
    tmp_path: Path, long_video: Path, harness: Path
) -> None:
    """kill -9 cannot hand the task back; the next run sees that the lease's holder was a process
    of this machine that no longer runs, and takes the task over without waiting out the lease."""
    data = tmp_path / "data"
    argv = ["--data-dir", str(data), "embed", str(long_video), "--model", FAKE]
    proc = subprocess.Popen(
        [sys.executable, str(harness / "run_cli.py"), *argv],
        env=_env(harness, slow=True),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    children: list[psutil.Process] = []
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if line.startswith("progress") and int(line.split()[1].rstrip("%")) > 0:
                break
        children = psutil.Process(proc.pid).children(recursive=True)
        proc.kill()
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for child in children:  # the orphaned engine would finish its job, then exit
            if child.is_running():
                child.kill()
    [(task_id, status, _, _, holder)] = _tasks(data)
    assert status == "processing" and holder is not None and holder.split(":")[1] == str(proc.pid)

    started = time.monotonic()
    again = _run(harness, argv)
    assert again.returncode == 0, again.stderr
    assert time.monotonic() - started < 30  # not after the 60 s lease
    assert again.stderr.splitlines()[0] == f"task {task_id}: resuming the task an earlier run left unfinished"
    assert [(t[0], t[1]) for t in _tasks(data)] == [(task_id, "ready")]
