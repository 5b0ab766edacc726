"""TwelveLabs' index tasks, videos and search (docs/SEARCH-API.md) with the official SDK 1.3.6
against the real server and the built-in stack: two videos indexed with user metadata, then
searched by text, words, an image, both, with every option, operator, grouping, filter and page.
Every test runs twice: on SQLite with the exact index, and on PostgreSQL with pgvector search."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
from conftest import PARAPHRASE, LiveServer, _checkerboard, make_service
from pg import temporary_database
from PIL import Image
from twelvelabs import BadRequestError, TwelveLabs
from twelvelabs.core.api_error import ApiError
from twelvelabs.indexes import IndexesCreateRequestModelsItem

from vidembed.api.embed.operations import TaskService

KEYS = {"key-a", "key-b"}
BOTH = [IndexesCreateRequestModelsItem(model_name="marengo3.0", model_options=["visual", "audio"])]
VISUAL = [IndexesCreateRequestModelsItem(model_name="marengo3.0", model_options=["visual"])]
ALL_OPTIONS = ["visual", "audio", "transcription"]


@dataclass
class Indexed:
    live: LiveServer
    index_id: str
    kitchen: str  # labelled.mp4: [0,6) speech over a checkerboard, [6,12) a tone, [12,18) black
    bunny: str  # bigbuckbunny.mp4, 5.3 s


@pytest.fixture(autouse=True)
def _no_env_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TWELVELABS_BASE_URL", raising=False)


def sdk(live: LiveServer, key: str = "key-a") -> TwelveLabs:
    return TwelveLabs(api_key=key, base_url=live.url + "/v1.3")


@pytest.fixture(scope="module", params=["sqlite", "pgvector"])
def indexed(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    labelled_video: Path,
    sample_video: Path,
) -> Iterator[Indexed]:
    with ExitStack() as stack:
        if request.param == "sqlite":
            service = make_service(tmp_path_factory.mktemp("search-api"))
        else:
            url = stack.enter_context(temporary_database(request.getfixturevalue("pgvector_server")))
            service = make_service(
                tmp_path_factory.mktemp("search-api-pg"), database_url=url, search_index="pgvector"
            )
        yield from _indexed(service, labelled_video, sample_video)


def _indexed(service: TaskService, labelled_video: Path, sample_video: Path) -> Iterator[Indexed]:
    live = LiveServer(service, KEYS)
    client = sdk(live)
    index = client.indexes.create(index_name="kitchen and bunny", models=BOTH)
    assert index.id is not None
    ids = []
    for path, metadata in (
        (labelled_video, {"category": "cooking", "year": 2024, "featured": True}),
        (sample_video, {"category": "cartoon", "year": 2008, "featured": False}),
    ):
        with open(path, "rb") as fh:
            task = client.tasks.create(index_id=index.id, video_file=fh, user_metadata=json.dumps(metadata))
        assert task.id is not None and task.video_id == task.id
        done = client.tasks.wait_for_done(task.id, sleep_interval=0.2)
        assert done.status == "ready", done
        ids.append(task.id)
    yield Indexed(live, index.id, ids[0], ids[1])
    live.stop()


def test_index_tasks_end_ready_with_what_the_video_is(indexed: Indexed) -> None:
    client = sdk(indexed.live)
    task = client.tasks.retrieve(indexed.kitchen)
    assert (task.status, task.index_id, task.video_id) == ("ready", indexed.index_id, indexed.kitchen)
    meta = task.system_metadata
    assert meta is not None and meta.filename == "labelled.mp4"
    assert meta.duration == pytest.approx(18.0, abs=0.1)
    assert (meta.width, meta.height) == (640, 360)
    assert (meta.model_extra or {}).get("language") == "en"  # ours: the language Whisper heard
    listed = [t.id for t in client.tasks.list(index_id=indexed.index_id, status=["ready"])]
    assert listed == [indexed.bunny, indexed.kitchen]  # newest first
    assert [t.id for t in client.tasks.list(index_id=indexed.index_id, status=["failed"])] == []
    index = client.indexes.retrieve(indexed.index_id)
    assert index.video_count == 2
    assert index.total_duration == pytest.approx(18.0 + 5.3, abs=0.2)


def test_videos_are_listed_filtered_and_retrieved_with_embeddings_and_words(indexed: Indexed) -> None:
    client = sdk(indexed.live)
    every = [v.id for v in client.indexes.videos.list(indexed.index_id)]
    assert every == [indexed.bunny, indexed.kitchen]
    cooking = client.indexes.videos.list(indexed.index_id, user_metadata={"category": "cooking"})
    assert [v.id for v in cooking] == [indexed.kitchen]
    recent = client.indexes.videos.list(indexed.index_id, user_metadata={"year": 2024})
    assert [v.id for v in recent] == [indexed.kitchen]
    long = client.indexes.videos.list(indexed.index_id, duration={"gte": 10})
    assert [v.id for v in long] == [indexed.kitchen]
    assert [v.id for v in client.indexes.videos.list(indexed.index_id, filename="bigbuckbunny.mp4")] == [
        indexed.bunny
    ]
    video = client.indexes.videos.retrieve(
        indexed.index_id, indexed.kitchen, embedding_option=["visual"], transcription=True
    )
    assert video.user_metadata == {"category": "cooking", "year": 2024, "featured": True}
    assert video.embedding is not None and video.embedding.video_embedding is not None
    segments = video.embedding.video_embedding.segments or []
    assert [(s.embedding_option, s.embedding_scope, s.start_offset_sec) for s in segments] == [
        ("visual", "clip", 0.0),
        ("visual", "clip", 6.0),
        ("visual", "clip", 12.0),
        ("visual", "video", 0.0),
    ]
    assert all(abs(np.linalg.norm(s.float_ or []) - 1.0) < 1e-3 for s in segments)
    words = video.transcription or []
    assert len(words) == 1 and (words[0].start, words[0].end) == (0.0, 6.0)
    assert "tomatoes" in (words[0].value or "").lower()
    with pytest.raises(ApiError) as missing:
        client.indexes.videos.retrieve(indexed.index_id, "f" * 24)
    assert missing.value.status_code == 404


def test_a_text_query_finds_the_moment_and_pages_run_to_the_end(indexed: Indexed) -> None:
    client = sdk(indexed.live)
    first = client.search.query(index_id=indexed.index_id, query_text=PARAPHRASE, search_options=ALL_OPTIONS)
    items = list(first)
    assert (items[0].video_id, items[0].start, items[0].end) == (indexed.kitchen, 0.0, 6.0)
    assert "tomatoes" in (items[0].transcription or "").lower()
    assert [i.rank for i in items] == list(range(1, len(items) + 1))
    # one item a page: the SDK's pager follows the tokens to the last page, which has none
    paged = list(
        client.search.query(
            index_id=indexed.index_id, query_text=PARAPHRASE, search_options=ALL_OPTIONS, page_limit=1
        )
    )
    assert [(i.video_id, i.start, i.rank) for i in paged] == [(i.video_id, i.start, i.rank) for i in items]


def test_lexical_words_find_the_spoken_clip_with_a_spelling_slip(indexed: Indexed) -> None:
    client = sdk(indexed.live)
    found = list(
        client.search.query(
            index_id=indexed.index_id,
            query_text="tomatos and onions",
            search_options=["transcription"],
            transcription_options=["lexical"],
        )
    )
    assert [(i.video_id, i.start, i.end) for i in found] == [(indexed.kitchen, 0.0, 6.0)]
    none = list(
        client.search.query(
            index_id=indexed.index_id,
            query_text="helicopter",
            search_options=["transcription"],
            transcription_options=["lexical"],
        )
    )
    assert none == []


def test_and_is_a_subset_of_or_and_grouping_by_video(indexed: Indexed) -> None:
    client = sdk(indexed.live)

    def clips(operator: str) -> set[tuple[str, float]]:
        pager = client.search.query(
            index_id=indexed.index_id, query_text=PARAPHRASE, search_options=ALL_OPTIONS, operator=operator
        )
        return {(i.video_id, i.start) for i in pager}

    either, both = clips("or"), clips("and")
    assert both <= either and len(both) < len(either)
    grouped = list(
        client.search.query(
            index_id=indexed.index_id, query_text=PARAPHRASE, search_options=ALL_OPTIONS, group_by="video"
        )
    )
    assert grouped[0].id == indexed.kitchen
    assert {g.id for g in grouped} <= {indexed.kitchen, indexed.bunny}
    inner = [c for g in grouped for c in g.clips or []]
    assert sorted((c.video_id, c.start) for c in inner) == sorted(either)
    assert all(c.video_id == g.id for g in grouped for c in g.clips or [])


def test_filters_narrow_the_pool_and_bad_ones_say_why(indexed: Indexed) -> None:
    client = sdk(indexed.live)

    def videos(filter_json: str) -> set[str]:
        pager = client.search.query(
            index_id=indexed.index_id, query_text=PARAPHRASE, search_options=["visual"], filter=filter_json
        )
        return {i.video_id for i in pager if i.video_id}

    assert videos('{"category": "cartoon"}') == {indexed.bunny}
    assert videos('{"year": {"gte": 2020}}') == {indexed.kitchen}
    assert videos(json.dumps({"id": [indexed.bunny]})) == {indexed.bunny}
    assert videos('{"featured": true, "duration": {"lte": 30}}') == {indexed.kitchen}
    assert videos('{"no such key": "x"}') == set()
    for bad, why in (("{not json", "not valid JSON"), ('{"year": {"gt": 1}}', "gt is not an operator")):
        with pytest.raises(BadRequestError) as refused:
            client.search.query(
                index_id=indexed.index_id, query_text="x", search_options=["visual"], filter=bad
            )
        assert refused.value.body["code"] == "search_filter_invalid"
        assert why in refused.value.body["message"]
    with_metadata = client.search.query(
        index_id=indexed.index_id,
        query_text=PARAPHRASE,
        search_options=["visual"],
        include_user_metadata=True,
    )
    top = next(iter(with_metadata))
    assert top.user_metadata == {"category": "cooking", "year": 2024, "featured": True}


def test_an_image_finds_what_clips_show_alone_and_with_text(indexed: Indexed) -> None:
    client = sdk(indexed.live)
    picture = io.BytesIO()
    Image.fromarray(_checkerboard()).save(picture, format="PNG")
    found = list(
        client.search.query(
            index_id=indexed.index_id,
            query_media_type="image",
            query_media_file=picture.getvalue(),
            search_options=["visual"],
        )
    )
    assert (found[0].video_id, found[0].start) == (indexed.kitchen, 0.0)
    both = list(
        client.search.query(
            index_id=indexed.index_id,
            query_text=PARAPHRASE,
            query_media_type="image",
            query_media_file=picture.getvalue(),
            search_options=["visual", "transcription"],
        )
    )
    assert (both[0].video_id, both[0].start) == (indexed.kitchen, 0.0)
    with pytest.raises(BadRequestError) as no_visual:
        client.search.query(
            index_id=indexed.index_id,
            query_media_type="image",
            query_media_file=picture.getvalue(),
            search_options=["audio"],
        )
    assert no_visual.value.body["code"] == "search_option_combination_not_supported"


def test_search_errors_are_the_documented_codes(indexed: Indexed) -> None:
    client = sdk(indexed.live)
    cases = [
        (dict(search_options=["visual"]), "parameter_not_provided", "query_text"),
        (dict(query_text="a dog", search_options=["smell"]), "search_option_not_supported", "smell"),
        (dict(query_text="   ", search_options=["visual"]), "parameter_invalid", "query_text"),
        (
            dict(query_text="a dog", search_options=["visual"], group_by="scene"),
            "parameter_invalid",
            "group_by",
        ),
        (
            dict(query_text="a dog", search_options=["visual"], operator="xor"),
            "parameter_invalid",
            "operator",
        ),
        (
            dict(query_text="a dog", search_options=["visual"], page_limit=51),
            "parameter_invalid",
            "page_limit",
        ),
    ]
    for fields, code, named in cases:
        with pytest.raises(BadRequestError) as refused:
            client.search.query(index_id=indexed.index_id, **fields)  # type: ignore[arg-type]
        assert refused.value.body["code"] == code, fields
        assert named in refused.value.body["message"], fields
    visual_only = client.indexes.create(index_name="pictures only", models=VISUAL)
    assert visual_only.id is not None
    with pytest.raises(BadRequestError) as unsupported:
        client.search.query(index_id=visual_only.id, query_text="a beep", search_options=["audio"])
    assert unsupported.value.body["code"] == "search_option_not_supported"
    with pytest.raises(ApiError) as unknown:
        client.search.query(index_id="f" * 24, query_text="a dog", search_options=["visual"])
    assert unknown.value.status_code == 404
    gone = httpx.get(f"{indexed.live.url}/v1.3/search/nosuchsearch.2", headers={"x-api-key": "key-a"})
    assert (gone.status_code, gone.json()["code"]) == (400, "search_page_token_expired")


def test_raw_http_takes_the_fields_of_older_clients(indexed: Indexed) -> None:
    form = {
        "index_id": indexed.index_id,
        "search_options": ["visual", "audio"],
        "query_text": PARAPHRASE,
        "group_by": "video",
        "sort_option": "clip_count",
        "threshold": "medium",
        "adjust_confidence_level": "0.5",
        "page_limit": "1",
    }
    answer = httpx.post(f"{indexed.live.url}/search", data=form, headers={"x-api-key": "key-a"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert len(body["data"]) == 1 and "clips" in body["data"][0] and "start" not in body["data"][0]
    assert body["search_pool"] == {
        "total_count": 2,
        "total_duration": pytest.approx(23.3, abs=0.2),
        "index_id": indexed.index_id,
    }
    token = body["page_info"].get("next_page_token")
    if token is not None:  # the next page answers the same shape, and points back
        second = httpx.get(f"{indexed.live.url}/search/{token}", headers={"x-api-key": "key-a"}).json()
        assert second["page_info"]["prev_page_token"].endswith(".1")
    bad = httpx.post(
        f"{indexed.live.url}/search", data={**form, "threshold": "extreme"}, headers={"x-api-key": "key-a"}
    )
    assert (bad.status_code, bad.json()["code"]) == (400, "parameter_invalid")


def test_another_key_sees_nothing_and_a_deleted_video_leaves_search(
    indexed: Indexed, sample_video: Path
) -> None:
    other = sdk(indexed.live, "key-b")
    with pytest.raises(ApiError) as hidden:
        other.search.query(index_id=indexed.index_id, query_text="a dog", search_options=["visual"])
    assert hidden.value.status_code == 404
    with pytest.raises(ApiError):
        other.tasks.retrieve(indexed.kitchen)
    client = sdk(indexed.live)
    with open(sample_video, "rb") as fh:
        extra = client.tasks.create(index_id=indexed.index_id, video_file=fh)
    assert extra.id is not None
    assert client.tasks.wait_for_done(extra.id, sleep_interval=0.2).status == "ready"
    client.indexes.videos.update(indexed.index_id, extra.id, user_metadata={"category": "copy"})
    assert {
        v.id for v in client.indexes.videos.list(indexed.index_id, user_metadata={"category": "copy"})
    } == {extra.id}
    # search sees the new metadata at once (its cache of the index's videos moves with the change)
    copies = client.search.query(
        index_id=indexed.index_id,
        query_text="a rabbit",
        search_options=["visual"],
        filter='{"category": "copy"}',
    )
    assert {i.video_id for i in copies} == {extra.id}
    client.indexes.videos.delete(indexed.index_id, extra.id)
    pager = client.search.query(index_id=indexed.index_id, query_text="a rabbit", search_options=["visual"])
    assert extra.id not in {i.video_id for i in pager}
    assert client.indexes.retrieve(indexed.index_id).video_count == 2


def test_thumbnails_are_made_while_indexing_and_served_by_signed_links(
    indexed: Indexed, sample_video: Path
) -> None:
    client = sdk(indexed.live)
    index = client.indexes.create(index_name="with pictures", models=VISUAL, addons=["thumbnail"])
    assert index.id is not None
    with open(sample_video, "rb") as fh:
        task = client.tasks.create(index_id=index.id, video_file=fh)
    assert task.id is not None
    assert client.tasks.wait_for_done(task.id, sleep_interval=0.2).status == "ready"
    top = next(iter(client.search.query(index_id=index.id, query_text="a rabbit", search_options=["visual"])))
    link = top.thumbnail_url
    assert link is not None and link.startswith(indexed.live.url + "/thumbnails/")
    picture = httpx.get(link)  # no API key: an <img> tag cannot send one
    assert picture.status_code == 200 and picture.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(picture.content)).size == (320, 180)  # 1280x720 scaled
    forged = httpx.get(link.replace("signature=", "signature=0"))
    assert forged.status_code == 404 and "not valid or has expired" in forged.json()["message"]
    # an index without the add-on gives no links
    plain = next(
        iter(client.search.query(index_id=indexed.index_id, query_text="a rabbit", search_options=["visual"]))
    )
    assert plain.thumbnail_url is None
    client.indexes.delete(index.id)
    assert httpx.get(link).status_code == 404  # deleted with its video


def test_warming_reads_the_videos_and_opens_the_vectors_before_the_first_search(
    indexed: Indexed, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a server does after loading its models (``SearchService.warm``): the first search
    after it reads no video records (the pool is ready) and finds what a search finds."""
    from vidembed.api.compose import services_for

    # a new process's caches over the same stores; its own asset and index stores closed after
    fresh = services_for(indexed.live.service, start_workers=False)
    try:
        assert fresh.search is not None and fresh.indexes is not None and fresh.assets is not None
        assert fresh.search.warm() >= 1
        store = fresh.search.search.tasks.store
        index = fresh.search.search.indexes.store.get(indexed.index_id)
        assert index is not None

        def no_reading(index_id: str) -> object:
            raise AssertionError("the first search read the index's videos")

        monkeypatch.setattr(store, "index_tasks", no_reading)
        found = fresh.search.query(
            owner=index.owner, index_id=indexed.index_id, query_text=PARAPHRASE, search_options=ALL_OPTIONS
        )
        first = found["data"][0]
        assert (first["video_id"], first["start"], first["end"]) == (indexed.kitchen, 0.0, 6.0)
    finally:
        fresh.indexes.close()  # type: ignore[union-attr]
        fresh.assets.close()  # type: ignore[union-attr]
