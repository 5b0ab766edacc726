"""``client.indexes``, ``client.tasks`` and ``client.search`` of ``VidEmbed``, embedded and over
HTTP against the real server: the same calls and answers as the official SDK's
(tests/api/test_search_api.py), one indexed video per transport."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import PARAPHRASE, UNRELATED, LiveServer, make_service, make_settings

from vidembed import VidEmbed
from vidembed.client.index_tasks import IndexTask
from vidembed.client.transports.local import LocalTransport
from vidembed.errors import ApiError, BadRequestError, NotFoundError

BOTH = [{"model_name": "marengo3.0", "model_options": ["visual", "audio"]}]
ALL_OPTIONS = ["visual", "audio", "transcription"]
METADATA = {"category": "cooking", "year": 2024, "featured": True}


@dataclass
class Indexed:
    client: VidEmbed
    index_id: str
    video_id: str
    seen: list[IndexTask]  # what wait_for_done's callback was given


@pytest.fixture(scope="module", params=["embedded", "http"])
def indexed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, labelled_video: Path
) -> Iterator[Indexed]:
    data = tmp_path_factory.mktemp(f"client-search-{request.param}")
    live = None
    if request.param == "http":
        live = LiveServer(make_service(data))
        client = VidEmbed(base_url=live.url + "/v1.3")
    else:
        client = VidEmbed(transport=LocalTransport(make_settings(data)))
    try:
        index = client.indexes.create(index_name="kitchen", models=BOTH)
        assert index.id is not None and len(index.id) == 24
        task = client.tasks.create(index_id=index.id, video_file=labelled_video, user_metadata=METADATA)
        assert task.id is not None and task.video_id == task.id
        seen: list[IndexTask] = []
        done = client.tasks.wait_for_done(task.id, sleep_interval=0.2, callback=seen.append)
        assert done.status == "ready", done
        yield Indexed(client, index.id, task.id, seen)
    finally:
        client.close()
        if live is not None:
            live.stop()


def test_the_task_ends_ready_with_what_the_video_is(indexed: Indexed) -> None:
    client = indexed.client
    assert indexed.seen[-1].status == "ready"
    assert {t.status for t in indexed.seen} <= {"pending", "queued", "indexing", "ready"}
    task = client.tasks.retrieve(indexed.video_id)
    assert (task.status, task.index_id, task.video_id) == ("ready", indexed.index_id, indexed.video_id)
    meta = task.system_metadata
    assert meta is not None and meta.filename == "labelled.mp4"
    assert meta.duration == pytest.approx(18.0, abs=0.1)
    assert (meta.width, meta.height) == (640, 360)
    assert [t.id for t in client.tasks.list(index_id=indexed.index_id, status="ready")] == [indexed.video_id]
    assert list(client.tasks.list(index_id=indexed.index_id, status=["failed"])) == []


def test_indexes_are_listed_retrieved_and_renamed(indexed: Indexed) -> None:
    client = indexed.client
    listed = [i for i in client.indexes.list() if i.id == indexed.index_id]
    assert len(listed) == 1 and listed[0].index_name == "kitchen"
    models = listed[0].models or []
    assert [(m.model_name, m.model_options) for m in models] == [("marengo3.0", ["visual", "audio"])]
    index = client.indexes.retrieve(indexed.index_id)
    assert index.video_count == 1
    assert index.total_duration == pytest.approx(18.0, abs=0.1)
    client.indexes.update(indexed.index_id, index_name="kitchen videos")
    assert client.indexes.retrieve(indexed.index_id).index_name == "kitchen videos"
    assert [i.id for i in client.indexes.list(index_name="kitchen videos")] == [indexed.index_id]
    assert list(client.indexes.list(page=5)) == []  # a page past the end is empty, not an error


def test_videos_are_filtered_by_metadata_and_numbers(indexed: Indexed) -> None:
    videos = indexed.client.indexes.videos
    cooking = list(videos.list(indexed.index_id, user_metadata={"category": "cooking"}))
    assert [v.id for v in cooking] == [indexed.video_id]
    assert cooking[0].system_metadata is not None and cooking[0].system_metadata.filename == "labelled.mp4"
    assert [v.id for v in videos.list(indexed.index_id, user_metadata={"year": 2024})] == [indexed.video_id]
    assert [v.id for v in videos.list(indexed.index_id, user_metadata={"featured": True})] == [
        indexed.video_id
    ]
    assert list(videos.list(indexed.index_id, user_metadata={"category": "news"})) == []
    assert [v.id for v in videos.list(indexed.index_id, duration={"gte": 10})] == [indexed.video_id]
    assert list(videos.list(indexed.index_id, duration={"lte": 10})) == []
    video = videos.retrieve(indexed.index_id, indexed.video_id, embedding_option="visual", transcription=True)
    assert video.user_metadata == METADATA
    assert video.embedding is not None and video.embedding.video_embedding is not None
    segments = video.embedding.video_embedding.segments or []
    assert [(s.embedding_option, s.embedding_scope, s.start_offset_sec) for s in segments] == [
        ("visual", "clip", 0.0),
        ("visual", "clip", 6.0),
        ("visual", "clip", 12.0),
        ("visual", "video", 0.0),
    ]
    words = video.transcription or []
    assert len(words) == 1 and (words[0].start, words[0].end) == (0.0, 6.0)
    assert "tomatoes" in (words[0].value or "").lower()
    videos.update(indexed.index_id, indexed.video_id, user_metadata={"reviewed": "yes"})
    assert [v.id for v in videos.list(indexed.index_id, user_metadata={"reviewed": "yes"})] == [
        indexed.video_id
    ]


def test_a_text_query_finds_the_spoken_clip_and_pages_run_to_the_end(indexed: Indexed) -> None:
    search = indexed.client.search
    pager = search.query(index_id=indexed.index_id, query_text=PARAPHRASE, search_options=ALL_OPTIONS)
    assert pager.search_pool is not None
    assert (pager.search_pool.total_count, pager.search_pool.index_id) == (1, indexed.index_id)
    assert pager.search_pool.total_duration == pytest.approx(18.0, abs=0.1)
    items = list(pager)
    assert (items[0].video_id, items[0].start, items[0].end, items[0].rank) == (indexed.video_id, 0.0, 6.0, 1)
    assert "tomatoes" in (items[0].transcription or "").lower()
    assert items[0].score is not None
    assert [i.rank for i in items] == list(range(1, len(items) + 1))
    assert pager.page_info is not None and pager.page_info.total_results == len(items)
    # one item a page: the pager follows each page's token to the last page, which has none
    paged = search.query(
        index_id=indexed.index_id, query_text=PARAPHRASE, search_options=ALL_OPTIONS, page_limit=1
    )
    assert [i.rank for i in paged.data] == [1]
    assert [(i.video_id, i.start, i.rank) for i in paged] == [(i.video_id, i.start, i.rank) for i in items]
    pages = list(paged.iter_pages())
    assert len(pages) == len(items) and pages[-1].page_info is not None
    assert pages[-1].page_info.next_page_token is None
    if len(items) > 1:  # retrieve: a page by its token
        token = paged.page_info.next_page_token if paged.page_info else None
        assert token is not None
        second = search.retrieve(token)
        assert [i.rank for i in second.data or []] == [2]
        assert second.page_info is not None and second.page_info.prev_page_token is not None


def test_grouping_filters_and_metadata(indexed: Indexed) -> None:
    search = indexed.client.search
    grouped = list(
        search.query(
            index_id=indexed.index_id, query_text=PARAPHRASE, search_options=ALL_OPTIONS, group_by="video"
        )
    )
    assert [g.id for g in grouped] == [indexed.video_id]
    assert grouped[0].start is None and grouped[0].clips and grouped[0].clips[0].start == 0.0
    kept = search.query(
        index_id=indexed.index_id,
        query_text=PARAPHRASE,
        search_options=["visual", "transcription"],
        filter=json.dumps({"year": {"gte": 2020}}),
        include_user_metadata=True,
    )
    top = next(iter(kept))
    assert top.video_id == indexed.video_id and top.user_metadata is not None
    assert top.user_metadata["category"] == "cooking"
    gone = search.query(
        index_id=indexed.index_id,
        query_text=UNRELATED,
        search_options=["visual"],
        filter='{"category": "cartoon"}',
    )
    assert list(gone) == [] and gone.page_info is not None and gone.page_info.next_page_token is None


def test_errors_are_the_documented_codes(indexed: Indexed) -> None:
    client = indexed.client
    cases = [
        (dict(search_options=["visual"]), "parameter_not_provided"),
        (dict(query_text="a dog", search_options=["smell"]), "search_option_not_supported"),
        (dict(query_text="a dog", search_options=[]), "parameter_not_provided"),
        (dict(query_text="a dog", search_options=["visual"], group_by="scene"), "parameter_invalid"),
        (dict(query_text="a dog", search_options=["visual"], filter="{not json"), "search_filter_invalid"),
    ]
    for fields, code in cases:
        with pytest.raises(BadRequestError) as refused:
            client.search.query(index_id=indexed.index_id, **fields)  # type: ignore[arg-type]
        assert refused.value.code == code, fields
    with pytest.raises(NotFoundError):
        client.search.query(index_id="f" * 24, query_text="a dog", search_options=["visual"])
    with pytest.raises(BadRequestError) as expired:
        client.search.retrieve("nosuchsearch.2")
    assert expired.value.code == "search_page_token_expired"
    with pytest.raises(BadRequestError) as taken:
        client.indexes.create(index_name="kitchen videos", models=BOTH)
    assert taken.value.code == "index_name_already_exists"
    with pytest.raises(BadRequestError) as no_options:
        client.indexes.create(index_name="x", models=[{"model_name": "marengo3.0", "model_options": []}])
    assert no_options.value.code == "parameter_invalid"
    with pytest.raises(BadRequestError) as no_video:
        client.tasks.create(index_id=indexed.index_id)
    assert no_video.value.code == "parameter_not_provided"
    with pytest.raises(NotFoundError):
        client.indexes.videos.retrieve(indexed.index_id, "f" * 24)
    with pytest.raises(NotFoundError):
        client.tasks.retrieve("f" * 24)
    with pytest.raises(ApiError):
        client.indexes.retrieve("f" * 24)


def test_zz_a_deleted_video_leaves_the_index_and_search(indexed: Indexed) -> None:
    """Last in the module (it empties the shared index)."""
    client = indexed.client
    client.indexes.videos.delete(indexed.index_id, indexed.video_id)
    assert list(client.indexes.videos.list(indexed.index_id)) == []
    found = client.search.query(index_id=indexed.index_id, query_text=PARAPHRASE, search_options=["visual"])
    assert list(found) == []
    assert client.indexes.retrieve(indexed.index_id).video_count == 0
    client.indexes.delete(indexed.index_id)
    with pytest.raises(NotFoundError):
        client.indexes.retrieve(indexed.index_id)
