"""Wire-tolerance rules of CONTRACT.md §2.1 and §8, with raw HTTP requests against the real server."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from conftest import LiveServer, make_service
from pg import pg_admin, temporary_database  # noqa: F401
from PIL import Image

from vidembed.api.compose import services_for
from vidembed.server.app import create_app, uvicorn_options

URL = "https://example.com/v.mp4"
ALLOW_LOCAL_HINT = (
    "To allow file:// and loopback, private or link-local addresses, start the server with "
    "--allow-local-urls (or VIDEMBED_ALLOW_LOCAL_URLS=1)."
)
MISSING_KEY = "No API key was sent: put one of the server's keys in the x-api-key header."
UNKNOWN_KEY = (
    "The API key in the x-api-key header is not one of this server's keys "
    "(see --api-keys-file / VIDEMBED_API_KEYS)."
)


@contextmanager
def _database(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """None (SQLite in the server's data folder), or a PostgreSQL database of the server's own."""
    if request.param == "sqlite":
        yield None
        return
    with temporary_database(request.getfixturevalue("pg_admin")) as url:
        yield url


# conftest's server and keyed_server, once on each store (each PostgreSQL one in a database of its own)
@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """An open server (no keys) that refuses local URLs, as a shared deployment would."""
    with _database(request) as url:
        data = tmp_path_factory.mktemp("server-data")
        live = LiveServer(make_service(data, allow_local_urls=False, database_url=url))
        yield live
        live.stop()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def keyed_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    with _database(request) as url:
        data = tmp_path_factory.mktemp("keyed-data")
        live = LiveServer(make_service(data, start_workers=False, database_url=url), {"key-a", "key-b"})
        yield live
        live.stop()


def post_form(
    server: LiveServer,
    fields: list[tuple[str, str]],
    files: list | None = None,
    prefix: str = "/v1.3",
    headers: dict | None = None,
) -> httpx.Response:
    return httpx.post(
        f"{server.url}{prefix}/embed/tasks",
        data=_grouped(fields),
        files=files or [("x", ("", b""))],
        headers=headers,
        timeout=30,
    )


def _grouped(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for k, v in pairs:
        out.setdefault(k, []).append(v)
    return out


def assert_json_error(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"code", "message"} and body["code"] == code
    return body


def assert_nested_error(response: httpx.Response, status: int, code: str) -> dict:
    """Embed v2's error body, ``{"error": {code, message, details}}``: the inner object."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    return body["error"]


@pytest.mark.parametrize("prefix", ["", "/v1.3"])
def test_empty_body_post_is_a_400_not_a_500(server: LiveServer, prefix: str) -> None:
    response = httpx.post(f"{server.url}{prefix}/embed/tasks", content=b"", timeout=30)
    body = assert_json_error(response, 400, "parameter_not_provided")
    assert body["message"] == "The model_name parameter is required but was not provided."


# route -> (the answer to an empty body, the answer to a form with only model_name)
FORM_ROUTES = {
    "/embed/tasks": (
        "The model_name parameter is required but was not provided.",
        "The following required parameters were not provided: video_url, video_file.",
    ),
    "/embed": (
        "The model_name parameter is required but was not provided.",
        "Nothing to embed: send text, an image (image_file or image_url), audio (audio_file or "
        "audio_url), or several of them.",
    ),
    "/clips/search": (
        "No query was provided: send query_text (a text) or query_image (an image file).",
        "No query was provided: send query_text (a text) or query_image (an image file).",
    ),
}
FORM_ONLY = (
    "This route takes multipart/form-data (or application/x-www-form-urlencoded); the request was sent"
)


@pytest.mark.parametrize("prefix", ["", "/v1.3"])
@pytest.mark.parametrize("route", sorted(FORM_ROUTES))
def test_a_body_that_is_not_a_form_is_named(server: LiveServer, prefix: str, route: str) -> None:
    url = f"{server.url}{prefix}{route}"
    fields = {"model_name": "marengo3.0", "video_url": URL, "text": "a dog", "query_text": "a dog"}
    as_json = assert_json_error(httpx.post(url, json=fields, timeout=30), 400, "parameter_invalid")
    assert as_json["message"] == f"{FORM_ONLY} as application/json."
    plain = httpx.post(url, content=b"a dog", headers={"content-type": "Text/Plain; charset=utf-8"})
    assert assert_json_error(plain, 400, "parameter_invalid")["message"] == f"{FORM_ONLY} as text/plain."
    untyped = httpx.post(url, content=b"model_name=marengo3.0", timeout=30)
    assert "content-type" not in untyped.request.headers
    assert assert_json_error(untyped, 400, "parameter_invalid")["message"] == (
        f"{FORM_ONLY} with no Content-Type header."
    )
    empty = httpx.post(url, content=b"", timeout=30)  # the SDK's retried POST: no Content-Type, no body
    assert assert_json_error(empty, 400, "parameter_not_provided")["message"] == FORM_ROUTES[route][0]
    urlencoded = httpx.post(url, data={"model_name": "marengo3.0"}, timeout=30)  # a form: it is parsed
    assert assert_json_error(urlencoded, 400, "parameter_not_provided")["message"] == FORM_ROUTES[route][1]


def test_empty_strings_are_absent_and_numbers_are_strings(server: LiveServer) -> None:
    response = post_form(
        server,
        [
            ("model_name", "marengo3.0"),
            ("video_url", URL),
            ("video_start_offset_sec", ""),
            ("video_end_offset_sec", ""),
            ("video_clip_length", "6.0"),
            ("video_embedding_scope", ""),
        ],
    )
    assert response.status_code == 200 and set(response.json()) == {"_id"}
    status = httpx.get(f"{server.url}/embed/tasks/{response.json()['_id']}/status").json()
    assert status["video_embedding"]["metadata"]["video_embedding_scope"] == ["clip"]
    assert status["video_embedding"]["metadata"]["video_clip_length"] == 6.0


def test_repeated_and_comma_separated_scopes(server: LiveServer) -> None:
    for scopes in (["clip", "video"], ["clip,video"]):
        response = post_form(
            server,
            [("model_name", "marengo3.0"), ("video_url", URL)]
            + [("video_embedding_scope", s) for s in scopes],
        )
        task = httpx.get(f"{server.url}/v1.3/embed/tasks/{response.json()['_id']}").json()
        assert task["video_embedding"]["metadata"]["video_embedding_scope"] == ["clip", "video"]


def test_repeated_and_comma_separated_embedding_options(server: LiveServer) -> None:
    for options in (["visual", "audio"], ["visual,audio"], ["audio", "", "visual"]):
        response = post_form(
            server,
            [("model_name", "marengo3.0"), ("video_url", URL)] + [("embedding_option", o) for o in options],
        )
        task = httpx.get(f"{server.url}/embed/tasks/{response.json()['_id']}/status").json()
        assert task["video_embedding"]["metadata"]["video_embedding_option"] == ["visual", "audio"], options


def test_sdk04_duplicate_video_url_file_part(server: LiveServer) -> None:
    files = [("video_url", ("upload", URL.encode(), "application/octet-stream"))]
    response = post_form(server, [("model_name", "marengo3.0"), ("video_url", URL)], files=files)
    assert response.status_code == 200
    only_file_part = post_form(server, [("model_name", "marengo3.0")], files=files)
    task = httpx.get(f"{server.url}/embed/tasks/{only_file_part.json()['_id']}/status").json()
    assert task["video_embedding"]["metadata"]["input_url"] == URL


def test_retrieve_while_processing_and_unknown_ids(server: LiveServer) -> None:
    task_id = post_form(server, [("model_name", "marengo3.0"), ("video_url", URL)]).json()["_id"]
    body = httpx.get(f"{server.url}/embed/tasks/{task_id}").json()
    assert body["_id"] == task_id and body["model_name"] == "marengo3.0"
    assert body["status"] in ("processing", "failed") and "segments" not in body["video_embedding"]
    assert body["created_at"].endswith("Z") and "id" not in body
    missing = httpx.get(f"{server.url}/v1.3/embed/tasks/{'a' * 24}/status")
    assert assert_json_error(missing, 404, "resource_not_exist")["message"] == (
        f"Resource with id {'a' * 24} does not exist in embed_tasks."
    )
    assert_json_error(httpx.get(f"{server.url}/embed/tasks/{'a' * 24}"), 404, "resource_not_exist")
    assert_json_error(
        httpx.get(f"{server.url}/embed/tasks/{task_id}?embedding_option=visual-text"),
        400,
        "parameter_invalid",
    )
    assert_json_error(httpx.get(f"{server.url}/no/such/route"), 404, "not_found")
    assert_json_error(httpx.delete(f"{server.url}/embed/tasks"), 405, "method_not_allowed")


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("DELETE", "/embed/tasks", "GET, POST"),
        ("PUT", "/v1.3/embed/tasks", "GET, POST"),
        ("PATCH", "/embed/tasks", "GET, POST"),
        ("POST", f"/v1.3/embed/tasks/{'a' * 24}", "GET"),
        ("DELETE", f"/embed/tasks/{'a' * 24}/status", "GET"),
        ("GET", "/v1.3/embed", "POST"),
        ("GET", "/clips/search", "POST"),
        ("POST", "/health", "GET"),
        ("POST", "/docs", "GET, HEAD"),  # Starlette's own docs route takes HEAD
        ("PUT", "/v1.3/docs", "GET, HEAD"),
        ("DELETE", "/v1.3/openapi.json", "GET, HEAD"),
    ],
)
def test_405_lists_every_method_of_the_path(server: LiveServer, method: str, path: str, allow: str) -> None:
    response = httpx.request(method, f"{server.url}{path}", timeout=30)
    body = assert_json_error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == allow
    assert body["message"] == f"The {method} method is not allowed on {path}; it takes {allow}."


