"""Persistence across restarts, leases, listing and the client's polling helpers. Tasks that run
use the fake stack (conftest.FAKE): what is checked here does not depend on the models. The tests
taking ``database_url`` run on both stores: SQLite in the data folder, then PostgreSQL (tests/pg.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from builders import wait_ready
from conftest import FAKE, make_fake_service, make_service, make_settings
from pg import database_url, pg_admin, pg_database, pg_url  # noqa: F401

from vidembed import NotFoundError, VidEmbed
from vidembed.api.embed.operations import TaskService
from vidembed.client.transports.local import LocalTransport

URL = "https://example.com/v.mp4"


@pytest.fixture
def idle_service(tmp_path: Path, database_url: str | None) -> Iterator[TaskService]:  # noqa: F811
    """conftest's idle_service (no workers), on each store."""
    service = make_service(tmp_path / "data", start_workers=False, database_url=database_url)
    yield service
    service.close()


def test_task_left_by_an_exiting_process_is_done_by_the_next(
    tmp_path: Path,
    silent_video: Path,
    database_url: str | None,  # noqa: F811
) -> None:
    first = make_fake_service(tmp_path, start_workers=False, database_url=database_url)
    task_id = first.create(model_name=FAKE, video_file=str(silent_video))["_id"]
    first.close()  # the process exits before any worker ran

    second = make_fake_service(tmp_path, database_url=database_url)
    try:
        assert wait_ready(second, task_id)["status"] == "ready"
        segments = second.retrieve(task_id)["video_embedding"]["segments"]
        assert len(segments) == 3
    finally:
        second.close()

    # results survive a restart
    third = make_fake_service(tmp_path, start_workers=False, database_url=database_url)
    try:
        again = third.retrieve(task_id)
        assert again["status"] == "ready"
        assert again["video_embedding"]["segments"] == segments
    finally:
        third.close()


def test_task_of_a_dead_worker_is_claimed_again_after_its_lease(
    tmp_path: Path,
    silent_video: Path,
    database_url: str | None,  # noqa: F811
) -> None:
    service = make_fake_service(tmp_path, start_workers=False, lease_seconds=0.5, database_url=database_url)
    task_id = service.create(model_name=FAKE, video_file=str(silent_video))["_id"]
    claimed = service.store.claim("dead-worker", lease_seconds=0.5, max_attempts=3)
    assert claimed is not None and claimed.id == task_id
    assert service.store.claim("other", 0.5, 3) is None  # the lease holds
    time.sleep(0.6)
    service.workers.start()  # a new worker finds the expired lease
    try:
        status = wait_ready(service, task_id)
        assert status["status"] == "ready"
        assert service.store.get(task_id).attempts == 2
    finally:
        service.close()


def test_a_task_that_keeps_killing_workers_ends_failed(tmp_path: Path, database_url: str | None) -> None:  # noqa: F811
    service = make_service(tmp_path, start_workers=False, database_url=database_url)
    try:
        task_id = service.create(model_name="marengo3.0", video_url=URL)["_id"]
        for _ in range(3):
            assert service.store.claim("w", lease_seconds=-1, max_attempts=3) is not None
        assert service.store.claim("w", 60, max_attempts=3) is None
        status = service.status(task_id)
        assert status["status"] == "failed"
        assert "attempted 3 times" in status["error"]["message"]
    finally:
        service.close()


def test_list_pages_newest_first(idle_service: TaskService) -> None:
    ids = []
    for _ in range(5):
        ids.append(idle_service.create(model_name="marengo3.0", video_url=URL)["_id"])
        time.sleep(0.002)
    page1 = idle_service.list(page=1, page_limit=2)
    assert [t["_id"] for t in page1["data"]] == ids[::-1][:2]
    assert page1["page_info"] == {"limit_per_page": 2, "page": 1, "total_page": 3, "total_results": 5}
    page3 = idle_service.list(page=3, page_limit=2)
    assert [t["_id"] for t in page3["data"]] == [ids[0]]
    past = idle_service.list(page=4, page_limit=2)
    assert past["data"] == [] and past["page_info"]["total_results"] == 5
    assert idle_service.list(status="ready")["data"] == []
    assert len(idle_service.list(status="processing", page_limit=50)["data"]) == 5
    assert idle_service.list(started_at="2999-01-01T00:00:00Z")["data"] == []


@pytest.mark.parametrize(
    "query,parameter",
    [
        ({"page": 0}, "page"),
        ({"page_limit": 51}, "page_limit"),
        ({"page_limit": "x"}, "page_limit"),
        ({"status": "queued"}, "status"),
        ({"started_at": "yesterday"}, "started_at"),
    ],
)
def test_list_rejects_bad_queries(idle_service: TaskService, query: dict, parameter: str) -> None:
    from vidembed import BadRequestError

    with pytest.raises(BadRequestError, match=f"The {parameter} parameter is invalid"):
        idle_service.list(**query)


def test_client_iterates_over_all_pages(tmp_path: Path, database_url: str | None) -> None:  # noqa: F811
    settings = make_settings(tmp_path, database_url=database_url)
    with VidEmbed(transport=LocalTransport(settings, start_workers=False)) as client:
        ids = {client.embed.tasks.create(model_name="marengo3.0", video_url=URL).id for _ in range(7)}
        listed = [t.id for t in client.embed.tasks.list(page_limit=3)]
        assert set(listed) == ids and len(listed) == 7
        assert all(t.status == "processing" for t in client.embed.tasks.list(status="processing"))


def test_client_errors_and_wait_arguments(tmp_path: Path) -> None:
    with VidEmbed(data_dir=tmp_path) as client:
        with pytest.raises(ValueError):
            client.embed.tasks.wait_for_done("0" * 24, sleep_interval=0)
        with pytest.raises(NotFoundError) as info:
            client.embed.tasks.status("0" * 24)
        assert info.value.status_code == 404
        assert info.value.code == "resource_not_exist"
        assert info.value.message == f"Resource with id {'0' * 24} does not exist in embed_tasks."


def test_videos_over_the_duration_limit_fail_with_the_limit(
    tmp_path: Path,
    labelled_video: Path,
    database_url: str | None,  # noqa: F811
) -> None:
    service = make_fake_service(tmp_path, max_duration_seconds=10, database_url=database_url)
    try:
        task_id = service.create(model_name=FAKE, video_file=str(labelled_video))["_id"]
        status = wait_ready(service, task_id)
        assert status["status"] == "failed"
        assert status["error"]["message"] == (
            "The video is 18.0 s long; this service accepts videos up to 10.0 s (VIDEMBED_MAX_DURATION)."
        )
    finally:
        service.close()
