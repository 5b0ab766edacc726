"""TODO docstring."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from vidembed.errors import ConfigurationError
from vidembed.stores.base import AssetStore, MediaStore, TaskStore
from vidembed.stores.media import LocalMediaStore
from vidembed.stores.s3 import S3MediaStore, S3Settings
from vidembed.stores.sqlite.assets import SQLiteAssetStore
from vidembed.stores.sqlite.tasks import SQLiteStore

POSTGRES_SCHEMES = ("postgresql", "postgres")


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


def database_target(url: str | None, default_path: Path) -> Path | str:
    """Where a database URL points: the SQLite file's path, or the PostgreSQL URL itself (the task
    store and the asset store read the same URL this way); ConfigurationError for anything else."""
    if not url:
        return default_path
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme == "sqlite":
        path = url.split("://", 1)[1]
        if not path.startswith("/") or path == "/":
            raise ConfigurationError(
                f"Use sqlite:///PATH (an absolute path) as the database URL, not {url!r}."
            )
        return Path(path)
    if scheme in POSTGRES_SCHEMES:
        return url
    raise ConfigurationError(
        "The database URL (--database-url / VIDEMBED_DATABASE_URL) must start with postgresql:// or "
        f"sqlite:///, not {without_password(url)!r}."
    )


def postgres_missing(exc: ImportError) -> ConfigurationError:
    """The error for a PostgreSQL URL when psycopg is not installed."""
    return ConfigurationError(
        f"A PostgreSQL database URL needs psycopg: pip install 'vidembed[postgres]' ({exc})."
    )


def without_password(url: str) -> str:
    """The URL as it can be shown in a message: a password in it replaced by ***."""
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in credentials:
        return url
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"


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