def test_head_is_not_listed_where_it_does_not_work(server: LiveServer) -> None:
    head = httpx.head(f"{server.url}/embed/tasks", timeout=30)
    assert head.status_code == 405 and head.headers["allow"] == "GET, POST"
    for path in ("/docs", "/v1.3/docs", "/v1.3/redoc", "/v1.3/openapi.json"):
        assert httpx.head(f"{server.url}{path}", timeout=30).status_code == 200, path


def test_list_paging_past_the_end_and_bad_values(server: LiveServer) -> None:
    for _ in range(3):
        post_form(server, [("model_name", "marengo3.0"), ("video_url", URL)])
    first = httpx.get(f"{server.url}/v1.3/embed/tasks", params={"page": 1, "page_limit": 2}).json()
    assert len(first["data"]) == 2
    info = first["page_info"]
    assert all(isinstance(info[k], int) for k in ("limit_per_page", "page", "total_page", "total_results"))
    past = httpx.get(f"{server.url}/embed/tasks", params={"page": info["total_page"] + 1, "page_limit": 2})
    assert past.status_code == 200 and past.json()["data"] == []
    assert_json_error(
        httpx.get(f"{server.url}/embed/tasks", params={"page_limit": 51}), 400, "parameter_invalid"
    )
    assert_json_error(httpx.get(f"{server.url}/embed/tasks", params={"page": "x"}), 400, "parameter_invalid")


