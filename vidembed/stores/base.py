"""The store interface: tasks, their leases and their result vectors, whatever holds them.

``TaskService``, ``WorkerPool`` and the search path see a store only through ``TaskStore``. Two
implementations: ``SQLiteStore`` (the embedded default: one file in the data folder) and
``PostgresStore`` (a shared PostgreSQL, for several API servers and workers on many machines).
``open_store`` picks one from a database URL (``--database-url`` / ``VIDEMBED_DATABASE_URL``).

Every implementation keeps the same rules (tests/test_store_contract.py checks them on both): a task
is ``processing`` until a worker completes or fails it; a worker holds it by a lease that it renews
while it works, and a task whose lease ran out is claimed again, up to ``max_attempts`` claims;
results and ``ready`` are written in one transaction; renew, release and complete do nothing for a
worker that no longer holds the lease.
"""

from __future__ import annotations

import builtins  # builtins.list: in the classes below, list names the method
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from vidembed.errors import ConfigurationError
from vidembed.stores.sqlite.tasks import SQLiteStore, StoredSegment, TaskRecord

# (option, scope, start_sec, end_sec, vector): one result row as the worker hands it to complete()
SegmentRow = tuple[str, str, float, float, np.ndarray]

POSTGRES_SCHEMES = ("postgresql", "postgres")


@runtime_checkable
class TaskStore(Protocol):
    """What the service, the workers and search need from a store (timestamps: epoch seconds)."""

    def close(self) -> None:
        """Releases the store's connections; the store is not used afterwards."""
        ...

    # --- tasks ---------------------------------------------------------------------------

    def insert(self, task: TaskRecord) -> None:
        """Adds a new task as given (its created_at and updated_at included)."""
        ...

    def insert_leased(self, task: TaskRecord, worker: str, lease_seconds: float) -> None:
        """Adds a new processing task whose lease ``worker`` already holds (attempts 1), in one
        transaction: no claimer anywhere can take it first (``vidembed batch``, which has the
        result in hand and completes it next)."""
        ...

    def insert_within_limit(self, task: TaskRecord, limit: int) -> bool:
        """Adds a new task unless its owner already has ``limit`` tasks processing; False then,
        and nothing written. Atomic across every process and machine sharing the store: two
        inserts at the same instant cannot both take the last place."""
        ...

    def get(self, task_id: str, owner: str | None = None) -> TaskRecord | None:
        """The task, or None if there is none with this id (of this owner, when one is given)."""
        ...

    def list(
        self,
        owner: str | None,
        status: str | None,
        created_after: float | None,
        created_before: float | None,
        offset: int,
        limit: int,
        api: str = "v1.3",
    ) -> tuple[list[TaskRecord], int]:
        """One page of one API's tasks, newest first, and how many match in all."""
        ...

    def count_active(self, owner: str) -> int:
        """How many of the owner's tasks are processing."""
        ...

    def update_source(self, task_id: str, source_path: str) -> None:
        """Records where a task's downloaded media now lies."""
        ...

    def delete(self, task_id: str) -> None:
        """A task and its vectors."""
        ...

    # --- the worker's side ---------------------------------------------------------------

    def claim(self, worker: str, lease_seconds: float, max_attempts: int) -> TaskRecord | None:
        """Takes the oldest processing task whose lease is free or expired, or None; a task
        already claimed ``max_attempts`` times ends failed instead, with the reason."""
        ...

    def claim_task(self, task_id: str, worker: str, lease_seconds: float) -> bool:
        """Takes the lease of this one processing task if it is free or expired (attempts + 1);
        False if it is held, finished or absent (for ``vidembed batch``: a task it made itself)."""
        ...

    def renew(
        self,
        task_id: str,
        worker: str,
        lease_seconds: float,
        progress: float | None = None,
        stage: str | None = None,
    ) -> bool:
        """Extends a lease (and records progress); False if the lease was lost."""
        ...

    def release(self, task_id: str, worker: str, reason: str) -> None:
        """Gives a task back for another attempt at once, recording why this one ended."""
        ...

    def complete(
        self,
        task_id: str,
        worker: str,
        duration: float,
        segments: Sequence[SegmentRow],
        encoders: dict[str, str] | None = None,
    ) -> bool:
        """Results, ``ready`` and the encoders' identities in one transaction; False (and
        nothing written) if ``worker`` no longer holds the lease."""
        ...

    def fail(self, task_id: str, reason: str, duration: float | None = None) -> None:
        """Ends a processing task as failed, with the reason."""
        ...

    # --- results -------------------------------------------------------------------------

    def segments(
        self, task_ids: Iterable[str], options: Sequence[str] | None = None
    ) -> builtins.list[StoredSegment]:
        """The stored vectors of these tasks (of these options only, when given), per task in
        the order they were written."""
        ...

    def ready_tasks(self, owner: str | None) -> builtins.list[TaskRecord]:
        """Every ready task (of ``owner``) that search can rank, oldest first."""
        ...


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
        f"sqlite:///, not {_without_password(url)!r}."
    )


def postgres_missing(exc: ImportError) -> ConfigurationError:
    """The error for a PostgreSQL URL when psycopg is not installed."""
    return ConfigurationError(
        f"A PostgreSQL database URL needs psycopg: pip install 'vidembed[postgres]' ({exc})."
    )


def _without_password(url: str) -> str:
    """The URL as it can be shown in a message: a password in it replaced by ***."""
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in credentials:
        return url
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"
