"""``vidembed batch``: embed a whole collection on Ray Data, into the store that the API searches.

The videos (files, folders, globs, URLs) stream through a Ray Data actor pool
(``map_batches(VideoEmbedder, compute=ActorPoolStrategy(size=N))``): each actor loads the model stack
once and embeds one video at a time; this process consumes the results as they come and writes each
one as a task of the store (``ready`` with its vectors, or ``failed`` with the reason), so
``vidembed search``, the API and ``tasks.list`` see them like any task.

**Identity and resuming.** A video is its absolute path, size and modification time (nanoseconds),
or its URL as written, together with the stack and the clip settings; the task id is a hash of that
(24 hex characters, like every task id). A rerun finds the ready tasks by id and skips them without
reading the files (a content hash would read every byte of a library again), and retries the failed
ones; a file that changed (size or mtime) is a new video. A URL is not fetched to find out whether
it changed: rename it, or delete its task, to embed it again.

**Writing once.** Only this process writes. A result is written as: insert the task (processing)
with its lease held (``insert_leased``: one transaction, so no server's worker sharing the store
can claim it first), ``complete`` as the lease holder; a row that comes twice (a Ray Data
retry) finds the task ready and writes nothing. A video whose actor died (a decoder crash) is retried
by Ray Data; if it never yields a row it is listed as failed at the end.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import pickle
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import numpy as np

from vidembed import intake
from vidembed.models.catalog import StackCatalog
from vidembed.models.stack import DEFAULT_STACK, OPTIONS, StackSettings
from vidembed.progress import is_terminal
from vidembed.records import SegmentRow, TaskRecord
from vidembed.segmentation import ClipParams
from vidembed.stores.base import TaskStore

if TYPE_CHECKING:
    import ray.data

log = logging.getLogger("vidembed.batch")
# Files a folder argument contributes (a glob or a file named on the command line is taken as is).
MEDIA_SUFFIXES = frozenset(
    ".mp4 .m4v .mov .mkv .webm .avi .mpg .mpeg .ts .mts .wmv .flv .3gp .ogv .m4a .mp3 .wav .ogg .flac".split()
)
LEASE_SECONDS = 60.0
# A local Ray started by the command holds only vectors and small rows in its object store (the
# actors read the files themselves): 256 MiB instead of Ray's default 30 % of RAM per node.
LOCAL_OBJECT_STORE_BYTES = 256 * 2**20


@dataclass(frozen=True)
class BatchSettings:
    """What to embed and how: the inputs as typed, the stack, the clip length, the actor pool."""

    inputs: tuple[str, ...]
    model_name: str = DEFAULT_STACK
    actors: int = 2
    clip_length: float = 6.0
    stacks: StackSettings = field(default_factory=StackSettings)
    ray_address: str | None = None  # None: a local Ray started for the run
    actor_cpus: float = 1.0  # what each actor asks Ray for (as the Ray executor's actors)
    actor_gpus: float | None = None  # None: 1 when the cluster has GPUs, else 0
    max_download_bytes: int = 2 * 1024**3
    download_timeout_seconds: float = 600.0


@dataclass(frozen=True)
class Video:
    """One input: a local file (with its size and mtime) or a URL, and its task id."""

    source: str  # the absolute path or the URL
    size: int
    mtime_ns: int
    task_id: str

    @property
    def is_url(self) -> bool:
        return "://" in self.source


@dataclass
class BatchOutcome:
    """What a run did: the sources embedded now, those already done, the failures with reasons."""

    embedded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    hours: float = 0.0  # of video embedded by this run


def expand_inputs(inputs: Iterable[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """Files and URLs named by the arguments (folders walked for media files, globs expanded, each
    source once, in order); and the arguments that name nothing, with the reason."""
    found: dict[str, None] = {}
    missing: list[tuple[str, str]] = []
    for item in inputs:
        if "://" in item:
            found[item] = None
        elif Path(item).is_dir():
            files = sorted(p for p in Path(item).rglob("*") if p.suffix.lower() in MEDIA_SUFFIXES)
            found.update((str(p.resolve()), None) for p in files if p.is_file())
        elif Path(item).is_file():
            found[str(Path(item).resolve())] = None
        elif glob.has_magic(item):
            matches = sorted(glob.glob(item, recursive=True))
            found.update((str(Path(p).resolve()), None) for p in matches if Path(p).is_file())
            if not matches:
                missing.append((item, "No file matches this pattern."))
        else:
            missing.append((item, "No such file or folder."))
    return list(found), missing


def identify(source: str, settings: BatchSettings, stack: str) -> Video:
    """The video and its task id: a hash of what makes a result (see the module docstring)."""
    size, mtime_ns = intake.file_identity(source)
    return Video(source, size, mtime_ns, intake.fingerprint(source, stack, _clip(settings), OPTIONS))


def _clip(settings: BatchSettings) -> ClipParams:
    return ClipParams(clip_length=settings.clip_length)


class VideoEmbedder:
    """The Ray Data actor: the model stack loaded once, then one video per call (batch_size=1).

    Returns one row per video: its task id and a pickled ``(duration, rows, encoders)`` or the
    failure's reason; never raises for a video that cannot be embedded."""

    def __init__(self, stacks: StackSettings, model_name: str, download: tuple[int, float]) -> None:
        from vidembed.engine import Engine

        self._engine = Engine(StackCatalog(stacks).load(model_name))
        self._max_bytes, self._timeout = download

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list[object]]:
        out: dict[str, list[object]] = {"task_id": [], "result": [], "error": []}
        for task_id, source, params in zip(batch["task_id"], batch["source"], batch["params"], strict=True):
            result, error = self._embed(str(source), ClipParams.from_dict(json.loads(str(params))))
            out["task_id"].append(str(task_id))
            out["result"].append(result)
            out["error"].append(error)
        return out

    def _embed(self, source: str, params: ClipParams) -> tuple[bytes, str]:
        from vidembed.errors import ApiError, MediaError

        try:
            with tempfile.TemporaryDirectory(prefix="vidembed-batch-") as scratch:
                path = self._fetch(source, Path(scratch))
                result = self._engine.embed(path, params, list(OPTIONS))
        except MediaError as exc:
            return b"", str(exc)
        except ApiError as exc:
            return b"", exc.message
        except Exception as exc:  # a bug: the video is listed with the reason, the actor goes on
            return b"", f"Internal error while embedding the video ({type(exc).__name__}: {exc})."
        rows = [(s.option, s.scope, s.start, s.end, s.vector) for s in result.segments]
        return pickle.dumps((result.duration, rows, result.encoders)), ""

    def _fetch(self, source: str, scratch: Path) -> Path:
        if "://" not in source:
            return Path(source)
        target = scratch / "download"
        intake.download(
            source,
            target,
            max_bytes=self._max_bytes,
            timeout=self._timeout,
            max_redirects=5,
            allow_local=True,  # the user's own command on the user's own machine
        )
        return target


