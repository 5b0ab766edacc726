"""Schemathesis from two OpenAPI documents against a live server: no request may get a 5xx.

(a) TwelveLabs' published v1.3 document (the operations this server serves), under /v1.3;
(b) our own document, ``GET /openapi.json``, as the server describes itself.

TwelveLabs' repository (twelvelabs-io/twelvelabs-developer-experience) has no licence, so its
document is not in this repository: (a) reads it from ``TWELVELABS_OPENAPI`` (the environment
variable, or ``tests/data/twelvelabs-openapi-1.3.yaml`` when unset) and is skipped, saying how to
get it, when the file is absent.

The operations are collected from the documents at import (``schema.parametrize()``), so ours is
built then from an app over throwaway services; ``schemathesis.pytest.from_fixture`` would need no
such copy, but schemathesis 4.32.5's lazy schemas fail on pytest 9.2 ("'Function' object has no
attribute '_nodeid'"). Under pytest 9.2 the items also all carry the test's bare name: a failure
names its operation in its "Reproduce with: curl ..." line.

Deterministic (a fixed seed, derandomized, no example database) and cheap: a few examples per
operation. The server has no workers (tasks stay queued) and refuses loopback and private URLs;
every proxy variable points at a closed loopback port while it runs, so a URL the server does try
to fetch fails at once, on any machine: requests go only to the loopback server (the server
still looks host names up, to refuse private addresses).
"""

from __future__ import annotations

import os
import re
import socket
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import yaml
from conftest import LiveServer, make_service
from schemathesis.checks import not_a_server_error

from vidembed.api.compose import services_for
from vidembed.server.app import create_app
from vidembed.server.auth import ApiKeys

TWELVELABS_COMMIT = "4d59e72f2d449e79ad9262101a769610c969a77b"
TWELVELABS_URL = (
    "https://raw.githubusercontent.com/twelvelabs-io/twelvelabs-developer-experience/"
    f"{TWELVELABS_COMMIT}/api-spec/openapi-1.3.yaml"
)
TWELVELABS_DOC = Path(
    os.environ.get("TWELVELABS_OPENAPI")
    or Path(__file__).resolve().parents[1] / "data" / "twelvelabs-openapi-1.3.yaml"
)
METHODS = ("get", "put", "post", "delete", "patch")
# Examples per operation in the fuzzing phase; the examples and coverage phases add their own
# (schema examples, boundary values, missing and wrong-typed parameters).
MAX_EXAMPLES = 10
SENT: Counter[str] = Counter()  # requests sent, per document


def _config() -> schemathesis.Config:
    return schemathesis.Config.from_dict(
        {
            "seed": 23,
            "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
            "phases": {"stateful": {"enabled": False}},
            "request-timeout": 60,
            "suppress-health-check": ["all"],
        }
    )


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again on return: connections are refused


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """No workers, no key, local URLs refused, sync routes waiting 0.1 s, no per-key task limit."""
    dead = f"http://127.0.0.1:{_closed_port()}"
    with pytest.MonkeyPatch.context() as env:
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
            env.setenv(name, dead)
            env.setenv(name.lower(), dead)
        env.setenv("NO_PROXY", "127.0.0.1,localhost")  # the test's own requests to the server
        env.setenv("no_proxy", "127.0.0.1,localhost")
        live = LiveServer(
            make_service(
                tmp_path_factory.mktemp("openapi-fuzz"),
                start_workers=False,
                allow_local_urls=False,
                max_active_tasks_per_owner=10**9,
                sync_wait_seconds=0.1,
                download_timeout_seconds=5.0,
            )
        )
        yield live
        live.stop()
    print(f"\nopenapi fuzz: requests sent per document: {dict(SENT)}")


def _template(path: str) -> str:
    """A path with its parameters unnamed: TwelveLabs writes {index-id} where we write {index_id}."""
    return re.sub(r"\{[^}]*\}", "{}", path)


def _own_document() -> dict[str, Any]:
    """``GET /openapi.json`` of a server like ``fuzz_server``, built at collection (no server yet)."""
    with tempfile.TemporaryDirectory() as folder:
        services = services_for(make_service(Path(folder), start_workers=False))
        try:
            return create_app(services, ApiKeys({"collection"}), preload_models=False).openapi()
        finally:
            services.close()


def _twelvelabs_document(own: dict[str, Any]) -> dict[str, Any]:
    """TwelveLabs' document with only the operations this server serves."""
    served = {
        (method, _template(path.removeprefix("/v1.3")))
        for path, operations in own["paths"].items()
        for method in operations
    }
    document = yaml.load(TWELVELABS_DOC.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
    paths: dict[str, Any] = {}
    for path, item in document["paths"].items():
        kept = {
            key: value
            for key, value in item.items()
            if key not in METHODS or (key, _template(path)) in served
        }
        if any(method in kept for method in METHODS):
            paths[path] = kept
    document["paths"] = paths
    return document


OWN_DOCUMENT = _own_document()
# Every API route is served twice, with and without /v1.3: the same handler, fuzzed once.
OWN_DOCUMENT["paths"] = {
    path: item for path, item in OWN_DOCUMENT["paths"].items() if not path.startswith("/v1.3")
}
own = schemathesis.openapi.from_dict(OWN_DOCUMENT, config=_config())


@own.parametrize()
def test_own_document_never_5xx(case: schemathesis.Case, fuzz_server: LiveServer) -> None:
    SENT["own"] += 1
    case.call_and_validate(base_url=fuzz_server.url, checks=[not_a_server_error])


if TWELVELABS_DOC.is_file():
    twelvelabs = schemathesis.openapi.from_dict(_twelvelabs_document(OWN_DOCUMENT), config=_config())

    @twelvelabs.parametrize()
    def test_twelvelabs_document_never_5xx(case: schemathesis.Case, fuzz_server: LiveServer) -> None:
        SENT["twelvelabs"] += 1
        case.call_and_validate(base_url=f"{fuzz_server.url}/v1.3", checks=[not_a_server_error])

else:

    def test_twelvelabs_document_never_5xx() -> None:
        pytest.skip(
            f"TwelveLabs' OpenAPI document is not at {TWELVELABS_DOC} (its repository has no "
            f"licence, so it is not vendored): download {TWELVELABS_URL} there, or set "
            "TWELVELABS_OPENAPI to its path"
        )


def test_fetches_fail_at_once_without_leaving_loopback(fuzz_server: LiveServer) -> None:
    """A fuzzed URL with a public address is fetched through the dead proxy: refused at once."""
    started = time.monotonic()
    response = httpx.post(
        f"{fuzz_server.url}/v1.3/embed",
        data={"model_name": "marengo3.0", "image_url": "http://1.1.1.1/fuzz.png"},
        timeout=30,
    )
    assert response.status_code == 400, response.text
    assert "Connection refused" in response.json()["message"]
    assert time.monotonic() - started < 5
