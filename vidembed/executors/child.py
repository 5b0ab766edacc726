"""The engine in a child process, so that no video can hang or crash a worker.

A worker thread owns one ``EngineProcess``: a ``python -m vidembed.executors.engine_child`` child that
loads the models once and embeds one task at a time. Messages are length-prefixed pickles over
the child's stdin/stdout (our own process on both ends). The parent watches for progress: a child
silent for ``stall_seconds`` (a decoder stuck on a file) is killed and the task fails with that
reason; a child that dies (a crash in a native decoder) is reported as such. The next task
starts a fresh child.
"""

from __future__ import annotations

import logging
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from vidembed.errors import ApiError, BadRequestError, MediaError, VidEmbedError
from vidembed.executors.base import LOADING, Job, WorkerCrashed, WorkerStalled
from vidembed.models.catalog import StackCatalog
from vidembed.models.stack import StackSettings

log = logging.getLogger("vidembed.runner")
_HEADER = struct.Struct("!I")
MAX_MESSAGE_BYTES = 1 << 30


_catalogs: dict[StackSettings, StackCatalog] = {}


def _catalog(settings: StackSettings) -> StackCatalog:
    """The child's catalog for these settings (the stacks file is read once per child)."""
    if settings not in _catalogs:
        _catalogs[settings] = StackCatalog(settings)
    return _catalogs[settings]


def _send(stream: IO[bytes], message: Any) -> None:
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(payload)) + payload)
    stream.flush()


class MessageWriter:
    """Length-prefixed pickles on a stream, one whole message at a time: progress comes from
    several pipeline threads, and one message must never cut into another."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def send(self, message: Any) -> None:
        with self._lock:
            _send(self._stream, message)


def read_message(fd: int) -> Any:
    """The next message from a MessageWriter on the other end of ``fd``."""
    size = _HEADER.unpack(_read_exact(fd, _HEADER.size))[0]
    if size > MAX_MESSAGE_BYTES:
        raise pickle.UnpicklingError(f"message of {size} bytes: the stream is corrupt")
    return pickle.loads(_read_exact(fd, size))


def _read_exact(fd: int, size: int) -> bytes:
    chunks, remaining = [], size
    while remaining:
        chunk = os.read(fd, min(remaining, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


class EngineProcess:
    def __init__(self, stall_seconds: float = 120.0, env: dict[str, str] | None = None) -> None:
        self.stall_seconds = stall_seconds
        self._env = env
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def _ensure(self) -> subprocess.Popen[bytes]:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "vidembed.executors.engine_child"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=self._env,  # None: this process's environment
            )
        return self._proc

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            try:
                assert proc.stdin is not None
                proc.stdin.close()
                proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                proc.kill()
                proc.wait()

    def _kill(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None

    def run(self, job: Job, progress: Callable[[float, str], None]) -> Any:
        """Embeds in the child; returns the EmbeddingResult or raises the task's failure."""
        proc = self._ensure()
        assert proc.stdin is not None and proc.stdout is not None
        try:
            _send(proc.stdin, job)
        except BrokenPipeError:
            self._kill()
            raise WorkerCrashed("The embedding process could not be started.") from None
        fd = proc.stdout.fileno()
        last, stage = time.monotonic(), ""
        while True:
            ready, _, _ = select.select([fd], [], [], 1.0)
            if not ready:
                # Loading models (the first job of a child) legitimately takes a while.
                allowed = max(self.stall_seconds, 600.0) if stage == LOADING else self.stall_seconds
                if time.monotonic() - last > allowed:
                    self._kill()
                    raise WorkerStalled(
                        f"Processing made no progress for {self.stall_seconds:g} s and was stopped; "
                        "the video could not be decoded in time (damaged or unsupported file?)."
                    )
                continue
            try:
                kind, *payload = read_message(fd)
            except (pickle.UnpicklingError, ValueError, TypeError):
                self._kill()
                raise WorkerCrashed(
                    "The embedding process sent a corrupt message and was restarted."
                ) from None
            except EOFError:
                code = proc.wait()
                self._proc = None
                how = f"signal {-code}" if code < 0 else f"exit code {code}"
                raise WorkerCrashed(
                    f"The embedding process died while processing this video ({how})."
                ) from None
            last = time.monotonic()
            if kind == "progress":
                stage = payload[1]
                progress(*payload)
            elif kind == "done":
                return payload[0]
            elif kind == "error":
                error_type, message = payload
                if error_type == "bad_request":
                    raise BadRequestError(message)
                raise MediaError(message) if error_type == "media" else VidEmbedError(message)


def child_main() -> None:
    """The child's loop: one job in, progress and one result or error out."""
    from vidembed.engine import Engine

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when we stop
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing else may write into the message stream
    send = MessageWriter(stdout).send

    while True:
        try:
            header = stdin.read(4)
            if len(header) < 4:
                return
            job: Job = pickle.loads(stdin.read(_HEADER.unpack(header)[0]))
        except (EOFError, OSError):
            return
        try:
            send(("progress", 0.0, LOADING))
            engine = Engine(_catalog(job.stacks).load(job.model_name))
            send(("progress", 0.0, "started"))  # from here on, silence means a stall
            result = engine.embed(
                Path(job.path),
                job.params,
                job.options,
                lambda fraction, stage: send(("progress", fraction, stage)),
                max_duration=job.max_duration,
                input_type=job.input_type,
            )
            send(("done", result))
        except BadRequestError as exc:
            send(("error", "bad_request", exc.message))
        except MediaError as exc:
            send(("error", "media", str(exc)))
        except ApiError as exc:
            send(("error", "other", exc.message))
        except Exception as exc:  # reported as the task's reason; the child goes on
            log.exception("embedding failed")
            reason = f"Internal error while embedding the video ({type(exc).__name__}: {exc})."
            send(("error", "other", reason))
