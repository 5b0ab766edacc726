"""An index of one stack's stored clip vectors, so that search need not load every vector.

The SQLite store stays the source of truth; this index is a cache of its clip vectors, kept in
the data folder and rebuilt from the store (``reconcile``) when it is missing, damaged or behind.

**How it searches** (chosen by measurement, docs/SEARCH.md): vectors are kept twice, as float32
(for exact scores) and as int8 codes (one scale per vector). A query scans every allowed int8
code with numkong's SIMD dot product (1M x 384 codes: 18 ms on this machine, where numpy's float32
matrix-vector product takes 155 ms), keeps the best few hundred and rescores them exactly in
float32. That is exhaustive, so recall does not depend on how the vectors are distributed: HNSW
(usearch) reached recall@10 0.25 on random unit vectors at 100k and needed 80 s to build. Below
``EXACT_BELOW`` allowed vectors the float32 scan is fast enough and exact. From ``APPROX_FROM``
allowed rows a partition is scanned first with product-quantization codes (faiss's 4-bit fast
scan, a quarter of the int8 codes' bytes, trained on the partition itself), and only its best
``APPROX_CANDIDATES`` rows go on to the int8 scores and the float32 rescoring: 3x faster at 1M
rows, and it kept 99.95 % of the exact top 200 of 1M random unit vectors, all of clustered ones
(benchmarks/first_pass.py).

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
by up to 4e-4 relative in 384 dimensions: near-ties of the fused list may swap), of all its rows,
or of a sample of ``STATISTICS_SAMPLE`` of them after the first pass (up to 1.6 % off, measured).
"""

from __future__ import annotations

import bisect
import json
import logging
import math
import os
import shutil
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from itertools import repeat
from operator import attrgetter
from pathlib import Path

import faiss  # type: ignore[import-untyped]
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
# Options scanned at once when a query spans several options and this many rows or more: the int8
# scan (numkong) releases the GIL, so threads run the options' scans side by side (3 scans of 1M
# rows: 1.01 s one after another, 0.44 s in 3 threads on the 2-core machine, under load,
# 2026-12-06; docs/SEARCH-API.md "Speed").
PARALLEL_ROWS = 200_000
# Threads for those scans. One per option, not one per CPU: with two threads on this 2-core
# machine the third option's scan waited for one of the first two (a 50 % filter at 1M clips:
# 71 ms waiting for three scans of ~29 ms each; the cores shared among three threads finish them
# in about 1.5 scans' time).
SCAN_THREADS = 4
# How the int8 scan reads allowed rows that come in several runs (a filter's tasks): run by run
# (no copy) when they are at most MAX_RUN_CALLS runs; else the allowed codes gathered and scored
# in one call, when the allowed rows at GATHER_COST scanned rows each cost less than a scan of the
# whole partition; else the whole partition scored and the allowed rows picked out. A call costs
# ~1.4 us alone and ~20 us with three scan threads taking turns at the GIL: 1 % of the tasks of a
# 1M partition, 1,000 runs, took 28 ms run by run, 0.5 ms gathered; a gathered row ~150 ns where a
# scanned one takes ~45 (1M rows of 384 dimensions, 2026-12-06, docs/SEARCH-API.md "Speed").
MAX_RUN_CALLS = 16
GATHER_COST = 3
# A query over at least this many rows of a partition scans them first with product-quantization
# codes (faiss's 4-bit fast scan: a code of 16 centroids for each pair of dimensions, 96 bytes a
# row in 384 dimensions where the int8 codes take 384): 1M rows in 11 ms where the int8 scan takes
# 47, on this machine, 2026-12-06. Only its best ``APPROX_CANDIDATES`` rows are scored with the int8
# codes, then the best of those in float32, as before. Over 1M random unit vectors (the hardest
# case: no structure to exploit, the 200th best score within 0.04 of the 1st) it kept 99.95 % of
# the exact top 200 of 20 queries (all of the top 10), over clustered ones all of them
# (benchmarks/first_pass.py; docs/SEARCH.md "A first pass over large partitions").
APPROX_FROM = 200_000
APPROX_CANDIDATES = 10_000
# Rows the quantizer is trained on (a sample spread over the partition; 1.7 s for 50,000), and the
# rows given to it at a time when it encodes a partition.
APPROX_TRAIN = 50_000
ENCODE_CHUNK = 65_536
# A query over part of a quantized partition takes the statistics fusion needs from the int8
# scores of a sample of this many of its rows, spread over them (the spread's relative error,
# ~1/sqrt(2 x 32768) = 0.4 % in theory, measured up to 0.8 % on random and 1.6 % on clustered
# vectors): scoring every allowed row would cost what the first pass saves.
STATISTICS_SAMPLE = 32_768
_scan_pool: ThreadPoolExecutor | None = None
_scan_pool_lock = threading.Lock()


