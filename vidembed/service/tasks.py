"""TaskService: create, inspect and list embedding tasks; used by the embedded client and the server."""

from __future__ import annotations

import builtins  # builtins.list: in TaskService, list names the method
import secrets
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vidembed import errors, intake
from vidembed.api.embed import wire
from vidembed.api.embed.rules import (
    AUDIO_WINDOW_SEC,
    IMAGE_QUERY_OPTIONS,
    EmbedRequest,
    image_query_options,
    parse_create,
    parse_embed,
    parse_search_query,
)
from vidembed.api.rules import parse_model_name, parse_page, parse_whole
from vidembed.config import Settings
from vidembed.engine.still import embed_image, load_image
from vidembed.executors.base import Executor
from vidembed.executors.open import make_executor
from vidembed.models.stack import DEFAULT_STACK, OPTIONS, StackCatalog
from vidembed.records import FileInput, StoredSegment, TaskRecord
from vidembed.search.base import ClipSearch
from vidembed.search.open import open_clip_search
from vidembed.search.rank import Hit
from vidembed.segmentation import ClipParams
from vidembed.stores.base import MediaStore, TaskStore
from vidembed.stores.open import open_media_store, open_store

STATUSES = ("processing", "ready", "failed")
MAX_SEARCH_RESULTS = 100
SYNC_POLL_SECONDS = 0.1  # how often a synchronous request looks at its task


def new_task_id() -> str:
    return secrets.token_hex(12)  # 24 hex characters, safe in a URL path


