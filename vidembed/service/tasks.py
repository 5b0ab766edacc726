"""TaskCore: the API-neutral core every surface shares (v1.3 embed tasks, Embed v2, the CLI).

It speaks records and vectors, never JSON: it admits, stores and wakes tasks, fetches inputs under
the limits and guards of every input, runs synchronous tasks and waits for them, embeds query
pictures and texts, and ranks clips. The request rules and the wire shapes of each API live in
``vidembed.api``; the parts it works with (store, media store, executor, search) are opened and
handed over by ``vidembed.api.compose``.
"""

from __future__ import annotations

import builtins  # builtins.list: in TaskCore, list names the method
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
from vidembed.config import Settings
from vidembed.engine.still import embed_image, load_image
from vidembed.executors.base import Executor
from vidembed.models.catalog import StackCatalog
from vidembed.models.stack import DEFAULT_STACK
from vidembed.records import FileInput, SegmentRow, StoredSegment, TaskRecord
from vidembed.search.base import ClipSearch
from vidembed.search.rank import Hit
from vidembed.segmentation import ClipParams
from vidembed.stores.base import MediaStore, TaskStore, page_offset

STATUSES = ("processing", "ready", "failed")
IMAGE_QUERY_OPTIONS = ("visual",)  # an image is compared with what clips show
SYNC_POLL_SECONDS = 0.1  # how often a synchronous request looks at its task


def new_task_id() -> str:
    return secrets.token_hex(12)  # 24 hex characters, safe in a URL path


def stack_of(catalog: StackCatalog, task: TaskRecord) -> str | None:
    """The stack that embedded a task: recorded at creation; for tasks older than that record,
    the stack its model name selects now (None: no longer configured)."""
    if task.stack is not None:
        return task.stack
    try:
        return catalog.resolve(task.model_name)
    except KeyError:
        return None


@dataclass(frozen=True)
class TaskQuery:
    """One page of one API's task list: a status, a creation window (epoch seconds), a page."""

    status: str | None = None
    after: float | None = None
    before: float | None = None
    page: int = 1
    limit: int = 10


@dataclass
class SearchOutcome:
    ranked: dict[str, list[Hit]]  # per option and "fused", best first
    left_out: list[tuple[str, str]]  # (task id, why) of the stack's tasks that were not searched
    sources: dict[str, str]  # task id -> its video's file name or URL


