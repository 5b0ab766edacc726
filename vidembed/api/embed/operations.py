"""TwelveLabs' Embed API v1.3 over the core: ``/embed/tasks`` (create, status, retrieve, list),
``POST /embed`` (text, image and audio) and vidembed's own clip search (``POST /clips/search``).

Each operation takes the raw parameters (Python values from the embedded client, form strings from
the server), checks them by the rules of ``rules.py``, works through ``TaskCore`` and answers the
JSON shapes of ``wire.py``: the same code answers both the embedded client and the server.
"""

from __future__ import annotations

import builtins  # builtins.list: in TaskService, list names the method
import os
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vidembed import errors, intake
from vidembed.api.embed import wire
from vidembed.api.embed.rules import (
    AUDIO_WINDOW_SEC,
    CreateRequest,
    EmbedRequest,
    image_query_options,
    parse_create,
    parse_embed,
    parse_search_query,
)
from vidembed.api.rules import (
    option_list,
    parse_model_name,
    parse_task_query,
    parse_whole,
    requested_options,
)
from vidembed.config import Settings
from vidembed.executors.base import Executor
from vidembed.models.catalog import StackCatalog
from vidembed.models.stack import DEFAULT_STACK
from vidembed.records import FileInput, StoredSegment, TaskRecord
from vidembed.search.base import ClipSearch
from vidembed.segmentation import ClipParams
from vidembed.service.tasks import SearchOutcome, TaskCore
from vidembed.stores.base import MediaStore, TaskStore

MAX_SEARCH_RESULTS = 100


