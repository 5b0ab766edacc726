"""Copying a store into another: ``vidembed copy-store --to postgresql://...`` moves a laptop's
SQLite database (tasks, their vectors and clip words, assets, search indexes) into the PostgreSQL a
cluster shares. Kept searches, webhook events and the thumbnail-signing key are not copied (they
are made anew there).

Everything goes through the stores' own interfaces (``TaskStore``, ``AssetStore``), so the target
keeps its rules: a ready task is written as a worker writes one (inserted with its lease held,
then ``complete`` with its segments and encoders, in the order they were written), so it is never
seen ready without its vectors; failed and processing tasks are inserted as they are (a processing
task's lease is not copied: a worker of the target claims it). The synchronous route's tasks are
transient and not copied.

**Resumable.** A task or asset the target already has is skipped, so a copy that stopped can be
run again (and should be, if servers were writing to the source meanwhile: their new tasks shift
the pages the copy reads). A ready task whose copy stopped between its insert and its complete is found
``processing`` in the target; the rerun takes its lease once the copy's lease has run out
(``COPY_LEASE_SECONDS``) and completes it.

**Media are not copied.** Tasks and assets keep the paths of their files (``source_path``,
``path``): ready tasks no longer need theirs, but a processing task or an asset must still be able
to read its file where the target's workers run. ``CopyReport.local_media`` counts them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import TypeVar

from vidembed.records import AssetRecord, IndexListing, IndexRecord, SegmentRow, TaskRecord
from vidembed.stores.base import AssetStore, IndexStore, TaskStore

COPY_WORKER = "vidembed-copy-store"
COPY_LEASE_SECONDS = 60.0
PAGE = 500
Record = TypeVar("Record")
# not "v2-sync": answered and deleted within one request; "index": the videos of search indexes
# (their indexes are copied first)
COPIED_APIS = ("v1.3", "v2", "index")


@dataclass
class CopyReport:
    tasks: int = 0  # copied now
    vectors: int = 0
    assets: int = 0
    indexes: int = 0
    skipped: int = 0  # already in the target
    local_media: list[str] = field(default_factory=list)  # ids of processing tasks and assets with a file
    not_copied: list[tuple[str, str]] = field(default_factory=list)  # (task id, why)


def copy_store(
    source: TaskStore,
    target: TaskStore,
    source_assets: AssetStore | None = None,
    target_assets: AssetStore | None = None,
    progress: Callable[[CopyReport], None] | None = None,
    source_indexes: IndexStore | None = None,
    target_indexes: IndexStore | None = None,
) -> CopyReport:
    """Copies every task (both embed APIs, and the search indexes' videos) and, when both asset
    stores (index stores) are given, every asset (search index, first) from the source into the
    target; what the target has already is skipped (module doc)."""
    report = CopyReport()
    if source_indexes is not None and target_indexes is not None:
        _copy_indexes(source_indexes, target_indexes, report)
    for task in _all_tasks(source):
        _copy_task(task, source, target, report)
        if progress is not None and (report.tasks + report.skipped) % 100 == 0:
            progress(report)
    if source_assets is not None and target_assets is not None:
        for asset in _all_assets(source_assets):
            if target_assets.get(asset.id) is not None:
                report.skipped += 1
                continue
            target_assets.insert(asset)
            report.assets += 1
            if asset.status == "processing" and asset.path:
                report.local_media.append(asset.id)
    return report


def _copy_indexes(source: IndexStore, target: IndexStore, report: CopyReport) -> None:
    """Every search index, before the tasks of their videos; one whose name the target's owner
    already uses for another index is not copied (names are unique per owner)."""
    for index in _all_indexes(source):
        if target.get(index.id) is not None:
            report.skipped += 1
        elif target.insert(index):
            report.indexes += 1
        else:
            report.not_copied.append((index.id, f"the target has another index named {index.name!r}"))


def _copy_task(task: TaskRecord, source: TaskStore, target: TaskStore, report: CopyReport) -> None:
    held = target.get(task.id)
    if held is not None and not (task.status == "ready" and held.status == "processing"):
        report.skipped += 1
        return
    if task.status != "ready":
        target.insert(task)
        report.tasks += 1
        if task.status == "processing" and task.source_path:
            report.local_media.append(task.id)
        return
    rows: list[SegmentRow] = [
        (s.option, s.scope, s.start, s.end, s.vector) for s in source.segments([task.id])
    ]
    if held is None:
        # attempts as the source counted them: insert_leased adds the copy's own
        leased = replace(
            task, status="processing", progress=0.0, stage="queued", attempts=max(task.attempts - 1, 0)
        )
        target.insert_leased(leased, COPY_WORKER, COPY_LEASE_SECONDS)
    elif not target.claim_task(task.id, COPY_WORKER, COPY_LEASE_SECONDS):
        report.not_copied.append(
            (task.id, "half copied by a copy whose lease has not run out yet: run again")
        )
        return
    texts = source.clip_texts([task.id]).get(task.id, [])
    if target.complete(task.id, COPY_WORKER, task.duration or 0.0, rows, task.encoders, texts, task.media):
        report.tasks += 1
        report.vectors += len(rows)
    else:
        report.not_copied.append((task.id, "its lease in the target was taken while copying: run again"))


def _all_tasks(store: TaskStore) -> Iterator[TaskRecord]:
    """Every task of the copied APIs, oldest first within each API."""
    for api in COPIED_APIS:

        def page(offset: int, limit: int, api: str = api) -> tuple[list[TaskRecord], int]:
            return store.list(None, None, None, None, offset, limit, api=api)

        yield from _oldest_first(page)


def _all_indexes(store: IndexStore) -> Iterator[IndexRecord]:
    yield from _oldest_first(lambda offset, limit: store.list(None, IndexListing(), offset, limit))


def _all_assets(store: AssetStore) -> Iterator[AssetRecord]:
    yield from _oldest_first(lambda offset, limit: store.list(None, [], [], None, offset, limit))


def _oldest_first(page: Callable[[int, int], tuple[list[Record], int]]) -> Iterator[Record]:
    """Every row of a newest-first listing (``page(offset, limit)`` -> rows, total), oldest first:
    pages of ``PAGE`` read from the end backwards. Rows made or deleted meanwhile shift the pages:
    copy with the servers stopped, or run it again."""
    _, total = page(0, 1)
    for end in range(total, 0, -PAGE):
        start = max(end - PAGE, 0)
        rows, _ = page(start, end - start)
        yield from reversed(rows)