def test_page_numbers_past_any_end_and_past_any_integer(server: LiveServer) -> None:
    """A page far past the end (TwelveLabs' OpenAPI document bounds no page: a fuzzer sent
    4216331568379646464) is a 200 with no data, on every list; a page no 64-bit integer holds is a
    400 that names page."""
    huge = "4216331568379646464"
    for route in ("/v1.3/embed/tasks", "/v1.3/embed-v2/tasks", "/v1.3/assets"):
        for limit in ("10", "50"):
            past = httpx.get(f"{server.url}{route}", params={"page": huge, "page_limit": limit})
            assert past.status_code == 200, (route, past.text)
            assert past.json()["data"] == []
            assert past.json()["page_info"]["page"] == int(huge)
        bad_page = httpx.get(f"{server.url}{route}", params={"page": str(2**63)})
        if "embed-v2" in route:  # Embed v2 nests every error (CONTRACT.md §1.4)
            body = assert_nested_error(bad_page, 400, "parameter_invalid")
        else:
            body = assert_json_error(bad_page, 400, "parameter_invalid")
        assert body["message"] == (
            "The page parameter is invalid. It must be at least 1 and at most 9223372036854775807."
        )


def test_text_embedding_endpoint(server: LiveServer) -> None:
    files = [("text", ("upload", b"a dog", "application/octet-stream"))]  # 0.4.x duplicates text as a file
    response = httpx.post(
        f"{server.url}/v1.3/embed", data={"model_name": "marengo3.0", "text": "a dog"}, files=files
    )
    body = response.json()
    assert body["model_name"] == "marengo3.0" and len(body["text_embedding"]["segments"][0]["float"]) == 384
    no_text = httpx.post(f"{server.url}/embed", data={"model_name": "marengo3.0"}, files=[("x", ("", b""))])
    assert_json_error(no_text, 400, "parameter_not_provided")
    image = httpx.post(
        f"{server.url}/embed", data={"model_name": "marengo3.0", "image_url": "https://e/a.png"}
    )
    assert_json_error(image, 400, "parameter_invalid")