class TaskService:
    """The v1.3 surface. The core's parts are readable here too (``store``, ``settings``...): the
    CLI and the tests look at them through the service they hold."""

    def __init__(self, core: TaskCore) -> None:
        self.core = core

    @property
    def settings(self) -> Settings:
        return self.core.settings

    @property
    def catalog(self) -> StackCatalog:
        return self.core.catalog

    @property
    def store(self) -> TaskStore:
        return self.core.store

    @property
    def media_store(self) -> MediaStore:
        return self.core.media_store

    @property
    def workers(self) -> Executor:
        return self.core.workers

    @property
    def indexes(self) -> ClipSearch:
        return self.core.indexes

    def close(self) -> None:
        self.core.close()

    # --- tasks ----------------------------------------------------------------------------

    def create(
        self,
        *,
        owner: str = "",
        model_name: Any = None,
        video_file: Any = None,
        video_url: Any = None,
        video_start_offset_sec: Any = None,
        video_end_offset_sec: Any = None,
        video_clip_length: Any = None,
        video_embedding_scope: Any = None,
        embedding_option: Any = None,
        video_segmentation: Any = None,
        video_min_duration_sec: Any = None,
    ) -> dict[str, Any]:
        """Our extensions: ``embedding_option`` (as in Embed v2) computes only these options;
        ``video_segmentation=dynamic`` cuts clips at shot boundaries, each at least
        ``video_min_duration_sec`` long (v2's dynamic segmentation)."""
        request = parse_create(
            model_name=model_name,
            known_models=self.catalog.known_names(),
            video_url=video_url,
            has_file=video_file is not None,
            video_start_offset_sec=video_start_offset_sec,
            video_end_offset_sec=video_end_offset_sec,
            video_clip_length=video_clip_length,
            video_embedding_scope=video_embedding_scope,
            video_segmentation=video_segmentation,
            video_min_duration_sec=video_min_duration_sec,
        )
        task = self._submit(owner, request, requested_options(embedding_option), video_file)
        return {"_id": task.id}

    def _submit(
        self,
        owner: str,
        request: CreateRequest,
        options: builtins.list[str],
        video_file: Any,
        task_id: str | None = None,
    ) -> TaskRecord:
        self.core.admit(owner)
        task = self.core.new_task(owner, request.model_name, request.clip, options)
        if task_id is not None:
            task.id = task_id
        if request.video_url is not None:
            self.core.check_url(request.video_url)
            task.input_url = request.video_url
        else:
            image_format = intake.still_image_upload(video_file)
            if image_format is not None:
                raise errors.still_image_as_video("video_file", image_format)
            self.core.save_upload(task, video_file, "video_file")
        self.core.submit(task)
        return task

    def create_once(
        self, source: str, *, force: bool = False, owner: str = "", **fields: Any
    ) -> tuple[str, str]:
        """``create`` for the CLI, which must not embed the same video twice: ``source`` (a local
        path or a URL) with the same stack, clip parameters and options is one task whose id is
        ``intake.fingerprint`` (the rule ``vidembed batch`` identifies videos by). Returns the task
        id and what became of it: ``ready`` (done before: nothing to embed), ``processing`` (an
        earlier run's, resumed by this process's workers), ``created`` (new, or a failed one made
        again). ``force``: a new task with an id of its own, whatever exists."""
        is_url = "://" in source
        if not is_url:
            source = str(Path(source).resolve())
        options = requested_options(fields.pop("embedding_option", None))
        request = parse_create(
            model_name=fields.pop("model_name", None),
            known_models=self.catalog.known_names(),
            video_url=source if is_url else None,
            has_file=not is_url,
            **fields,
        )
        key = intake.fingerprint(source, self.catalog.resolve(request.model_name), request.clip, options)
        existing = self.store.get(key)
        if force or (existing is not None and existing.api != "v1.3"):
            return self._submit(owner, request, options, source).id, "created"
        if existing is not None and existing.status != "failed":
            if existing.status == "processing":
                hand_back_if_holder_died(self.store, key)
            self.core.workers.wake()  # a processing one: our workers claim it once its lease is free
            return key, existing.status
        if existing is not None:  # failed: made again
            self.store.delete(key)
            self.media_store.delete_prefix(key)
        return self._submit(owner, request, options, source, task_id=key).id, "created"

    def status(self, task_id: str, owner: str | None = None) -> dict[str, Any]:
        return wire.task_summary(self.core.task(task_id, owner, "v1.3"))

    def retrieve(
        self, task_id: str, owner: str | None = None, embedding_option: str | Sequence[str] | None = None
    ) -> dict[str, Any]:
        task = self.core.task(task_id, owner, "v1.3")
        options = option_list(embedding_option)
        unknown = [o for o in options if o not in task.options]
        if unknown:
            raise errors.invalid(
                "embedding_option", f"Available options for this task: {', '.join(task.options)}."
            )
        return wire.task_retrieve(task, self.core.segments(task, options))

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
        tasks, total = self.core.list(owner, query, "v1.3")
        return wire.task_list(tasks, query.page, query.limit, total)

    # --- text, images and audio -----------------------------------------------------------

    def embed(
        self,
        *,
        owner: str = "",
        model_name: object = None,
        text: object = None,
        image_file: FileInput | None = None,
        image_url: object = None,
        audio_url: object = None,
        audio_file: FileInput | None = None,
        audio_start_offset_sec: object = None,
    ) -> dict[str, Any]:
        """``POST /embed``: any of text, an image (``image_file`` or ``image_url``) and audio
        (``audio_file`` or ``audio_url``), each in the stack's space: text by its text encoder, an
        image by its visual encoder as a clip that shows only that picture (so it compares with the
        visual option), audio by its audio encoder over 10 s from ``audio_start_offset_sec`` (so it
        compares with the audio option)."""
        request = parse_embed(
            model_name=model_name,
            known_models=self.catalog.known_names(),
            text=text,
            image_url=image_url,
            has_image_file=image_file is not None,
            audio_url=audio_url,
            has_audio_file=audio_file is not None,
            audio_start_offset_sec=audio_start_offset_sec,
        )
        image, source = None, None
        if request.image_url is not None:
            picture = self.core.query_image("image_url", url=request.image_url)
            image = self.core.embed_picture(request.model_name, picture)
            source = {"input_url": request.image_url}
        elif image_file is not None:
            picture = self.core.query_image("image_file", upload=image_file)
            image = self.core.embed_picture(request.model_name, picture)
            source = {"input_filename": intake.describe_upload(image_file)}
        audio = self._embed_audio(owner, request, audio_file) if request.has_audio else None
        text_vector = None
        if request.text is not None:
            text_vector = self.core.embed_text(request.model_name, request.text)
        return wire.embedding(
            request.model_name, text=text_vector, image=image, image_source=source, audio=audio
        )

    def _embed_audio(
        self, owner: str, request: EmbedRequest, audio_file: FileInput | None
    ) -> wire.AudioEmbedding:
        """The audio of ``POST /embed``: one window of AUDIO_WINDOW_SEC, run as a synchronous task
        by the same engine as every task (in a worker's process, under its stall guard)."""
        parameter = "audio_url" if request.audio_url is not None else "audio_file"
        clip = ClipParams(clip_length=AUDIO_WINDOW_SEC, start=request.audio_start, strategy="window")
        self.core.admit(owner)
        task = self.core.new_task(owner, request.model_name, clip, ["audio"], api="v2-sync")
        task.input_type = "audio"
        with self.core.synchronous_task(task) as folder:
            path = self.core.fetch(
                parameter, folder / "audio", "audio", upload=audio_file, url=request.audio_url
            )
            self.core.stage(task, path)
            done, segments = self.core.run_and_wait(task)
        if done.status == "failed":
            raise errors.invalid(parameter, done.error)
        clip_segment = next(s for s in segments if s.scope == "clip")
        if request.audio_url is not None:
            where = {"input_url": request.audio_url}
        else:
            where = {"input_filename": intake.describe_upload(audio_file)}
        return wire.AudioEmbedding(clip_segment.vector, clip_segment.start, clip_segment.end, where)

    # --- clip search (vidembed's own endpoint) --------------------------------------------

    def models(self) -> builtins.list[dict[str, Any]]:
        return self.core.models()

    def search(
        self,
        text: str | None = None,
        *,
        image: np.ndarray | None = None,
        owner: str | None = None,
        model_name: str = DEFAULT_STACK,
        task_id: str | None = None,
        options: Sequence[str] | None = None,
        top: int = 5,
    ) -> SearchOutcome:
        """``TaskCore.search``: clips ranked per option and fused (the CLI's and the tests' way in)."""
        return self.core.search(
            text, image=image, owner=owner, model_name=model_name, task_id=task_id, options=options, top=top
        )

    def search_clips(
        self,
        owner: str | None = None,
        *,
        query_text: Any = None,
        query_image: FileInput | None = None,
        model_name: Any = None,
        task_id: Any = None,
        embedding_option: Any = None,
        page_limit: Any = None,
    ) -> dict[str, Any]:
        """The wire form of ``search``: raw parameters validated, hits as JSON (vidembed's own
        endpoint, not part of the TwelveLabs API). The query is a text (``query_text``) or an
        image file (``query_image``); an image ranks the visual option only."""
        text = parse_search_query(query_text, query_image is not None)
        model = parse_model_name(model_name or DEFAULT_STACK, self.catalog.known_names())
        limit = parse_whole("page_limit", page_limit, 5, minimum=1, maximum=MAX_SEARCH_RESULTS)
        image, image_name = None, None
        if text is None:
            asked = requested_options(embedding_option) if option_list(embedding_option) else None
            options = image_query_options(asked)
            image = self.core.query_image("query_image", upload=query_image)
            image_name = intake.describe_upload(query_image)
        else:
            options = requested_options(embedding_option)
        found = self.search(
            text,
            image=image,
            owner=owner,
            model_name=model,
            task_id=task_id or None,
            options=options,
            top=limit,
        )
        return wire.clip_search(
            text, model, found.ranked, found.sources, found.left_out, query_image=image_name
        )

    # --- for tests and tools that drive tasks directly ------------------------------------

    def new_task(
        self,
        owner: str,
        model_name: str,
        params: ClipParams,
        options: builtins.list[str],
        api: str = "v1.3",
    ) -> TaskRecord:
        return self.core.new_task(owner, model_name, params, options, api)

    def submit(self, task: TaskRecord) -> None:
        self.core.submit(task)

    def segments(self, task: TaskRecord) -> builtins.list[StoredSegment]:
        return self.core.segments(task)


def hand_back_if_holder_died(store: TaskStore, task_id: str) -> bool:
    """Hands a processing task back now (``give_back``) when the worker whose lease it is under
    was a process of this machine that no longer runs (a ``vidembed embed`` killed outright),
    rather than when its lease runs out. Workers are named ``host:pid:...``; a live process, one
    of another machine or another user, or a name of another form, is left alone."""
    holder = store.lease_holder(task_id)
    if holder is None:
        return False
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
        return False  # it runs
    except PermissionError:
        return False  # it runs, as another user
    except ProcessLookupError:
        return store.give_back(task_id, holder, "interrupted")