class TaskService:
    def __init__(self, settings: Settings | None = None, *, start_workers: bool = True) -> None:
        self.settings = settings or Settings()
        self.catalog = StackCatalog(self.settings.stacks)  # the stacks file is checked here, at start
        self.store: TaskStore = open_store(self.settings.database_url, self.settings.db_path)
        self.media_store: MediaStore = open_media_store(
            self.settings.media_url, self.settings.media_dir, self.settings.s3
        )
        self.workers: Executor = make_executor(self.store, self.settings)  # threads by default
        self.indexes: ClipSearch = open_clip_search(
            self.settings.search_index,
            self.settings.database_url,
            self.settings.data_dir / "index",
            self.store,
            self._stack_of,
            self.settings.pgvector_ef_search,
        )
        self._visual_lock = threading.Lock()  # image queries: one picture at a time per process
        if start_workers:
            self.workers.start()

    def close(self) -> None:
        self.workers.stop()
        self.indexes.close()
        self.store.close()

    # --- create ---------------------------------------------------------------------------

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
        self.admit(owner)
        task = self.new_task(
            owner, request.model_name, request.clip.as_dict(), _requested_options(embedding_option)
        )
        if request.video_url is not None:
            intake.check_url(request.video_url, self.settings.allow_local_urls)
            task.input_url = request.video_url
        else:
            task.input_filename = intake.describe_upload(video_file)
            key = f"{task.id}/{intake.safe_filename(task.input_filename)}"
            self.media_store.save_upload(video_file, key, self.settings.max_upload_bytes, "video_file")
            task.source_path = self.media_store.location(key)
        self.submit(task)
        return {"_id": task.id}

    def admit(self, owner: str) -> None:
        """The per-key limit on tasks processing at once (both APIs count): 429 past it. An early
        check, before an upload is stored; ``submit`` checks again, atomically with the insert,
        since servers sharing a database may all pass this one at the same instant."""
        if self.store.count_active(owner) >= self.settings.max_active_tasks_per_owner:
            raise errors.too_many_active(self.settings.max_active_tasks_per_owner, retry_after=30)

    def new_task(
        self, owner: str, model_name: str, params: dict[str, Any], options: list[str], api: str = "v1.3"
    ) -> TaskRecord:
        """A processing task record, not yet stored: the caller sets its input, then ``submit``."""
        now = time.time()
        return TaskRecord(
            id=new_task_id(),
            owner=owner,
            model_name=model_name,
            stack=self.catalog.resolve(model_name),
            status="processing",
            params=params,
            options=options,
            created_at=now,
            updated_at=now,
            api=api,
        )

    def submit(self, task: TaskRecord) -> None:
        """Stores a new task and wakes the workers: from here on, nothing loses it. 429 (and the
        task's media folder removed) if its owner has reached the limit of active tasks meanwhile,
        on this server or another one sharing the database."""
        limit = self.settings.max_active_tasks_per_owner
        if not self.store.insert_within_limit(task, limit):
            self.media_store.delete_prefix(task.id)
            raise errors.too_many_active(limit, retry_after=30)
        self.workers.wake()

    # --- read -----------------------------------------------------------------------------

    def _task(self, task_id: str, owner: str | None) -> TaskRecord:
        return self.task(task_id, owner, "v1.3")

    def _searchable(self, task_id: str, owner: str | None) -> TaskRecord:
        """A task of either API whose clips search may rank (not a synchronous request's)."""
        task = self.store.get(task_id, owner)
        if task is None or task.api == "v2-sync":
            raise errors.task_not_found(task_id)
        return task

    def task(self, task_id: str, owner: str | None, api: str) -> TaskRecord:
        """A task of one API (each API has its own collection of tasks); 404 otherwise."""
        task = self.store.get(task_id, owner)
        if task is None or task.api != api:
            raise errors.task_not_found(task_id, "embed_tasks" if api == "v1.3" else "embed_v2_tasks")
        return task

    def status(self, task_id: str, owner: str | None = None) -> dict[str, Any]:
        return wire.task_summary(self._task(task_id, owner))

    def retrieve(
        self, task_id: str, owner: str | None = None, embedding_option: str | Sequence[str] | None = None
    ) -> dict[str, Any]:
        task = self._task(task_id, owner)
        options = _option_list(embedding_option)
        unknown = [o for o in options if o not in task.options]
        if unknown:
            raise errors.invalid(
                "embedding_option", f"Available options for this task: {', '.join(task.options)}."
            )
        segments = self.store.segments([task.id], options or None) if task.status == "ready" else []
        return wire.task_retrieve(task, segments)

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
        found = self.list_page(owner, started_at, ended_at, status, page, page_limit)
        return wire.task_list(*found)

    def list_page(
        self,
        owner: str | None,
        started_at: Any,
        ended_at: Any,
        status: Any,
        page: Any,
        page_limit: Any,
        api: str = "v1.3",
    ) -> tuple[builtins.list[TaskRecord], int, int, int]:
        """The list rules of both APIs: one page of tasks, its number, its size and the total."""
        page_number, limit = parse_page(page, page_limit)
        wanted = None if status in (None, "") else str(status)
        if wanted is not None and wanted not in STATUSES:
            raise errors.invalid("status", f"Use one of: {', '.join(STATUSES)}.")
        after = _time("started_at", started_at)
        before = _time("ended_at", ended_at)
        offset = (page_number - 1) * limit
        tasks, total = self.store.list(owner, wanted, after, before, offset, limit, api=api)
        return tasks, page_number, limit, total

    # --- text and images ------------------------------------------------------------------

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
            picture = self.query_image("image_url", url=request.image_url)
            image, source = self.embed_picture(request.model_name, picture), {"input_url": request.image_url}
        elif image_file is not None:
            picture = self.query_image("image_file", upload=image_file)
            image = self.embed_picture(request.model_name, picture)
            source = {"input_filename": intake.describe_upload(image_file)}
        audio = self._embed_audio(owner, request, audio_file) if request.has_audio else None
        text_vector = None
        if request.text is not None:
            text_vector = self.catalog.text_encoder(request.model_name).encode([request.text])[0]
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
        self.admit(owner)
        task = self.new_task(owner, request.model_name, clip.as_dict(), ["audio"], api="v2-sync")
        task.input_type = "audio"
        with self.synchronous_task(task) as folder:
            path = self.fetch(parameter, folder / "audio", "audio", upload=audio_file, url=request.audio_url)
            self.stage(task, path)
            done, segments = self.run_and_wait(task)
        if done.status == "failed":
            raise errors.invalid(parameter, done.error)
        clip_segment = next(s for s in segments if s.scope == "clip")
        if request.audio_url is not None:
            where = {"input_url": request.audio_url}
        else:
            where = {"input_filename": intake.describe_upload(audio_file)}
        return wire.AudioEmbedding(clip_segment.vector, clip_segment.start, clip_segment.end, where)

    def embed_picture(self, model_name: str, picture: np.ndarray) -> np.ndarray:
        visual = self.catalog.visual_encoder(model_name)
        with self._visual_lock:
            return embed_image(visual, picture)

    def query_image(
        self, parameter: str, *, upload: FileInput | None = None, url: str | None = None
    ) -> np.ndarray:
        """An image parameter's picture, fetched under the same limits and guards as a video's
        (upload size, download size, time and redirects, the local-address guard) and decoded;
        every failure is a 400 naming ``parameter``."""
        with self.scratch_folder() as folder:
            target = self.fetch(parameter, folder / "image", "image", upload=upload, url=url)
            try:
                return load_image(target)
            except errors.MediaError as exc:
                raise errors.invalid(parameter, str(exc)) from None

    def fetch(
        self,
        parameter: str,
        target: Path,
        what: str,
        *,
        upload: FileInput | None = None,
        url: str | None = None,
    ) -> Path:
        """A file parameter's file at ``target`` now: an upload saved or a URL downloaded, under the
        limits and guards of every input (sizes, time, redirects, the local-address guard); a
        failure is a 400 naming ``parameter``. ``what`` is the kind of file, for the messages."""
        try:
            if url is not None:
                intake.check_url(url, self.settings.allow_local_urls, parameter, what)
                intake.download(
                    url,
                    target,
                    max_bytes=self.settings.max_download_bytes,
                    timeout=self.settings.download_timeout_seconds,
                    max_redirects=self.settings.max_redirects,
                    allow_local=self.settings.allow_local_urls,
                    parameter=parameter,
                    what=what,
                )
            else:
                intake.save_upload(upload, target, self.settings.max_upload_bytes, parameter)
        except errors.MediaError as exc:
            raise errors.invalid(parameter, str(exc)) from None
        return target

    @contextmanager
    def synchronous_task(self, task: TaskRecord) -> Iterator[Path]:
        """For a task that a request waits for (``POST /embed`` audio, ``POST /embed-v2`` audio and
        video): a scratch folder to fetch its input into (then ``stage`` it: any machine's worker
        may run the task), and, whatever happens, the task, its vectors and its media deleted
        afterwards (such tasks are answered, not kept)."""
        try:
            with self.scratch_folder() as folder:
                yield folder
        finally:
            self.store.delete(task.id)
            self.media_store.delete_prefix(task.id)

    def stage(self, task: TaskRecord, path: Path) -> None:
        """Moves a fetched input into the media store under the task's key, as its source."""
        task.source_path = self.media_store.move_in(path, f"{task.id}/{path.name}")

    def run_and_wait(self, task: TaskRecord) -> tuple[TaskRecord, builtins.list[StoredSegment]]:
        """Submits a synchronous task (api ``v2-sync``: workers claim it before queued work) and
        waits until it ends; its record and, when ready, its segments."""
        self.submit(task)
        deadline = time.monotonic() + self.settings.sync_wait_seconds
        while True:
            done = self.store.get(task.id)
            if done is None:
                raise errors.ApiError("The embedding task disappeared while it ran.")
            if done.status != "processing":
                segments = self.store.segments([done.id]) if done.status == "ready" else []
                return done, segments
            if time.monotonic() > deadline:
                raise errors.sync_timed_out(self.settings.sync_wait_seconds, done.stage)
            time.sleep(SYNC_POLL_SECONDS)

    @contextmanager
    def scratch_folder(self) -> Iterator[Path]:
        """A temporary folder in the data folder (same file system as the media, so links work),
        removed afterwards."""
        scratch = self.settings.data_dir / "scratch"
        scratch.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="query-", dir=scratch) as folder:
            yield Path(folder)

    def models(self) -> builtins.list[dict[str, Any]]:
        """Every stack served, from its encoders' own metadata (``GET /models``)."""
        return [self.catalog.describe(name) for name in self.catalog.configs]

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
        """Clips of ready tasks ranked by cosine with the query, per option: a text, or an image
        (RGB uint8, embedded by the stack's visual encoder; it ranks the visual option unless
        ``options`` say otherwise; ``search_clips`` allows the visual option only).

        Only tasks embedded by the query's stack are searched (other stacks' vectors live in other
        spaces), and of those only the ones whose encoders are the stack's encoders now: a task
        embedded before an encoder changed is left out, and ``left_out`` says which and why.
        """
        stack = self.catalog.resolve(model_name)
        if task_id is not None:
            task = self._searchable(task_id, owner)
            if task.status != "ready":
                raise errors.invalid("task_id", f"Task {task_id} is {task.status}, not ready.")
            embedded_by = self._stack_of(task)
            if embedded_by != stack:
                raise errors.invalid(
                    "task_id", f"Task {task_id} was embedded by the stack {embedded_by}, not {model_name}."
                )
            candidates = [task]
        else:
            candidates = [t for t in self.store.ready_tasks(owner) if self._stack_of(t) == stack]
        current = self.catalog.identities(stack)
        searched, left_out = [], []
        for task in candidates:
            changed = _changed_encoders(task.encoders, current, task.options)
            if changed:
                left_out.append(
                    (task.id, f"embedded by encoders that have changed since: {', '.join(changed)}")
                )
            else:
                searched.append(task)
        if image is not None:
            query = self.embed_picture(stack, image)
            options = options or list(IMAGE_QUERY_OPTIONS)
        elif text is not None:
            query = self.catalog.text_encoder(stack).encode([text])[0]
        else:
            raise ValueError("search needs a text or an image query")
        placeholders = self.catalog.placeholder_vectors(stack)
        ranked = self.indexes.rank(
            stack, query, top, placeholders, owner=owner, tasks=searched, options=options
        )
        sources = {t.id: t.input_url or t.input_filename or "" for t in searched}
        return SearchOutcome(ranked, left_out, sources)

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
            asked = _requested_options(embedding_option) if _option_list(embedding_option) else None
            options = image_query_options(asked)
            image = self.query_image("query_image", upload=query_image)
            image_name = intake.describe_upload(query_image)
        else:
            options = _requested_options(embedding_option)
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

    def _stack_of(self, task: TaskRecord) -> str | None:
        """The stack that embedded a task: recorded at creation; for tasks older than that record,
        the stack its model name selects now (None: no longer configured)."""
        if task.stack is not None:
            return task.stack
        try:
            return self.catalog.resolve(task.model_name)
        except KeyError:
            return None


