"""Embed API v2: ``POST /embed-v2`` (synchronous) and ``/embed-v2/tasks`` (asynchronous).

A v2 task is a task like any other, with another wire format: the same store, leases, workers and
engine as v1.3 (``TaskCore``), recorded with ``api="v2"``. The synchronous route embeds text
and images in the request; its audio and video run as a task (``api="v2-sync"``, claimed before
any other) that the request waits for, answers from and then deletes, so a crash mid-request loses
nothing but that request. Inputs come from a URL (fetched under the same guards as v1.3's), base64
in the body, or an asset; all but URLs go into the media store under the task's key (an asset's
file as a hard link or a server-side copy, so deleting the asset later leaves the task whole).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np

from vidembed import errors, intake
from vidembed.api.embed_v2 import wire as wire_v2
from vidembed.api.embed_v2.rules import (
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
from vidembed.records import TaskRecord, V2Output
from vidembed.service.tasks import TaskCore


class LinkedMedia(Protocol):
    """An asset's file copied for a task (``AssetService.media``: a local path; ``copy_to``: a
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
    def media(self, asset_id: str, owner: str | None, target: Path) -> LinkedMedia: ...
    def copy_to(self, asset_id: str, owner: str | None, key: str) -> LinkedMedia: ...


class EmbedV2Service:
    def __init__(self, tasks: TaskCore, assets: AssetSource | None = None) -> None:
        self.tasks = tasks
        self.assets = assets

    def _dimension(self, model_name: str) -> int:
        return self.tasks.catalog.text_encoder(model_name).dimension

    # --- POST /embed-v2 --------------------------------------------------------------------

    def create(self, body: object, owner: str = "") -> dict[str, Any]:
        """The synchronous route: the embeddings in the response."""
        request = parse_sync(body, self.tasks.catalog.known_names(), self._dimension)
        if request.media is not None:
            return self._embed_media_now(request.model_name, request.media, owner)
        return self._embed_still(request, owner)

    def _embed_still(self, request: SyncRequest, owner: str) -> dict[str, Any]:
        text_vector = image_vector = None
        source: dict[str, str] = {}
        if request.text is not None:
            text_vector = self.tasks.catalog.text_encoder(request.model_name).encode([request.text])[0]
        if request.image is not None:
            picture, source = self._picture(request.image, owner)
            image_vector = self.tasks.embed_picture(request.model_name, picture)
        vector: np.ndarray | None
        if text_vector is not None and image_vector is not None:
            # text_image: one vector for both, the mean of the two unit vectors (each is in the
            # stack's space, so their mean is too); documented in the README.
            vector = l2_normalise(text_vector + image_vector)
        else:
            vector = text_vector if text_vector is not None else image_vector
        assert vector is not None
        return wire_v2.still_response(request.input_type, vector, source)

    def _picture(self, image: MediaSource, owner: str) -> tuple[np.ndarray, dict[str, str]]:
        parameter = image.parameter
        if image.url is not None:
            return self.tasks.query_image(f"{parameter}.url", url=image.url), {"input_url": image.url}
        if image.data is not None:
            return self.tasks.query_image(f"{parameter}.base64_string", upload=image.data), {}
        assert image.asset_id is not None
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

    def _embed_media_now(self, model_name: str, media: MediaRequest, owner: str) -> dict[str, Any]:
        """Audio or video on the synchronous route: fetched and probed here (media longer than 10
        minutes is refused before any work), then embedded as a task that this call waits for."""
        self.tasks.admit(owner)
        task = self._media_task(model_name, media, owner, "v2-sync")
        with self.tasks.synchronous_task(task) as folder:
            source = media.source
            if source.asset_id is not None:  # copied in the store; its length known from its probe
                self._check_sync_length(self._asset_input(task, media, owner).duration, media)
            else:
                if source.url is not None:
                    path = self.tasks.fetch(
                        f"{source.parameter}.url", folder / "download", media.input_type, url=source.url
                    )
                else:
                    assert source.data is not None
                    path = folder / "upload"
                    path.write_bytes(source.data)
                self._check_sync_length(self._probed_duration(path, media), media)
                self.tasks.stage(task, path)
            done, segments = self.tasks.run_and_wait(task)
        if done.status == "failed":
            raise errors.BadRequestError(done.error or "The media could not be embedded.")
        return wire_v2.media_response(done, segments)

    def _store_source(self, task: TaskRecord, media: MediaRequest, owner: str) -> None:
        """Base64 bytes or an asset's file into the media store under the task's key, as the
        task's source (URLs are the worker's job)."""
        source = media.source
        if source.data is None:
            self._asset_input(task, media, owner)
            return
        key = f"{task.id}/upload"
        limit = self.tasks.settings.max_upload_bytes
        self.tasks.media_store.save_upload(source.data, key, limit, f"{source.parameter}.base64_string")
        task.source_path = self.tasks.media_store.location(key)

    def _asset_input(self, task: TaskRecord, media: MediaRequest, owner: str) -> LinkedMedia:
        """The asset of ``media`` copied under the task's key, as the task's source, if its type
        suits ``input_type``."""
        source = media.source
        assert source.asset_id is not None
        linked = self._asset_source().copy_to(source.asset_id, owner, f"{task.id}/asset")
        allowed = ("video",) if media.input_type == "video" else ("audio", "video")
        if linked.asset_type not in allowed:
            raise errors.invalid(
                f"{source.parameter}.asset_id",
                f"The asset {source.asset_id} is a {linked.asset_type}; input_type {media.input_type} "
                f"takes {' or '.join(allowed)} assets.",
            )
        task.asset_id = source.asset_id
        task.input_filename = linked.filename
        task.source_path = linked.location
        return linked

    @staticmethod
    def _probed_duration(path: Path, media: MediaRequest) -> float:
        try:
            return probe(path).duration
        except errors.MediaError as exc:
            raise errors.invalid(media.source.parameter, str(exc)) from None

    def _check_sync_length(self, duration: float | None, media: MediaRequest) -> None:
        if duration is None:  # an asset probed without a duration: the engine's own limit holds
            return
        start = media.clip.start or 0.0
        end = min(duration, media.clip.end) if media.clip.end is not None else duration
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
        request: AsyncRequest = parse_async(body, self.tasks.catalog.known_names(), self._dimension)
        media = request.media
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