def test_upload_limit(server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server.service.settings, "max_upload_bytes", 1000)
    big = [("video_file", ("big.mp4", b"\0" * 3_000_000, "video/mp4"))]
    response = post_form(server, [("model_name", "marengo3.0")], files=big)
    assert "larger than the limit" in assert_json_error(response, 400, "parameter_invalid")["message"]
    chunked = httpx.post(
        f"{server.url}/embed/tasks",
        timeout=30,
        content=iter(
            [b'--b\r\nContent-Disposition: form-data; name="model_name"\r\n\r\nx\r\n'] + [b"\0" * 65536] * 40
        ),
        headers={"content-type": "multipart/form-data; boundary=b"},
    )
    assert_json_error(chunked, 400, "parameter_invalid")


def test_ssrf_local_addresses_are_refused(server: LiveServer) -> None:
    """At create time, as file:// is: the host is resolved then (every hop of the download is
    checked again, for a public name that redirects or re-resolves to a local address)."""
    refused = post_form(server, [("model_name", "marengo3.0"), ("video_url", "file:///etc/passwd")])
    assert assert_json_error(refused, 400, "parameter_invalid")["message"] == (
        "The video_url parameter is invalid. This server does not read file:// URLs. " + ALLOW_LOCAL_HINT
    )
    for url, address in (
        (f"{server.url}/health", "127.0.0.1"),
        ("http://localhost:9/v.mp4", None),  # ::1 or 127.0.0.1, as the resolver answers
        ("http://10.0.0.1/v.mp4", "10.0.0.1"),
        ("http://169.254.169.254/latest/meta-data", "169.254.169.254"),
    ):
        response = post_form(server, [("model_name", "marengo3.0"), ("video_url", url)])
        message = assert_json_error(response, 400, "parameter_invalid")["message"]
        assert message.startswith(
            "The video_url parameter is invalid. video_url resolves to a non-public address ("
        )
        assert message.endswith(
            "); this server does not fetch from loopback, private or link-local networks. " + ALLOW_LOCAL_HINT
        )
        if address is not None:
            assert f"({address})" in message


def test_url_that_is_not_a_video_fails_with_a_reason(
    server: LiveServer, monkeypatch: pytest.MonkeyPatch, labelled_video: Path
) -> None:
    monkeypatch.setattr(server.service.settings, "allow_local_urls", True)
    task_id = post_form(
        server, [("model_name", "marengo3.0"), ("video_url", f"{server.url}/openapi.json")]
    ).json()
    status = _wait(server, task_id["_id"])
    assert status["status"] == "failed" and "not a video" in status["error"]["message"]
    missing = post_form(
        server, [("model_name", "marengo3.0"), ("video_url", f"{server.url}/nothing.mp4")]
    ).json()
    assert "HTTP 404" in _wait(server, missing["_id"])["error"]["message"]


