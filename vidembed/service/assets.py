"""AssetCore: upload or import a file once, then use it by id (the core of TwelveLabs'
``client.assets``, whose rules and JSON are in ``vidembed.api.assets``; docs/ASSETS.md).

``create`` stores an upload in the media store under ``assets/<id>/`` (``media/assets/<id>/`` of the
data folder by default; docs/MEDIA_STORAGE.md) (or checks a URL) and records the asset
as ``processing``; worker threads of the service download URL imports and probe the file, then
mark it ``ready`` with its type and technical metadata, or ``failed`` with a reason. Workers
claim assets with a lease (``AssetStore``), so nothing is lost on restart and two processes
sharing the database never process one asset twice. ``media`` hands a ready asset's file to
another part of the service as a local file (a hard link in a local folder); ``copy_to`` copies it
for a task inside the media store (Embed v2's ``media_source.asset_id``), so that deleting the
asset leaves the task's input whole.
"""

from __future__ import annotations

import builtins  # builtins.list: in AssetCore, list names the method
import logging
import mimetypes
import os
import secrets
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

import av
from PIL import Image, UnidentifiedImageError

from vidembed import errors, intake
from vidembed.config import Settings
from vidembed.engine import media as av_media
from vidembed.engine.still import load_image
from vidembed.errors import MediaError
from vidembed.executors.isolated import IsolatedCrash, IsolatedTimeout, run_killable
from vidembed.records import AssetRecord, FileInput, JsonObject, Probed
from vidembed.stores.base import AssetStore, MediaStore, page_offset

log = logging.getLogger("vidembed.assets")

ASSET_TYPES = ("video", "audio", "image")
# Pillow also "identifies" formats that are really video (MPEG) or that it cannot decode; these
# are the still-image formats we take as images.
IMAGE_FORMATS = ("JPEG", "MPO", "PNG", "WEBP", "GIF", "BMP", "TIFF")
DOCUMENT_TYPES = ("application/pdf", "text/plain", "text/markdown")
NOT_MEDIA = (
    "The file is not a video, audio or image file this server can read (unknown or damaged "
    "format). Upload a video (such as MP4, MOV, MKV or WebM), an audio file (MP3, WAV, M4A, FLAC "
    "or Ogg) or an image (JPEG, PNG, WebP or GIF) as a new asset."
)
NO_DOCUMENTS = (
    "Documents (PDF, text, Markdown) are not supported by this server. Upload a video, audio or "
    "image file as a new asset."
)
# How often (at most) the asset workers of a process call their listeners with None:
# the sweep that starts or fails tasks still waiting for an asset that is no longer processing
# (after a crash between an asset's outcome and its listeners, on this server or another one)
SWEEP_SECONDS = 5.0
DOWNLOAD_HINT = (
    "Check that the url points at the file itself and that this server can reach it, then create "
    "the asset again."
)
# MIME types by PyAV container name, for files whose name does not say what they hold.
_CONTAINER_MIME = {
    "mp3": "audio/mpeg",
    "wav": "audio/wav",
    "flac": "audio/flac",
    "ogg": "audio/ogg",
    "aac": "audio/aac",
    "avi": "video/x-msvideo",
    "mpeg": "video/mpeg",
    "mpegts": "video/mp2t",
    "flv": "video/x-flv",
    "mov,mp4,m4a,3gp,3g2,mj2": "video/mp4",
    "matroska,webm": "video/webm",
}


@dataclass(frozen=True)
class AssetRequest:
    """A new asset as the request rules accepted it: an upload (``file``) or a ``url`` import."""

    method: str  # "direct" | "url"
    file: FileInput | None = None
    url: str | None = None
    filename: str | None = None
    user_metadata: JsonObject | None = None


@dataclass(frozen=True)
class AssetQuery:
    """One page of the asset list, with its filters (ids, types, a file name fragment)."""

    page: int = 1
    limit: int = 10
    asset_ids: tuple[str, ...] = ()
    asset_types: tuple[str, ...] = ()
    filename: str | None = None


def new_asset_id() -> str:
    return secrets.token_hex(12)  # 24 hex characters, as task ids


