"""TwelveLabs' Search quickstart, as written, against ``vidembed serve``: an index, an asset from a
URL, the asset indexed at once with no wait (it is still processing), polling the indexed asset
until it is ready, then text, image-URL and text + image searches, each iterated to the end by a
plain ``for`` loop. And what goes wrong on that path: an asset that fails, or that is not a video."""

from __future__ import annotations

import functools
import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import PARAPHRASE, LiveServer, _checkerboard, make_service
from PIL import Image
from twelvelabs import BadRequestError, TwelveLabs
from twelvelabs.indexes import IndexesCreateRequestModelsItem

SLOW_SECONDS = 1.5  # the web server's delay before a video: the asset is still processing meanwhile


@pytest.fixture(autouse=True)
def _no_env_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TWELVELABS_BASE_URL", raising=False)


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory, labelled_video: Path) -> Iterator[str]:
    """The quickstart's files on 127.0.0.1: a video (served slowly), a picture, a text file."""
    folder = tmp_path_factory.mktemp("web")
    (folder / "kitchen.mp4").write_bytes(labelled_video.read_bytes())
    Image.fromarray(_checkerboard()).save(folder / "board.png")
    (folder / "notes.mp4").write_text("these are my notes, not a video\n" * 20)

    class Slow(http.server.SimpleHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.endswith("kitchen.mp4"):
                time.sleep(SLOW_SECONDS)
            super().do_GET()

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Slow, directory=str(folder)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwelveLabs]:
    service = make_service(tmp_path_factory.mktemp("quickstart"), allow_local_urls=True)
    live = LiveServer(service, {"key"})
    yield TwelveLabs(api_key="key", base_url=live.url + "/v1.3")
    live.stop()


def test_the_search_quickstart_runs_as_written(client: TwelveLabs, web: str) -> None:
    index = client.indexes.create(
        index_name="quickstart",
        models=[IndexesCreateRequestModelsItem(model_name="marengo3.0", model_options=["visual", "audio"])],
    )
    assert index.id is not None
    asset = client.assets.create(method="url", url=f"{web}/kitchen.mp4")
    assert asset.id is not None
    indexed_asset = client.indexes.indexed_assets.create(index_id=index.id, asset_id=asset.id)
    assert indexed_asset.id is not None and indexed_asset.asset_id == asset.id
    first = client.indexes.indexed_assets.retrieve(index.id, indexed_asset.id)
    assert first.status == "pending"  # accepted while the asset is still being downloaded
    deadline = time.monotonic() + 120
    while True:
        indexed = client.indexes.indexed_assets.retrieve(index.id, indexed_asset.id)
        if indexed.status in ("ready", "failed"):
            break
        assert time.monotonic() < deadline, indexed
        time.sleep(0.2)
    assert indexed.status == "ready", indexed
    assert indexed.system_metadata is not None and indexed.system_metadata.filename == "kitchen.mp4"

    text_hits = []
    for clip in client.search.query(
        index_id=index.id, query_text=PARAPHRASE, search_options=["visual", "audio", "transcription"]
    ):
        text_hits.append((clip.video_id, clip.start, clip.end, clip.rank))
    assert text_hits[0] == (indexed_asset.id, 0.0, 6.0, 1)

    image_hits = []
    for clip in client.search.query(
        index_id=index.id,
        query_media_type="image",
        query_media_url=f"{web}/board.png",
        search_options=["visual"],
    ):
        image_hits.append((clip.video_id, clip.start))
    assert image_hits[0] == (indexed_asset.id, 0.0)

    both_hits = []
    for clip in client.search.query(
        index_id=index.id,
        query_text=PARAPHRASE,
        query_media_type="image",
        query_media_url=f"{web}/board.png",
        search_options=["visual"],
    ):
        both_hits.append((clip.video_id, clip.start))
    assert both_hits[0] == (indexed_asset.id, 0.0)

    listed = client.indexes.indexed_assets.list(index.id, status=["ready"])
    assert [a.id for a in listed] == [indexed_asset.id]
    assert [v.id for v in client.indexes.videos.list(index.id)] == [indexed_asset.id]


def test_an_asset_that_is_not_a_video_fails_its_indexed_asset_with_the_reason(
    client: TwelveLabs, web: str
) -> None:
    index = client.indexes.create(
        index_name="bad inputs",
        models=[IndexesCreateRequestModelsItem(model_name="marengo3.0", model_options=["visual"])],
    )
    assert index.id is not None
    notes = client.assets.create(method="url", url=f"{web}/notes.mp4")
    assert notes.id is not None
    made = client.indexes.indexed_assets.create(index_id=index.id, asset_id=notes.id)
    assert made.id is not None
    deadline = time.monotonic() + 60
    while (status := client.indexes.indexed_assets.retrieve(index.id, made.id)).status not in (
        "ready",
        "failed",
    ):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert status.status == "failed"
    error = (status.model_extra or {}).get("error", {})
    assert f"The asset {notes.id} failed to process" in error.get("message", "")
    # once the asset has failed, indexing it again is refused at once, naming it
    with pytest.raises(BadRequestError) as refused:
        client.indexes.indexed_assets.create(index_id=index.id, asset_id=notes.id)
    assert notes.id in refused.value.body["message"]
    picture = client.assets.create(method="url", url=f"{web}/board.png")
    assert picture.id is not None
    while client.assets.retrieve(picture.id).status == "processing":
        time.sleep(0.1)
    with pytest.raises(BadRequestError) as still:
        client.indexes.indexed_assets.create(index_id=index.id, asset_id=picture.id)
    assert "image" in still.value.body["message"]
    client.indexes.indexed_assets.delete(index.id, made.id)
    assert list(client.indexes.indexed_assets.list(index.id)) == []


def test_a_video_by_url_with_metadata_is_indexed_and_found(client: TwelveLabs, web: str) -> None:
    """``tasks.create(video_url=...)``: the other way in, with user metadata as JSON text."""
    index = client.indexes.create(
        index_name="by url",
        models=[IndexesCreateRequestModelsItem(model_name="marengo3.0", model_options=["visual", "audio"])],
    )
    assert index.id is not None
    task = client.tasks.create(
        index_id=index.id, video_url=f"{web}/kitchen.mp4", user_metadata='{"source": "web", "year": 2024}'
    )
    assert task.id is not None
    done = client.tasks.wait_for_done(task.id, sleep_interval=0.2)
    assert done.status == "ready" and done.system_metadata is not None
    assert done.system_metadata.filename == "kitchen.mp4"
    video = client.indexes.videos.retrieve(index.id, task.id)
    assert video.user_metadata == {"source": "web", "year": 2024}
    hits = list(
        client.search.query(
            index_id=index.id,
            query_text=PARAPHRASE,
            search_options=["transcription"],
            filter='{"year": 2024}',
        )
    )
    assert (hits[0].video_id, hits[0].start) == (task.id, 0.0)