def _wait(server: LiveServer, task_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = httpx.get(f"{server.url}/embed/tasks/{task_id}/status").json()
        if body["status"] != "processing":
            return body
        time.sleep(0.1)
    raise AssertionError("task did not finish")


def test_api_keys_and_ownership(keyed_server: LiveServer) -> None:
    fields = [("model_name", "marengo3.0"), ("video_url", URL)]
    for headers in (None, {"x-api-key": ""}):
        missing = assert_json_error(post_form(keyed_server, fields, headers=headers), 401, "api_key_invalid")
        assert missing["message"] == MISSING_KEY
    unknown = assert_json_error(
        post_form(keyed_server, fields, headers={"x-api-key": "nope"}), 401, "api_key_invalid"
    )
    assert unknown["message"] == UNKNOWN_KEY
    for path in ("/v1.3/embed/tasks", f"/embed/tasks/{'a' * 24}/status", "/models"):
        response = httpx.get(f"{keyed_server.url}{path}", headers={"x-api-key": "key-c"})
        assert assert_json_error(response, 401, "api_key_invalid")["message"] == UNKNOWN_KEY
    task_id = post_form(keyed_server, fields, headers={"x-api-key": "key-a"}).json()["_id"]
    assert (
        httpx.get(
            f"{keyed_server.url}/embed/tasks/{task_id}/status", headers={"x-api-key": "key-a"}
        ).status_code
        == 200
    )
    other = httpx.get(f"{keyed_server.url}/embed/tasks/{task_id}/status", headers={"x-api-key": "key-b"})
    assert_json_error(other, 404, "resource_not_exist")
    listed = httpx.get(f"{keyed_server.url}/embed/tasks", headers={"x-api-key": "key-b"}).json()
    assert task_id not in [t["_id"] for t in listed["data"]]


def test_health_ready_and_openapi(server: LiveServer) -> None:
    assert httpx.get(f"{server.url}/health").json() == {"status": "ok"}
    deadline = time.monotonic() + 60
    while httpx.get(f"{server.url}/ready").status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    spec = httpx.get(f"{server.url}/openapi.json").json()
    assert "/v1.3/embed/tasks" in spec["paths"] and "/embed/tasks/{task_id}/status" in spec["paths"]


def test_docs_and_openapi_under_both_prefixes(server: LiveServer) -> None:
    spec = httpx.get(f"{server.url}/openapi.json").json()
    prefixed = httpx.get(f"{server.url}/v1.3/openapi.json")
    assert prefixed.status_code == 200 and prefixed.headers["content-type"] == "application/json"
    assert prefixed.json() == spec
    for prefix in ("", "/v1.3"):
        pages = {
            "docs": ("vidembed - Swagger UI", f"url: '{prefix}/openapi.json',"),
            "redoc": ("vidembed - ReDoc", f'<redoc spec-url="{prefix}/openapi.json"></redoc>'),
        }
        for page, (title, spec_link) in pages.items():
            response = httpx.get(f"{server.url}{prefix}/{page}")
            assert response.status_code == 200, (prefix, page)
            assert response.headers["content-type"] == "text/html; charset=utf-8"
            assert f"<title>{title}</title>" in response.text and spec_link in response.text
    assert not any(path.endswith(("/docs", "/redoc", "/openapi.json")) for path in spec["paths"])


# The error statuses each route can answer, as documented in /openapi.json (besides 200).
DOCUMENTED_ERRORS = {
    ("/embed/tasks", "post"): {"400", "401", "429"},
    ("/embed/tasks", "get"): {"400", "401"},
    ("/embed/tasks/{task_id}/status", "get"): {"401", "404"},  # no parameter that can be invalid
    ("/embed/tasks/{task_id}", "get"): {"400", "401", "404"},
    ("/embed", "post"): {"400", "401"},
    ("/clips/search", "post"): {"400", "401", "404"},
    ("/models", "get"): {"401"},
    ("/assets", "post"): {"400", "401"},
    ("/assets", "get"): {"400", "401"},
    ("/assets/{asset_id}", "get"): {"401", "404"},
    ("/assets/{asset_id}", "delete"): {"401", "404"},
    ("/embed-v2", "post"): {"400", "401", "404", "413", "429"},  # 404: an unknown asset_id
    ("/embed-v2/tasks", "post"): {"400", "401", "404", "413", "429"},
    ("/embed-v2/tasks", "get"): {"400", "401"},
    ("/embed-v2/tasks/{task_id}", "get"): {"401", "404"},
    ("/indexes", "post"): {"400", "401"},
    ("/indexes", "get"): {"400", "401"},
    ("/indexes/{index_id}", "get"): {"401", "404"},
    ("/indexes/{index_id}", "put"): {"400", "401", "404"},
    ("/indexes/{index_id}", "delete"): {"401", "404"},
    ("/indexes/{index_id}/videos", "get"): {"400", "401", "404"},
    ("/indexes/{index_id}/videos/{video_id}", "get"): {"400", "401", "404"},
    ("/indexes/{index_id}/videos/{video_id}", "put"): {"400", "401", "404"},
    ("/indexes/{index_id}/videos/{video_id}", "patch"): {"400", "401", "404"},
    ("/indexes/{index_id}/videos/{video_id}", "delete"): {"401", "404"},
    ("/indexes/{index_id}/indexed-assets", "post"): {"400", "401", "404", "429"},
    ("/indexes/{index_id}/indexed-assets", "get"): {"400", "401", "404"},
    ("/indexes/{index_id}/indexed-assets/{indexed_asset_id}", "get"): {"400", "401", "404"},
    ("/indexes/{index_id}/indexed-assets/{indexed_asset_id}", "patch"): {"400", "401", "404"},
    ("/indexes/{index_id}/indexed-assets/{indexed_asset_id}", "delete"): {"400", "401", "404"},
    ("/tasks", "post"): {"400", "401", "404", "429"},
    ("/tasks", "get"): {"400", "401", "404"},
    ("/tasks/{task_id}", "get"): {"401", "404"},
    ("/tasks/{task_id}", "delete"): {"400", "401", "404"},
    ("/search", "post"): {"400", "401", "404"},
    ("/search/{page_token}", "get"): {"400", "401"},
    ("/thumbnails/{video_id}/{name}", "get"): {"404"},
}
SUCCESS = {
    ("/assets", "post"): "201",
    ("/assets/{asset_id}", "delete"): "204",
    ("/embed-v2/tasks", "post"): "202",
    ("/indexes", "post"): "201",
    ("/indexes/{index_id}", "put"): "204",
    ("/indexes/{index_id}", "delete"): "204",
    ("/indexes/{index_id}/videos/{video_id}", "put"): "204",
    ("/indexes/{index_id}/videos/{video_id}", "patch"): "204",
    ("/indexes/{index_id}/videos/{video_id}", "delete"): "204",
    ("/indexes/{index_id}/indexed-assets", "post"): "201",
    ("/indexes/{index_id}/indexed-assets/{indexed_asset_id}", "patch"): "204",
    ("/indexes/{index_id}/indexed-assets/{indexed_asset_id}", "delete"): "204",
    ("/tasks/{task_id}", "delete"): "204",
}


def test_openapi_documents_the_error_responses(server: LiveServer) -> None:
    spec = httpx.get(f"{server.url}/openapi.json").json()
    error_body = spec["components"]["schemas"]["ErrorBody"]
    assert error_body["required"] == ["code", "message"] and set(error_body["properties"]) == {
        "code",
        "message",
    }
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    for (path, method), errors in DOCUMENTED_ERRORS.items():
        for prefix in ("", "/v1.3"):
            responses = spec["paths"][f"{prefix}{path}"][method]["responses"]
            assert set(responses) == {SUCCESS.get((path, method), "200")} | errors, (prefix, path, method)
            for status in errors:
                schema = responses[status]["content"]["application/json"]["schema"]
                body = "NestedErrorBody" if path.startswith("/embed-v2") else "ErrorBody"  # v2 nests all
                assert schema == {"$ref": f"#/components/schemas/{body}"}
    create = spec["paths"]["/embed/tasks"]["post"]["responses"]
    assert create["400"]["description"].startswith("`parameter_invalid` or `parameter_not_provided`")
    assert create["429"]["headers"]["Retry-After"]["schema"] == {"type": "integer"}
    assert set(spec["paths"]["/ready"]["get"]["responses"]) == {"200", "503"}
    assert set(spec["paths"]["/health"]["get"]["responses"]) == {"200"}
    required = {
        path: spec["paths"][path]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"].get(
            "required"
        )
        for path in ("/embed/tasks", "/v1.3/embed", "/clips/search")
    }
    assert required == {
        "/embed/tasks": ["model_name"],
        "/v1.3/embed": ["model_name"],  # then text, an image, or both
        "/clips/search": None,  # query_text or query_image
    }
    every = [(p, m) for p, ops in spec["paths"].items() for m in ops]
    assert len(every) == 2 * len(DOCUMENTED_ERRORS) + 2  # nothing undocumented: both prefixes, health, ready
    assert not any("422" in spec["paths"][p][m]["responses"] for p, m in every)