@dataclass(frozen=True)
class AssetMedia:
    """A ready asset's file as handed to another part of the service (``AssetCore.media`` and
    ``copy_to``)."""

    location: str  # the caller's own copy: a local path (``media``) or a media store location
    asset_type: str  # "video" | "audio" | "image"
    filename: str
    technical_metadata: JsonObject

    @property
    def path(self) -> Path:
        """The copy as a local path (what ``media`` hands out)."""
        return Path(self.location)

    @property
    def duration(self) -> float | None:
        """Seconds, for video and audio (the container's duration, as ``GET /assets`` reports)."""
        value = self.technical_metadata.get("duration_seconds")
        return float(value) if isinstance(value, (int, float)) else None


# --- request rules -----------------------------------------------------------------------------


def _url_filename(url: str) -> str:
    return intake.safe_filename(unquote(urlparse(url).path)) if urlparse(url).path.strip("/") else "download"


def _guess_mime(filename: str) -> str:
    return mimetypes.guess_type(filename)[0] or "application/octet-stream"


# --- probing -----------------------------------------------------------------------------------


def probe_file(path: Path, filename: str) -> Probed:
    """What the file is (video, audio or image) and its technical metadata; raises MediaError with
    a reason a person can act on when it is none of them."""
    size = path.stat().st_size
    if size == 0:
        raise MediaError("The file is empty (0 bytes). Upload the file again as a new asset.")
    probed = _probe_image(path, size)
    if probed is not None:
        return probed
    try:
        return _probe_av(path, size, filename)
    except MediaError as exc:
        if str(exc) == NOT_MEDIA and _guess_mime(filename) in DOCUMENT_TYPES:
            raise MediaError(NO_DOCUMENTS) from None
        raise


def _probe_image(path: Path, size: int) -> Probed | None:
    """An image's metadata, or None when Pillow does not take the file for a still image."""
    try:
        with Image.open(path) as image:
            image_format = image.format or ""
            if image_format not in IMAGE_FORMATS:
                return None
            width, height = image.size
            technical: JsonObject = {
                "file_size_bytes": size,
                "file_mime_type": Image.MIME.get(image_format, f"image/{image_format.lower()}"),
                "image_width": width,
                "image_height": height,
                "image_format": image_format,
                "has_alpha": image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info,
                "is_animated": bool(getattr(image, "is_animated", False)),
            }
            orientation = image.getexif().get(0x0112)  # EXIF Orientation
            if isinstance(orientation, int):
                technical["image_orientation"] = orientation
    except Image.DecompressionBombError:
        load_image(path)  # raises MediaError naming the pixel limit
        raise MediaError(NOT_MEDIA) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return None
    load_image(path)  # decodes it whole: a truncated or oversized image fails here, with the reason
    mime = str(technical["file_mime_type"])
    return Probed("image", mime, technical, size, None)


def _rate(stream: av.video.stream.VideoStream) -> float | None:
    rate = stream.average_rate or stream.guessed_rate
    return round(float(rate), 3) if rate else None


def _probe_av(path: Path, size: int, filename: str) -> Probed:
    try:
        container = av.open(str(path), mode="r", metadata_errors="ignore")
    except av.error.FFmpegError:
        raise MediaError(NOT_MEDIA) from None
    with container:
        container_format = container.format.name
        pictures = [
            s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic
        ]
        sounds = list(container.streams.audio)
        if container_format == "tty":  # FFmpeg reads any text as ANSI art
            raise MediaError(NOT_MEDIA)
        fps = _rate(pictures[0]) if pictures else None
        audio_rate = sounds[0].codec_context.sample_rate if sounds else None
        audio_channels = sounds[0].codec_context.channels if sounds else None
    info = av_media.probe(path)  # duration, size and codecs, with its reasons for unusable files
    asset_type = "video" if pictures else "audio"
    technical: JsonObject = {
        "file_size_bytes": size,
        "file_container_format": container_format,
        "duration_seconds": round(info.duration, 3),
        "has_audio": bool(sounds),
        "total_video_streams": len(pictures),
        "total_audio_streams": len(sounds),
    }
    if pictures:
        technical |= {
            "video_codec": info.video_codec,
            "video_width": info.width,
            "video_height": info.height,
            "video_fps": fps,
            "video_duration_seconds": round(info.video_duration or info.duration, 3),
        }
    if sounds:
        technical |= {
            "audio_codec": info.audio_codec,
            "audio_sample_rate": audio_rate,
            "audio_channels": audio_channels,
            "audio_duration_seconds": round(info.duration, 3),
        }
    mime = _av_mime(asset_type, container_format, filename)
    technical["file_mime_type"] = mime
    return Probed(
        asset_type, mime, {k: v for k, v in technical.items() if v is not None}, size, info.duration
    )