class BatchProgress:
    """Videos done, hours of video and an ETA: one bar redrawn on a terminal, else a line per 10 %."""

    def __init__(self, stream: TextIO, total: int) -> None:
        self.stream, self.total = stream, total
        self.interactive = is_terminal(stream)
        self._started = time.monotonic()
        self._last_step = -1

    def update(self, done: int, failed: int, hours: float) -> None:
        """Shows ``done`` (of which ``failed``) of the run's videos and the hours embedded so far."""
        elapsed = time.monotonic() - self._started
        eta = elapsed / done * (self.total - done) if done else None
        text = (
            f"{done}/{self.total} videos ({failed} failed), {hours:.2f} h of video, "
            f"ETA {_duration(eta) if eta is not None else '?'}"
        )
        if self.interactive:
            width = 30
            bar = "#" * (width * done // max(self.total, 1))
            self.stream.write(f"\r[{bar:<{width}}] {text}   ")
        else:
            step = 10 * done // max(self.total, 1)
            if step == self._last_step:
                return
            self._last_step = step
            self.stream.write(f"batch {text}\n")
        self.stream.flush()

    def finish(self) -> None:
        if self.interactive:
            self.stream.write("\n")
            self.stream.flush()


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds + 0.5), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def run_batch(settings: BatchSettings, store: TaskStore, stream: TextIO = sys.stderr) -> BatchOutcome:
    """Embeds every input not already ready in ``store``; closes the store when done."""
    try:
        return _run(settings, store, stream)
    finally:
        store.close()


