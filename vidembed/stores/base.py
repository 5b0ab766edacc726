"""The store interface: tasks, their leases and their result vectors, whatever holds them.

The core (``service.tasks.TaskCore``), the executors and search see a store only through ``TaskStore``. Two
implementations: ``SQLiteStore`` (the embedded default: one file in the data folder) and
``PostgresStore`` (a shared PostgreSQL, for several API servers and workers on many machines).
``open_store`` picks one from a database URL (``--database-url`` / ``VIDEMBED_DATABASE_URL``).

Every implementation keeps the same rules (tests/contract/test_store_contract.py checks them on both): a task
is ``processing`` until a worker completes or fails it; a worker holds it by a lease that it renews
while it works, and a task whose lease ran out is claimed again, up to ``max_attempts`` claims;
results and ``ready`` are written in one transaction; renew, release and complete do nothing for a
worker that no longer holds the lease.
"""

from __future__ import annotations

import builtins  # builtins.list: in the classes below, list names the method
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from vidembed.errors import ConfigurationError, MediaError
from vidembed.records import (
    AssetRecord,
    FileInput,
    IndexListing,
    IndexRecord,
    MediaFacts,
    Probed,
    SegmentRow,
    StoredSegment,
    TaskRecord,
    V2Output,
)
from vidembed.segmentation import ClipParams
from vidembed.stores.lexical import ClipText, LexicalHit
from vidembed.stores.outbox import Delivery, TaskEvent

