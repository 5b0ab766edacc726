"""Embed API v2: ``POST /embed-v2`` (synchronous) and ``/embed-v2/tasks`` (asynchronous).

A v2 task is a task like any other, with another wire format: the same store, leases, workers and
engine as v1.3 (``TaskCore``), recorded with ``api="v2"``. The synchronous route embeds text
and images in the request; its audio and video run as a task (``api="v2-sync"``, claimed before
any other) that the request waits for, answers from and then deletes, so a crash mid-request loses
nothing but that request. Inputs come from a URL (fetched under the same guards as v1.3's), base64
in the body, or an asset; all but URLs go into the media store under the task's key (an asset's
file as a hard link or a server-side copy, so deleting the asset later leaves the task whole).

An asset still processing is waited for, as TwelveLabs' API does: the synchronous route polls it
within its wait; a task is stored at the stage ``WAITING_FOR_ASSET`` with no source, which no
worker claims, until ``settle_waiting`` (called by the asset workers once the asset's outcome is
recorded, and by their periodic sweep on every server) copies the asset's file for it and lets it
run, or fails it with the asset's reason (docs/EMBED_V2.md).
"""

from __future__ import annotations

import logging
import secrets
import time
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from vidembed import errors, intake
from vidembed.api.embed_v2 import wire as wire_v2
from vidembed.api.embed_v2.rules import (
    DEFAULT_OPTIONS_35,
    MAX_MULTI_MEDIA_SEC,
    MAX_SYNC_MEDIA_SEC,
    AsyncRequest,
    MediaRequest,
    MediaSource,
    SyncRequest,
    parse_async,
    parse_sync,
)
from vidembed.api.rules import parse_task_query
from vidembed.engine.media import probe
from vidembed.engine.still import load_image
from vidembed.models.runtime import l2_normalise
from vidembed.records import AssetRecord, TaskRecord, V2Output
from vidembed.segmentation import DEFAULT_CLIP_SEC, ClipParams
from vidembed.service.tasks import TaskCore
from vidembed.stores.base import WAITING_FOR_ASSET

log = logging.getLogger("vidembed.embed_v2")
ASSET_POLL_SECONDS = 0.1  # how often the synchronous route looks at an asset it waits for


class LinkedMedia(Protocol):
    """An asset's file copied for a task (``AssetCore.media``: a local path; ``copy_to``: a
    media store location)."""

    @property
    def location(self) -> str: ...
    @property
    def path(self) -> Path: ...
    @property
    def asset_type(self) -> str: ...
    @property
    def filename(self) -> str: ...
    @property
    def duration(self) -> float | None: ...


class AssetSource(Protocol):
    def get(self, asset_id: str, owner: str | None) -> AssetRecord: ...
    def media(self, asset_id: str, owner: str | None, target: Path) -> LinkedMedia: ...
    def copy_to(self, asset_id: str, owner: str | None, key: str) -> LinkedMedia: ...


