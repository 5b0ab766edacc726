"""The clip index of each stack (``vector_index.ClipIndex``), as the task service keeps them.

An index is a cache of the store's vectors, never the source of truth: it is opened on a stack's
first search from the data folder (``DATA/index/<stack>``), reconciled with the store (tasks
ready since the last flush, from this or any other process, are added; tasks gone are dropped),
kept current on every search (tasks that became ready since are added first), and flushed when
the service closes. A crash loses only what was not flushed, which the next reconcile reads back
from the store. Search restricts every query to the task ids it was given, so tasks embedded by
changed encoders, synchronous requests' tasks and deleted tasks are never returned.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from vidembed.errors import ConfigurationError
from vidembed.search.exact import ClipIndex
from vidembed.search.rank import Hit
from vidembed.stores.base import TaskStore, database_target
from vidembed.stores.sqlite.tasks import StoredSegment, TaskRecord

SEARCH_INDEXES = ("local", "pgvector")


class ClipSearch(Protocol):
    """What the task service searches with: the data folder's indexes or pgvector."""

    def rank(
        self,
        stack: str,
        query: np.ndarray,
        top: int,
        placeholders: Mapping[str, np.ndarray],
        *,
        owner: str | None,
        tasks: Sequence[TaskRecord],
        options: Sequence[str] | None,
    ) -> dict[str, list[Hit]]:
        """What ``search.rank_clips`` gives over ``tasks``' clips: per option, and fused."""
        ...

    def close(self) -> None: ...


def open_clip_search(
    kind: str,
    database_url: str | None,
    folder: Path,
    store: TaskStore,
    stack_of: Callable[[TaskRecord], str | None],
    ef_search: int = 100,
) -> ClipSearch:
    """The search a ``Settings.search_index`` names, over the store that ``database_url`` opens:
    "local" (the default) with ``ClipIndexes`` in ``folder``, whatever the store; "pgvector"
    inside PostgreSQL with pgvector's HNSW graphs, each search asking for ``ef_search`` candidates
    (ConfigurationError if the database cannot).
    Why local is the default: docs/SEARCH.md (exact, and faster per query; the graph's recall@10
    at 1M synthetic vectors was 0.02-0.55 with pgvector's defaults)."""
    if kind not in SEARCH_INDEXES:
        raise ConfigurationError(
            f"The search index (--search-index / VIDEMBED_SEARCH_INDEX) must be one of "
            f"{', '.join(SEARCH_INDEXES)}, not {kind!r}."
        )
    if kind == "local":
        return ClipIndexes(folder, store, stack_of)
    target = database_target(database_url, folder)
    if not isinstance(target, str):
        raise ConfigurationError("--search-index pgvector needs a PostgreSQL database (--database-url).")
    try:
        from vidembed.search.pgvector import PgVectorIndex
    except ImportError as exc:
        raise ConfigurationError(f"pgvector search needs: pip install 'vidembed[postgres]' ({exc})") from None
    if not 1 <= ef_search <= 1000:
        raise ConfigurationError(
            f"--pgvector-ef-search must be within 1-1000 (pgvector's range), not {ef_search}."
        )
    return PgVectorIndex(target, ef_search=ef_search)


class ClipIndexes:
    def __init__(self, folder: Path, store: TaskStore, stack_of: Callable[[TaskRecord], str | None]) -> None:
        self.folder = folder
        self._store = store
        self._stack_of = stack_of
        self._indexes: dict[str, ClipIndex] = {}
        self._lock = threading.Lock()

    def rank(
        self,
        stack: str,
        query: np.ndarray,
        top: int,
        placeholders: Mapping[str, np.ndarray],
        *,
        owner: str | None,
        tasks: Sequence[TaskRecord],
        options: Sequence[str] | None,
    ) -> dict[str, list[Hit]]:
        """What ``rank_clips`` gives over ``tasks``' clips (the caller's searchable tasks)."""
        index = self._index(stack, placeholders, len(query))
        held = index.tasks()
        new = {t.id: t.owner for t in tasks if held.get(t.id) != t.owner}  # ready since it last looked
        if new:  # one read of the store for all of them
            found: dict[str, list[StoredSegment]] = {task_id: [] for task_id in new}
            for segment in self._store.segments(list(new)):
                found[segment.task_id].append(segment)
            for task_id, segments in found.items():
                index.add_task(task_id, new[task_id], segments)
        return index.rank(query, top, owner=owner, task_ids=[t.id for t in tasks], options=options)

    def _index(self, stack: str, placeholders: Mapping[str, np.ndarray], dim: int) -> ClipIndex:
        with self._lock:
            if stack not in self._indexes:
                index = ClipIndex.open(self.folder / stack, dim, placeholders)
                ready = {t.id: t.owner for t in self._store.ready_tasks(None) if self._stack_of(t) == stack}
                index.reconcile(ready, self._store.segments)
                if index.unflushed:
                    index.flush()
                self._indexes[stack] = index
            return self._indexes[stack]

    def close(self) -> None:
        """Flushes what changed since the last flush (a 1M-vector index rewrites ~1.9 GB, so
        this is done at close, not per search)."""
        with self._lock:
            for index in self._indexes.values():
                if index.unflushed:
                    index.flush()
            self._indexes.clear()
