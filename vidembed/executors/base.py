"""The executors family's interface and what every executor shares.

An executor runs the store's tasks: it claims a task with a lease, keeps the lease alive, embeds
and stores the result or the reason (``threads.WorkerPool`` in this process, ``ray.RayExecutor``
on a Ray cluster). ``Job`` is what the engine needs of a task; ``task_input`` gives a worker the
task's input as a local file whatever the media store.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from vidembed import intake
from vidembed.config import Settings
from vidembed.errors import VidEmbedError
from vidembed.models.stack import StackSettings
from vidembed.records import SegmentRow, TaskRecord
from vidembed.segmentation import ClipParams
from vidembed.stores.base import MediaStore, thumbnail_key
from vidembed.stores.lexical import ClipText

if TYPE_CHECKING:  # the engine brings PyAV and ONNX Runtime: only workers import it
    from vidembed.engine.engine import EmbeddingResult


@contextmanager
def task_input(
    media: MediaStore, settings: Settings, task: TaskRecord, stop: threading.Event | None = None
) -> Iterator[Path]:
    """The task's input as a file on this machine, for the engine, in a scratch folder of this
    attempt's that is removed afterwards: a stored input (upload, asset, base64) as ``media``
    reads it (the file itself in a local folder; a download from S3), a URL downloaded (``stop``,
    once set, ends the download with ``errors.Interrupted``: a stopping worker does not wait).

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
            stop=stop,
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


def result_rows(result: EmbeddingResult) -> tuple[list[SegmentRow], list[ClipText]]:
    """What ``TaskStore.complete`` stores of an engine's result: its segments, and the clips' spoken
    words (for lexical search and the clips' transcription in an index's results)."""
    rows = [(s.option, s.scope, s.start, s.end, s.vector) for s in result.segments]
    clips = result.plan.clips
    texts = [ClipText(c.start, c.end, t) for c, t in zip(clips, result.clip_texts, strict=False) if t.strip()]
    return rows, texts


def store_thumbnails(media: MediaStore, task_id: str, result: EmbeddingResult) -> None:
    """The clips' thumbnails (an index with the thumbnail add-on) into the media store, before
    the task is completed: once it is ready, its search results can link them."""
    for clip, data in zip(result.plan.clips, result.thumbnails, strict=False):
        if data:
            media.save_upload(data, thumbnail_key(task_id, clip.start), len(data), "thumbnail")


class Executor(Protocol):
    """What the core (``TaskCore``) needs from whoever runs its tasks: the thread WorkerPool (default) or
    vidembed.executors.ray.RayExecutor (``Settings.executor == "ray"``)."""

    def start(self) -> None: ...

    def wake(self) -> None: ...

    def stop(self) -> None: ...


class WorkerCrashed(VidEmbedError):
    """The child process died while embedding."""


class WorkerStalled(VidEmbedError):
    """The child process made no progress for too long and was killed."""


@dataclass(frozen=True)
class Job:
    path: str
    params: ClipParams
    options: list[str]
    model_name: str
    max_duration: float | None
    stacks: StackSettings = field(default_factory=StackSettings)
    input_type: str = "video"  # or "audio": an audio file, embedded for audio and transcription


LOADING = "loading models"
