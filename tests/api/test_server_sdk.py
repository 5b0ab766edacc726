"""The official twelvelabs SDK, unchanged, against our real server (CONTRACT.md)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import LiveServer
from twelvelabs import AsyncTwelveLabs, BadRequestError, TwelveLabs

ROOT = Path(__file__).resolve().parents[2]
SDK_04 = ROOT / ".sdk" / "twelvelabs-0.4.11"


@pytest.fixture(autouse=True)
def _no_env_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TWELVELABS_BASE_URL", raising=False)  # it would override base_url= (1.3.x)


@pytest.mark.parametrize("suffix", ["", "/v1.3", "/v1.3/"])
def test_sdk_13_full_cycle(server: LiveServer, labelled_video: Path, suffix: str) -> None:
    client = TwelveLabs(api_key="anything", base_url=server.url + suffix)
    with open(labelled_video, "rb") as fh:
        task = client.embed.tasks.create(
            model_name="marengo3.0",
            video_file=fh,
            video_clip_length=6,
            video_embedding_scope=["clip", "video"],
        )
    assert task.id and len(task.id) == 24
    seen: list[str] = []
    status = client.embed.tasks.wait_for_done(
        task.id, sleep_interval=0.2, callback=lambda t: seen.append(t.status)
    )
    assert status.status == "ready" and seen[-1] == "ready"
    assert status.model_name == "marengo3.0"
    assert status.video_embedding.metadata.input_filename == "labelled.mp4"
    result = client.embed.tasks.retrieve(
        task_id=task.id, embedding_option=["visual", "audio", "transcription"]
    )
    segments = result.video_embedding.segments
    assert len(segments) == 12
    assert {(s.embedding_option, s.embedding_scope) for s in segments} >= {
        ("visual", "clip"),
        ("audio", "video"),
    }
    assert [(s.start_offset_sec, s.end_offset_sec) for s in segments if s.embedding_option == "visual"][
        :3
    ] == [(0.0, 6.0), (6.0, 12.0), (12.0, 18.0)]
    assert all(len(s.float_) == 384 for s in segments)
    assert result.created_at is not None
    only_audio = client.embed.tasks.retrieve(task.id, embedding_option="audio")
    assert {s.embedding_option for s in only_audio.video_embedding.segments} == {"audio"}
    listed = [t.id for t in client.embed.tasks.list(page_limit=1)]
    assert task.id in listed and len(listed) == len(set(listed))
    text = client.embed.create(model_name="marengo3.0", text="someone cutting vegetables")
    query = np.array(text.text_embedding.segments[0].float_)
    speech_clip = next(s for s in segments if s.embedding_option == "transcription")
    assert query.shape == (384,) and float(query @ np.array(speech_clip.float_)) > 0.3


def test_sdk_13_bad_request(server: LiveServer) -> None:
    client = TwelveLabs(api_key="k", base_url=server.url)
    with pytest.raises(BadRequestError) as info:
        client.embed.tasks.create(
            model_name="marengo3.0", video_url="https://example.com/v.mp4", video_clip_length=11
        )
    assert info.value.status_code == 400
    assert info.value.body == {
        "code": "parameter_invalid",
        "message": "The video_clip_length parameter is invalid. video_clip_length should be within 2-10 seconds long",
    }
    with pytest.raises(BadRequestError) as info:
        client.embed.tasks.create(
            model_name="marengo3.0",
            video_url="https://example.com/v.mp4",
            video_start_offset_sec=5,
            video_end_offset_sec=2,
        )
    assert info.value.body["message"] == (
        "The video_end_offset_sec parameter is invalid. "
        "video_end_offset_sec should be greater than video_start_offset_sec"
    )


def test_sdk_13_explicit_none_and_bytes(server: LiveServer, silent_video: Path) -> None:
    """Explicit None arrives as "" fields; raw bytes arrive as a part named "upload"."""
    client = TwelveLabs(api_key="k", base_url=server.url + "/v1.3")
    task = client.embed.tasks.create(
        model_name="marengo3.0",
        video_file=silent_video.read_bytes(),
        video_url=None,
        video_start_offset_sec=None,
        video_embedding_scope=None,
    )
    status = client.embed.tasks.wait_for_done(task.id, sleep_interval=0.2)
    assert status.status == "ready"
    assert status.video_embedding.metadata.input_filename == "upload"
    assert status.video_embedding.metadata.video_embedding_scope == ["clip"]


def test_sdk_13_async_client(server: LiveServer, silent_video: Path) -> None:
    async def run() -> tuple[str, str]:
        client = AsyncTwelveLabs(api_key="k", base_url=server.url + "/v1.3")
        task = await client.embed.tasks.create(model_name="marengo3.0", video_file=silent_video.read_bytes())
        status = await client.embed.tasks.status(task.id)
        return task.id, status.status

    task_id, status = asyncio.run(run())
    assert len(task_id) == 24 and status in ("processing", "ready")


SDK04_SCRIPT = """
import sys
from twelvelabs import TwelveLabs
client = TwelveLabs(api_key="k")
task = client.embed.task.create(model_name="marengo3.0", video_file=sys.argv[1], video_clip_length=6)
print("created", task.id, task.status)
task.wait_for_done(sleep_interval=0.2)
done = client.embed.task.retrieve(task.id)
print("final", done.status, len(done.video_embedding.segments), len(done.video_embedding.segments[0].embeddings_float))
try:
    client.embed.task.create(model_name="marengo3.0", video_url="https://e.com/v.mp4", video_clip_length=1)
except Exception as exc:
    print("error", type(exc).__name__, exc.body["code"])
print("listed", len(client.embed.task.list(page_limit=2)))
"""


def test_sdk_04_legacy_client(server: LiveServer, silent_video: Path) -> None:
    assert (SDK_04 / "twelvelabs").is_dir(), "scripts/setup.sh installs the 0.4.11 SDK into .sdk/"
    env = {**os.environ, "PYTHONPATH": str(SDK_04), "TWELVELABS_BASE_URL": server.url}
    out = subprocess.run(
        [sys.executable, "-c", SDK04_SCRIPT, str(silent_video)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("created ") and lines[0].endswith(" processing")
    assert lines[1] == "final ready 3 384"
    assert lines[2] == "error BadRequestError parameter_invalid"
    assert lines[3] == "listed 2"
