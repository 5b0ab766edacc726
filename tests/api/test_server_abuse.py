"""The API under abuse: fuzzed forms and queries, traversal attempts, per-key limits."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from conftest import LiveServer, make_service
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

FIELDS = [
    "model_name",
    "video_url",
    "video_file",
    "video_start_offset_sec",
    "video_end_offset_sec",
    "video_clip_length",
    "video_embedding_scope",
    "embedding_option",
    "text",
    "x",
]
VALUES = st.one_of(
    st.sampled_from(
        [
            "",
            "marengo3.0",
            "6",
            "6.0",
            "-1",
            "1e309",
            "nan",
            "clip",
            "video",
            "clip,video",
            "https://example.com/v.mp4",
            "file:///etc/passwd",
            "http://127.0.0.1/",
            "0x10",
        ]
    ),
    st.text(max_size=40),
)


@pytest.fixture(scope="module")
def quiet_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """No workers: fuzzed tasks stay queued instead of fetching random URLs."""
    live = LiveServer(
        make_service(
            tmp_path_factory.mktemp("fuzz"),
            start_workers=False,
            allow_local_urls=False,
            max_active_tasks_per_owner=10**9,
        )
    )
    yield live
    live.stop()


def _check(response: httpx.Response, allowed: tuple[int, ...]) -> None:
    assert response.status_code in allowed, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    if response.status_code >= 400:
        assert set(body) == {"code", "message"} and body["message"]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    fields=st.lists(st.tuples(st.sampled_from(FIELDS), VALUES), max_size=8),
    file_part=st.one_of(st.none(), st.binary(max_size=2048)),
    prefix=st.sampled_from(["", "/v1.3"]),
)
def test_fuzzed_create_forms_never_5xx(
    quiet_server: LiveServer, fields: list, file_part: bytes | None, prefix: str
) -> None:
    data: dict[str, list[str]] = {}
    for name, value in fields:
        data.setdefault(name, []).append(value)
    files = (
        [("video_file", ("f.mp4", file_part, "video/mp4"))] if file_part is not None else [("_", ("", b""))]
    )
    response = httpx.post(f"{quiet_server.url}{prefix}/embed/tasks", data=data, files=files, timeout=30)
    _check(response, (200, 400))
    if response.status_code == 200:
        assert set(response.json()) == {"_id"}


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    params=st.dictionaries(
        st.sampled_from(["page", "page_limit", "status", "started_at", "ended_at", "x"]), VALUES, max_size=5
    ),
    task_id=st.text(alphabet=st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=40),
)
def test_fuzzed_queries_and_ids_never_5xx(quiet_server: LiveServer, params: dict, task_id: str) -> None:
    _check(httpx.get(f"{quiet_server.url}/embed/tasks", params=params, timeout=30), (200, 400))
    raw = b"/embed/tasks/" + quote(task_id, safe="").encode() + b"/status"
    quoted = httpx.URL(quiet_server.url).copy_with(raw_path=raw)
    _check(httpx.get(quoted, timeout=30), (404,))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=300), model=st.sampled_from(["", "marengo3.0", "nope"]))
def test_fuzzed_text_embeddings(quiet_server: LiveServer, text: str, model: str) -> None:
    response = httpx.post(f"{quiet_server.url}/embed", data={"model_name": model, "text": text}, timeout=30)
    _check(response, (200, 400))


def test_path_traversal_in_ids_and_file_names(quiet_server: LiveServer, tmp_path: Path) -> None:
    for raw in (
        b"/embed/tasks/..%2F..%2Fetc%2Fpasswd/status",
        b"/embed/tasks/../../etc/passwd",
        b"/v1.3/embed/tasks/%2e%2e%2fvidembed.sqlite3",
    ):
        response = httpx.get(httpx.URL(quiet_server.url).copy_with(raw_path=raw), timeout=10)
        _check(response, (404,))
    files = [("video_file", ("../../../../tmp/evil.mp4", b"\0" * 100, "video/mp4"))]
    response = httpx.post(f"{quiet_server.url}/embed/tasks", data={"model_name": "marengo3.0"}, files=files)
    task_id = response.json()["_id"]
    status = httpx.get(f"{quiet_server.url}/embed/tasks/{task_id}/status").json()
    assert status["video_embedding"]["metadata"]["input_filename"] == "evil.mp4"
    stored = quiet_server.service.store.get(task_id).source_path
    assert Path(stored).resolve().is_relative_to(quiet_server.service.settings.media_dir.resolve())


def test_active_task_limit_per_key(tmp_path: Path) -> None:
    live = LiveServer(make_service(tmp_path, start_workers=False, max_active_tasks_per_owner=2), {"a", "b"})
    try:

        def create(key: str) -> httpx.Response:
            return httpx.post(
                f"{live.url}/embed/tasks",
                headers={"x-api-key": key},
                data={"model_name": "marengo3.0", "video_url": "https://example.com/v.mp4"},
            )

        assert [create("a").status_code for _ in range(2)] == [200, 200]
        limited = create("a")
        _check(limited, (429,))
        assert limited.json()["code"] == "too_many_requests" and limited.headers["retry-after"] == "30"
        assert create("b").status_code == 200  # other keys are not affected
    finally:
        live.stop()