@dataclass
class SearchOutcome:
    ranked: dict[str, list[Hit]]  # per option and "fused", best first
    left_out: list[tuple[str, str]]  # (task id, why) of the stack's tasks that were not searched
    sources: dict[str, str]  # task id -> its video's file name or URL


def _changed_encoders(
    recorded: dict[str, str] | None, current: dict[str, str], options: Sequence[str]
) -> list[str]:
    """The roles (text, and the task's options) whose encoder differs from the one that embedded
    the task; nothing for tasks from before encoders were recorded (unknown, kept)."""
    if not recorded:
        return []
    return [role for role in ("text", *options) if recorded.get(role) != current.get(role)]


def _requested_options(value: Any) -> list[str]:
    options = _option_list(value)
    if not options:
        return list(OPTIONS)
    if any(o not in OPTIONS for o in options):
        raise errors.invalid("embedding_option", f"Use some of: {', '.join(OPTIONS)}.")
    return [o for o in OPTIONS if o in options]


def _option_list(value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    items = [value] if isinstance(value, str) else list(value)
    return [part.strip() for item in items for part in str(item).split(",") if part.strip()]


def _time(name: str, value: Any) -> float | None:
    if value in (None, ""):
        return None
    try:
        return wire.parse_rfc3339(str(value))
    except ValueError:
        raise errors.invalid(name, "Use an RFC 3339 date-time such as 2024-05-10T04:57:15Z.") from None
