"""HttpTransport: the client over HTTP (httpx), mirroring the embedded mode's objects and errors.

Retries are for transient failures only (connection errors, 429, 502-504), with backoff, and a
retried upload resends its whole body (the official SDK resends an empty one).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from vidembed import __version__
from vidembed.errors import (
    ApiError,
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    TooManyRequestsError,
)

RETRY_STATUSES = (429, 502, 503, 504)
_ERRORS: dict[int, type[ApiError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    404: NotFoundError,
    429: TooManyRequestsError,
}


def _raise_for(response: httpx.Response) -> None:
    if response.is_success:
        return
    try:
        body = response.json()
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    code = body.get("code")
    message = body.get("message") or response.text[:500] or f"HTTP {response.status_code}"
    cls = _ERRORS.get(response.status_code, ApiError)
    raise cls(message, code, status_code=response.status_code, headers=dict(response.headers))


class HttpTransport:
    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        timeout: float = 600.0,
        max_retries: int = 2,
        client: httpx.Client | None = None,
    ) -> None:
        headers = {"User-Agent": f"vidembed/{__version__}"}
        if api_key:
            headers["x-api-key"] = api_key
        self._base = base_url.rstrip("/") + "/"
        self._client = client or httpx.Client(timeout=httpx.Timeout(timeout, connect=10.0), headers=headers)
        self._max_retries = max_retries

    def _send(self, make_request: Callable[[], httpx.Response]) -> dict[str, Any]:
        for attempt in range(self._max_retries + 1):
            try:
                response = make_request()
            except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError):
                if attempt == self._max_retries:
                    raise
                time.sleep(min(0.5 * 2**attempt, 8))
                continue
            if response.status_code in RETRY_STATUSES and attempt < self._max_retries:
                retry_after = response.headers.get("retry-after", "")
                time.sleep(float(retry_after) if retry_after.isdigit() else min(0.5 * 2**attempt, 8))
                continue
            _raise_for(response)
            return response.json()
        raise AssertionError("unreachable")

    def _url(self, path: str) -> str:
        return self._base + path

    def create_task(self, fields: dict[str, Any], video_file: Any) -> dict[str, Any]:
        data: dict[str, list[str]] = {}
        for name, value in fields.items():
            if value is not None:
                values = value if isinstance(value, (list, tuple)) else [value]
                data[name] = [str(v) for v in values]
        start = video_file.tell() if hasattr(video_file, "seek") else None

        def request() -> httpx.Response:
            if start is not None:
                video_file.seek(start)  # a retry sends the whole file again
            with _file_part(video_file) as files:
                return self._client.post(self._url("embed/tasks"), data=data, files=files)

        return self._send(request)

    def task_status(self, task_id: str) -> dict[str, Any]:
        return self._send(lambda: self._client.get(self._url(f"embed/tasks/{task_id}/status")))

    def retrieve_task(self, task_id: str, embedding_option: Sequence[str] | None) -> dict[str, Any]:
        params = [("embedding_option", o) for o in embedding_option or []]
        return self._send(lambda: self._client.get(self._url(f"embed/tasks/{task_id}"), params=params))

    def list_tasks(self, query: dict[str, Any]) -> dict[str, Any]:
        params = {k: v for k, v in query.items() if v is not None}
        return self._send(lambda: self._client.get(self._url("embed/tasks"), params=params))

    def embed(self, fields: dict[str, Any]) -> dict[str, Any]:
        data = {k: str(v) for k, v in fields.items() if v is not None}
        return self._send(lambda: self._client.post(self._url("embed"), data=data))

    def search_clips(self, fields: dict[str, Any]) -> dict[str, Any]:
        data: dict[str, Any] = {
            k: str(v) for k, v in fields.items() if v is not None and not isinstance(v, list)
        }
        if fields.get("embedding_option"):
            data["embedding_option"] = list(fields["embedding_option"])  # a repeated form field
        return self._send(lambda: self._client.post(self._url("clips/search"), data=data))

    def close(self) -> None:
        self._client.close()


@contextmanager
def _file_part(video_file: Any) -> Iterator[dict[str, Any] | None]:
    """The multipart file part for one attempt; a path is opened (and closed) per attempt."""
    if video_file is None:
        yield None
    elif isinstance(video_file, (str, os.PathLike)):
        path = Path(video_file)
        with open(path, "rb") as fh:
            yield {"video_file": (path.name, fh, "application/octet-stream")}
    elif isinstance(video_file, (bytes, bytearray, memoryview)):
        yield {"video_file": ("upload", bytes(video_file), "application/octet-stream")}
    elif isinstance(video_file, tuple):
        yield {"video_file": video_file}
    else:
        name = os.path.basename(str(getattr(video_file, "name", "upload")))
        yield {"video_file": (name, video_file, "application/octet-stream")}
