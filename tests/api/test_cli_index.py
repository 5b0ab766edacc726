"""``vidembed index create|list|add|rm`` and ``vidembed search --index`` (``cli.main`` in this
process), embedded over one data folder with one indexed video, and against a server."""

from __future__ import annotations

import contextlib
import io
import os
import re
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from builders import read_until_progress
from conftest import FAKE, PARAPHRASE, LiveServer, make_service
from test_cli_interrupt import RUNNER, SLOW_ENGINE

from vidembed.cli import main
from vidembed.devtools.synth import SegmentSpec, make_video


@dataclass
class Run:
    code: int
    out: str
    err: str


def run(*argv: str) -> Run:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return Run(code, out.getvalue(), err.getvalue())


@dataclass
class Folder:
    data: Path
    index_id: str
    video_id: str
    added: Run

    def run(self, *argv: str) -> Run:
        return run("--data-dir", str(self.data), *argv)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory, labelled_video: Path) -> Folder:
    data = tmp_path_factory.mktemp("cli-index")
    created = run("--data-dir", str(data), "index", "create", "kitchen")
    assert created.code == 0, created.err
    index_id = created.out.strip()
    assert re.fullmatch(r"[0-9a-f]{24}", index_id)
    assert "index 'kitchen' created: marengo3.0, visual, audio" in created.err
    added = run(
        "--data-dir",
        str(data),
        "index",
        "add",
        index_id,
        str(labelled_video),
        "--metadata",
        '{"category": "cooking"}',
    )
    assert added.code == 0, added.err
    video_id = re.findall(r"task ([0-9a-f]{24}) created", added.err)[0]
    return Folder(data, index_id, video_id, added)


def test_add_shows_progress_and_ends_with_a_table(folder: Folder) -> None:
    err = folder.added.err
    assert f"task {folder.video_id} created: " in err and "labelled.mp4" in err
    assert f"indexing labelled.mp4 (task {folder.video_id})" in err
    assert "progress 100% done ready" in err.splitlines()
    assert "\r" not in err  # not a terminal: plain lines
    lines = folder.added.out.splitlines()
    assert lines[0].split() == ["VIDEO", "STATUS", "FILE"]
    assert lines[1].split() == [folder.video_id, "ready", "labelled.mp4"]


def test_list_shows_the_index_and_its_videos(folder: Folder) -> None:
    listed = folder.run("index", "list")
    assert listed.code == 0, listed.err
    header, row = listed.out.splitlines()
    assert header.split() == ["ID", "NAME", "MODEL", "OPTIONS", "VIDEOS", "DURATION", "CREATED"]
    assert row.split()[:6] == [folder.index_id, "kitchen", "marengo3.0", "visual,audio", "1", "18.0"]
    videos = folder.run("index", "list", folder.index_id)
    assert videos.code == 0, videos.err
    header, row = videos.out.splitlines()
    assert header.split() == ["VIDEO", "STATUS", "FILE", "DURATION", "METADATA"]
    assert row.split() == [
        folder.video_id,
        "ready",
        "labelled.mp4",
        "18.0",
        "s",
        '{"category":',
        '"cooking"}',
    ]


def test_search_prints_a_ranked_table(folder: Folder) -> None:
    found = folder.run("search", "--index", folder.index_id, PARAPHRASE, "--limit", "2")
    assert found.code == 0, found.err
    lines = found.out.splitlines()
    assert lines[0].split() == ["RANK", "VIDEO", "START-END", "SCORE", "WORDS"]
    assert len(lines) == 3  # --limit 2, over pages of 2
    first = lines[1].split()
    assert first[:4] == ["1", "labelled.mp4", "0.0-6.0", "s"]
    assert float(first[4]) > 0 and "tomatoes" in lines[1].lower()
    assert lines[2].split()[0] == "2"
    assert re.search(r"^2 of \d+ results \(--limit shows more\)$", found.err, re.M)
    grouped = folder.run("search", "--index", folder.index_id, PARAPHRASE, "--group-by", "video")
    assert grouped.code == 0, grouped.err
    header, row = grouped.out.splitlines()
    assert header.split() == ["RANK", "VIDEO", "CLIPS", "BEST", "CLIP", "SCORE"]
    assert row.split()[:2] == ["1", "labelled.mp4"] and row.split()[3] == "0.0-6.0"
    visual = folder.run(
        "search", "--index", folder.index_id, PARAPHRASE, "--option", "visual", "--limit", "50"
    )
    assert visual.code == 0 and len(visual.out.splitlines()) == 4  # the video's 3 clips
    none = folder.run("search", "--index", folder.index_id, PARAPHRASE, "--filter", '{"category": "news"}')
    assert (none.code, none.out, none.err.strip()) == (1, "", "no results")