def _run(settings: BatchSettings, store: TaskStore, stream: TextIO) -> BatchOutcome:
    outcome = BatchOutcome()
    catalog = StackCatalog(settings.stacks)
    stack = catalog.resolve(settings.model_name)
    sources, missing = expand_inputs(settings.inputs)
    outcome.failed.extend(missing)
    todo: list[Video] = []
    for source in sources:
        video = identify(source, settings, stack)
        existing = store.get(video.task_id)
        if existing is not None and existing.status == "ready":
            outcome.skipped.append(source)
            continue
        if existing is not None and existing.status == "failed":
            store.delete(video.task_id)  # a rerun retries what failed
        todo.append(video)
    if todo:
        _embed_all(settings, store, stack, todo, outcome, stream)
    return outcome


def _embed_all(
    settings: BatchSettings,
    store: TaskStore,
    stack: str,
    todo: Sequence[Video],
    outcome: BatchOutcome,
    stream: TextIO,
) -> None:
    import ray

    from vidembed.executors.ray import check_actor_resources, connect

    check_actor_resources(settings.actor_cpus, settings.actor_gpus)
    connected = _start_ray(settings.ray_address, connect)
    try:
        by_id = {v.task_id: v for v in todo}
        progress = BatchProgress(stream, len(todo))
        writer = _Writer(store, settings, stack, f"{socket.gethostname()}:{os.getpid()}:batch")
        seen: set[str] = set()
        for row in _dataset(settings, todo).iter_rows():
            task_id = str(row["task_id"])
            if task_id in seen:
                continue  # a block computed twice by a retry: written once already
            seen.add(task_id)
            video = by_id[task_id]
            writer.write(video, bytes(row["result"]), str(row["error"]), outcome)
            progress.update(len(seen), len(outcome.failed), outcome.hours)
        for video in todo:
            if video.task_id not in seen:
                reason = "The embedding actor died on this video every time it was tried (a decoder crash?)."
                writer.fail(video, reason, outcome)
        progress.finish()
    finally:
        if connected:
            ray.shutdown()


def _start_ray(address: str | None, connect: Callable[[str | None], bool]) -> bool:
    """Connects to the cluster at ``address``, or starts a local Ray for this run; True if the
    caller must shut it down."""
    import ray

    if address is not None or ray.is_initialized():
        return connect(address) if address is not None else False
    ray.init(
        include_dashboard=False,
        object_store_memory=LOCAL_OBJECT_STORE_BYTES,
        log_to_driver=False,
        configure_logging=False,
    )
    return True