class EmbedV2Service:
    def __init__(self, tasks: TaskCore, assets: AssetSource | None = None) -> None:
        self.tasks = tasks
        self.assets = assets

    def model_names(self) -> list[str]:
        """The model names the bodies' model_name takes (stacks and their aliases)."""
        return self.tasks.catalog.known_names()

    def _dimension(self, model_name: str) -> int:
        return self.tasks.catalog.text_encoder(model_name).dimension

    # --- POST /embed-v2 --------------------------------------------------------------------

    def create(self, body: object, owner: str = "") -> dict[str, Any]:
        """The synchronous route: the embeddings in the response."""
        request = parse_sync(body, self.model_names(), self._dimension)
        if request.media is not None:
            return self._embed_media_now(request.model_name, request.media, owner)
        return self._embed_still(request, owner)

    def _embed_still(self, request: SyncRequest, owner: str) -> dict[str, Any]:
        vectors: list[np.ndarray] = []
        source: dict[str, str] = {}
        if request.text is not None:
            vectors.append(self.tasks.catalog.text_encoder(request.model_name).encode([request.text])[0])
        sources = ([("image", request.image)] if request.image is not None else []) + list(request.sources)
        for kind, where in sources:
            if kind != "image":  # multi_input's audio or video: its asset vector
                vectors.append(self._media_source_vector(request.model_name, kind, where, owner))
                continue
            picture, found = self._picture(where, owner)
            source = source or found  # text_image and image: where the picture came from
            vectors.append(self.tasks.embed_picture(request.model_name, picture))
        # text_image and multi_input: one vector for all, the normalised mean of the unit vectors
        # (each is in the stack's space, so their mean is too); docs/EMBED_V2.md.
        vector = vectors[0] if len(vectors) == 1 else l2_normalise(np.sum(vectors, axis=0))
        if request.input_type == "multi_input":
            source = {}
        return wire_v2.still_response(request.input_type, vector, source)

    def _media_source_vector(self, model_name: str, kind: str, source: MediaSource, owner: str) -> np.ndarray:
        """A multi_input's audio or video source (at most 30 s) as one vector: its asset vectors
        of Marengo 3.5's default options (video: visual and audio; audio: audio), fixed 6 s
        clips, their normalised mean."""
        options = DEFAULT_OPTIONS_35[kind]
        clip = ClipParams(DEFAULT_CLIP_SEC, scopes=("clip", "video"))
        media = MediaRequest(kind, source, clip, options, ("asset",), ("separate_embedding",))
        body = self._embed_media_now(model_name, media, owner, MAX_MULTI_MEDIA_SEC)
        found = [np.asarray(d["embedding"], dtype=np.float32) for d in body["data"]]
        if not found:
            raise errors.invalid(source.parameter, f"The {kind} gave no embedding.")
        return l2_normalise(np.sum(found, axis=0))

    def _picture(self, image: MediaSource, owner: str) -> tuple[np.ndarray, dict[str, str]]:
        parameter = image.parameter
        if image.url is not None:
            return self.tasks.query_image(f"{parameter}.url", url=image.url), {"input_url": image.url}
        if image.data is not None:
            return self.tasks.query_image(f"{parameter}.base64_string", upload=image.data), {}
        assert image.asset_id is not None
        self._await_asset(image.asset_id, owner, time.monotonic() + self.tasks.settings.sync_wait_seconds)
        with self.tasks.scratch_folder() as folder:
            linked = self._asset(image.asset_id, owner, folder / "asset")
            if linked.asset_type != "image":
                kind = linked.asset_type
                raise errors.invalid(
                    f"{parameter}.asset_id", f"The asset {image.asset_id} is a {kind}, not an image."
                )
            try:
                return load_image(linked.path), {"input_filename": linked.filename}
            except errors.MediaError as exc:
                raise errors.invalid(f"{parameter}.asset_id", str(exc)) from None

    def _asset(self, asset_id: str, owner: str, target: Path) -> LinkedMedia:
        return self._asset_source().media(asset_id, owner, target)

    def _asset_source(self) -> AssetSource:
        if self.assets is None:
            raise errors.invalid("asset_id", "This service was started without assets.")
        return self.assets

    def _await_asset(self, asset_id: str, owner: str, deadline: float) -> None:
        """Returns once the asset is no longer processing (the synchronous route, within its
        wait: 408 past ``deadline``); 404 for an unknown asset."""
        source = self._asset_source()
        while source.get(asset_id, owner).status == "processing":
            if time.monotonic() > deadline:
                raise errors.sync_timed_out(self.tasks.settings.sync_wait_seconds, WAITING_FOR_ASSET)
            time.sleep(ASSET_POLL_SECONDS)

    def _embed_media_now(
        self, model_name: str, media: MediaRequest, owner: str, max_sec: float = MAX_SYNC_MEDIA_SEC
    ) -> dict[str, Any]:
        """Audio or video on the synchronous route: fetched and probed here (media longer than
        ``max_sec``, 10 minutes, is refused before any work), then embedded as a task that this
        call waits for."""
        self.tasks.admit(owner)
        deadline = time.monotonic() + self.tasks.settings.sync_wait_seconds
        task = self._media_task(model_name, media, owner, "v2-sync")
        with self.tasks.synchronous_task(task) as folder:
            source = media.source
            if source.asset_id is not None:  # copied in the store; its length known from its probe
                self._await_asset(source.asset_id, owner, deadline)
                self._check_sync_length(self._asset_input(task, media, owner).duration, media, max_sec)
            else:
                if source.url is not None:
                    path = self.tasks.fetch(
                        f"{source.parameter}.url", folder / "download", media.input_type, url=source.url
                    )
                else:
                    assert source.data is not None
                    path = folder / "upload"
                    path.write_bytes(source.data)
                self._check_sync_length(self._probed_duration(path, media), media, max_sec)
                self.tasks.stage(task, path)
            done, segments = self.tasks.run_and_wait(task, deadline)
        if done.status == "failed":
            raise errors.BadRequestError(done.error or "The media could not be embedded.")
        return wire_v2.media_response(done, segments)

    def _store_source(self, task: TaskRecord, media: MediaRequest, owner: str) -> None:
        """Base64 bytes or an asset's file into the media store under the task's key, as the
        task's source (URLs are the worker's job). An asset still processing leaves the task at
        the stage ``WAITING_FOR_ASSET``, with no source yet."""
        source = media.source
        if source.asset_id is not None:
            asset = self._asset_source().get(source.asset_id, owner)  # 404 for another key's
            if asset.status == "processing":
                task.asset_id, task.stage = source.asset_id, WAITING_FOR_ASSET
                task.input_filename = asset.filename
                return
            self._asset_input(task, media, owner)
            return
        assert source.data is not None
        key = f"{task.id}/upload"
        limit = self.tasks.settings.max_upload_bytes
        self.tasks.media_store.save_upload(source.data, key, limit, f"{source.parameter}.base64_string")
        task.source_path = self.tasks.media_store.location(key)

    def _asset_input(self, task: TaskRecord, media: MediaRequest, owner: str) -> LinkedMedia:
        """The asset of ``media`` copied under the task's key, as the task's source, if its type
        suits ``input_type``."""
        source = media.source
        assert source.asset_id is not None
        linked = self._copy_asset(task.id, source.asset_id, owner, media.input_type, source.parameter)
        task.asset_id = source.asset_id
        task.input_filename = linked.filename
        task.source_path = linked.location
        return linked

    def _copy_asset(
        self, task_id: str, asset_id: str, owner: str, input_type: str, parameter: str, folder: str = ""
    ) -> LinkedMedia:
        """A ready asset's file copied under the task's key (in ``folder`` of it, when given), if
        its type suits ``input_type`` (400 naming ``parameter``.asset_id otherwise, as for an
        asset processing or failed)."""
        prefix = f"{task_id}/{folder}" if folder else task_id
        linked = self._asset_source().copy_to(asset_id, owner, f"{prefix}/asset")
        allowed = ("video",) if input_type == "video" else ("audio", "video")
        if linked.asset_type not in allowed:
            self.tasks.media_store.delete_prefix(prefix)
            raise errors.invalid(
                f"{parameter}.asset_id",
                f"The asset {asset_id} is a {linked.asset_type}; input_type {input_type} "
                f"takes {' or '.join(allowed)} assets.",
            )
        return linked

    # --- tasks waiting for their asset ---------------------------------------------------

    def settle_waiting(self, asset_id: str | None = None) -> None:
        """Starts or fails the tasks waiting for ``asset_id`` (for any asset when None) whose asset
        is no longer processing: a ready asset's file is copied for the task, which then runs; a
        failed (or deleted) asset, or one of a type the task cannot take, fails the task with the
        reason. Safe to call from any number of servers at once: a task is started or failed by
        one of them only (``start_waiting`` and ``fail_waiting`` change only a waiting task)."""
        try:
            waiting = self.tasks.store.waiting_for_asset(asset_id)
        except Exception:  # the database is busy: the asset workers' next sweep tries again
            log.exception("tasks waiting for asset %s could not be read", asset_id or "(any)")
            return
        for task in waiting:
            try:
                self._settle(task)
            except Exception:  # the next sweep tries again
                log.exception("task %s: could not be settled with its asset %s", task.id, task.asset_id)

    def _settle(self, task: TaskRecord) -> None:
        assert task.asset_id is not None
        source = self._asset_source()
        try:
            asset: AssetRecord | None = source.get(task.asset_id, task.owner)
        except errors.NotFoundError:
            asset = None
        if asset is not None and asset.status == "processing":
            return
        if asset is None:
            reason = f"The asset {task.asset_id} was deleted before it was ready; the task cannot run."
        elif asset.status == "failed":
            reason = f"The asset {task.asset_id} failed to process: {asset.error}"
        else:
            parameter = f"{task.input_type}.media_source"
            # a folder of this settler's own: another server settling the same task at the same
            # instant never replaces the file under a worker that already reads it
            folder = f"from-asset-{secrets.token_hex(4)}"
            try:
                linked = self._copy_asset(
                    task.id, task.asset_id, task.owner, task.input_type, parameter, folder
                )
            except errors.ApiError as exc:
                reason = exc.message
            else:
                if self.tasks.store.start_waiting(task.id, linked.location, linked.filename):
                    log.info("task %s: its asset %s is ready; queued", task.id, task.asset_id)
                    self.tasks.workers.wake()
                else:  # another server started (or failed) it first, with a copy of its own
                    self.tasks.media_store.delete_prefix(f"{task.id}/{folder}")
                return
        if self.tasks.store.fail_waiting(task.id, reason):
            log.info("task %s: failed: %s", task.id, reason)

    @staticmethod
    def _probed_duration(path: Path, media: MediaRequest) -> float:
        try:
            return probe(path).duration
        except errors.MediaError as exc:
            raise errors.invalid(media.source.parameter, str(exc)) from None

    def _check_sync_length(
        self, duration: float | None, media: MediaRequest, max_sec: float = MAX_SYNC_MEDIA_SEC
    ) -> None:
        if duration is None:  # an asset probed without a duration: the engine's own limit holds
            return
        start = media.clip.start or 0.0
        end = min(duration, media.clip.end) if media.clip.end is not None else duration
        if max_sec < MAX_SYNC_MEDIA_SEC and end - start > max_sec + 1e-6:
            raise errors.invalid(
                media.source.parameter,
                f"The {media.input_type} is {end - start:.1f} s long; a multi_input source takes at "
                f"most {max_sec:g} s (embed it alone with input_type {media.input_type}).",
            )
        if end - start > MAX_SYNC_MEDIA_SEC + 1e-6:
            raise errors.invalid(
                media.input_type,
                f"The {media.input_type} to embed is {end - start:.1f} s long; POST /embed-v2 embeds at most "
                f"{MAX_SYNC_MEDIA_SEC / 60:g} minutes. Use POST /embed-v2/tasks "
                "(client.embed.v_2.tasks.create) for longer media, or set start_sec and end_sec.",
            )

    def _media_task(self, model_name: str, media: MediaRequest, owner: str, api: str) -> TaskRecord:
        task = self.tasks.new_task(owner, model_name, media.clip, list(media.options), api=api)
        task.v2 = V2Output(media.scopes, media.embedding_types)
        task.input_type = media.input_type
        if media.source.url is not None:
            task.input_url = media.source.url
        return task

    # --- /embed-v2/tasks -------------------------------------------------------------------

    def create_task(self, body: object, owner: str = "") -> dict[str, Any]:
        """``POST /embed-v2/tasks``: a task for audio or video, answered at once."""
        request: AsyncRequest = parse_async(body, self.model_names(), self._dimension)
        if request.image is not None:
            return self._image_task(request.model_name, request.image, owner)
        media = request.media
        assert media is not None
        self.tasks.admit(owner)
        task = self._media_task(request.model_name, media, owner, "v2")
        source = media.source
        if source.url is not None:
            intake.check_url(
                source.url, self.tasks.settings.allow_local_urls, f"{source.parameter}.url", media.input_type
            )
        else:
            self._store_source(task, media, owner)
        self.tasks.submit(task)
        if task.stage == WAITING_FOR_ASSET:  # the asset may have become ready since it was read
            self.settle_waiting(task.asset_id)
        return {"_id": task.id, "status": "processing", "data": None}

    def _image_task(self, model_name: str, image: MediaSource, owner: str) -> dict[str, Any]:
        """An image task: the picture is embedded here (as ``POST /embed-v2`` does; an image asset
        still processing is waited for, within the synchronous wait) and the task stored ready
        at once with its one vector (option ``visual``, scope ``asset``)."""
        self.tasks.admit(owner)
        picture, source = self._picture(image, owner)
        vector = self.tasks.embed_picture(model_name, picture)
        task = self.tasks.new_task(owner, model_name, ClipParams(scopes=("video",)), ["visual"], api="v2")
        task.v2 = V2Output(("asset",), ("separate_embedding",))
        task.input_type = "image"
        task.input_url = source.get("input_url")
        task.input_filename = source.get("input_filename")
        task.asset_id = image.asset_id
        self.tasks.store_finished(task, [("visual", "video", 0.0, 0.0, vector)])
        return {"_id": task.id, "status": "processing", "data": None}

    def retrieve(self, task_id: str, owner: str | None = None) -> dict[str, Any]:
        task = self.tasks.task(task_id, owner, "v2")
        segments = self.tasks.segments(task)
        return wire_v2.task_response(task, segments)

    def list(
        self,
        owner: str | None = None,
        *,
        started_at: Any = None,
        ended_at: Any = None,
        status: Any = None,
        page: Any = None,
        page_limit: Any = None,
    ) -> dict[str, Any]:
        query = parse_task_query(status, started_at, ended_at, page, page_limit)
        tasks, total = self.tasks.list(owner, query, "v2")
        return wire_v2.task_list(tasks, query.page, query.limit, total)