def test_errors_name_the_flags(folder: Folder, labelled_video: Path) -> None:
    bad_filter = folder.run("search", "--index", folder.index_id, "x", "--filter", "{oops")
    assert bad_filter.code == 2 and bad_filter.err.startswith("error: ") and "--filter" in bad_filter.err
    bad_option = folder.run("search", "--index", folder.index_id, "x", "--option", "smell")
    assert bad_option.code == 2 and "'smell' is not supported" in bad_option.err
    assert folder.run("search", "x", "--group-by", "video").code == 2
    bad_json = folder.run("index", "add", folder.index_id, str(labelled_video), "--metadata", "[1]")
    assert bad_json.code == 2 and "--metadata must be a JSON object" in bad_json.err
    missing = folder.run("index", "add", folder.index_id, "no-such.mp4")
    assert (missing.code, missing.err.strip()) == (2, "error: no such file: no-such.mp4")
    taken = folder.run("index", "create", "kitchen")
    assert taken.code == 2 and "kitchen" in taken.err
    no_options = folder.run("index", "create", "other", "--options", "smell")
    assert no_options.code == 2 and "--options" in no_options.err
    unknown = folder.run("index", "rm", "f" * 24)
    assert unknown.code == 2 and unknown.err.startswith("error: ")


def test_zz_rm_deletes_a_video_then_the_index(folder: Folder) -> None:
    """Last in the module (it empties the shared folder)."""
    gone = folder.run("index", "rm", folder.index_id, folder.video_id)
    assert gone.code == 0 and f"deleted video {folder.video_id} from index {folder.index_id}" in gone.err
    assert folder.run("index", "list", folder.index_id).out == ""
    nothing = folder.run("search", "--index", folder.index_id, PARAPHRASE)
    assert nothing.code == 1
    assert folder.run("index", "rm", folder.index_id).code == 0
    left = folder.run("index", "list")
    assert (left.code, left.out) == (0, "") and "no indexes" in left.err


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(make_service(tmp_path_factory.mktemp("cli-index-server"), start_workers=False), {"k"})
    yield server
    server.stop()


def test_the_commands_speak_to_a_server_with_base_url(live: LiveServer) -> None:
    remote = ("--base-url", live.url + "/v1.3", "--api-key", "k")
    created = run("index", "create", "remote", "--options", "visual", *remote)
    assert created.code == 0, created.err
    index_id = created.out.strip()
    listed = run("index", "list", *remote)
    assert listed.out.splitlines()[1].split()[:5] == [index_id, "remote", "marengo3.0", "visual", "0"]
    refused = run("index", "list", "--base-url", live.url, "--api-key", "wrong")
    assert refused.code == 2 and refused.err.startswith("error: ")
    assert run("index", "rm", index_id, *remote).code == 0
    assert run("index", "list", *remote).out == ""


def _cli(harness: Path, *argv: str, slow: bool = False) -> tuple[list[str], dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if k not in ("SLOW_CLIP_SECONDS", "VIDEMBED_HOME")}
    env["PYTHONPATH"] = os.pathsep.join([str(harness), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    if slow:
        env["SLOW_CLIP_SECONDS"] = "0.4"
    return [sys.executable, str(harness / "run_cli.py"), *argv], env


def test_ctrl_c_during_add_saves_the_task_and_the_next_add_finishes_it(tmp_path: Path) -> None:
    """In a subprocess with the fake stack, its engine slowed down (tests/api/test_cli_interrupt.py)."""
    harness = tmp_path / "harness"
    harness.mkdir()
    (harness / "run_cli.py").write_text(textwrap.dedent(RUNNER))
    (harness / "sitecustomize.py").write_text(textwrap.dedent(SLOW_ENGINE))
    scenes = [SegmentSpec(10, image=np.full((90, 160, 3), (i * 40, 80, 160), np.uint8)) for i in range(6)]
    long = make_video(tmp_path / "long.mp4", scenes, width=320, height=180, fps=10)
    short = make_video(tmp_path / "short.mp4", scenes[:1], width=320, height=180, fps=10)
    data = str(tmp_path / "data")

    def run_cli(*argv: str) -> subprocess.CompletedProcess[str]:
        command, env = _cli(harness, "--data-dir", data, *argv)
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)

    created = run_cli("index", "create", "slow", "--model", FAKE, "--options", "visual")
    assert created.returncode == 0, created.stderr
    index_id = created.stdout.strip()
    command, env = _cli(harness, "--data-dir", data, "index", "add", index_id, str(long), slow=True)
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        seen = read_until_progress(proc)  # the engine is embedding clips
        task_id = seen[0].split()[1]
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130 and out == "" and "Traceback" not in err
    assert err.splitlines()[-2:] == [
        "interrupted: 0 of 1 videos done",
        f"tasks not finished: {task_id}; they stay queued and are indexed when workers next run on "
        "this data folder (vidembed serve, or the next vidembed index add)",
    ]
    waiting = run_cli("index", "list", index_id)
    row = waiting.stdout.splitlines()[1].split()
    assert row[0] == task_id and row[1] in ("queued", "indexing")
    again = run_cli("index", "add", index_id, str(short))
    assert again.returncode == 0, again.stderr
    done = run_cli("index", "list", index_id)
    assert sorted(line.split()[2] for line in done.stdout.splitlines()[1:]) == ["long.mp4", "short.mp4"]
    assert {line.split()[1] for line in done.stdout.splitlines()[1:]} == {"ready"}