# The stage of an Embed v2 task made from an asset that was still processing: stored with its
# asset_id and no source yet, never claimed by a worker until ``start_waiting`` gives it a source
# (or ``fail_waiting`` ends it with the asset's reason); docs/EMBED_V2.md.
WAITING_FOR_ASSET = "waiting for asset"


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
        already claimed ``max_attempts`` times ends failed instead, with the reason. Tasks at the
        stage ``WAITING_FOR_ASSET`` are never claimed."""
        ...

    def waiting_for_asset(self, asset_id: str | None = None) -> builtins.list[TaskRecord]:
        """The processing tasks at the stage ``WAITING_FOR_ASSET`` (of this asset, or all),
        oldest first."""
        ...

    def start_waiting(self, task_id: str, source_path: str, input_filename: str | None) -> bool:
        """Gives a task waiting for its asset its source (the asset's file, copied for it) and
        makes it claimable (stage ``queued``); False if it is no longer waiting (another server
        started or failed it first)."""
        ...

    def fail_waiting(self, task_id: str, reason: str) -> bool:
        """Ends a task waiting for its asset as failed, with the reason; False if it is no
        longer waiting."""
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

    def lease_holder(self, task_id: str) -> str | None:
        """The worker whose lease a processing task is under now (not expired), or None: for a
        caller that may hand back the task of a worker it knows to be dead (``give_back``)."""
        ...

    def give_back(self, task_id: str, worker: str, stage: str) -> bool:
        """Gives a task back at once because its holder stopped it on purpose (Ctrl-C in the CLI, a
        service stopping): the lease freed for the next claimer, the attempt not counted (a task
        stopped on purpose never runs out of attempts), ``stage`` recorded; False if ``worker`` did
        not hold it."""
        ...

    def complete(
        self,
        task_id: str,
        worker: str,
        duration: float,
        segments: Sequence[SegmentRow],
        encoders: dict[str, str] | None = None,
        clip_texts: Sequence[ClipText] = (),
        media: MediaFacts | None = None,
    ) -> bool:
        """Results (vectors, and the clips' spoken words), ``ready`` and the encoders' identities
        in one transaction; False (and nothing written) if ``worker`` no longer holds the lease."""
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

    def clip_texts(self, task_ids: Sequence[str]) -> dict[str, builtins.list[ClipText]]:
        """The clips' spoken words of these tasks, per task by start time (no key: no words)."""
        ...

    def lexical(self, task_ids: Sequence[str], query: str, limit: int) -> builtins.list[LexicalHit]:
        """Clips of these tasks whose words hold every word of ``query`` (or a close spelling of
        it), best first, at most ``limit``: the full-text index (docs/SEARCH-API.md)."""
        ...

    # --- search indexes' videos (index tasks: api "index") ------------------------------

    def index_tasks(self, index_id: str) -> builtins.list[TaskRecord]:
        """Every task of a search index, whatever its status, newest first."""
        ...

    def index_totals(self, index_id: str) -> tuple[int, float]:
        """A search index's ready videos: how many, and their total duration in seconds (one
        query, not a read of every record: ``GET /indexes`` asks it of every index it lists)."""
        ...

    def set_user_metadata(self, task_id: str, metadata: dict[str, object] | None) -> bool:
        """Replaces a task's user metadata; False if there is no such task."""
        ...

    def index_generation(self, index_id: str) -> int:
        """A counter that goes up in the transaction of every change to the index's ready videos
        (one ready, deleted, its user metadata set): search caches an index's videos by it."""
        ...

    # --- the webhook outbox (vidembed/stores/outbox.py, service/webhooks.py) -------------
    # complete, fail, fail_waiting and claim's give-up write a task's event in the transaction
    # that ends it; these are the deliverer's side.

    def task_events(self, task_id: str) -> builtins.list[TaskEvent]:
        """The outbox events of a task (at most one per end), oldest first; pruned after 7 days."""
        ...

    def watch_events(self, urls: Sequence[str]) -> None:
        """Records that these URLs receive the events of tasks that end from now on; a URL
        watched before keeps its first time (a restarted server sends what it missed)."""
        ...

    def claim_events(
        self, worker: str, urls: Sequence[str], lease_seconds: float, limit: int, max_age: float
    ) -> builtins.list[Delivery]:
        """Up to ``limit`` deliveries to ``urls`` that are due and free (or whose lease ran out),
        leased to ``worker`` for ``lease_seconds`` (attempt + 1). The deliveries of events a
        watched URL has not had yet are made first, for events not older than ``max_age``.
        Across every process sharing the store, a delivery is leased to one worker at a time."""
        ...

    def event_delivered(self, event_id: str, url: str, worker: str) -> bool:
        """The delivery succeeded; False if ``worker`` no longer held its lease (nothing written)."""
        ...

    def event_failed(self, event_id: str, url: str, worker: str, error: str, retry_in: float | None) -> bool:
        """The attempt failed (``error`` kept): the next is due in ``retry_in`` seconds, or, with
        None, the delivery is abandoned. False if ``worker`` no longer held its lease."""
        ...


@runtime_checkable
class AssetStore(Protocol):
    """What the asset core (``service.assets.AssetCore``) needs from a store of assets
    (timestamps: epoch seconds)."""

    def close(self) -> None:
        """Releases the store's connections; the store is not used afterwards."""
        ...

    def insert(self, asset: AssetRecord) -> None:
        """Adds a new asset as given (its created_at and updated_at included)."""
        ...

    def get(self, asset_id: str, owner: str | None = None) -> AssetRecord | None:
        """The asset, or None when there is none with this id (of ``owner``, when given)."""
        ...

    def list(
        self,
        owner: str | None,
        asset_ids: Sequence[str],
        asset_types: Sequence[str],
        filename: str | None,
        offset: int,
        limit: int,
    ) -> tuple[builtins.list[AssetRecord], int]:
        """One page of assets, newest first, and how many match in all. Empty ``asset_ids`` or
        ``asset_types`` mean no filter; ``filename`` matches a part of the name, in any case."""
        ...

    def delete(self, asset_id: str, owner: str | None = None) -> AssetRecord | None:
        """Removes the record; returns it, or None when there was none (of ``owner``)."""
        ...

    def claim(self, worker: str, lease_seconds: float, max_attempts: int) -> AssetRecord | None:
        """Takes the oldest processing asset whose lease is free or expired, or None. An asset
        whose workers stopped ``max_attempts`` times ends failed instead of looping."""
        ...

    def renew(self, asset_id: str, worker: str, lease_seconds: float) -> bool:
        """Extends a lease; False if it was lost (expired and claimed by another worker, or the
        asset was deleted)."""
        ...

    def release(self, asset_id: str, worker: str) -> None:
        """Gives an asset back at once (the service is stopping), for the next start to resume."""
        ...

    def set_path(self, asset_id: str, worker: str, path: str) -> bool:
        """Records where a URL import was downloaded; False if the lease was lost."""
        ...

    def complete(self, asset_id: str, worker: str, probed: Probed) -> bool:
        """``ready`` with what probing found, in one transaction; False if the lease was lost."""
        ...

    def fail(self, asset_id: str, worker: str, reason: str) -> bool:
        """``failed`` with the reason; False if the lease was lost."""
        ...


def giving_up(attempts: int) -> str:
    """Why an asset whose processing was interrupted ``attempts`` times ended failed."""
    return (
        f"Processing the file was interrupted {attempts} times (the server "
        "stopped each time); giving up. Create the asset again."
    )


class MediaStore(Protocol):
    """Files under keys (``<task id>/<name>``, ``assets/<id>/<name>``), with the limits of intake."""

    def location(self, key: str) -> str:
        """What a task records for the file at ``key``; ``local_path`` reads it on any machine."""
        ...

    def save_upload(self, upload: FileInput, key: str, max_bytes: int, parameter: str) -> int:
        """Streams an upload (path, bytes or binary file object) to ``key``, never whole in memory;
        returns its size. Past ``max_bytes`` it raises 400 naming ``parameter`` and keeps nothing."""
        ...

    def move_in(self, source: Path, key: str) -> str:
        """Moves a local file (a download, a request's scratch file) to ``key``; its location."""
        ...

    def local_path(self, location: str, scratch: Path) -> Path:
        """A file the engine can open for ``location``: the file itself when it is on this
        machine, else a copy downloaded into ``scratch``. MediaError if it is gone."""
        ...

    def copy(self, location: str, key: str) -> str:
        """The file at ``location`` copied to ``key`` inside the store (a hard link in a folder,
        a server-side copy in S3): the copy outlives the original. Its location;
        FileNotFoundError if the original is gone."""
        ...

    def delete_prefix(self, prefix: str) -> None:
        """Removes every file under ``prefix`` (``<task id>``, ``assets/<id>``); none is fine."""
        ...

    def size(self, key: str) -> int | None:
        """The size of the file at ``key`` in bytes, or None when there is none."""
        ...

    def exists(self, key: str) -> bool:
        """Whether a file is stored at ``key``."""
        ...

    def check(self) -> None:
        """ConfigurationError, saying why, when the store cannot be used now (readiness)."""
        ...


def thumbnail_key(task_id: str, start: float) -> str:
    """Where a clip's thumbnail lives in the media store: under its task's key (deleted with it),
    named by the clip's start in milliseconds."""
    return f"{task_id}/thumbnails/{round(start * 1000)}.jpg"


def key_parts(key: str) -> list[str]:
    parts = [p for p in key.split("/") if p]
    if not parts or any(p in (".", "..") for p in parts):
        raise ValueError(f"not a media key: {key!r}")
    return parts


def local_file(location: str) -> Path | None:
    """A path, as a local folder and every task from before media stores record their input (None
    for an ``s3://`` location); not checked: the engine reports a missing or unreadable file as
    it always did."""
    return None if location.startswith("s3://") else Path(location)


def gone_error(location: str) -> MediaError:
    return MediaError(
        f"The task's input ({location}) is not in the media store any more. Create the task again."
    )


POSTGRES_SCHEMES = ("postgresql", "postgres")


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


@runtime_checkable
class IndexStore(Protocol):
    """What the indexes surface needs from a store of search indexes (timestamps: epoch seconds).
    Names are unique per owner: inserting or renaming to a taken name changes nothing."""

    def close(self) -> None: ...

    def insert(self, index: IndexRecord) -> bool:
        """Adds the index; False (and nothing written) when its owner has one of that name."""
        ...

    def get(self, index_id: str, owner: str | None = None) -> IndexRecord | None: ...

    def list(
        self,
        owner: str | None,
        query: IndexListing,
        offset: int,
        limit: int,
    ) -> tuple[builtins.list[IndexRecord], int]:
        """One page of the owner's indexes in the listing's order, and how many match in all."""
        ...

    def rename(self, index_id: str, owner: str | None, name: str, updated_at: float) -> str:
        """ "renamed", "missing" (no such index of this owner) or "taken" (the owner has another
        index of that name)."""
        ...

    def delete(self, index_id: str, owner: str | None = None) -> bool:
        """Removes the index; False when there was none of this owner."""
        ...

    def save_search(self, search_id: str, owner: str, expires_at: float, document: str) -> None:
        """Keeps a search's results (a JSON document) for its next pages, until ``expires_at``."""
        ...

    def load_search(self, search_id: str, owner: str | None, now: float) -> str | None:
        """A kept search of ``owner`` that has not expired at ``now``; None otherwise."""
        ...

    def secret(self, name: str) -> str:
        """A random secret made once per database and shared by every process on it (the key
        that signs thumbnail URLs, so that any server verifies any other's)."""
        ...


# --- task parameters as stored ------------------------------------------------------------------
# The params column holds a task's ClipParams and, for Embed v2 tasks, its V2Output under the
# "v2_" keys, as one JSON object (the format every data folder and database already has).


def params_document(task: TaskRecord) -> dict[str, object]:
    """The params column of a task (its JSON object)."""
    document: dict[str, object] = dict(task.params.as_dict())
    if task.v2 is not None:
        document["v2_scopes"] = list(task.v2.scopes)
        document["v2_embedding_types"] = list(task.v2.embedding_types)
    return document


def params_from_document(document: dict[str, Any]) -> tuple[ClipParams, V2Output | None]:
    """A params column read back: the task's ClipParams and its V2Output (None without "v2_" keys)."""
    v2 = None
    if "v2_scopes" in document or "v2_embedding_types" in document:
        default = V2Output()
        v2 = V2Output(
            tuple(document.get("v2_scopes", default.scopes)),
            tuple(document.get("v2_embedding_types", default.embedding_types)),
        )
    return ClipParams.from_dict(document), v2


# A page starting past this row is past the end of any store (both SQLite and PostgreSQL hold
# offsets as 64-bit integers, which (page - 1) * limit may overflow): such a page is empty.
MAX_OFFSET = 2**62


def page_offset(page: int, limit: int) -> int:
    """The first row of a page (pages from 1), capped at MAX_OFFSET."""
    return min((page - 1) * limit, MAX_OFFSET)