def test_uploads_and_a_status_storm_while_a_task_runs(server: LiveServer, labelled_video: Path) -> None:
    """Two concurrent uploads and 200 status polls, all answered correctly while work runs."""
    data = labelled_video.read_bytes()

    def upload(_: int) -> str:
        files = [("video_file", ("v.mp4", data, "video/mp4"))]
        response = post_form(
            server, [("model_name", "marengo3.0"), ("embedding_option", "visual")], files=files
        )
        assert response.status_code == 200
        return response.json()["_id"]

    with ThreadPoolExecutor(2) as pool:
        ids = list(pool.map(upload, range(2)))
    errors: list[str] = []
    latencies: list[float] = []
    lock = threading.Lock()

    def poll(i: int) -> None:
        started = time.perf_counter()
        response = httpx.get(f"{server.url}/embed/tasks/{ids[i % 2]}/status", timeout=30)
        with lock:
            latencies.append(time.perf_counter() - started)
            if response.status_code != 200 or response.json()["status"] not in ("processing", "ready"):
                errors.append(response.text)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(poll, range(200)))
    assert errors == [] and len(latencies) == 200
    for task_id in ids:
        assert _wait(server, task_id)["status"] == "ready"


def test_models_endpoint_describes_the_stack(server: LiveServer) -> None:
    for prefix in ("", "/v1.3"):
        body = httpx.get(f"{server.url}{prefix}/models").json()
        stack = body["data"][0]
        assert stack["name"] == "conse-minilm-384" and "marengo3.0" in stack["aliases"]
        assert stack["dimension"] == 384 and stack["options"] == ["visual", "audio", "transcription"]
        assert set(stack["encoders"]) == {"text", "visual", "audio", "transcription"}
        assert stack["settings"] == {"asr_beam_size": 5, "asr_language": "en"}