class _CodesOfList:
    """The codes ``table`` gives the items of a list (``missing`` for an item it lacks), kept for
    the last list object asked about while the same object comes again and all its items were
    known: a code, once given, is kept for good (a search pool's 100k video ids took ~60 ms a
    query to map at 1M clips)."""

    def __init__(self, table: dict[str, int], missing: int) -> None:
        self._table, self._missing = table, missing
        self._last: tuple[Sequence[str], np.ndarray] | None = None

    def of(self, items: Sequence[str]) -> np.ndarray:
        last = self._last
        if last is not None and last[0] is items and (len(last[1]) == 0 or last[1].min() >= 0):
            return last[1]
        codes = np.fromiter(map(self._table.get, items, repeat(self._missing)), np.int64, len(items))
        self._last = (items, codes)
        return codes


def _scanner() -> ThreadPoolExecutor:
    """The process's threads for option scans (created on first use): SCAN_THREADS, whatever the
    CPUs, so that every option of a query scans at once and the cores share them out."""
    global _scan_pool
    with _scan_pool_lock:
        if _scan_pool is None:
            _scan_pool = ThreadPoolExecutor(SCAN_THREADS, thread_name_prefix="vidembed-scan")
        return _scan_pool


class _Quantizer:
    """A partition's first pass: product-quantization codes of its rows (faiss's 4-bit fast scan,
    inner product), trained on a sample of them. Row i of the partition is code i."""

    def __init__(self, index: faiss.Index, trained_at: int) -> None:
        self._index = index
        self.trained_at = trained_at  # the partition's rows when it was trained

    @classmethod
    def trained(cls, partition: _Partition) -> _Quantizer:
        """A quantizer trained on a sample of ``partition``'s rows, holding the codes of all of them."""
        rows = partition.rows
        index = faiss.index_factory(partition.dim, f"PQ{partition.dim // 2}x4fs", faiss.METRIC_INNER_PRODUCT)
        sample = np.arange(0, rows, max(1, rows // APPROX_TRAIN))
        index.train(np.ascontiguousarray(partition.vectors(sample), np.float32))
        quantizer = cls(index, rows)
        for first in range(0, rows, ENCODE_CHUNK):
            quantizer.add(partition.span(first, min(first + ENCODE_CHUNK, rows)))
        return quantizer

    @classmethod
    def read(cls, path: Path, trained_at: int) -> _Quantizer:
        return cls(faiss.read_index(str(path)), trained_at)

    def write(self, path: Path) -> None:
        faiss.write_index(self._index, str(path))
        with open(path, "rb+") as fh:
            os.fsync(fh.fileno())

    @property
    def rows(self) -> int:
        return int(self._index.ntotal)

    @property
    def dim(self) -> int:
        return int(self._index.d)

    def add(self, vectors: np.ndarray) -> None:
        self._index.add(np.ascontiguousarray(vectors, np.float32))

    def best(self, query: np.ndarray, count: int) -> np.ndarray:
        """The rows of the ``count`` highest approximate scores (fewer where there are fewer rows)."""
        _, rows = self._index.search(np.ascontiguousarray(query[None, :], np.float32), count)
        found: np.ndarray = rows[0]
        return found[found >= 0]


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


@dataclass(frozen=True)
class _Clips:
    """Clips (task, start, end) as a list of tasks and arrays of times, made once for every
    partition they are looked up in (``_Partition.rows_of``)."""

    tasks: list[str]
    starts: np.ndarray
    ends: np.ndarray

    @classmethod
    def of(cls, keys: Sequence[ClipKey]) -> _Clips:
        starts = np.fromiter((key[1] for key in keys), np.float64, len(keys))
        ends = np.fromiter((key[2] for key in keys), np.float64, len(keys))
        return cls([key[0] for key in keys], starts, ends)


@dataclass(frozen=True)
class _Plan:
    """What a query over some tasks scans: its options in rank_clips' order, the allowed tasks
    (a mask over task numbers), their owners, and their clips over those options (for fusion)."""

    present: list[str]
    selected: np.ndarray
    owners: list[str]
    clips: int


class _Partition:
    """One owner's vectors of one option; each task's rows are contiguous (``ranges``).

    Besides ``ranges``, the live tasks are kept in row order (first row, end row, task id and the
    task's number in ``numbers``, the index's task numbering), so that a query selects its tasks
    and maps rows back to tasks with numpy instead of a pass over every task in Python."""

    def __init__(self, dim: int, numbers: dict[str, int] | None = None) -> None:
        self.dim = dim
        self.numbers: dict[str, int] = numbers if numbers is not None else {}
        self._firsts: list[int] = []
        self._ends: list[int] = []
        self._ids: list[str] = []
        self._nums: list[int] = []
        self._live = 0
        self._cache: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
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
        # The first pass's codes of every row in use (None: not trained yet; dropped when the rows
        # are compacted, trained again by the next query that needs it).
        self.quantizer: _Quantizer | None = None
        self.quantizer_unsaved = False  # trained since the last flush: worth writing (~11 s at 1M rows)

    @property
    def live(self) -> int:
        return self._live

    def reindex(self) -> None:
        """Rebuilds the row-ordered task lists from ``ranges`` (after a load or a compaction)."""
        order = sorted(self.ranges.items(), key=lambda item: item[1][0])
        self._ids = [t for t, _ in order]
        self._firsts = [a for _, (a, _) in order]
        self._ends = [b for _, (_, b) in order]
        self._nums = [self.numbers.setdefault(t, len(self.numbers)) for t in self._ids]
        self._live = sum(b - a for _, (a, b) in order)
        self._cache = None

    def task_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The live tasks' first rows, end rows and numbers, in row order."""
        if self._cache is None:
            self._cache = (
                np.array(self._firsts, np.int64),
                np.array(self._ends, np.int64),
                np.array(self._nums, np.int64),
            )
        return self._cache

    def task_id_at(self, at: int) -> str:
        """The id of the ``at``-th live task in row order."""
        return self._ids[at]

    def _forget(self, first: int) -> None:
        at = bisect.bisect_left(self._firsts, first)
        del self._firsts[at], self._ends[at], self._ids[at], self._nums[at]
        self._cache = None

    def append(self, task_id: str, starts: np.ndarray, ends: np.ndarray, vectors: np.ndarray) -> None:
        count = len(vectors)
        self._reserve(self.rows + count)
        a, b = self.rows, self.rows + count
        self.tail[a - len(self.base) : b - len(self.base)] = vectors
        self.codes[a:b], self.inv_scale[a:b] = quantise(vectors)
        self.starts[a:b], self.ends[a:b] = starts, ends
        if self.quantizer is not None:
            self.quantizer.add(vectors)
        self.ranges[task_id] = (a, b)
        self.rows = b
        # rows are only ever appended at the end: the row-ordered lists stay sorted
        self._firsts.append(a)
        self._ends.append(b)
        self._ids.append(task_id)
        self._nums.append(self.numbers.setdefault(task_id, len(self.numbers)))
        self._live += b - a
        self._cache = None
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
            self._forget(span[0])
            self._live -= span[1] - span[0]
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
        self.quantizer = None  # its codes were of the old rows
        self.reindex()

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

    def rows_of(self, clips: _Clips) -> tuple[np.ndarray, np.ndarray]:
        """Where ``clips`` are: the positions (in ``clips``) of those this partition holds, and
        their rows (a clip's last row, should a task hold it twice). One pass over the clips'
        tasks' rows in numpy: one lookup a clip in Python took 7 ms of a fused search at 1M clips
        (cProfile, benchmarks/search_api.py, 2026-12-06)."""
        spans = [self.ranges.get(task_id, (0, 0)) for task_id in clips.tasks]
        firsts = np.fromiter((a for a, _ in spans), np.int64, len(spans))
        ends = np.fromiter((b for _, b in spans), np.int64, len(spans))
        rows = _rows_of(firsts, ends)
        of_clip = np.repeat(np.arange(len(spans)), ends - firsts)
        hit = (self.starts[rows] == clips.starts[of_clip]) & (self.ends[rows] == clips.ends[of_clip])
        rows, of_clip = rows[hit], of_clip[hit]
        last = np.flatnonzero(np.append(of_clip[1:] != of_clip[:-1], True)) if len(rows) else rows
        return of_clip[last], rows[last]

    def scan(
        self,
        query: np.ndarray,
        allowed: Collection[str] | None,
        wanted: int,
        exact_below: int,
        approximate_from: int = APPROX_FROM,
    ) -> _Scan:
        """The best ``wanted`` rows of the tasks in ``allowed`` (None: every task)."""
        if allowed is None:
            return self.scan_selected(query, None, wanted, exact_below, approximate_from)
        chosen = set(allowed)
        mask = np.array([t in chosen for t in self._ids], bool)
        return self.scan_selected(query, mask, wanted, exact_below, approximate_from)

    def scan_selected(
        self,
        query: np.ndarray,
        selected: np.ndarray | None,
        wanted: int,
        exact_below: int,
        approximate_from: int = APPROX_FROM,
    ) -> _Scan:
        """As ``scan``, the allowed tasks given as a mask over ``task_arrays`` (None: all)."""
        firsts, ends, _ = self.task_arrays()
        everything = selected is None or bool(selected.all())
        if selected is not None and not everything:
            firsts, ends = firsts[selected], ends[selected]
        count = int((ends - firsts).sum())
        if count == 0:
            return _Scan(np.empty(0, np.int64), np.empty(0, np.float32), 0, 0.0, 0.0)
        whole = everything and count == self.rows
        if count < exact_below:
            rows = np.arange(self.rows) if whole else _rows_of(firsts, ends)
            scores = (self.span(0, self.rows) if whole else self.vectors(rows)) @ query
            best = _best(scores, wanted)
            return _Scan(rows[best], scores[best], count, *score_moments(scores))
        run_firsts, run_ends = (np.array([0]), np.array([self.rows])) if whole else _merged(firsts, ends)
        codes, scale = quantise(query[None, :])
        if count >= approximate_from and self._quantized():
            rows, approximate = self._first_pass(query, codes, scale, run_firsts, run_ends, count, wanted)

            def moments() -> tuple[float, float]:
                # a sample of the allowed rows, spread over them (STATISTICS_SAMPLE)
                sample = np.arange(0, count, max(1, count // STATISTICS_SAMPLE))
                picked = _nth_rows(run_firsts, run_ends, sample)
                total, squares = score_moments(self._int8_rows(codes, scale, picked))
                return total * count / len(picked), squares * count / len(picked)

        else:
            allowed = None if whole else _rows_of(run_firsts, run_ends)
            rows, approximate = self._int8_scan(codes, scale, run_firsts, run_ends, count, allowed)

            def moments() -> tuple[float, float]:
                return score_moments(approximate)

        total, squares = self._statistics(query, selected, everything, exact_below, moments)
        picked = _best(approximate, max(wanted * 4, MIN_CANDIDATES))
        candidates = rows[picked]
        exact = self.vectors(candidates) @ query
        best = _best(exact, wanted)
        return _Scan(candidates[best], exact[best], count, total, squares)

    def _int8_scan(
        self,
        codes: np.ndarray,
        scale: np.ndarray,
        run_firsts: np.ndarray,
        run_ends: np.ndarray,
        count: int,
        allowed: np.ndarray | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Every allowed row (``allowed``, None: all) with its int8 score: the runs scanned one by
        one, the allowed codes gathered, or the whole partition scored (MAX_RUN_CALLS)."""
        if allowed is None:
            return np.arange(self.rows), self._int8_scores(codes, scale, 0, self.rows)
        if len(run_firsts) <= MAX_RUN_CALLS:
            parts = [
                self._int8_scores(codes, scale, int(a), int(b))
                for a, b in zip(run_firsts, run_ends, strict=True)
            ]
            return allowed, parts[0] if len(parts) == 1 else np.concatenate(parts)
        if count * GATHER_COST < self.rows:
            return allowed, self._int8_rows(codes, scale, allowed)
        return allowed, self._int8_scores(codes, scale, 0, self.rows)[allowed]

    def _first_pass(
        self,
        query: np.ndarray,
        codes: np.ndarray,
        scale: np.ndarray,
        run_firsts: np.ndarray,
        run_ends: np.ndarray,
        count: int,
        wanted: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The quantizer's best allowed rows (APPROX_CANDIDATES, or 50 per row wanted) with their
        int8 scores. The quantizer scans the whole partition: it asks for as many more rows as
        the allowed ones are rare, and keeps those in the allowed runs."""
        assert self.quantizer is not None
        enough = max(APPROX_CANDIDATES, 50 * wanted)
        rows = self.quantizer.best(query, min(self.rows, math.ceil(enough * self.rows / count)))
        if count < self.rows:
            run = np.searchsorted(run_firsts, rows, side="right") - 1
            rows = rows[(run >= 0) & (rows < run_ends[np.maximum(run, 0)])]
        return rows, self._int8_rows(codes, scale, rows)

    def _quantized(self) -> bool:
        """Whether the first pass can run, training its quantizer first when there is none, when
        it is out of step with the rows, or when the partition has doubled since it was trained
        (its centroids then fit a fraction of the rows): ~11 s at 1M rows of 384 dimensions,
        paid by the query that meets it (or a server's warm-up)."""
        if self.dim % 2:  # the codes take dimensions in pairs
            return False
        known = self.quantizer
        if known is None or known.rows != self.rows or self.rows >= 2 * known.trained_at:
            log.info("training the first-pass quantizer of a partition of %d rows", self.rows)
            self.quantizer = _Quantizer.trained(self)
            self.quantizer_unsaved = True
        return True

    def _statistics(
        self,
        query: np.ndarray,
        selected: np.ndarray | None,
        everything: bool,
        exact_below: int,
        moments: Callable[[], tuple[float, float]],
    ) -> tuple[float, float]:
        """Sum and sum of squares of the allowed rows' scores: exact from the moments when every
        task is allowed, or when the tasks left out are few (the moments less their exact
        scores); otherwise ``moments()``, from the int8 scores (their spread is off by up to 4e-4
        relative) of the allowed rows or of a sample of them."""
        wide = query.astype(np.float64)
        total, squares = float(wide @ self.total), float(wide @ self.second @ wide)
        if everything or selected is None:
            return total, squares
        firsts, ends, _ = self.task_arrays()
        left_firsts, left_ends = firsts[~selected], ends[~selected]
        if int((left_ends - left_firsts).sum()) < exact_below:
            excluded = score_moments(self.vectors(_rows_of(left_firsts, left_ends)) @ query)
            return total - excluded[0], squares - excluded[1]
        return moments()

    def _int8_rows(self, codes: np.ndarray, inv_scale: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """The given rows scored with int8 codes against the query's (``quantise``)."""
        dots = numkong.cdist(codes, self.codes[rows], metric="dot", out_dtype="float32")
        scores = np.asarray(dots)[0]
        scores *= self.inv_scale[rows]
        scores *= inv_scale[0]
        return scores

    def _int8_scores(self, codes: np.ndarray, inv_scale: np.ndarray, first: int, end: int) -> np.ndarray:
        """Rows ``first`` to ``end`` scored with int8 codes against the query's (``quantise``)."""
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
        approximate_from: int = APPROX_FROM,
    ) -> None:
        self.dim = dim
        self.placeholders = {o: np.asarray(v, np.float32) for o, v in (placeholders or {}).items()}
        self.folder = folder
        self.exact_below = exact_below
        self.approximate_from = approximate_from
        self._partitions: dict[tuple[str, str], _Partition] = {}
        self._tasks: dict[str, TaskInfo] = {}
        self._lock = threading.RLock()
        self.unflushed = 0  # tasks added or removed since the last flush (or open)
        # Every task seen gets a number (kept when it is removed; its partitions share the
        # numbering); per number, its owner and its options' group (codes, -1: not indexed) and
        # its clip counts per subset of options, so that a query works on its tasks with numpy.
        self._numbers: dict[str, int] = {}
        self._id_of = np.empty(0, object)
        self._owner_of = np.empty(0, np.int64)
        self._group_of = np.empty(0, np.int64)
        self._counts: dict[str, np.ndarray] = {}
        self._owners: dict[str, int] = {}
        self._owner_names: list[str] = []
        self._groups: dict[tuple[str, ...], int] = {}
        self._group_options: list[tuple[str, ...]] = []
        # Task numbers (-1: never seen) and owner codes (-2: never seen) of the lists a query gives.
        self._task_numbers = _CodesOfList(self._numbers, -1)
        self._owner_codes = _CodesOfList(self._owners, -2)
        # Tasks added and removed since the index was made (never reset): a plan (``_plan``) is
        # kept only while it has not moved.
        self._changes = 0
        self._plan_memo: tuple[Collection[str] | None, object, _Plan] | None = None

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
                    partition = self._partitions.get((owner, option))
                    if partition is None:
                        partition = self._partitions[(owner, option)] = _Partition(self.dim, self._numbers)
                    partition.append(task_id, spans[:, 0], spans[:, 1], vectors[real])
            self._tasks[task_id] = info
            self._note(task_id, info)
            self.unflushed += 1
            self._changes += 1

    def remove_task(self, task_id: str) -> bool:
        """Drops a task's vectors; False if it was not indexed."""
        with self._lock:
            info = self._tasks.pop(task_id, None)
            if info is None:
                return False
            self.unflushed += 1
            self._changes += 1
            number = self._numbers[task_id]
            self._owner_of[number] = self._group_of[number] = -1
            for key in info.clips:
                self._counts[key][number] = 0
            for option in info.options:
                partition = self._partitions.get((info.owner, option))
                if partition is not None:
                    partition.remove(task_id)
            return True

    def _note(self, task_id: str, info: TaskInfo) -> None:
        """Records an indexed task's number, owner, options and clip counts."""
        number = self._numbers.setdefault(task_id, len(self._numbers))
        if len(self._owner_of) < len(self._numbers):
            grown = max(len(self._numbers), 2 * len(self._owner_of), 1024)
            self._id_of = _resized(self._id_of, grown, len(self._id_of))
            self._owner_of = _grown_with(self._owner_of, grown, -1)
            self._group_of = _grown_with(self._group_of, grown, -1)
            self._counts = {key: _grown_with(counts, grown, 0) for key, counts in self._counts.items()}
        self._id_of[number] = task_id
        if info.owner not in self._owners:
            self._owners[info.owner] = len(self._owner_names)
            self._owner_names.append(info.owner)
        group = tuple(info.options)
        if group not in self._groups:
            self._groups[group] = len(self._group_options)
            self._group_options.append(group)
        self._owner_of[number] = self._owners[info.owner]
        self._group_of[number] = self._groups[group]
        for key, clips in info.clips.items():
            if key not in self._counts:
                self._counts[key] = np.zeros(len(self._owner_of), np.int64)
            self._counts[key][number] = clips

    def tasks(self) -> dict[str, str]:
        """Every indexed task, with its owner."""
        with self._lock:
            return {task_id: info.owner for task_id, info in self._tasks.items()}

    def missing(self, task_ids: Sequence[str], owners: Sequence[str]) -> dict[str, str]:
        """Those of the tasks ``task_ids`` (of owners ``owners``) that the index does not hold
        under that owner, with their owners."""
        with self._lock:
            numbers = self._task_numbers.of(task_ids)
            codes = self._owner_codes.of(owners)
            held = np.full(len(numbers), -3, np.int64)
            known = numbers >= 0
            held[known] = self._owner_of[numbers[known]]
            return {task_ids[i]: owners[i] for i in np.flatnonzero(held != codes).tolist()}

    def unsaved(self) -> bool:
        """Whether a flush would write anything new: tasks added or removed, or first-pass codes
        trained, since the last one."""
        with self._lock:
            return self.unflushed > 0 or any(p.quantizer_unsaved for p in self._partitions.values())

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
        with self._lock:
            plan = self._plan(owner, task_ids, options)
            present = plan.present
            wanted = max(top, MIN_CANDIDATES // 4) if fused and len(present) > 1 else top
            scan = partial(
                self._scan_option, query=query, owners=plan.owners, selected=plan.selected, wanted=wanted
            )
            if len(present) > 1 and self._scannable_rows(plan.owners, present) >= PARALLEL_ROWS:
                scans = dict(zip(present, _scanner().map(scan, present), strict=True))
            else:
                scans = {option: scan(option) for option in present}
            ranked = {option: hits_of(found, option, top) for option, found in scans.items()}
            if fused and len(present) > 1:
                ranked[FUSED] = self._fuse(query, present, scans, plan.clips, top)
            return ranked

    def _plan(
        self, owner: str | None, task_ids: Collection[str] | None, options: Sequence[str] | None
    ) -> _Plan:
        """What a query over these tasks scans: kept for the last task list object asked about
        while the index holds the same tasks (a search pool hands the same list again: at 1M
        clips, 100k tasks, working it out took ~10 ms a query, 2026-12-06)."""
        key = (owner, tuple(options) if options is not None else None, self._changes)
        memo = self._plan_memo
        if memo is not None and memo[0] is task_ids and memo[1] == key:
            return memo[2]
        numbers = self._allowed(owner, task_ids)
        present, by_group = self._options_in_order(numbers, self._group_of[numbers], options)
        selected = np.zeros(len(self._owner_of), bool)
        selected[numbers] = True
        owners = sorted(self._owner_names[code] for code in np.unique(self._owner_of[numbers]))
        plan = _Plan(present, selected, owners, self._clips_in(set(present), by_group))
        self._plan_memo = (task_ids, key, plan)
        return plan

    def _scannable_rows(self, owners: Sequence[str], options: Sequence[str]) -> int:
        """The rows of these owners' partitions of these options (what a query may scan)."""
        found = (self._partitions.get((owner, option)) for owner in owners for option in options)
        return sum(partition.rows for partition in found if partition is not None)

    def _allowed(self, owner: str | None, task_ids: Collection[str] | None) -> np.ndarray:
        """The numbers, ascending, of the indexed tasks of ``owner`` (None: any) in ``task_ids``
        (None: all)."""
        if owner is None:
            indexed = self._owner_of >= 0
        elif owner in self._owners:
            indexed = self._owner_of == self._owners[owner]
        else:
            return np.empty(0, np.int64)
        if task_ids is not None:
            numbers = self._task_numbers.of(task_ids if isinstance(task_ids, Sequence) else list(task_ids))
            chosen = np.zeros(len(indexed), bool)
            chosen[numbers[numbers >= 0]] = True
            indexed &= chosen
        return np.flatnonzero(indexed)

    def _options_in_order(
        self, numbers: np.ndarray, groups: np.ndarray, options: Sequence[str] | None
    ) -> tuple[list[str], dict[int, np.ndarray]]:
        """``options_in_order`` over the tasks ``numbers`` (of options' groups ``groups``), and
        those tasks by group. The options of a group first appear at its smallest task id, so
        the groups by their smallest id give rank_clips' order."""
        by_group = {int(g): numbers[groups == g] for g in np.unique(groups)}
        firsts = []
        for group, members in by_group.items():
            if any(not options or option in options for option in self._group_options[group]):
                firsts.append((self._id_of[members].min(), group))
        present: list[str] = []
        for _, group in sorted(firsts):
            for option in self._group_options[group]:
                if option not in present and (not options or option in options):
                    present.append(option)
        return present, by_group

    def _clips_in(self, subset: set[str], by_group: Mapping[int, np.ndarray]) -> int:
        """``rank.clips_in`` summed over the tasks of ``by_group``."""
        clips = 0
        for group, members in by_group.items():
            counts = self._counts.get(",".join(sorted(subset & set(self._group_options[group]))))
            if counts is not None:
                clips += int(counts[members].sum())
        return clips

    def _scan_option(
        self, option: str, query: np.ndarray, owners: Sequence[str], selected: np.ndarray, wanted: int
    ) -> OptionScan:
        """The option's best ``wanted`` clips over the ``selected`` tasks (by number) of
        ``owners``, and the statistics of all their scores."""
        result = OptionScan([], 0, 0.0, 0.0)
        for owner in owners:
            partition = self._partitions.get((owner, option))
            if partition is None:
                continue
            scan = partition.scan_selected(
                query,
                selected[partition.task_arrays()[2]],
                wanted,
                self.exact_below,
                self.approximate_from,
            )
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
        clips: int,
        top: int,
    ) -> list[Hit]:
        tasks = self._tasks

        def scores_of(candidates: Sequence[ClipKey]) -> Iterator[tuple[np.ndarray, str, np.ndarray]]:
            # Rows found per partition, their vectors read and scored in one product: one vector
            # read and one product per candidate took 70-130 ms of a query at 100k clips (cProfile,
            # benchmarks/search_api.py, 2026-12-06).
            by_owner: dict[str, list[int]] = {}
            for at, key in enumerate(candidates):
                by_owner.setdefault(tasks[key[0]].owner, []).append(at)
            for owner, positions in by_owner.items():
                clips = _Clips.of([candidates[at] for at in positions])
                for option in present:
                    partition = self._partitions.get((owner, option))
                    if partition is None:
                        continue
                    found, rows = partition.rows_of(clips)
                    yield np.asarray(positions)[found], option, partition.vectors(rows) @ query

        return fuse_candidates(query, present, scans, tasks, self.placeholders, top, scores_of, clips=clips)

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
            quantizer = partition.quantizer
            if quantizer is not None:
                quantizer.write(staging / f"{name}-pq.faiss")
            partition.quantizer_unsaved = False
            parts.append(
                {
                    "owner": owner,
                    "option": option,
                    "file": name,
                    "rows": partition.rows,
                    "ranges": partition.ranges,
                    # rows when the first-pass quantizer was trained (0: none written)
                    "quantized_at": quantizer.trained_at if quantizer is not None else 0,
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
        approximate_from: int = APPROX_FROM,
    ) -> ClipIndex:
        """The index last flushed to ``folder``; an empty one if there is none or it cannot be
        read (then ``reconcile`` rebuilds it from the store). Float32 vectors stay on disk,
        memory-mapped; the int8 codes, scanned by every query, are read into memory."""
        index = cls(dim, placeholders, folder, exact_below, approximate_from)
        generation = _current_generation(folder)
        if generation is None:
            return index
        try:
            index._load(generation)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("vector index in %s unreadable (%s); it will be rebuilt from the store", folder, exc)
            return cls(dim, placeholders, folder, exact_below, approximate_from)
        return index

    def _load(self, generation: Path) -> None:
        manifest = json.loads((generation / "manifest.json").read_text())
        if manifest["version"] != FORMAT_VERSION or manifest["dim"] != self.dim:
            raise ValueError(f"format {manifest['version']} / dimension {manifest['dim']} differ")
        for part in manifest["partitions"]:
            partition = _Partition(self.dim, self._numbers)
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
            partition.quantizer = _read_quantizer(Path(f"{path}-pq.faiss"), part, self.dim)
            self._partitions[(part["owner"], part["option"])] = partition
        self._tasks = {
            t: TaskInfo(i["owner"], list(i["options"]), dict(i["clips"]))
            for t, i in manifest["tasks"].items()
        }
        for task_id, info in self._tasks.items():
            self._note(task_id, info)
        for partition in self._partitions.values():
            partition.reindex()


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


def _grown_with(array: np.ndarray, rows: int, fill: int) -> np.ndarray:
    grown = np.full(rows, fill, array.dtype)
    grown[: len(array)] = array
    return grown


def _row_indices(spans: Sequence[tuple[int, int]]) -> np.ndarray:
    if not spans:
        return np.empty(0, np.int64)
    return np.concatenate([np.arange(a, b) for a, b in spans])


def _rows_of(firsts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The rows of the ranges ``firsts[i]`` to ``ends[i]``, range after range."""
    lengths = ends - firsts
    total = int(lengths.sum())
    if not total:
        return np.empty(0, np.int64)
    # each row is its range's first row plus its place in the range
    before = np.cumsum(lengths) - lengths
    return np.repeat(firsts - before, lengths) + np.arange(total, dtype=np.int64)


def _nth_rows(firsts: np.ndarray, ends: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """The rows at ``positions`` (ascending) of the ranges ``firsts[i]`` to ``ends[i]`` taken range
    after range: ``_rows_of(firsts, ends)[positions]`` without making every row (2 ms for the
    500,000 rows of a 50 % filter at 1M clips)."""
    lengths = ends - firsts
    after = np.cumsum(lengths)
    at = np.searchsorted(after, positions, side="right")
    return firsts[at] + positions - (after[at] - lengths[at])


def _merged(firsts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row ranges (in row order, not overlapping) with adjacent ones joined."""
    if len(firsts) < 2:
        return firsts, ends
    breaks = np.flatnonzero(ends[:-1] != firsts[1:]) + 1
    return firsts[np.concatenate([[0], breaks])], ends[np.concatenate([breaks - 1, [len(ends) - 1]])]


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
    firsts, _, _ = partition.task_arrays()
    where = np.searchsorted(firsts, rows, side="right") - 1
    return [partition.task_id_at(int(i)) for i in where]


def _read_quantizer(path: Path, part: Mapping[str, object], dim: int) -> _Quantizer | None:
    """A partition's first-pass quantizer as flushed; None when there is none or it does not fit
    the partition (the next query that needs it trains it again: generations written before
    there was one have none)."""
    trained_at = part.get("quantized_at")
    if not isinstance(trained_at, int) or trained_at <= 0 or not path.exists():
        return None
    try:
        quantizer = _Quantizer.read(path, trained_at)
    except RuntimeError as exc:  # faiss's error for a file it cannot read
        log.warning("first-pass codes %s unreadable (%s); they will be made again", path, exc)
        return None
    return quantizer if (quantizer.rows, quantizer.dim) == (part.get("rows"), dim) else None


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
        # The last task list ranked over, with its ids and owners (lists the index remembers by
        # identity: see exact._CodesOfList); the caller's list is not changed after it is passed.
        self._tasks_memo: tuple[Sequence[TaskRecord], list[str], list[str]] | None = None

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
        memo = self._tasks_memo
        if memo is not None and memo[0] is tasks and len(memo[1]) == len(tasks):
            ids, owners = memo[1], memo[2]
        else:
            ids, owners = list(map(attrgetter("id"), tasks)), list(map(attrgetter("owner"), tasks))
            self._tasks_memo = (tasks, ids, owners)
        new = index.missing(ids, owners)  # ready since it last looked
        if new:  # one read of the store for all of them
            found: dict[str, list[StoredSegment]] = {task_id: [] for task_id in new}
            for segment in self._store.segments(list(new)):
                found[segment.task_id].append(segment)
            for task_id, segments in found.items():
                index.add_task(task_id, new[task_id], segments)
        return index.rank(query, top, owner=owner, task_ids=ids, options=options)

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
                if index.unsaved():
                    index.flush()
            self._indexes.clear()
