"""An index of one stack's stored clip vectors, so that search need not load every vector.

The SQLite store stays the source of truth; this index is a cache of its clip vectors, kept in
the data folder and rebuilt from the store (``reconcile``) when it is missing, damaged or behind.

**How it searches** (chosen by measurement, docs/SEARCH.md): vectors are kept twice, as float32
(for exact scores) and as int8 codes (one scale per vector). A query scans every allowed int8
code with numkong's SIMD dot product (1M x 384 codes: 18 ms on this machine, where numpy's float32
matrix-vector product takes 155 ms), keeps the best few hundred and rescores them exactly in
float32. That is exhaustive, so recall does not depend on how the vectors are distributed: HNSW
(usearch) reached recall@10 0.25 on random unit vectors at 100k and needed 80 s to build. Below
``EXACT_BELOW`` allowed vectors the float32 scan is fast enough and exact.

**Layout.** One partition per (owner, option): a query of owner A only ever reads A's partitions,
so owner isolation does not rest on a filter. Inside a partition the rows of a task are
contiguous; a query restricted to some tasks scans only their rows.

**Fusion.** ``rank`` returns what ``search.rank_clips`` returns, fused ranking included: each
option's best candidates come from the index, and the statistics fusion needs over all the allowed
clips of the option (count, mean and spread of their scores, the share of clips it has something
for) come exactly from each partition's running sum and second moment of its vectors (q.sum and
q'Mq), or from the float32 scan below ``EXACT_BELOW``. A clip of the fused top k is in the top k
of its best option (its z-score is increasing in the cosine), so the union of the options'
candidates holds the fused top k. Only a query restricted to a subset of a partition's tasks that
leaves out more than ``EXACT_BELOW`` vectors takes its statistics from the int8 scores (spread off
by up to 4e-4 relative in 384 dimensions: near-ties of the fused list may swap).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numkong
import numpy as np

from vidembed.records import StoredSegment, TaskRecord
from vidembed.search.rank import (
    FUSED,
    MIN_CANDIDATES,
    ClipKey,
    Hit,
    OptionScan,
    TaskInfo,
    clip_counts,
    fuse_candidates,
    hits_of,
    is_placeholder,
    options_in_order,
    score_moments,
)
from vidembed.stores.base import TaskStore

log = logging.getLogger(__name__)

# Below this many allowed vectors in a partition, a query scans the float32 vectors exactly. The
# crossover measured by benchmarks/search.py (docs/SEARCH.md): up to 1,000-2,000 vectors float32
# is as fast (0.08 ms against 0.12); from 2,000 on numpy hands the product to OpenBLAS's threads,
# and on this shared 2-core machine its p50 jumped to 8-22 ms at some sizes from 2k to 50k in each
# of 3 runs (the int8 scan: 0.1-0.8 ms up to 20k in all 3). Both give rank_clips' results (module doc).
EXACT_BELOW = 2_000
INT8_MAX = 127
FORMAT_VERSION = 1
_EMPTY = -np.inf


@dataclass(frozen=True)
class _Scan:
    """One partition's answer to a query: candidate rows with exact scores, and the statistics of
    the scores of all allowed rows (their count, sum and sum of squares)."""

    rows: np.ndarray
    scores: np.ndarray
    count: int
    total: float
    squares: float


class _Partition:
    """One owner's vectors of one option; each task's rows are contiguous (``ranges``)."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        # The float32 vectors: the first ``len(base)`` rows memory-mapped from the last flush
        # (read-only; a query reads about 100 of them), the rows added since in ``tail``.
        self.base: np.ndarray = np.empty((0, dim), np.float32)
        self.tail: np.ndarray = np.empty((0, dim), np.float32)
        self.codes: np.ndarray = np.empty((0, dim), np.int8)
        self.inv_scale: np.ndarray = np.empty(0, np.float32)
        self.starts: np.ndarray = np.empty(0, np.float64)
        self.ends: np.ndarray = np.empty(0, np.float64)
        self.rows = 0  # rows in use, live or dead
        self.ranges: dict[str, tuple[int, int]] = {}
        # The sum and the second moment (sum of outer products) of the live vectors: with them a
        # query's mean and spread over the whole partition are exact at no scan cost (the int8
        # scores' spread is off by up to 4e-4 relative in 384 dimensions, 2e-3 in 32: the query's
        # own rounding moves every score the same way).
        self.total = np.zeros(dim, np.float64)
        self.second = np.zeros((dim, dim), np.float64)

    @property
    def live(self) -> int:
        return sum(b - a for a, b in self.ranges.values())

    def append(self, task_id: str, starts: np.ndarray, ends: np.ndarray, vectors: np.ndarray) -> None:
        count = len(vectors)
        self._reserve(self.rows + count)
        a, b = self.rows, self.rows + count
        self.tail[a - len(self.base) : b - len(self.base)] = vectors
        self.codes[a:b], self.inv_scale[a:b] = quantise(vectors)
        self.starts[a:b], self.ends[a:b] = starts, ends
        self.ranges[task_id] = (a, b)
        self.rows = b
        self._account(vectors, 1.0)

    def _account(self, vectors: np.ndarray, sign: float) -> None:
        self.total += sign * vectors.sum(axis=0, dtype=np.float64)
        self.second += sign * (vectors.T @ vectors).astype(np.float64)

    def _reserve(self, needed: int) -> None:
        in_tail = needed - len(self.base)
        if in_tail > len(self.tail):
            self.tail = _resized(
                self.tail, max(in_tail, 2 * len(self.tail), 1024), self.rows - len(self.base)
            )
        capacity = len(self.inv_scale)
        if needed <= capacity:
            return
        grown = max(needed, 2 * capacity, 1024)
        self.codes = _resized(self.codes, grown, self.rows)
        self.inv_scale = _resized(self.inv_scale, grown, self.rows)
        self.starts = _resized(self.starts, grown, self.rows)
        self.ends = _resized(self.ends, grown, self.rows)

    def remove(self, task_id: str) -> None:
        span = self.ranges.pop(task_id, None)
        if span is not None:
            self._account(self.span(*span), -1.0)
        # Dead rows cost scan time; copying the rest out costs one pass over them: compact once
        # a quarter of the rows are dead.
        if self.rows - self.live > self.rows // 4:
            self.compact()

    def compact(self) -> None:
        order = sorted(self.ranges.items(), key=lambda item: item[1][0])
        keep = _row_indices([r for _, r in order])
        self.tail, self.codes = self.vectors(keep), self.codes[keep]
        self.base = np.empty((0, self.dim), np.float32)
        self.inv_scale, self.starts, self.ends = self.inv_scale[keep], self.starts[keep], self.ends[keep]
        self.ranges, at = {}, 0
        for task_id, (a, b) in order:
            self.ranges[task_id] = (at, at + b - a)
            at += b - a
        self.rows = at

    def span(self, first: int, end: int) -> np.ndarray:
        """The float32 vectors of rows ``first`` to ``end``."""
        mapped = len(self.base)
        if end <= mapped:
            return self.base[first:end]
        if first >= mapped:
            return self.tail[first - mapped : end - mapped]
        return np.concatenate([self.base[first:], self.tail[: end - mapped]])

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        """The float32 vectors of the given rows."""
        mapped = len(self.base)
        if not mapped:
            return self.tail[rows]
        if not len(self.tail) or (len(rows) and rows.max() < mapped):
            return self.base[rows]
        out = np.empty((len(rows), self.dim), np.float32)
        old = rows < mapped
        out[old] = self.base[rows[old]]
        out[~old] = self.tail[rows[~old] - mapped]
        return out

    def write_vectors(self, path: Path) -> None:
        """The float32 vectors in use, as one .npy file (written in place, not assembled in memory)."""
        out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(self.rows, self.dim))
        mapped = min(len(self.base), self.rows)
        out[:mapped] = self.base[:mapped]
        out[mapped:] = self.tail[: self.rows - mapped]
        out.flush()
        del out
        with open(path, "rb+") as fh:
            os.fsync(fh.fileno())

    def row_of(self, task_id: str, start: float, end: float) -> int | None:
        span = self.ranges.get(task_id)
        if span is None:
            return None
        a, b = span
        found = np.flatnonzero((self.starts[a:b] == start) & (self.ends[a:b] == end))
        return a + int(found[-1]) if len(found) else None

    def scan(
        self, query: np.ndarray, allowed: Collection[str] | None, wanted: int, exact_below: int
    ) -> _Scan:
        spans = [self.ranges[t] for t in allowed if t in self.ranges] if allowed is not None else None
        everything = spans is None or len(spans) == len(self.ranges)
        if spans is None or everything:  # = if everything (None implies it), spelled for the type checker
            spans = list(self.ranges.values())
        count = sum(b - a for a, b in spans)
        if count == 0:
            return _Scan(np.empty(0, np.int64), np.empty(0, np.float32), 0, 0.0, 0.0)
        whole = everything and count == self.rows
        if count < exact_below:
            rows = np.arange(self.rows) if whole else _row_indices(spans)
            scores = (self.span(0, self.rows) if whole else self.vectors(rows)) @ query
            best = _best(scores, wanted)
            return _Scan(rows[best], scores[best], count, *score_moments(scores))
        # Only the allowed rows are scanned, run by run: 10% of the tasks of a 1M partition took
        # 47 ms masked out of a full scan, 4 ms so.
        runs = [(0, self.rows)] if whole else _merged(spans)
        parts = [self._int8_scores(query, a, b) for a, b in runs]
        approximate = parts[0] if len(parts) == 1 else np.concatenate(parts)
        total, squares = self._statistics(query, spans, everything, exact_below, approximate)
        picked = _best(approximate, max(wanted * 4, MIN_CANDIDATES))
        candidates = picked if whole else _row_indices(runs)[picked]
        exact = self.vectors(candidates) @ query
        best = _best(exact, wanted)
        return _Scan(candidates[best], exact[best], count, total, squares)

    def _statistics(
        self,
        query: np.ndarray,
        spans: Sequence[tuple[int, int]],
        everything: bool,
        exact_below: int,
        approximate: np.ndarray,
    ) -> tuple[float, float]:
        """Sum and sum of squares of the allowed rows' scores: exact from the moments when every
        task is allowed, or when the tasks left out are few (the moments less their exact
        scores); otherwise from the int8 scores (their spread is off by up to 4e-4 relative)."""
        wide = query.astype(np.float64)
        total, squares = float(wide @ self.total), float(wide @ self.second @ wide)
        if everything:
            return total, squares
        allowed = set(spans)
        left_out = [span for span in self.ranges.values() if span not in allowed]
        if sum(b - a for a, b in left_out) < exact_below:
            excluded = score_moments(self.vectors(_row_indices(left_out)) @ query)
            return total - excluded[0], squares - excluded[1]
        return score_moments(approximate)

    def _int8_scores(self, query: np.ndarray, first: int, end: int) -> np.ndarray:
        """Rows ``first`` to ``end`` scored with int8 codes (the query rounded to int8 too)."""
        codes, inv_scale = quantise(query[None, :])
        dots = numkong.cdist(codes, self.codes[first:end], metric="dot", out_dtype="float32")
        scores = np.asarray(dots)[0]
        scores *= self.inv_scale[first:end]
        scores *= inv_scale[0]
        return scores


