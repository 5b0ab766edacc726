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

import numpy as np

from vidembed.service.search import Hit
from vidembed.service.store import StoredSegment, TaskRecord
from vidembed.service.store_api import TaskStore
from vidembed.service.vector_index import ClipIndex


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