def _av_mime(asset_type: str, container_format: str, filename: str) -> str:
    """The name's MIME type when it agrees with the content, else one from the container."""
    guessed = _guess_mime(filename)
    if guessed.split("/")[0] == asset_type:
        return guessed
    known = _CONTAINER_MIME.get(container_format)
    if known is not None:
        return f"{asset_type}/{known.split('/')[1]}"
    return f"{asset_type}/{container_format.split(',')[0]}"


# --- wire --------------------------------------------------------------------------------------


# --- the service -------------------------------------------------------------------------------


class AssetCore:
    """Assets over their store and the media store, with the worker threads that import and
    probe them (``start``)."""

    def __init__(
        self, settings: Settings, *, store: AssetStore, media_store: MediaStore, worker_threads: int = 2
    ) -> None:
        """Two worker threads by default, so a slow URL import does not hold up a probe (which
        takes milliseconds)."""
        self.settings = settings
        self.store = store
        self.media_store = media_store
        self._worker_threads = worker_threads
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []
        self._listeners: list[Callable[[str | None], None]] = []
        self._sweep_lock = threading.Lock()
        self._last_sweep = float("-inf")

    def on_settled(self, listener: Callable[[str | None], None]) -> None:
        """Calls ``listener(asset_id)`` once an asset's outcome (ready or failed) is recorded or
        the asset is deleted, and ``listener(None)`` when the workers start and then every
        ``SWEEP_SECONDS`` (a sweep over every asset: what a crash left undone). Embed v2
        starts or fails the tasks waiting for the asset with it. A listener's error is logged."""
        self._listeners.append(listener)
        with self._sweep_lock:
            self._last_sweep = float("-inf")  # the next idle worker sweeps for it at once

    def _notify(self, asset_id: str | None) -> None:
        for listener in self._listeners:
            try:
                listener(asset_id)
            except Exception:  # the database is busy or closing: the next sweep tries again
                if not self._stop.is_set():
                    log.exception("asset %s: a listener failed", asset_id or "(sweep)")

    def _sweep_if_due(self) -> None:
        """``_notify(None)`` if no worker of this process did it in the last ``SWEEP_SECONDS``."""
        with self._sweep_lock:
            now = time.monotonic()
            if now - self._last_sweep < SWEEP_SECONDS:
                return
            self._last_sweep = now
        self._notify(None)

    @property
    def assets_dir(self) -> Path:
        return self.settings.media_dir / "assets"

    def start(self) -> None:
        """Starts the workers; they first resume the assets a stopped process left processing."""
        self._stop.clear()
        for n in range(self._worker_threads):
            name = f"{socket.gethostname()}:{os.getpid()}:assets-{n}:{secrets.token_hex(3)}"
            thread = threading.Thread(target=self._loop, args=(name,), name=f"assets-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout=30)
        self._threads.clear()
        self.store.close()

    # --- create ---------------------------------------------------------------------------

    def create(self, owner: str, request: AssetRequest) -> AssetRecord:
        """The new asset, ``processing``: an upload stored under ``assets/<id>/``, or a URL
        (checked by the guard on input URLs) that a worker imports."""
        now = time.time()
        asset = AssetRecord(
            id=new_asset_id(),
            owner=owner,
            method=request.method,
            status="processing",
            filename="",
            file_type="",
            created_at=now,
            updated_at=now,
            user_metadata=request.user_metadata,
        )
        if request.url is not None:
            intake.check_url(request.url, self.settings.allow_local_urls, parameter="url", what="media")
            asset.source_url = request.url
            asset.filename = request.filename or _url_filename(request.url)
        else:
            assert request.file is not None
            asset.filename = request.filename or intake.describe_upload(request.file)
            asset.path, asset.size = self._save(asset.id, request.file, asset.filename)
        asset.file_type = _guess_mime(asset.filename)
        self.store.insert(asset)
        self._wake.set()
        return asset

    def _save(self, asset_id: str, file: FileInput, filename: str) -> tuple[str, int]:
        """The upload streamed into the media store: its location and size."""
        key = f"assets/{asset_id}/{intake.safe_filename(filename)}"
        try:
            written = self.media_store.save_upload(file, key, self.settings.max_upload_bytes, "file")
            if written == 0:
                raise errors.invalid("file", "The file is empty (0 bytes).")
        except BaseException:
            self.media_store.delete_prefix(f"assets/{asset_id}")
            raise
        return self.media_store.location(key), written

    # --- read, delete ---------------------------------------------------------------------

    def get(self, asset_id: str, owner: str | None) -> AssetRecord:
        """The asset in any state (``owner`` None: any owner's); 404 otherwise."""
        asset = self.store.get(asset_id, owner)
        if asset is None:
            raise errors.asset_not_found(asset_id)
        return asset

    def list(self, owner: str | None, query: AssetQuery) -> tuple[builtins.list[AssetRecord], int]:
        """One page of an owner's assets, newest first, and how many match in all."""
        offset = page_offset(query.page, query.limit)
        return self.store.list(
            owner, list(query.asset_ids), list(query.asset_types), query.filename, offset, query.limit
        )

    def delete(self, asset_id: str, owner: str | None = None) -> None:
        """Removes the record and the asset's file. A task's link (or copy) of the file, made by
        ``media``, and the vectors made from it stay."""
        asset = self.store.delete(asset_id, owner)
        if asset is None:
            raise errors.asset_not_found(asset_id)
        self.media_store.delete_prefix(f"assets/{asset.id}")
        self._notify(asset.id)  # a task waiting for it fails

    def media(self, asset_id: str, owner: str | None, target: Path) -> AssetMedia:
        """A ready asset's file at the local path ``target``: hard-linked from a local folder
        (copied across file systems), downloaded from S3. The copy outlives a later delete of the
        asset. Raises 404 as ``retrieve``, and 400 naming ``asset_id`` for an asset still
        processing or failed."""
        asset, path = self._ready(asset_id, owner)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            got = self.media_store.local_path(path, target.parent)
            if str(got) == path:  # the stored file itself (a local folder): link, never move it
                _link_or_copy(got, target)
            else:  # a copy downloaded for us
                os.replace(got, target)
        except (FileNotFoundError, MediaError):  # deleted since we read the record
            raise errors.asset_not_found(asset_id) from None
        return self._handed(asset, str(target))

    def copy_to(self, asset_id: str, owner: str | None, key: str) -> AssetMedia:
        """A ready asset's file copied to ``key`` of the media store, for a task that embeds it (a
        hard link in a local folder, a server-side copy in S3): the task's copy outlives a later
        delete of the asset. Errors as ``media``."""
        asset, path = self._ready(asset_id, owner)
        try:
            location = self.media_store.copy(path, key)
        except FileNotFoundError:  # deleted since we read the record
            raise errors.asset_not_found(asset_id) from None
        return self._handed(asset, location)

    @staticmethod
    def _handed(asset: AssetRecord, location: str) -> AssetMedia:
        assert asset.asset_type is not None
        return AssetMedia(location, asset.asset_type, asset.filename, dict(asset.technical_metadata or {}))

    def _ready(self, asset_id: str, owner: str | None) -> tuple[AssetRecord, str]:
        """A ready asset and its file's location; 404 or 400 (naming ``asset_id``) otherwise."""
        asset = self.get(asset_id, owner)
        if asset.status == "processing":
            raise errors.invalid(
                "asset_id",
                f"The asset {asset_id} is still processing: poll GET /assets/{asset_id} until its "
                "status is ready.",
            )
        if asset.status == "failed" or asset.path is None or asset.asset_type is None:
            raise errors.invalid(
                "asset_id",
                f"The asset {asset_id} failed to process ({asset.error}); it cannot be used. "
                "Create a new asset from a readable file.",
            )
        return asset, asset.path

    # --- workers --------------------------------------------------------------------------

    def _loop(self, worker: str) -> None:
        while not self._stop.is_set():
            self._sweep_if_due()  # idle or busy: what a crash left undone waits SWEEP_SECONDS at most
            try:
                asset = self.store.claim(worker, self.settings.lease_seconds, self.settings.max_attempts)
            except Exception:  # the database is closing or busy beyond its timeout: try again
                if self._stop.is_set():
                    return
                log.exception("claiming an asset failed")
                asset = None
            if asset is None:
                self._wake.wait(self.settings.poll_seconds)
                self._wake.clear()
                continue
            self._process(asset, worker)

    def _process(self, asset: AssetRecord, worker: str) -> None:
        log.info("asset %s: processing (attempt %d)", asset.id, asset.attempts)
        try:
            with self._lease(asset.id, worker):
                probed = self._probe_stored(asset, worker)
        except MediaError as exc:
            log.info("asset %s: failed: %s", asset.id, exc)
            self._settle(asset.id, self.store.fail(asset.id, worker, str(exc)))
            self._notify(asset.id)
            return
        except Exception as exc:  # a bug, or the service closing under us
            if self._stop.is_set():
                return  # the lease runs out and the next start resumes the asset
            log.exception("asset %s: unexpected error", asset.id)
            reason = f"Internal error ({type(exc).__name__}: {exc}). Create the asset again."
            self._settle(asset.id, self.store.fail(asset.id, worker, reason))
            self._notify(asset.id)
            return
        recorded = self.store.complete(asset.id, worker, probed)
        self._settle(asset.id, recorded)
        if recorded:
            log.info("asset %s: ready (%s, %d bytes)", asset.id, probed.asset_type, probed.size)
        self._notify(asset.id)  # the tasks waiting for it start (or fail: a type they cannot take)

    def _settle(self, asset_id: str, recorded: bool) -> None:
        """After an outcome could not be recorded: if the asset was deleted meanwhile, remove the
        files this worker may have written since (a lost lease means another worker has it)."""
        if not recorded and self.store.get(asset_id) is None:
            self.media_store.delete_prefix(f"assets/{asset_id}")

    def _probe_stored(self, asset: AssetRecord, worker: str) -> Probed:
        """Probes the asset's file, read in a scratch folder of this machine's (removed after);
        a URL import is downloaded there, probed, then moved into the media store."""
        root = self.settings.data_dir / "scratch"
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=f"asset-{asset.id}-", dir=root) as folder:
            if asset.path is not None:
                return self._probe(self.media_store.local_path(asset.path, Path(folder)), asset.filename)
            downloaded = self._download(asset, Path(folder) / intake.safe_filename(asset.filename))
            probed = self._probe(downloaded, asset.filename)
            key = f"assets/{asset.id}/{downloaded.name}"
            self.store.set_path(asset.id, worker, self.media_store.move_in(downloaded, key))
            return probed

    def _probe(self, path: Path, filename: str) -> Probed:
        """``probe_file`` in a child process that is killed past ``stall_seconds``: a file that
        hangs or crashes the decoder fails its asset with the reason, and the worker goes on."""
        limit = self.settings.stall_seconds
        try:
            return run_killable(probe_file, (path, filename), limit)
        except IsolatedTimeout:
            raise MediaError(
                f"Reading this file made no progress for {limit:g} s and was stopped: it is damaged, "
                "or not a complete media file. Upload a video, audio or image file."
            ) from None
        except IsolatedCrash:
            raise MediaError(
                "The decoder crashed while reading this file: it is damaged or in a format it cannot "
                "read. Upload a video, audio or image file such as MP4, MP3 or PNG."
            ) from None

    def _download(self, asset: AssetRecord, target: Path) -> Path:
        assert asset.source_url is not None
        try:
            intake.download(
                asset.source_url,
                target,
                max_bytes=self.settings.max_download_bytes,
                timeout=self.settings.download_timeout_seconds,
                max_redirects=self.settings.max_redirects,
                allow_local=self.settings.allow_local_urls,
                parameter="url",
                what="file",
            )
        except MediaError as exc:
            raise MediaError(f"{exc} {DOWNLOAD_HINT}") from None
        return target

    @contextmanager
    def _lease(self, asset_id: str, worker: str) -> Iterator[None]:
        """Renews the asset's lease every heartbeat while the block runs (a download may take
        minutes; the lease is ``lease_seconds``, 60 s by default)."""
        done = threading.Event()

        def renew() -> None:
            while not done.wait(self.settings.heartbeat_seconds):
                if not self.store.renew(asset_id, worker, self.settings.lease_seconds):
                    log.warning("asset %s: lease lost", asset_id)
                    return

        thread = threading.Thread(target=renew, name=f"lease-{asset_id}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()


def _link_or_copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.unlink(missing_ok=True)
    try:
        os.link(source, target)
    except FileNotFoundError:
        raise
    except OSError:  # EXDEV (another file system) or a file system without hard links
        shutil.copyfile(source, target)
