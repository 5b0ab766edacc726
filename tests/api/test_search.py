"""Clip search (vidembed's own endpoint): fused and per-option rankings, over HTTP and embedded."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from conftest import PARAPHRASE, LiveServer

from vidembed import BadRequestError, NotFoundError, VidEmbed


def test_http_client_search_finds_the_spoken_clip(server: LiveServer, labelled_video: Path) -> None:
    with VidEmbed(base_url=server.url, api_key="k") as client:
        with open(labelled_video, "rb") as fh:
            task = client.embed.tasks.create(model_name="marengo3.0", video_file=fh, video_clip_length=6)
        assert client.embed.tasks.wait_for_done(task.id, sleep_interval=0.2).status == "ready"
        metadata = client.embed.tasks.retrieve(task.id).video_embedding.metadata
        assert (metadata.model_extra or {}).get("language") == "en"  # ours: the language heard

        found = client.clips.search(query_text=PARAPHRASE, task_id=task.id, page_limit=2)
        assert list(found.data) == ["fused", "visual", "audio", "transcription"]
        assert len(found.data["fused"]) == len(found.data["visual"]) == 2
        top = found.best[0]
        assert (top.task_id, top.start_offset_sec, top.end_offset_sec) == (task.id, 0.0, 6.0)
        assert top.source == "labelled.mp4"  # the hit names the uploaded file
        # only the spoken clip has words: the "no speech" clips do not compete
        assert [(h.start_offset_sec, h.end_offset_sec) for h in found.data["transcription"]] == [(0.0, 6.0)]

        sound = client.clips.search(
            query_text="a beeping tone", task_id=task.id, embedding_option=["audio"], page_limit=3
        )
        assert list(sound.data) == ["audio"]
        # the silent clip [12, 18) holds the "silence" placeholder and is not ranked
        assert sound.best[0].start_offset_sec == 6.0
        assert 12.0 not in [h.start_offset_sec for h in sound.best]

        with pytest.raises(BadRequestError) as missing:
            client.clips.search(query_text=" ")
        assert missing.value.code == "parameter_not_provided"
        assert "query_text" in missing.value.message
        with pytest.raises(BadRequestError) as bad_limit:
            client.clips.search(query_text="a dog", page_limit=0)
        assert (
            bad_limit.value.message
            == "The page_limit parameter is invalid. It must be at least 1 and at most 100."
        )
        with pytest.raises(BadRequestError) as bad_option:
            client.clips.search(query_text="a dog", embedding_option=["smell"])
        assert bad_option.value.code == "parameter_invalid" and "embedding_option" in bad_option.value.message
        with pytest.raises(NotFoundError):
            client.clips.search(query_text="a dog", task_id="f" * 24)


def test_search_respects_api_keys_and_unfinished_tasks(keyed_server: LiveServer) -> None:
    created = httpx.post(
        f"{keyed_server.url}/v1.3/embed/tasks",
        data={"model_name": "marengo3.0", "video_url": "https://example.com/v.mp4"},
        headers={"x-api-key": "key-a"},
    ).json()["_id"]
    form = {"query_text": "a dog", "task_id": created}
    other = httpx.post(f"{keyed_server.url}/v1.3/clips/search", data=form, headers={"x-api-key": "key-b"})
    assert other.status_code == 404 and other.json()["code"] == "resource_not_exist", other.text
    own = httpx.post(f"{keyed_server.url}/v1.3/clips/search", data=form, headers={"x-api-key": "key-a"})
    assert own.status_code == 400
    assert own.json() == {
        "code": "parameter_invalid",
        "message": f"The task_id parameter is invalid. Task {created} is processing, not ready.",
    }
    nothing = httpx.post(
        f"{keyed_server.url}/clips/search", data={"query_text": "a dog"}, headers={"x-api-key": "key-b"}
    )
    assert nothing.status_code == 200 and nothing.json() == {
        "query_text": "a dog",
        "model_name": "conse-minilm-384",  # the default stack when model_name is left out
        "left_out": [],
        "data": {},
    }


def test_embedded_client_search_matches_the_service(client: VidEmbed, labelled_video: Path) -> None:
    task = client.embed.tasks.create(model_name="marengo3.0", video_file=str(labelled_video))
    client.embed.tasks.wait_for_done(task.id, sleep_interval=0.2)
    found = client.clips.search(query_text=PARAPHRASE, task_id=task.id, page_limit=1)
    assert found.best[0].start_offset_sec == 0.0 and found.best[0].end_offset_sec == 6.0
    assert found.model_name == "marengo3.0"


def test_real_footage_fused_top_hit_is_right_as_often_as_the_best_option() -> None:
    """Six real videos without speech, ten queries (benchmarks/quality/footage.py): most clips hold
    the "no speech" and "silence" placeholders, the rest near-constant hum. The fused ranking must
    not be misled by them (before: visual 8 of 10 right, fused 3)."""
    from benchmarks.quality.footage import QUERIES, embed_footage, footage, top_hits_right
    from vidembed.models.catalog import load_stack

    missing = [p for p in footage().values() if not p.exists()]
    assert not missing, f"scripts/test.sh fetches these from Debian's opencv-doc: {missing}"
    right = top_hits_right(embed_footage(load_stack("marengo3.0")))
    best_single = max(right[o] for o in ("visual", "audio", "transcription"))
    assert right["visual"] >= 7
    assert right["fused (z-max, default)"] >= best_single
    assert right["fused (z-max, placeholders competing)"] < best_single  # the rule this replaced
    assert len(QUERIES) == 10


def test_the_service_searches_through_its_clip_index(tmp_path: Path) -> None:
    """TaskService.search ranks through the stack's clip index (DATA/index/<stack>): the same
    answer as rank_clips over the store, kept on disk at close, and current with tasks that
    became ready after the index was opened (here written straight into the store, as another
    process would)."""
    import numpy as np
    from conftest import FAKE, make_fake_service

    from vidembed.records import TaskRecord
    from vidembed.search.rank import rank_clips
    from vidembed.segmentation import ClipParams

    rng = np.random.default_rng(3)

    def ready_task(service, task_id: str, owner: str) -> None:  # type: ignore[no-untyped-def]
        service.store.insert(
            TaskRecord(
                task_id,
                owner,
                FAKE,
                "processing",
                ClipParams(clip_length=6, scopes=("clip",)),
                ["visual", "audio"],
                1.0,
                1.0,
                stack=FAKE,
            )
        )
        assert service.store.claim("w", 60, 3) is not None
        rows = []
        for option in ("visual", "audio"):
            for i in range(30):
                v = rng.normal(size=16).astype(np.float32)
                rows.append((option, "clip", 6.0 * i, 6.0 * i + 6, v / np.linalg.norm(v)))
        assert service.store.complete(task_id, "w", 180.0, rows)

    service = make_fake_service(tmp_path / "data", start_workers=False)
    try:
        ready_task(service, "a" * 24, "alice")
        found = service.search("a red screen", owner="alice", model_name=FAKE, top=5)
        query = service.catalog.text_encoder(FAKE).encode(["a red screen"])[0]
        expected = rank_clips(
            query, service.store.segments(["a" * 24]), 5, service.catalog.placeholder_vectors(FAKE)
        )
        assert {k: [(h.task_id, h.start) for h in v] for k, v in found.ranked.items()} == {
            k: [(h.task_id, h.start) for h in v] for k, v in expected.items()
        }
        ready_task(service, "b" * 24, "bob")  # ready after the index was opened
        assert {h.task_id for h in service.search("x", owner="bob", model_name=FAKE).ranked["visual"]} == {
            "b" * 24
        }
        assert {h.task_id for h in service.search("x", owner="alice", model_name=FAKE).ranked["visual"]} == {
            "a" * 24
        }
    finally:
        service.close()
    assert (tmp_path / "data" / "index" / FAKE / "CURRENT").is_file()  # flushed at close
    again = make_fake_service(tmp_path / "data", start_workers=False)
    try:
        assert {h.task_id for h in again.search("x", model_name=FAKE, top=50).ranked["audio"]} == {
            "a" * 24,
            "b" * 24,
        }
    finally:
        again.close()