def _one_request_logged(
    app: object, options: dict, monkeypatch: pytest.MonkeyPatch
) -> tuple[list[str], list[str]]:
    """Serves ``app`` with these uvicorn options, sends GET /health; uvicorn's and our log lines."""
    import logging
    import socket

    import uvicorn

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    ours: list[str] = []
    uvicorn_lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            ours.append(record.getMessage())

    server = uvicorn.Server(uvicorn.Config(app, **{**options, "port": port}))  # type: ignore[arg-type]
    access = logging.getLogger("uvicorn.access")
    # Recording the calls leaves the logger's handlers alone (uvicorn checks them to decide).
    monkeypatch.setattr(access, "info", lambda msg, *args, **_: uvicorn_lines.append(msg % args))
    ours_logger = logging.getLogger("vidembed.http")
    handler, level = Collect(logging.INFO), ours_logger.level
    ours_logger.addHandler(handler)
    ours_logger.setLevel(logging.INFO)  # setLevel, not the attribute: it clears the logger's cache
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.02)
        assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=30).json() == {"status": "ok"}
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        ours_logger.removeHandler(handler)
        ours_logger.setLevel(level)
    return uvicorn_lines, ours


def test_serve_logs_each_request_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    options = uvicorn_options("127.0.0.1", 8000)
    assert options == {
        "host": "127.0.0.1",
        "port": 8000,
        "log_level": "info",
        "access_log": False,
        "timeout_graceful_shutdown": 10,
    }
    services = services_for(make_service(tmp_path, start_workers=False))
    try:
        app = create_app(services, preload_models=False)
        uvicorn_lines, ours = _one_request_logged(app, options, monkeypatch)
        assert uvicorn_lines == []
        assert len(ours) == 1 and json.loads(ours[0])["path"] == "/health"
        assert json.loads(ours[0])["status"] == 200
        # The same check sees uvicorn's line when its access log is on (the old double logging).
        uvicorn_lines, ours = _one_request_logged(app, {**options, "access_log": True}, monkeypatch)
        assert len(uvicorn_lines) == 1 and '"GET /health HTTP/1.1" 200' in uvicorn_lines[0]
        assert len(ours) == 1
    finally:
        services.close()


