"""Opens the stores a configuration names: the task store, the asset store and the media store.

The only module of the stores family that names every kind: SQLite (the embedded default, one
file in the data folder) or PostgreSQL (``postgresql://``: psycopg, the ``postgres`` extra,
imported only then) for tasks and assets; the data folder's ``media/`` or S3-compatible object
storage (``s3://``: boto3, the ``s3`` extra, imported only then) for inputs.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from vidembed.errors import ConfigurationError
from vidembed.stores.base import (
    AssetStore,
    IndexStore,
    MediaStore,
    TaskStore,
    database_target,
    postgres_missing,
)
from vidembed.stores.media import LocalMediaStore
from vidembed.stores.s3 import S3MediaStore, S3Settings
from vidembed.stores.sqlite.assets import SQLiteAssetStore
from vidembed.stores.sqlite.indexes import SQLiteIndexStore
from vidembed.stores.sqlite.tasks import SQLiteStore


def open_store(url: str | None, default_path: Path) -> TaskStore:
    """The store a database URL names: none (or empty) is SQLite at ``default_path``;
    ``sqlite:///PATH`` SQLite at PATH; ``postgresql://...`` (or ``postgres://``) PostgreSQL, which
    needs the ``postgres`` extra (``pip install 'vidembed[postgres]'``)."""
    target = database_target(url, default_path)
    if isinstance(target, Path):
        return SQLiteStore(target)
    try:
        from vidembed.stores.postgres.tasks import PostgresStore
    except ImportError as exc:
        raise postgres_missing(exc) from None
    return PostgresStore(target)


def open_asset_store(url: str | None, default_path: Path) -> AssetStore:
    """The asset store a database URL names, as ``open_store`` reads it: none is SQLite at
    ``default_path`` (the tasks' file), ``sqlite:///PATH`` SQLite at PATH, ``postgresql://...``
    PostgreSQL (the ``postgres`` extra)."""
    target = database_target(url, default_path)
    if isinstance(target, Path):
        return SQLiteAssetStore(target)
    try:
        from vidembed.stores.postgres.assets import PostgresAssetStore
    except ImportError as exc:
        raise postgres_missing(exc) from None
    return PostgresAssetStore(target)


def open_index_store(url: str | None, default_path: Path) -> IndexStore:
    """The search-index store a database URL names, as ``open_store`` reads it."""
    target = database_target(url, default_path)
    if isinstance(target, Path):
        return SQLiteIndexStore(target)
    try:
        from vidembed.stores.postgres.indexes import PostgresIndexStore
    except ImportError as exc:
        raise postgres_missing(exc) from None
    return PostgresIndexStore(target)


def open_media_store(url: str | None, default_folder: Path, s3: S3Settings | None = None) -> MediaStore:
    """The store a ``--media-url`` names: none, a folder path or ``file://`` URL: a local folder
    (``default_folder`` when none); ``s3://bucket/prefix``: S3 (checked now: the bucket must be
    reachable). ConfigurationError, saying what to change, for anything else."""
    if not url:
        return LocalMediaStore(default_folder)
    parsed = urlparse(url)
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise ConfigurationError(f"--media-url {url!r} names no bucket. Use s3://BUCKET/PREFIX.")
        return S3MediaStore(parsed.netloc, parsed.path.strip("/"), s3 or S3Settings())
    if parsed.scheme == "file":
        return LocalMediaStore(Path(unquote(parsed.path)))
    if parsed.scheme == "" and Path(url).expanduser().is_absolute():
        return LocalMediaStore(Path(url).expanduser())
    raise ConfigurationError(
        f"--media-url {url!r} is not a media store. Use s3://BUCKET/PREFIX for S3-compatible object "
        "storage, or an absolute folder path (file:///PATH) for a local folder; leave it out for "
        "the data folder's media/."
    )