class TaskCore:
    """Tasks over the parts ``vidembed.api.compose`` opened; ``start`` starts the executor."""

    def __init__(
        self,
        settings: Settings,
        *,
        catalog: StackCatalog,
        store: TaskStore,
        media_store: MediaStore,
        executor: Executor,
        search: ClipSearch,
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.store = store
        self.media_store = media_store
        self.workers = executor
        self.indexes = search
        self._visual_lock = threading.Lock()  # image queries: one picture at a time per process

    def start(self) -> None:
        self.workers.start()

    def close(self) -> None:
        self.workers.stop()
        self.indexes.close()
        self.store.close()

    # --- create ---------------------------------------------------------------------------

    def admit(self, owner: str) -> None:
        """The per-key limit on tasks processing at once (both APIs count): 429 past it. An early
        check, before an upload is stored; ``submit`` checks again, atomically with the insert,
        since servers sharing a database may all pass this one at the same instant."""
        if self.store.count_active(owner) >= self.settings.max_active_tasks_per_owner:
            raise errors.too_many_active(self.settings.max_active_tasks_per_owner, retry_after=30)

    def new_task(
        self, owner: str, model_name: str, params: ClipParams, options: list[str], api: str = "v1.3"
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

    def store_finished(
        self, task: TaskRecord, rows: builtins.list[SegmentRow], duration: float = 0.0
    ) -> None:
        """Stores a new task whose vectors were computed in the request (an Embed v2 image task):
        inserted with a lease of the request's own and completed at once, with the stack's
        encoders, so that no worker ever claims it. The caller checked the per-key limit
        (``admit``)."""
        holder = f"request:{task.id}"
        self.store.insert_leased(task, holder, self.settings.lease_seconds)
        assert task.stack is not None
        encoders = self.catalog.identities(task.stack)
        if not self.store.complete(task.id, holder, duration, rows, encoders):
            raise errors.ApiError("The embedding could not be stored; try again.")

    # --- read -----------------------------------------------------------------------------

    def task(self, task_id: str, owner: str | None, api: str) -> TaskRecord:
        """A task of one API (each API has its own collection of tasks); 404 otherwise."""
        task = self.store.get(task_id, owner)
        if task is None or task.api != api:
            raise errors.task_not_found(task_id, "embed_tasks" if api == "v1.3" else "embed_v2_tasks")
        return task

    def searchable(self, task_id: str, owner: str | None) -> TaskRecord:
        """A task of either API whose clips search may rank (not a synchronous request's)."""
        task = self.store.get(task_id, owner)
        if task is None or task.api == "v2-sync":
            raise errors.task_not_found(task_id)
        return task

    def list(self, owner: str | None, query: TaskQuery, api: str) -> tuple[builtins.list[TaskRecord], int]:
        """One page of an API's tasks, newest first, and how many match in all."""
        offset = page_offset(query.page, query.limit)
        return self.store.list(owner, query.status, query.after, query.before, offset, query.limit, api=api)

    def segments(
        self, task: TaskRecord, options: Sequence[str] | None = None
    ) -> builtins.list[StoredSegment]:
        """A ready task's vectors (of ``options``, or all); nothing for other tasks."""
        return (
            self.store.segments([task.id], list(options) if options else None)
            if task.status == "ready"
            else []
        )

    # --- inputs ---------------------------------------------------------------------------

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

    def save_upload(self, task: TaskRecord, upload: FileInput, parameter: str) -> None:
        """An uploaded input into the media store under the task's key, as its source."""
        task.input_filename = intake.describe_upload(upload)
        key = f"{task.id}/{intake.safe_filename(task.input_filename)}"
        self.media_store.save_upload(upload, key, self.settings.max_upload_bytes, parameter)
        task.source_path = self.media_store.location(key)

    def check_url(self, url: str, parameter: str = "video_url", what: str = "video") -> None:
        """The guard on input URLs (schemes, local addresses), at create time."""
        intake.check_url(url, self.settings.allow_local_urls, parameter, what)

    def stage(self, task: TaskRecord, path: Path) -> None:
        """Moves a fetched input into the media store under the task's key, as its source."""
        task.source_path = self.media_store.move_in(path, f"{task.id}/{path.name}")

    @contextmanager
    def scratch_folder(self) -> Iterator[Path]:
        """A temporary folder in the data folder (same file system as the media, so links work),
        removed afterwards."""
        scratch = self.settings.data_dir / "scratch"
        scratch.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="query-", dir=scratch) as folder:
            yield Path(folder)

    # --- synchronous tasks ----------------------------------------------------------------

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

    def run_and_wait(
        self, task: TaskRecord, deadline: float | None = None
    ) -> tuple[TaskRecord, builtins.list[StoredSegment]]:
        """Submits a synchronous task (api ``v2-sync``: workers claim it before queued work) and
        waits until it ends, or until ``deadline`` (``time.monotonic()``; default: the sync wait
        from now); its record and, when ready, its segments."""
        self.submit(task)
        if deadline is None:
            deadline = time.monotonic() + self.settings.sync_wait_seconds
        while True:
            done = self.store.get(task.id)
            if done is None:
                raise errors.ApiError("The embedding task disappeared while it ran.")
            if done.status != "processing":
                return done, self.segments(done)
            if time.monotonic() > deadline:
                raise errors.sync_timed_out(self.settings.sync_wait_seconds, done.stage)
            time.sleep(SYNC_POLL_SECONDS)

    # --- queries --------------------------------------------------------------------------

    def embed_text(self, model_name: str, text: str) -> np.ndarray:
        return self.catalog.text_encoder(model_name).encode([text])[0]

    def embed_picture(self, model_name: str, picture: np.ndarray) -> np.ndarray:
        visual = self.catalog.visual_encoder(model_name)
        with self._visual_lock:
            return embed_image(visual, picture)

    def models(self) -> builtins.list[dict[str, Any]]:
        """Every stack served, from its encoders' own metadata (``GET /models``)."""
        return [self.catalog.describe(name) for name in self.catalog.configs]

    def stack_of(self, task: TaskRecord) -> str | None:
        return stack_of(self.catalog, task)

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
        ``options`` say otherwise).

        Only tasks embedded by the query's stack are searched (other stacks' vectors live in other
        spaces), and of those only the ones whose encoders are the stack's encoders now: a task
        embedded before an encoder changed is left out, and ``left_out`` says which and why.
        """
        stack = self.catalog.resolve(model_name)
        if task_id is not None:
            task = self.searchable(task_id, owner)
            if task.status != "ready":
                raise errors.invalid("task_id", f"Task {task_id} is {task.status}, not ready.")
            embedded_by = self.stack_of(task)
            if embedded_by != stack:
                raise errors.invalid(
                    "task_id", f"Task {task_id} was embedded by the stack {embedded_by}, not {model_name}."
                )
            candidates = [task]
        else:
            candidates = [t for t in self.store.ready_tasks(owner) if self.stack_of(t) == stack]
        current = self.catalog.identities(stack)
        searched, left_out = [], []
        for task in candidates:
            changed = changed_encoders(task.encoders, current, task.options)
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
            query = self.embed_text(stack, text)
        else:
            raise ValueError("search needs a text or an image query")
        placeholders = self.catalog.placeholder_vectors(stack)
        ranked = self.indexes.rank(
            stack, query, top, placeholders, owner=owner, tasks=searched, options=options
        )
        sources = {t.id: source_name(t) for t in searched}
        return SearchOutcome(ranked, left_out, sources)


def source_name(task: TaskRecord) -> str:
    """What a hit names as its video: the URL or file name; an Embed v2 input sent as base64 has
    neither (nor an asset's name), so it is called that."""
    if task.input_url or task.input_filename:
        return task.input_url or task.input_filename or ""
    return f"asset {task.asset_id}" if task.asset_id else "base64 upload"


def changed_encoders(
    recorded: dict[str, str] | None, current: dict[str, str], options: Sequence[str]
) -> list[str]:
    """The roles (text, and the task's options) whose encoder differs from the one that embedded
    the task; nothing for tasks from before encoders were recorded (unknown, kept)."""
    if not recorded:
        return []
    return [role for role in ("text", *options) if recorded.get(role) != current.get(role)]
