"""Workers: claim a task with a lease, keep the lease alive, embed, store the result or the reason.

Each worker thread drives an ``EngineProcess`` (a child process with the models loaded), so a
video that hangs or crashes a decoder costs that child, never the service. Several processes, or
machines sharing a database, can run workers side by side: claiming is a transaction on the store.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading

from vidembed.config import Settings
from vidembed.errors import ApiError, Interrupted, MediaError, VidEmbedError
from vidembed.executors.base import WorkerCrashed, job_of, result_rows, store_thumbnails, task_input
from vidembed.executors.child import EngineProcess
from vidembed.records import TaskRecord
from vidembed.stores.base import MediaStore, TaskStore

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
    def __init__(self, store: TaskStore, settings: Settings, media: MediaStore) -> None:
        """``media``: where the tasks' inputs are (the process's media store)."""
        self.store = store
        self.settings = settings
        self.media = media
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []
        self.engines: list[EngineProcess] = []
        self._busy: set[EngineProcess] = set()  # engines embedding a task now

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
        """Stops at once: a child embedding a task is killed (it holds nothing worth waiting for)
        and its task handed back (``give_back``: processing, its lease freed, the attempt not
        counted), so the next worker anywhere resumes it at once instead of after its lease."""
        self._stop.set()
        self._wake.set()
        for engine in list(self._busy):
            pid = engine.pid
            if pid is not None:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for engine in self.engines:
            engine.stop()
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
                self._busy.add(engine)
                with task_input(self.media, self.settings, task, self._stop) as path:
                    result = engine.run(job_of(task, path, self.settings), heartbeat.report)
            except Interrupted:  # stopped while downloading its input: resumed by the next worker
                self.store.give_back(task.id, worker, "interrupted")
                return
            except WorkerCrashed as exc:
                if self._stop.is_set():  # we are stopping: the next worker resumes it at once
                    self.store.give_back(task.id, worker, "interrupted")
                    return
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
            finally:
                self._busy.discard(engine)
        rows, texts = result_rows(result)
        store_thumbnails(self.media, task.id, result)
        if self.store.complete(task.id, worker, result.duration, rows, result.encoders, texts, result.media):
            skipped = ", ".join(f"{n} {kind}" for kind, n in sorted(result.skipped_packets.items()))
            damage = f"; skipped undecodable packets: {skipped}" if skipped else ""
            log.info("task %s: ready (%d segments%s)", task.id, len(rows), damage)
