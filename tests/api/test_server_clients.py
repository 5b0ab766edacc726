"""Our HTTP client mode, and the seed document's examples run as written against the server."""

from __future__ import annotations

import contextlib
import functools
import http.server
import io
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import LiveServer
from twelvelabs import TwelveLabs

from vidembed import BadRequestError, NotFoundError, VidEmbed


def test_our_http_client_matches_the_embedded_objects(server: LiveServer, silent_video: Path) -> None:
    with VidEmbed(base_url=server.url + "/v1.3", api_key="k") as client:
        with open(silent_video, "rb") as fh:
            task = client.embed.tasks.create(
                model_name="marengo3.0", video_file=fh, video_embedding_scope=["clip", "video"]
            )
        status = client.embed.tasks.wait_for_done(task.id, sleep_interval=0.2)
        assert status.status == "ready" and status.progress.fraction == 1.0
        result = client.embed.tasks.retrieve(task.id, embedding_option=["audio"])
        assert [
            (s.embedding_scope, s.start_offset_sec, s.end_offset_sec) for s in result.video_embedding.segments
        ] == [("clip", 0.0, 6.0), ("video", 0.0, 7.0)]
        assert result.video_embedding.metadata.input_filename == "no-audio.mp4"
        assert task.id in [t.id for t in client.embed.tasks.list(page_limit=2)]
        with pytest.raises(BadRequestError) as bad:
            client.embed.tasks.create(
                model_name="marengo3.0", video_url="https://e.com/v.mp4", video_clip_length=1
            )
        assert bad.value.code == "parameter_invalid" and bad.value.status_code == 400
        with pytest.raises(NotFoundError):
            client.embed.tasks.status("f" * 24)
        text = client.embed.create(model_name="marengo3.0", text="a dog")
        assert len(text.text_embedding.segments[0].float_) == 384


def test_http_client_resends_the_whole_upload_on_retry(server: LiveServer, silent_video: Path) -> None:
    """The first attempt is cut off by a (fake) proxy dropping the connection; the retry must
    carry the file from its start, unlike the official SDK's empty retry body."""
    import httpx

    attempts: list[int] = []

    class FlakyTransport(httpx.HTTPTransport):  # a fake: stands in for a flaky network
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            if request.method == "POST" and not attempts:
                attempts.append(len(request.read()))
                raise httpx.RemoteProtocolError("connection dropped", request=request)
            if request.method == "POST":
                attempts.append(len(request.read()))
            return super().handle_request(request)

    from vidembed.client.transports.http import HttpTransport

    transport = HttpTransport(server.url, client=httpx.Client(transport=FlakyTransport(), timeout=30))
    with VidEmbed(transport=transport) as client, open(silent_video, "rb") as fh:
        task = client.embed.tasks.create(model_name="marengo3.0", video_file=fh)
        assert client.embed.tasks.wait_for_done(task.id, sleep_interval=0.2).status == "ready"
    assert len(attempts) == 2 and attempts[0] == attempts[1] > silent_video.stat().st_size


@contextlib.contextmanager
def file_server(folder: Path) -> Iterator[str]:
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()


def run_example(code: str, **names: object) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(code, dict(names))
    return out.getvalue()


SEED_CREATE = """
from twelvelabs import TwelveLabs

task = client.embed.tasks.create(
    model_name="marengo3.0",
    # video_file="<YOUR_VIDEO_FILE>",
    video_url="<YOUR_VIDEO_URL>",
    video_start_offset_sec=0,
    video_end_offset_sec=10,
    video_clip_length=5,
    video_embedding_scope=["clip", "video"]
)

print(f"Task ID: {task.id}")
"""
SEED_STATUS = """
from twelvelabs import TwelveLabs
from twelvelabs.embed import TasksStatusResponse

from twelvelabs import TwelveLabs

response = client.embed.tasks.status(task_id="<YOUR_TASK_ID>")

print(f"Task ID: {response.id}")
print(f"Model Name: {response.model_name}")
print(f"Status: {response.status}")
"""
SEED_WAIT = """
from twelvelabs import TwelveLabs
from twelvelabs.embed import TasksStatusResponse

def on_task_update(task: TasksStatusResponse):
    print(f"  Status={task.status}")

status = client.embed.tasks.wait_for_done("<YOUR_TASK_ID>", callback=on_task_update)
"""
# The seed's retrieve example uses List without importing it; that import is the one addition.
SEED_RETRIEVE = """from typing import List
from twelvelabs import TwelveLabs
from twelvelabs.types import VideoSegment

task = client.embed.tasks.retrieve(
    task_id="<YOUR_TASK_ID>",
    embedding_option=["visual", "audio", "transcription"]
)

def print_segments(segments: List[VideoSegment], max_elements: int = 5):
    for segment in segments:
        print(f"  embedding_scope={segment.embedding_scope} embedding_option={segment.embedding_option} start_offset_sec={segment.start_offset_sec} end_offset_sec={segment.end_offset_sec}")
        first_few = segment.float_[:max_elements]
        print(
            f"  embeddings: [{', '.join(str(x) for x in first_few)}...] (total: {len(segment.float_)} values)"
        )
if task.video_embedding is not None and task.video_embedding.segments is not None:
    print_segments(task.video_embedding.segments)
"""


def test_seed_examples_as_written(
    server: LiveServer, labelled_video: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TWELVELABS_BASE_URL", raising=False)
    monkeypatch.setattr(server.service.settings, "allow_local_urls", True)
    client = TwelveLabs(api_key="k", base_url=server.url + "/v1.3")
    with file_server(labelled_video.parent) as files:
        printed = run_example(
            SEED_CREATE.replace("<YOUR_VIDEO_URL>", f"{files}/{labelled_video.name}"), client=client
        )
        match = re.fullmatch(r"Task ID: ([0-9a-f]{24})\n", printed)
        assert match, printed
        task_id = match.group(1)
        printed = run_example(SEED_STATUS.replace("<YOUR_TASK_ID>", task_id), client=client)
        assert printed.splitlines() == [f"Task ID: {task_id}", "Model Name: marengo3.0", "Status: processing"]
        # The seed's wait loop polls every 5 s (its default).
        printed = run_example(SEED_WAIT.replace("<YOUR_TASK_ID>", task_id), client=client)
    lines = printed.splitlines()
    assert lines[-1] == "  Status=ready" and set(lines[:-1]) <= {"  Status=processing"}
    printed = run_example(SEED_RETRIEVE.replace("<YOUR_TASK_ID>", task_id), client=client).splitlines()
    assert len(printed) == 2 * (3 * 2 + 3)  # 3 options x (2 clips + 1 video), two lines each
    assert (
        printed[0] == "  embedding_scope=clip embedding_option=visual start_offset_sec=0.0 end_offset_sec=5.0"
    )
    assert re.fullmatch(
        r"  embeddings: \[(-?[0-9.e-]+, ){4}-?[0-9.e-]+\.\.\.\] \(total: 384 values\)", printed[1]
    )
    assert (
        "  embedding_scope=video embedding_option=transcription start_offset_sec=0.0 end_offset_sec=10.0"
        in printed
    )