class ClipIndex:
    """The clip vectors of one stack's ready tasks, by owner and option, searchable by cosine.

    ``placeholders`` are the stack's "nothing here" vectors per option (as for ``rank_clips``):
    clips holding them are counted, not indexed. ``folder`` (None: in memory only) is where
    ``flush`` writes the index and ``open`` reads it back.
    """

    def __init__(
        self,
        dim: int,
        placeholders: Mapping[str, np.ndarray] | None = None,
        folder: Path | None = None,
        exact_below: int = EXACT_BELOW,
    ) -> None:
        self.dim = dim
        self.placeholders = {o: np.asarray(v, np.float32) for o, v in (placeholders or {}).items()}
        self.folder = folder
        self.exact_below = exact_below
        self._partitions: dict[tuple[str, str], _Partition] = {}
        self._tasks: dict[str, TaskInfo] = {}
        self._lock = threading.RLock()
        self.unflushed = 0  # tasks added or removed since the last flush (or open)

    # --- contents ------------------------------------------------------------------------

    def add_task(self, task_id: str, owner: str, segments: Iterable[StoredSegment]) -> None:
        """Indexes a ready task's clip vectors (its video-scope vectors are ignored); adding a
        task again replaces its vectors."""
        by_option: dict[str, dict[tuple[float, float], np.ndarray]] = {}
        for segment in segments:
            if segment.scope == "clip":
                by_option.setdefault(segment.option, {})[(segment.start, segment.end)] = segment.vector
        with self._lock:
            self.remove_task(task_id)
            info = TaskInfo(owner, list(by_option), clip_counts(by_option))
            for option, clips in by_option.items():
                vectors = np.asarray(np.stack(list(clips.values())), np.float32)
                real = ~is_placeholder(vectors, self.placeholders.get(option))
                spans = np.array(list(clips), np.float64).reshape(-1, 2)[real]
                if real.any():
                    partition = self._partitions.setdefault((owner, option), _Partition(self.dim))
                    partition.append(task_id, spans[:, 0], spans[:, 1], vectors[real])
            self._tasks[task_id] = info
            self.unflushed += 1

    def remove_task(self, task_id: str) -> bool:
        """Drops a task's vectors; False if it was not indexed."""
        with self._lock:
            info = self._tasks.pop(task_id, None)
            if info is None:
                return False
            self.unflushed += 1
            for option in info.options:
                partition = self._partitions.get((info.owner, option))
                if partition is not None:
                    partition.remove(task_id)
            return True

    def tasks(self) -> dict[str, str]:
        """Every indexed task, with its owner."""
        with self._lock:
            return {task_id: info.owner for task_id, info in self._tasks.items()}

    def vector_count(self) -> int:
        with self._lock:
            return sum(p.live for p in self._partitions.values())

    def reconcile(
        self,
        ready: Mapping[str, str],
        segments_of: Callable[[Sequence[str]], Sequence[StoredSegment]],
        batch: int = 64,
    ) -> tuple[int, int]:
        """Brings the index in line with the store: ``ready`` maps every ready task that search
        may rank to its owner, ``segments_of`` reads tasks' segments from the store. Tasks the
        index lacks (or holds under another owner) are added, tasks the store no longer has are
        dropped. Returns (added, removed)."""
        held = self.tasks()
        stale = [t for t in held if t not in ready]
        for task_id in stale:
            self.remove_task(task_id)
        missing = [t for t, owner in ready.items() if held.get(t) != owner]
        for at in range(0, len(missing), batch):
            chunk = missing[at : at + batch]
            found: dict[str, list[StoredSegment]] = {t: [] for t in chunk}
            for segment in segments_of(chunk):
                found[segment.task_id].append(segment)
            for task_id, segments in found.items():
                self.add_task(task_id, ready[task_id], segments)
        return len(missing), len(stale)

    # --- search --------------------------------------------------------------------------

    def rank(
        self,
        query: np.ndarray,
        top: int,
        *,
        owner: str | None,
        task_ids: Collection[str] | None = None,
        options: Sequence[str] | None = None,
        fused: bool = True,
    ) -> dict[str, list[Hit]]:
        """What ``rank_clips(query, store.segments(task_ids, options), top, placeholders)``
        returns: the ``top`` best clips per option and fused, over the tasks of ``owner`` (None:
        every owner) that are in ``task_ids`` (None: all of them)."""
        query = np.asarray(query, np.float32)
        allowed = set(task_ids) if task_ids is not None else None
        with self._lock:
            tasks = {
                t: info
                for t, info in self._tasks.items()
                if (owner is None or info.owner == owner) and (allowed is None or t in allowed)
            }
            present = options_in_order(tasks, options)
            wanted = max(top, MIN_CANDIDATES // 4) if fused and len(present) > 1 else top
            scans = {option: self._scan_option(option, query, tasks, wanted) for option in present}
            ranked = {option: hits_of(found, option, top) for option, found in scans.items()}
            if fused and len(present) > 1:
                ranked[FUSED] = self._fuse(query, present, scans, tasks, top)
            return ranked

    def _scan_option(
        self, option: str, query: np.ndarray, tasks: Mapping[str, TaskInfo], wanted: int
    ) -> OptionScan:
        """The option's best ``wanted`` clips over the allowed tasks of every owner in ``tasks``,
        and the statistics of all their scores."""
        result = OptionScan([], 0, 0.0, 0.0)
        for owner in sorted({info.owner for info in tasks.values()}):
            partition = self._partitions.get((owner, option))
            if partition is None:
                continue
            mine = [t for t, info in tasks.items() if info.owner == owner]
            scan = partition.scan(query, mine, wanted, self.exact_below)
            task_of = _task_of_rows(partition, scan.rows)
            result.clips += [
                (task_of[i], float(partition.starts[r]), float(partition.ends[r]), float(s))
                for i, (r, s) in enumerate(zip(scan.rows, scan.scores, strict=True))
            ]
            result.count += scan.count
            result.total += scan.total
            result.squares += scan.squares
        result.clips.sort(key=lambda clip: -clip[3])
        del result.clips[wanted:]
        return result

    def _fuse(
        self,
        query: np.ndarray,
        present: Sequence[str],
        scans: Mapping[str, OptionScan],
        tasks: Mapping[str, TaskInfo],
        top: int,
    ) -> list[Hit]:
        def scores_of(candidates: Sequence[ClipKey]) -> Iterator[tuple[ClipKey, str, float]]:
            for task_id, start, end in candidates:
                owner = tasks[task_id].owner
                for option in present:
                    partition = self._partitions.get((owner, option))
                    row = partition.row_of(task_id, start, end) if partition is not None else None
                    if partition is not None and row is not None:
                        vector = partition.span(row, row + 1)[0]
                        yield (task_id, start, end), option, float(vector @ query)

        return fuse_candidates(query, present, scans, tasks, self.placeholders, top, scores_of)

    # --- persistence ---------------------------------------------------------------------

    def flush(self) -> Path:
        """Writes the index as a new generation in ``folder`` and makes it current; a crash at
        any point leaves the previous generation current. Returns the generation's folder."""
        if self.folder is None:
            raise ValueError("this index has no folder to flush to")
        with self._lock:
            self.folder.mkdir(parents=True, exist_ok=True)
            current = _current_generation(self.folder)
            number = int(current.name.split("-")[1]) + 1 if current is not None else 1
            final = self.folder / f"gen-{number:06d}"
            staging = self.folder / f"{final.name}.tmp"
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir()
            manifest, files = self._write_partitions(staging)
            _write_synced(staging / "manifest.json", json.dumps(manifest).encode())
            os.replace(staging, final)
            # the vectors now on disk are read from there: the memory that held them is freed
            for partition, name in zip(self._partitions.values(), files, strict=True):
                partition.base = np.load(final / f"{name}-vectors.npy", mmap_mode="r")
                partition.tail = np.empty((0, self.dim), np.float32)
            _write_synced(self.folder / "CURRENT.tmp", final.name.encode())
            os.replace(self.folder / "CURRENT.tmp", self.folder / "CURRENT")
            for old in self.folder.glob("gen-*"):
                if old != final:
                    shutil.rmtree(old, ignore_errors=True)
            self.unflushed = 0
            return final

    def _write_partitions(self, staging: Path) -> tuple[dict[str, object], list[str]]:
        """Every partition's files in ``staging``: the manifest and the partitions' file names."""
        parts = []
        for i, ((owner, option), partition) in enumerate(self._partitions.items()):
            if partition.live < partition.rows:
                partition.compact()
            name = f"p{i}"
            partition.write_vectors(staging / f"{name}-vectors.npy")
            for suffix, array in (
                ("codes", partition.codes),
                ("inv", partition.inv_scale),
                ("starts", partition.starts),
                ("ends", partition.ends),
                ("total", partition.total),
                ("second", partition.second),
            ):
                with open(staging / f"{name}-{suffix}.npy", "wb") as fh:
                    per_row = suffix not in ("total", "second")
                    np.save(fh, np.ascontiguousarray(array[: partition.rows] if per_row else array))
                    fh.flush()
                    os.fsync(fh.fileno())
            parts.append(
                {
                    "owner": owner,
                    "option": option,
                    "file": name,
                    "rows": partition.rows,
                    "ranges": partition.ranges,
                }
            )
        tasks = {
            t: {"owner": i.owner, "options": i.options, "clips": i.clips} for t, i in self._tasks.items()
        }
        manifest = {"version": FORMAT_VERSION, "dim": self.dim, "partitions": parts, "tasks": tasks}
        return manifest, [str(part["file"]) for part in parts]

    @classmethod
    def open(
        cls,
        folder: Path,
        dim: int,
        placeholders: Mapping[str, np.ndarray] | None = None,
        exact_below: int = EXACT_BELOW,
    ) -> ClipIndex:
        """The index last flushed to ``folder``; an empty one if there is none or it cannot be
        read (then ``reconcile`` rebuilds it from the store). Float32 vectors stay on disk,
        memory-mapped; the int8 codes, scanned by every query, are read into memory."""
        index = cls(dim, placeholders, folder, exact_below)
        generation = _current_generation(folder)
        if generation is None:
            return index
        try:
            index._load(generation)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("vector index in %s unreadable (%s); it will be rebuilt from the store", folder, exc)
            return cls(dim, placeholders, folder, exact_below)
        return index

    def _load(self, generation: Path) -> None:
        manifest = json.loads((generation / "manifest.json").read_text())
        if manifest["version"] != FORMAT_VERSION or manifest["dim"] != self.dim:
            raise ValueError(f"format {manifest['version']} / dimension {manifest['dim']} differ")
        for part in manifest["partitions"]:
            partition = _Partition(self.dim)
            path = generation / part["file"]
            partition.base = np.load(f"{path}-vectors.npy", mmap_mode="r")
            partition.codes = np.load(f"{path}-codes.npy")
            partition.inv_scale = np.load(f"{path}-inv.npy")
            partition.starts, partition.ends = np.load(f"{path}-starts.npy"), np.load(f"{path}-ends.npy")
            partition.total, partition.second = np.load(f"{path}-total.npy"), np.load(f"{path}-second.npy")
            partition.rows = int(part["rows"])
            partition.ranges = {t: (int(a), int(b)) for t, (a, b) in part["ranges"].items()}
            shapes = {
                len(a) for a in (partition.base, partition.codes, partition.inv_scale, partition.starts)
            }
            moments = (partition.total.shape, partition.second.shape) == ((self.dim,), (self.dim, self.dim))
            if shapes != {partition.rows} or partition.base.shape[1] != self.dim or not moments:
                raise ValueError(f"partition {part['file']} does not match its manifest")
            self._partitions[(part["owner"], part["option"])] = partition
        self._tasks = {
            t: TaskInfo(i["owner"], list(i["options"]), dict(i["clips"]))
            for t, i in manifest["tasks"].items()
        }


def quantise(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Int8 codes of float vectors, one scale per vector (largest component -> 127), and the
    factor that turns a code back into the vector's units."""
    largest = np.abs(vectors).max(axis=1).astype(np.float32)
    largest[largest == 0] = 1.0
    codes = np.rint(vectors * (INT8_MAX / largest)[:, None]).astype(np.int8)
    return codes, largest / INT8_MAX


def _resized(array: np.ndarray, rows: int, used: int) -> np.ndarray:
    grown = np.empty((rows, *array.shape[1:]), array.dtype)
    grown[:used] = array[:used]
    return grown


def _row_indices(spans: Sequence[tuple[int, int]]) -> np.ndarray:
    if not spans:
        return np.empty(0, np.int64)
    return np.concatenate([np.arange(a, b) for a, b in spans])


def _merged(spans: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Row ranges in order, adjacent ones joined."""
    runs: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        if runs and runs[-1][1] == a:
            runs[-1] = (runs[-1][0], b)
        else:
            runs.append((a, b))
    return runs


def _best(scores: np.ndarray, count: int) -> np.ndarray:
    """Indices of the ``count`` highest finite scores, best first. On long arrays a threshold
    from a strided sample cuts the candidates first (argpartition over 1M scores: 8 ms; this:
    about 1 ms); if the threshold leaves too few, the full argpartition runs."""
    n = len(scores)
    if n > 64 * count and n > 65_536:
        step = 32
        sample = scores[::step]
        keep = min(len(sample) - 1, 2 * (count // step) + 8)
        threshold = np.partition(sample, len(sample) - keep - 1)[len(sample) - keep - 1]
        above = np.flatnonzero(scores >= threshold) if np.isfinite(threshold) else np.empty(0, np.int64)
        if len(above) >= count:
            picked = above[np.argpartition(-scores[above], count - 1)[:count]]
            return picked[np.argsort(-scores[picked], kind="stable")]
    if n > count:
        picked = np.argpartition(-scores, count - 1)[:count]
    else:
        picked = np.arange(n)
    picked = picked[np.isfinite(scores[picked])]
    return picked[np.argsort(-scores[picked], kind="stable")]


def _task_of_rows(partition: _Partition, rows: np.ndarray) -> list[str]:
    if not len(rows):
        return []
    order = sorted(partition.ranges.items(), key=lambda item: item[1][0])
    firsts = np.array([a for _, (a, _) in order])
    where = np.searchsorted(firsts, rows, side="right") - 1
    return [order[i][0] for i in where]


def _current_generation(folder: Path) -> Path | None:
    try:
        name = (folder / "CURRENT").read_text().strip()
    except OSError:
        return None
    generation = folder / name
    return generation if name.startswith("gen-") and generation.is_dir() else None


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


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