def _dataset(settings: BatchSettings, todo: Sequence[Video]) -> ray.data.Dataset:
    """The videos as a Ray Data stream through the actor pool (one video per block and call, so
    that the pool spreads them and a crash loses one video, not a block of them)."""
    import ray
    from ray.data import ActorPoolStrategy, DataContext

    from vidembed.executors.ray import actor_gpus

    _quiet_ray_data_console()
    context = DataContext.get_current()
    context.enable_progress_bars = False  # ours shows videos and hours instead
    context.max_errored_blocks = -1  # a video whose actor keeps dying is listed, the run goes on
    params = json.dumps(_clip(settings).as_dict())  # Ray Data rows carry JSON
    items = [{"task_id": v.task_id, "source": v.source, "params": params} for v in todo]
    return ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
        VideoEmbedder,
        fn_constructor_kwargs={
            "stacks": settings.stacks,
            "model_name": settings.model_name,
            "download": (settings.max_download_bytes, settings.download_timeout_seconds),
        },
        batch_size=1,
        # as the executor's actors (a GPU each by default when the cluster has GPUs: the encoders
        # then use CUDA)
        num_cpus=settings.actor_cpus,
        num_gpus=actor_gpus(settings.actor_gpus),
        compute=ActorPoolStrategy(size=max(1, min(settings.actors, len(todo)))),
    )


def _quiet_ray_data_console() -> None:
    """Ray Data's console lines (plan, start, finish, "progress bars disabled") would interleave with
    our progress lines, which say the same per video; its log file in Ray's session folder keeps them."""
    for handler in logging.getLogger("ray.data").handlers:
        if type(handler).__name__ != "SessionFileHandler":  # the console handler(s)
            handler.setLevel(logging.ERROR)


class _Writer:
    """Writes one video's result as a task of the store, once (see the module docstring)."""

    def __init__(self, store: TaskStore, settings: BatchSettings, stack: str, worker: str) -> None:
        self.store, self.settings, self.stack, self.worker = store, settings, stack, worker

    def write(self, video: Video, result: bytes, error: str, outcome: BatchOutcome) -> None:
        if error:
            self.fail(video, error, outcome)
            return
        duration, rows, encoders = pickle.loads(result)  # our own actor's bytes
        segments: list[SegmentRow] = [(o, s, a, b, np.asarray(v)) for o, s, a, b, v in rows]
        if not self._lease(video):
            log.warning("%s: its task is held by another worker; not written", video.source)
            outcome.skipped.append(video.source)
            return
        if self.store.complete(video.task_id, self.worker, duration, segments, encoders):
            outcome.embedded.append(video.source)
            outcome.hours += duration / 3600
        else:
            outcome.skipped.append(video.source)

    def fail(self, video: Video, reason: str, outcome: BatchOutcome) -> None:
        self._lease(video)
        self.store.fail(video.task_id, reason)
        outcome.failed.append((video.source, reason))

    def _lease(self, video: Video) -> bool:
        """The task in the store, processing, with our lease: True if we hold it now."""
        if self.store.get(video.task_id) is None:
            try:
                self.store.insert_leased(self._record(video), self.worker, LEASE_SECONDS)
                return True
            except Exception:  # the store's own integrity error (the id is taken): a retried row
                if self.store.get(video.task_id) is None:
                    raise
        return self.store.claim_task(video.task_id, self.worker, LEASE_SECONDS)

    def _record(self, video: Video) -> TaskRecord:
        now = time.time()
        name = video.source if video.is_url else intake.safe_filename(Path(video.source).name)
        return TaskRecord(
            id=video.task_id,
            owner="",
            model_name=self.settings.model_name,
            stack=self.stack,
            status="processing",
            params=_clip(self.settings),
            options=list(OPTIONS),
            created_at=now,
            updated_at=now,
            source_path=None if video.is_url else video.source,
            input_url=video.source if video.is_url else None,
            input_filename=None if video.is_url else name,
            stage="batch",
        )


def report(outcome: BatchOutcome, stream: TextIO) -> int:
    """Prints the summary and each failure with its reason; the exit status (1 if any failed)."""
    stream.write(
        f"{len(outcome.embedded)} embedded, {len(outcome.skipped)} already done, "
        f"{len(outcome.failed)} failed; {outcome.hours:.2f} h of video embedded\n"
    )
    for source, reason in outcome.failed:
        stream.write(f"failed: {source}: {reason}\n")
    return 1 if outcome.failed else 0
