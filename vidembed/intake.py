"""Getting a video onto local disk: uploads (path, bytes, file object) and URL downloads."""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote, urlparse

import httpx

from vidembed.errors import MediaError, invalid

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
    """Validation at create time: a scheme we can fetch. Address checks happen at download.
    Errors name ``parameter``; ``what`` is the kind of file the URL must point at."""
    parsed = urlparse(url)
    if parsed.scheme in ("http", "https") and parsed.hostname:
        return
    if parsed.scheme == "file" and allow_local:
        return
    if parsed.scheme == "file":
        raise invalid(parameter, f"This server does not read file:// URLs. {ALLOW_LOCAL_HINT}")
    allowed = "http(s) or file://" if allow_local else "http(s)"
    raise invalid(parameter, f"Use an {allowed} URL that points at the {what} file itself.")


def _refuse_private(host: str, parameter: str) -> None:
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror:
        raise MediaError(f"The host of {parameter} ({host}) could not be resolved.") from None
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
) -> None:
    """Fetches ``url`` into ``target``; raises MediaError with a reason a person can act on, naming
    ``parameter`` (``what``: the kind of file, for the messages)."""
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
                    _save_response(response, target, max_bytes, f"The {what} at {parameter}")
                    return
            raise MediaError(f"{parameter} redirected more than {max_redirects} times.")
    except httpx.TimeoutException:
        raise MediaError(f"Downloading {parameter} took longer than {timeout:g} s.") from None
    except httpx.HTTPError as exc:
        raise MediaError(f"Downloading {parameter} failed: {exc}.") from None


def _save_response(response: httpx.Response, target: Path, max_bytes: int, subject: str) -> None:
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise MediaError(f"{subject} is larger than the limit of {max_bytes} bytes.")
    written = 0
    with open(target, "wb") as out:
        for chunk in response.iter_bytes(CHUNK):
            written += len(chunk)
            if written > max_bytes:
                raise MediaError(f"{subject} is larger than the limit of {max_bytes} bytes.")
            out.write(chunk)
