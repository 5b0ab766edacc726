"""Getting a video onto local disk: uploads (path, bytes, file object) and URL downloads."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import shutil
import socket
import threading
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote, urlparse

import httpx

from vidembed.errors import Interrupted, MediaError, invalid
from vidembed.segmentation import ClipParams

CHUNK = 1 << 20
# The server refuses local addresses by default (SSRF); the embedded client allows them.
ALLOW_LOCAL_HINT = (
    "To allow file:// and loopback, private or link-local addresses, start the server with "
    "--allow-local-urls (or VIDEMBED_ALLOW_LOCAL_URLS=1)."
)


def safe_filename(name: str | None) -> str:
    """A basename with no directory parts, safe to join to our media folder."""
    base = os.path.basename((name or "").replace("\\", "/")).strip().lstrip(".")
    cleaned = "".join(c if c.isalnum() or c in "-_. " else "_" for c in base)[:120]
    return cleaned or "upload"


def describe_upload(video_file: Any) -> str:
    """The input_filename reported for an upload (the SDK sends raw bytes as "upload")."""
    if isinstance(video_file, (str, os.PathLike)):
        return safe_filename(os.fspath(video_file))
    if isinstance(video_file, (bytes, bytearray, memoryview)):
        return "upload"
    if isinstance(video_file, tuple):
        return safe_filename(video_file[0])
    return safe_filename(
        getattr(video_file, "name", None) if isinstance(getattr(video_file, "name", None), str) else None
    )


def file_identity(source: str) -> tuple[int, int]:
    """A local file's size and modification time (nanoseconds): with its absolute path, what tells
    one video from another without reading it; (0, 0) for a URL (taken as written)."""
    if "://" in source:
        return 0, 0
    stat = os.stat(source)
    return stat.st_size, stat.st_mtime_ns


def fingerprint(source: str, stack: str, params: ClipParams, options: list[str] | tuple[str, ...]) -> str:
    """The one rule that says two runs embed the same thing (``vidembed batch`` and ``vidembed
    embed`` both use it as the task id): the absolute path with its size and mtime, or the URL as
    written, and the stack, the clip parameters and the options. 24 hex characters, like any task id.
    A file that changed (size or mtime) is a new video; a URL is not fetched to find out."""
    size, mtime_ns = file_identity(source)
    key = json.dumps([source, size, mtime_ns, stack, params.as_dict(), list(options)])
    return hashlib.sha256(key.encode()).hexdigest()[:24]


# A still picture's first bytes, and its format's name (animated formats, GIF, are left to the decoder).
_STILL_SIGNATURES = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
)
_STILL_BRANDS = {b"heic": "HEIC", b"heix": "HEIC", b"mif1": "HEIF", b"avif": "AVIF"}


def still_image_format(head: bytes) -> str | None:
    """The format's name when a file's first 32 bytes are a still picture's (JPEG, PNG, BMP, TIFF,
    HEIC/HEIF/AVIF, a WebP that is not animated), else None."""
    for signature, name in _STILL_SIGNATURES:
        if head.startswith(signature):
            return name
    if head[4:8] == b"ftyp" and head[8:12] in _STILL_BRANDS:
        return _STILL_BRANDS[head[8:12]]
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        animated = head[12:16] == b"VP8X" and len(head) > 20 and bool(head[20] & 0x02)
        return None if animated else "WebP"
    return None


def still_image_upload(upload: Any) -> str | None:
    """``still_image_format`` of an upload (a path, bytes, a (name, content) pair, or a seekable
    binary file, put back where it was); None when it cannot be read without consuming it."""
    if isinstance(upload, tuple):
        upload = upload[1]
    try:
        if isinstance(upload, (str, os.PathLike)):
            with open(upload, "rb") as fh:
                return still_image_format(fh.read(32))
        if isinstance(upload, (bytes, bytearray, memoryview)):
            return still_image_format(bytes(upload[:32]))
        if hasattr(upload, "seekable") and upload.seekable():
            where = upload.tell()
            head = upload.read(32)
            upload.seek(where)
            return still_image_format(head) if isinstance(head, bytes) else None
    except (OSError, ValueError):
        return None  # save_upload reports what is wrong with it
    return None


def save_upload(video_file: Any, target: Path, max_bytes: int, parameter: str = "video_file") -> int:
    """Streams the upload to ``target`` (never whole in memory); returns the byte count. Errors
    name ``parameter`` (the same rules serve ``image_file``)."""
    if isinstance(video_file, tuple):
        video_file = video_file[1]
    target.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(video_file, (str, os.PathLike)):
        source = Path(video_file)
        if not source.is_file():
            raise invalid(parameter, f"No such file: {source}.")
        if source.stat().st_size > max_bytes:
            raise _too_large(max_bytes, parameter)
        shutil.copyfile(source, target)
        return target.stat().st_size
    if isinstance(video_file, (bytes, bytearray, memoryview)):
        if len(video_file) > max_bytes:
            raise _too_large(max_bytes, parameter)
        target.write_bytes(bytes(video_file))
        return len(video_file)
    if not hasattr(video_file, "read"):
        raise invalid(parameter, "Pass a path, bytes or a binary file object.")
    return copy_stream(video_file, target, max_bytes, parameter)


def copy_stream(stream: IO[bytes], target: Path, max_bytes: int, parameter: str = "video_file") -> int:
    written = 0
    with open(target, "wb") as out:
        while chunk := stream.read(CHUNK):
            if isinstance(chunk, str):
                raise invalid(parameter, "The file must be opened in binary mode ('rb').")
            written += len(chunk)
            if written > max_bytes:
                out.close()
                target.unlink(missing_ok=True)
                raise _too_large(max_bytes, parameter)
            out.write(chunk)
    return written


def _too_large(max_bytes: int, parameter: str) -> Exception:
    return invalid(parameter, f"The file is larger than the limit of {max_bytes / 1024**3:.2f} GB.")


def check_url(url: str, allow_local: bool, parameter: str = "video_url", what: str = "video") -> None:
    """Validation at create time, the one rule for every input URL (v1.3 and v2 tasks, assets,
    query images): a scheme we can fetch and, unless local URLs are allowed, a host that does not
    resolve to a loopback, private or link-local address (refused now with the message a download
    would fail with; a host that does not resolve now is left to the download, which says so, and
    every hop of a download is checked again). Errors name ``parameter``; ``what`` is the kind of
    file the URL must point at."""
    parsed = urlparse(url)
    if parsed.scheme in ("http", "https") and parsed.hostname:
        if not allow_local:
            try:
                _refuse_private(parsed.hostname, parameter)
            except _Unresolved:
                pass
            except MediaError as exc:
                raise invalid(parameter, str(exc)) from None
        return
    if parsed.scheme == "file" and allow_local:
        return
    if parsed.scheme == "file":
        raise invalid(parameter, f"This server does not read file:// URLs. {ALLOW_LOCAL_HINT}")
    allowed = "http(s) or file://" if allow_local else "http(s)"
    raise invalid(parameter, f"Use an {allowed} URL that points at the {what} file itself.")


class _Unresolved(MediaError):
    """The host of a URL has no address (now)."""


def _refuse_private(host: str, parameter: str) -> None:
    try:
        infos = socket.getaddrinfo(host, None)
    except (socket.gaierror, UnicodeError):
        raise _Unresolved(f"The host of {parameter} ({host}) could not be resolved.") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global or address.is_multicast:
            raise MediaError(
                f"{parameter} resolves to a non-public address ({address}); this server does not "
                f"fetch from loopback, private or link-local networks. {ALLOW_LOCAL_HINT}"
            )


def download(
    url: str,
    target: Path,
    *,
    max_bytes: int,
    timeout: float,
    max_redirects: int,
    allow_local: bool,
    parameter: str = "video_url",
    what: str = "video",
    stop: threading.Event | None = None,
) -> None:
    """Fetches ``url`` into ``target``; raises MediaError with a reason a person can act on, naming
    ``parameter`` (``what``: the kind of file, for the messages). ``stop``, once set, ends the
    download between two chunks with ``Interrupted`` (a stopping worker does not wait for it)."""
    parsed = urlparse(url)
    target.parent.mkdir(parents=True, exist_ok=True)
    if parsed.scheme == "file":
        source = Path(unquote(parsed.path))
        if not source.is_file():
            raise MediaError(f"No such file: {source}.")
        shutil.copyfile(source, target)
        return
    current = url
    try:
        with httpx.Client(timeout=httpx.Timeout(timeout, connect=15), follow_redirects=False) as client:
            for _ in range(max_redirects + 1):
                host = urlparse(current).hostname or ""
                if not allow_local:
                    _refuse_private(host, parameter)
                with client.stream("GET", current) as response:
                    if response.is_redirect and "location" in response.headers:
                        current = str(response.url.join(response.headers["location"]))
                        continue
                    if response.status_code >= 400:
                        raise MediaError(f"Downloading {parameter} failed with HTTP {response.status_code}.")
                    _save_response(response, target, max_bytes, f"The {what} at {parameter}", stop)
                    return
            raise MediaError(f"{parameter} redirected more than {max_redirects} times.")
    except httpx.TimeoutException:
        raise MediaError(f"Downloading {parameter} took longer than {timeout:g} s.") from None
    except httpx.HTTPError as exc:
        raise MediaError(f"Downloading {parameter} failed: {exc}.") from None


def _save_response(
    response: httpx.Response, target: Path, max_bytes: int, subject: str, stop: threading.Event | None = None
) -> None:
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise MediaError(f"{subject} is larger than the limit of {max_bytes} bytes.")
    written = 0
    with open(target, "wb") as out:
        # the network's own reads (up to 64 KiB), so that a stop is seen at once on a slow link
        for chunk in response.iter_bytes():
            if stop is not None and stop.is_set():
                raise Interrupted("the download was stopped")
            written += len(chunk)
            if written > max_bytes:
                raise MediaError(f"{subject} is larger than the limit of {max_bytes} bytes.")
            out.write(chunk)
