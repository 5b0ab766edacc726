"""Workers: claim a task with a lease, keep the lease alive, embed, store the result or the reason.

Each worker thread drives an ``EngineProcess`` (a child process with the models loaded), so a
video that hangs or crashes a decoder costs that child, never the service. Several processes, or
machines sharing a database, can run workers side by side: claiming is a transaction on the store.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

from vidembed import intake
from vidembed.config import Settings
from vidembed.errors import ApiError, ConfigurationError, MediaError, VidEmbedError
from vidembed.executors.child import EngineProcess, Job, WorkerCrashed
from vidembed.stores.base import TaskStore
from vidembed.stores.media import MediaStore, open_media_store
from vidembed.stores.sqlite.tasks import TaskRecord

log = logging.getLogger("vidembed.worker")


class _Heartbeat:
    """Renews a task's lease and records progress until stopped."""

    def __init__(self, store: TaskStore, task: TaskRecord, worker: str, settings: Settings) -> None:
        self._store, self._task, self._worker, self._settings = store, task, worker, settings
        self._stop = threading.Event()
        self._progress: tuple[float, str] | None = None
        self._thread = threading.Thread(target=self._run, name=f"lease-{task.id}", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def report(self, fraction: float, stage: str) -> None:
        self._progress = (fraction, stage)

    def _run(self) -> None:
        while not self._stop.wait(self._settings.heartbeat_seconds):
            fraction, stage = self._progress or (None, None)
            lease = self._settings.lease_seconds
            if not self._store.renew(self._task.id, self._worker, lease, fraction, stage):
                log.warning("task %s: lease lost", self._task.id)
                return


class WorkerPool:
    def __init__(self, store: TaskStore, settings: Settings, media: MediaStore | None = None) -> None:
        """``media``: where the tasks' inputs are (by default the store ``settings`` names)."""
        self.store = store
        self.settings = settings
        self.media = media or open_media_store(settings.media_url, settings.media_dir, settings.s3)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []
        self.engines: list[EngineProcess] = []

    def start(self) -> None:
        for n in range(self.settings.workers):
            name = f"{socket.gethostname()}:{os.getpid()}:{n}"
            engine = EngineProcess(self.settings.stall_seconds)
            self.engines.append(engine)
            thread = threading.Thread(target=self._loop, args=(name, engine), name=f"worker-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        for engine in self.engines:
            engine.stop()  # a task in progress stays processing; its lease expires and it resumes
        for thread in self._threads:
            thread.join(timeout=60)
        self._threads.clear()
        self.engines.clear()

    def _loop(self, name: str, engine: EngineProcess) -> None:
        while not self._stop.is_set():
            task = self.store.claim(name, self.settings.lease_seconds, self.settings.max_attempts)
            if task is None:
                self._wake.wait(self.settings.poll_seconds)
                self._wake.clear()
                continue
            self.run_task(task, name, engine)

    def run_task(self, task: TaskRecord, worker: str, engine: EngineProcess) -> None:
        log.info("task %s: started (attempt %d)", task.id, task.attempts)
        with _Heartbeat(self.store, task, worker, self.settings) as heartbeat:
            self.store.renew(task.id, worker, self.settings.lease_seconds, 0.0, "started")
            try:
                with task_input(self.media, self.settings, task) as path:
                    result = engine.run(job_of(task, path, self.settings), heartbeat.report)
            except WorkerCrashed as exc:
                if self._stop.is_set():
                    return  # we are shutting down: the task resumes after restart
                log.warning("task %s: %s", task.id, exc)
                self.store.release(task.id, worker, str(exc))  # retried, up to max_attempts
                return
            except (MediaError, ApiError) as exc:
                reason = exc.message if isinstance(exc, ApiError) else str(exc)
                log.info("task %s: failed: %s", task.id, reason)
                self.store.fail(task.id, reason)
                return
            except VidEmbedError as exc:
                self.store.fail(task.id, str(exc))
                return
            except Exception as exc:  # a bug: the task ends with the reason, the worker goes on
                log.exception("task %s: unexpected error", task.id)
                self.store.fail(task.id, f"Internal error ({type(exc).__name__}: {exc}).")
                return
        rows = [(s.option, s.scope, s.start, s.end, s.vector) for s in result.segments]
        if self.store.complete(task.id, worker, result.duration, rows, result.encoders):
            skipped = ", ".join(f"{n} {kind}" for kind, n in sorted(result.skipped_packets.items()))
            damage = f"; skipped undecodable packets: {skipped}" if skipped else ""
            log.info("task %s: ready (%d segments%s)", task.id, len(rows), damage)


@contextmanager
def task_input(media: MediaStore, settings: Settings, task: TaskRecord) -> Iterator[Path]:
    """The task's input as a file on this machine, for the engine, in a scratch folder of this
    attempt's that is removed afterwards: a stored input (upload, asset, base64) as ``media``
    reads it (the file itself in a local folder; a download from S3), a URL downloaded.

    A URL is downloaded into the scratch folder only, not into the media store: the URL is what
    the task records, readable from any machine, so storing a copy would add an upload and a
    second read for every such task to spare a download on the rare retry (a crashed engine)."""
    root = settings.data_dir / "scratch"
    root.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f"task-{task.id}-", dir=root))
    try:
        if task.source_path:
            yield media.local_path(task.source_path, scratch)
            return
        assert task.input_url is not None
        target = scratch / "download"
        intake.download(
            task.input_url,
            target,
            max_bytes=settings.max_download_bytes,
            timeout=settings.download_timeout_seconds,
            max_redirects=settings.max_redirects,
            allow_local=settings.allow_local_urls,
        )
        yield target
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def job_of(task: TaskRecord, path: Path, settings: Settings) -> Job:
    """What the engine needs to embed the task's media at ``path``."""
    return Job(
        str(path),
        task.params,
        task.options,
        task.model_name,
        settings.max_duration_seconds,
        settings.stacks,
        task.input_type,
    )


class Executor(Protocol):
    """What TaskService needs from whoever runs its tasks: the thread WorkerPool (default) or
    vidembed.executors.ray.RayExecutor (``Settings.executor == "ray"``)."""

    def start(self) -> None: ...

    def wake(self) -> None: ...

    def stop(self) -> None: ...


def make_executor(store: TaskStore, settings: Settings) -> Executor:
    """The executor ``settings.executor`` names; "ray" needs the ray extra."""
    if settings.executor == "threads":
        return WorkerPool(store, settings)
    if settings.executor == "ray":
        try:
            from vidembed.executors.ray import RayExecutor
        except ImportError as exc:
            raise ConfigurationError(
                f"The Ray executor needs Ray: pip install 'vidembed[ray]' ({exc})."
            ) from None
        return RayExecutor(store, settings)
    raise ConfigurationError(
        f"The executor (--executor / VIDEMBED_EXECUTOR) must be threads or ray, not {settings.executor!r}."
    )
