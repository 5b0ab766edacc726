"""Where inputs live: a local folder (the default) or S3-compatible object storage.

Everything the service keeps of an input is a file under a *key*: ``<task id>/<name>`` for a
task's upload, ``assets/<asset id>/<name>`` for an asset's file (docs/MEDIA_STORAGE.md). A task
records its input's *location* (``TaskRecord.source_path``): what ``MediaStore.location`` gives
for its key, an absolute path for the local folder (as vidembed always recorded) and an
``s3://bucket/prefix/key`` URL for S3, so a worker on any machine with the same ``--media-url``
finds it. A worker gets a local file for the engine with ``local_path``: the file itself when it
is on this machine (local folder, or an old row's absolute path), else a copy downloaded into the
task's scratch folder.

``S3MediaStore`` talks to S3 through boto3 (the ``s3`` extra), imported only when an ``s3://``
URL is configured, so the embedded default needs none of it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from vidembed import intake
from vidembed.errors import ConfigurationError, MediaError
from vidembed.records import FileInput
from vidembed.stores.base import key_parts, local_file

CHUNK = intake.CHUNK


class LocalMediaStore:
    """A folder (the data folder's ``media/`` by default): key ``a/b`` is the file ``folder/a/b``,
    the layout vidembed always had, and locations are absolute paths, as ``source_path`` always
    held."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder.resolve()
        self.folder.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        """The file of ``key`` in the folder."""
        return self.folder.joinpath(*key_parts(key))

    def location(self, key: str) -> str:
        return str(self.path(key))

    def save_upload(self, upload: FileInput, key: str, max_bytes: int, parameter: str) -> int:
        return intake.save_upload(upload, self.path(key), max_bytes, parameter)

    def move_in(self, source: Path, key: str) -> str:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(source, target)  # a rename on one file system
        return str(target)

    def local_path(self, location: str, scratch: Path) -> Path:
        if location.startswith("s3://"):
            raise MediaError(
                f"The task's input is in S3 ({location}), but this worker's media store is a local "
                "folder. Start it with the same --media-url as the server that took the task."
            )
        return Path(location)

    def copy(self, location: str, key: str) -> str:
        source = local_file(location)
        if source is None or not source.exists():
            raise FileNotFoundError(location)
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.unlink(missing_ok=True)
        try:
            os.link(source, target)
        except FileNotFoundError:
            raise
        except OSError:  # EXDEV (another file system) or a file system without hard links
            shutil.copyfile(source, target)
        return str(target)

    def delete_prefix(self, prefix: str) -> None:
        shutil.rmtree(self.path(prefix), ignore_errors=True)

    def size(self, key: str) -> int | None:
        path = self.path(key)
        return path.stat().st_size if path.is_file() else None

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def check(self) -> None:
        if not os.access(self.folder, os.W_OK | os.X_OK):
            raise ConfigurationError(f"The media folder {self.folder} is not writable.")
