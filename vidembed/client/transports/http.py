"""HttpTransport: the client over HTTP (httpx), mirroring the local transport's answers and errors.

Retries are for transient failures only (connection errors, 429, 502-504), with backoff, and a
retried upload resends its whole body (the official SDK resends an empty one).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import httpx

from vidembed.client.transports.base import Transport
from vidembed.errors import (
    ApiError,
    AuthenticationError,
    BadRequestError,
    ContentTooLargeError,
    NotFoundError,
    TooManyRequestsError,
)
from vidembed.version import __version__

if TYPE_CHECKING:  # an annotation only: vidembed.records brings numpy, which this client never needs
    from vidembed.records import FileInput

RETRY_STATUSES = (429, 502, 503, 504)
# A query as (name, value) pairs, typed as httpx takes them (a list is invariant in its items, so a
# list of (str, str) pairs would not do)
_QueryPairs = list[tuple[str, str | int | float | bool | None]]
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
    if isinstance(body.get("error"), dict):  # Embed v2 nests every error: {"error": {code, message}}
        body = body["error"]
        if response.status_code == 413:
            raise ContentTooLargeError(str(body.get("message", "")), body.get("details") or {})
    code = body.get("code")
    message = body.get("message") or response.text[:500] or f"HTTP {response.status_code}"
    cls = _ERRORS.get(response.status_code, ApiError)
    raise cls(message, code, status_code=response.status_code, headers=dict(response.headers))


class HttpTransport(Transport):
    """A vidembed server at ``base_url``, ``api_key`` sent as ``x-api-key``. ``client``: an
    ``httpx.Client`` of your own (a mock transport in tests), used as it is: its own headers and
    timeout, not ``api_key`` and ``timeout``."""

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
            return response.json() if response.content else {}  # 204 (DELETE /assets/{id}): no body
        raise AssertionError("unreachable")

    def _url(self, path: str) -> str:
        return self._base + path

    def create_task(self, fields: dict[str, Any], video_file: Any) -> dict[str, Any]:
        files = {"video_file": video_file} if video_file is not None else {}
        return self._post_form("embed/tasks", fields, files)

    def _post_form(
        self, path: str, fields: Mapping[str, object], files: Mapping[str, FileInput]
    ) -> dict[str, Any]:
        """A multipart POST: fields (a list is a repeated field; None is left out) and file parts;
        a retry sends every file again, from where it was."""
        data: dict[str, list[str]] = {}
        for name, value in fields.items():
            if value is not None:
                values = value if isinstance(value, (list, tuple)) else [value]
                data[name] = [str(v) for v in values]
        streams: dict[str, IO[bytes]] = {}
        for name, file in files.items():
            if not isinstance(file, (str, bytes, tuple, os.PathLike)) and hasattr(file, "seek"):
                streams[name] = file
        starts = {name: stream.tell() for name, stream in streams.items()}

        def request() -> httpx.Response:
            with ExitStack() as stack:
                parts: dict[str, Any] = {}
                for name, file in files.items():
                    if name in starts:
                        streams[name].seek(starts[name])  # a retry sends the whole file again
                    part = stack.enter_context(_file_part(file, name))
                    parts.update(part or {})
                return self._client.post(self._url(path), data=data, files=parts or None)

        return self._send(request)

    def task_status(self, task_id: str) -> dict[str, Any]:
        return self._send(lambda: self._client.get(self._url(f"embed/tasks/{task_id}/status")))

    def retrieve_task(self, task_id: str, embedding_option: Sequence[str] | None) -> dict[str, Any]:
        params: _QueryPairs = [("embedding_option", o) for o in embedding_option or []]
        return self._send(lambda: self._client.get(self._url(f"embed/tasks/{task_id}"), params=params))

    def list_tasks(self, query: dict[str, Any]) -> dict[str, Any]:
        params = {k: v for k, v in query.items() if v is not None}
        return self._send(lambda: self._client.get(self._url("embed/tasks"), params=params))

    def embed(self, fields: Mapping[str, object], files: Mapping[str, FileInput]) -> dict[str, Any]:
        return self._post_form("embed", fields, files)

    def search_clips(self, fields: dict[str, Any], query_image: FileInput | None = None) -> dict[str, Any]:
        files = {"query_image": query_image} if query_image is not None else {}
        # embedding_option is a list: a repeated form field (an empty one is left out)
        data = {k: v for k, v in fields.items() if not (isinstance(v, list) and not v)}
        return self._post_form("clips/search", data, files)

    def create_asset(self, fields: Mapping[str, object], file: FileInput | None) -> dict[str, object]:
        return self._post_form("assets", fields, {"file": file} if file is not None else {})

    def list_assets(self, query: Mapping[str, object]) -> dict[str, object]:
        params: _QueryPairs = []  # asset_ids and asset_types repeat, as the SDK sends them
        for name, value in query.items():
            values = value if isinstance(value, (list, tuple)) else [value]
            params += [(name, str(v)) for v in values if v is not None]
        return self._send(lambda: self._client.get(self._url("assets"), params=params))

    def retrieve_asset(self, asset_id: str) -> dict[str, object]:
        return self._send(lambda: self._client.get(self._url(f"assets/{asset_id}")))

    def delete_asset(self, asset_id: str) -> None:
        self._send(lambda: self._client.delete(self._url(f"assets/{asset_id}")))

    def embed_v2(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._send(lambda: self._client.post(self._url("embed-v2"), json=body))

    def create_v2_task(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._send(lambda: self._client.post(self._url("embed-v2/tasks"), json=body))

    def retrieve_v2_task(self, task_id: str) -> dict[str, Any]:
        return self._send(lambda: self._client.get(self._url(f"embed-v2/tasks/{task_id}")))

    def list_v2_tasks(self, query: dict[str, Any]) -> dict[str, Any]:
        return self._send(lambda: self._client.get(self._url("embed-v2/tasks"), params=query))

    # --- indexes, index tasks, search ---------------------------------------------------------

    def create_index(self, body: Mapping[str, object]) -> dict[str, object]:
        return self._send(lambda: self._client.post(self._url("indexes"), json=dict(body)))

    def list_indexes(self, query: Mapping[str, str]) -> dict[str, object]:
        return self._send(lambda: self._client.get(self._url("indexes"), params=dict(query)))

    def retrieve_index(self, index_id: str) -> dict[str, object]:
        return self._send(lambda: self._client.get(self._url(f"indexes/{index_id}")))

    def update_index(self, index_id: str, body: Mapping[str, object]) -> None:
        self._send(lambda: self._client.put(self._url(f"indexes/{index_id}"), json=dict(body)))

    def delete_index(self, index_id: str) -> None:
        self._send(lambda: self._client.delete(self._url(f"indexes/{index_id}")))

    def list_videos(self, index_id: str, query: Mapping[str, str]) -> dict[str, object]:
        return self._send(
            lambda: self._client.get(self._url(f"indexes/{index_id}/videos"), params=dict(query))
        )

    def retrieve_video(
        self, index_id: str, video_id: str, embedding_option: Sequence[str] | None, transcription: bool | None
    ) -> dict[str, object]:
        params: _QueryPairs = [("embedding_option", o) for o in embedding_option or []]
        if transcription is not None:
            params.append(("transcription", str(transcription).lower()))
        url = self._url(f"indexes/{index_id}/videos/{video_id}")
        return self._send(lambda: self._client.get(url, params=params))

    def update_video(self, index_id: str, video_id: str, body: Mapping[str, object]) -> None:
        url = self._url(f"indexes/{index_id}/videos/{video_id}")
        self._send(lambda: self._client.put(url, json=dict(body)))

    def delete_video(self, index_id: str, video_id: str) -> None:
        self._send(lambda: self._client.delete(self._url(f"indexes/{index_id}/videos/{video_id}")))

    def create_index_task(
        self, fields: Mapping[str, object], video_file: FileInput | None
    ) -> dict[str, object]:
        return self._post_form("tasks", fields, {"video_file": video_file} if video_file is not None else {})

    def retrieve_index_task(self, task_id: str) -> dict[str, object]:
        return self._send(lambda: self._client.get(self._url(f"tasks/{task_id}")))

    def list_index_tasks(self, query: Mapping[str, object]) -> dict[str, object]:
        params: _QueryPairs = []  # status repeats, as the SDK sends it
        for name, value in query.items():
            values = value if isinstance(value, (list, tuple)) else [value]
            params += [(name, str(v)) for v in values if v is not None]
        return self._send(lambda: self._client.get(self._url("tasks"), params=params))

    def delete_index_task(self, task_id: str) -> None:
        self._send(lambda: self._client.delete(self._url(f"tasks/{task_id}")))

    def search(self, fields: Mapping[str, object], files: Sequence[FileInput]) -> dict[str, object]:
        """A form, as the SDK sends it: an empty list is no field; several images are repeated
        ``query_media_file`` parts."""
        data = {k: v for k, v in fields.items() if not (isinstance(v, (list, tuple)) and not v)}
        starts = {
            i: file.tell()
            for i, file in enumerate(files)
            if not isinstance(file, (str, bytes, tuple, os.PathLike)) and hasattr(file, "seek")
        }

        def request() -> httpx.Response:
            with ExitStack() as stack:
                sent: list[tuple[str, Any]] = []
                for i, file in enumerate(files):
                    if i in starts:
                        file.seek(starts[i])  # type: ignore[union-attr]  # a retry sends it all again
                    part = stack.enter_context(_file_part(file, "query_media_file"))
                    sent += list((part or {}).items())
                form: dict[str, list[str]] = {
                    name: [str(v) for v in (value if isinstance(value, (list, tuple)) else [value])]
                    for name, value in data.items()
                    if value is not None
                }
                # without a file httpx sends a urlencoded form, which the server reads the same way
                return self._client.post(self._url("search"), data=form, files=sent or None)

        return self._send(request)

    def search_page(self, page_token: str, include_user_metadata: bool | None) -> dict[str, object]:
        params = (
            {}
            if include_user_metadata is None
            else {"include_user_metadata": str(include_user_metadata).lower()}
        )
        return self._send(lambda: self._client.get(self._url(f"search/{page_token}"), params=params))

    def close(self) -> None:
        self._client.close()


@contextmanager
def _file_part(file: Any, field: str = "video_file") -> Iterator[dict[str, Any] | None]:
    """The multipart file part ``field`` for one attempt; a path is opened (and closed) per attempt."""
    if file is None:
        yield None
    elif isinstance(file, (str, os.PathLike)):
        path = Path(file)
        with open(path, "rb") as fh:
            yield {field: (path.name, fh, "application/octet-stream")}
    elif isinstance(file, (bytes, bytearray, memoryview)):
        yield {field: ("upload", bytes(file), "application/octet-stream")}
    elif isinstance(file, tuple):
        yield {field: file}
    else:
        name = os.path.basename(str(getattr(file, "name", "upload")))
        yield {field: (name, file, "application/octet-stream")}