def test_the_access_log_names_what_a_create_made(
    server: LiveServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A create's log line carries the id it made (the route has none in its path); other lines
    the id of their path."""
    caplog.set_level(logging.INFO, logger="vidembed.http")
    made = post_form(server, [("model_name", "marengo3.0"), ("video_url", URL)]).json()["_id"]
    httpx.get(f"{server.url}/v1.3/embed/tasks/{made}/status")
    picture = tmp_path / "still.png"
    Image.new("RGB", (8, 8), (200, 30, 30)).save(picture)
    with open(picture, "rb") as upload:
        asset = httpx.post(
            f"{server.url}/v1.3/assets", data={"method": "direct"}, files={"file": upload}
        ).json()
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "vidembed.http"]
    creates = [line for line in lines if line["method"] == "POST"]
    assert (creates[0]["path"], creates[0]["task_id"]) == ("/v1.3/embed/tasks", made)
    assert creates[-1]["path"] == "/v1.3/assets" and creates[-1]["asset_id"] == asset["_id"]
    status = [line for line in lines if line["path"].endswith("/status")]
    assert status[-1]["task_id"] == made


def test_openapi_states_the_rules_a_schema_cannot(server: LiveServer) -> None:
    """Every hand-parsed form says in words what its schema cannot express (fields that exclude
    or need each other, bounds that depend on the media), so that a schema-valid request refused by
    a rule is not a surprise (a fuzzer reading the document learns them too)."""
    spec = httpx.get(f"{server.url}/openapi.json").json()

    def rules(path: str) -> str:
        body = spec["paths"][path]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
        return str(body.get("description", ""))

    assert "Exactly one of video_file and video_url" in rules("/embed/tasks")
    assert "video_end_offset_sec must be greater than video_start_offset_sec" in rules("/v1.3/embed/tasks")
    assert "image_file or image_url, not both" in rules("/embed")
    assert "Exactly one of query_text and query_image" in rules("/clips/search")
    assert "method=direct takes file" in rules("/assets")
    assert "Exactly one of video_file and video_url" in rules("/tasks")
    assert "query_media_type=image" in rules("/search")


def test_ready_waits_for_the_search_indexes_after_the_models(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After loading its models a server reads its recent search indexes (SearchService.warm);
    /ready says so (503 not_ready) until that is done, then answers 200."""
    from fastapi.testclient import TestClient

    from vidembed.api.search.operations import SearchService

    release = threading.Event()
    monkeypatch.setattr(SearchService, "warm", lambda self: int(release.wait(60)))
    services = services_for(make_service(tmp_path / "data", start_workers=False))
    try:
        with TestClient(create_app(services)) as client:
            deadline = time.monotonic() + 120
            while True:  # the models first
                answer = client.get("/ready")
                assert answer.status_code == 503 and answer.json()["code"] == "not_ready"
                if answer.json()["message"].startswith("The search indexes are being read"):
                    break
                assert answer.json()["message"] == "Models are loading."
                assert time.monotonic() < deadline
                time.sleep(0.1)
            release.set()
            while client.get("/ready").status_code != 200:
                assert time.monotonic() < deadline
                time.sleep(0.05)
    finally:
        release.set()
        services.close()
