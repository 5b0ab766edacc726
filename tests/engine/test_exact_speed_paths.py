"""The clip index's per-query bookkeeping kept in arrays (task numbers, row-ordered task lists,
clip counts per option subset) gives rank_clips' rankings through adds, removals (compaction),
re-adds under another owner, a reopen, task subsets, owners and option filters."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from index_support import DIM, assert_same_ranking, unit

from vidembed.records import StoredSegment
from vidembed.search import exact
from vidembed.search.exact import ClipIndex
from vidembed.search.rank import rank_clips

OPTIONS = ("visual", "audio", "transcription")


def _task(rng: np.random.Generator, task_id: str, placeholders: dict[str, np.ndarray]) -> list[StoredSegment]:
    """1-9 clips in one to three options (in a random order), some missing, some placeholders."""
    chosen = [str(o) for o in rng.permutation(OPTIONS)[: int(rng.integers(1, 4))]]
    clips = int(rng.integers(1, 10))
    segments = []
    for option in chosen:
        for i, vector in enumerate(unit(rng.standard_normal((clips, DIM)))):
            if rng.random() < 0.15:
                continue
            if option in placeholders and rng.random() < 0.3:
                vector = placeholders[option]
            segments.append(StoredSegment(task_id, option, "clip", 6.0 * i, 6.0 * i + 6.0, vector))
    return segments


def test_rankings_follow_rank_clips_through_changes(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    placeholders = {"audio": unit(rng.standard_normal(DIM)), "transcription": unit(rng.standard_normal(DIM))}
    index = ClipIndex(DIM, placeholders, tmp_path / "index", exact_below=10**9)
    segments: dict[str, list[StoredSegment]] = {}
    owner_of: dict[str, str] = {}
    for step in range(120):
        task_id = f"{int(rng.integers(0, 10**6)):024d}"
        segments[task_id], owner_of[task_id] = _task(rng, task_id, placeholders), ["a", "b"][step % 2]
        index.add_task(task_id, owner_of[task_id], segments[task_id])
        if step % 7 == 3:  # removals: a quarter of a partition's rows dead compacts it
            gone = sorted(segments)[int(rng.integers(0, len(segments)))]
            assert index.remove_task(gone)
            del segments[gone], owner_of[gone]
        if step % 11 == 5:  # the same task again, under the other owner
            again = sorted(segments)[int(rng.integers(0, len(segments)))]
            owner_of[again] = "b" if owner_of[again] == "a" else "a"
            segments[again] = _task(rng, again, placeholders)
            index.add_task(again, owner_of[again], segments[again])
        if step == 60:
            index.flush()
            index = ClipIndex.open(tmp_path / "index", DIM, placeholders, exact_below=10**9)
    assert index.tasks() == owner_of
    ids = sorted(segments)
    assert index.missing(ids, [owner_of[t] for t in ids]) == {}
    assert index.missing([ids[0], "x" * 24], ["nobody", "a"]) == {ids[0]: "nobody", "x" * 24: "a"}
    for partition in index._partitions.values():
        assert partition.live == sum(b - a for a, b in partition.ranges.values())
    for n, query in enumerate(unit(rng.standard_normal((12, DIM)))):
        owner = [None, "a", "b"][n % 3]
        subset = None if n % 4 == 0 else [t for t in ids if rng.random() < 0.5] + ["y" * 24]
        options = [None, ["audio", "visual"], ["transcription"]][n % 3]
        allowed = [
            s
            for t in ids
            if (owner is None or owner_of[t] == owner) and (subset is None or t in subset)
            for s in segments[t]
            if not options or s.option in options
        ]
        expected = rank_clips(query, allowed, 10, placeholders)
        found = index.rank(query, 10, owner=owner, task_ids=subset, options=options)
        assert_same_ranking(found, expected, 1e-5)


def test_options_scanned_in_threads_rank_as_one_after_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above exact.PARALLEL_ROWS a query's options are scanned in threads (int8 scans and exact
    ones); the rankings are the same as scanned one after another."""
    rng = np.random.default_rng(5)
    placeholders = {"audio": unit(rng.standard_normal(DIM))}
    index = ClipIndex(DIM, placeholders, tmp_path / "index", exact_below=50)  # int8 scans too
    for n in range(80):
        task_id = f"{n:024d}"
        index.add_task(task_id, "a", _task(rng, task_id, placeholders))
    ids = sorted(index.tasks())
    for query in unit(rng.standard_normal((6, DIM))):
        for subset in (None, ids[::3]):
            monkeypatch.setattr(exact, "PARALLEL_ROWS", 10**9)
            serial = index.rank(query, 15, owner="a", task_ids=subset)
            monkeypatch.setattr(exact, "PARALLEL_ROWS", 0)
            threaded = index.rank(query, 15, owner="a", task_ids=subset)
            assert threaded == serial
            assert len(threaded) == 4  # three options and the fused ranking


def test_runs_scored_whole_and_gathered_rank_as_run_by_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Allowed rows in many runs are scored run by run, gathered, or with the whole partition
    (exact.MAX_RUN_CALLS, exact.GATHER_COST): the same scores, so the same rankings."""
    rng = np.random.default_rng(9)
    placeholders = {"audio": unit(rng.standard_normal(DIM))}
    index = ClipIndex(DIM, placeholders, tmp_path / "index", exact_below=20)
    for n in range(120):
        task_id = f"{n:024d}"
        index.add_task(task_id, "a", _task(rng, task_id, placeholders))
    ids = sorted(index.tasks())
    for query in unit(rng.standard_normal((6, DIM))):
        for subset in (ids[::2], ids[::5], ids[:40]):  # many runs, fewer, one
            monkeypatch.setattr(exact, "MAX_RUN_CALLS", 10**9)  # always run by run
            by_runs = index.rank(query, 12, owner="a", task_ids=subset)
            monkeypatch.setattr(exact, "MAX_RUN_CALLS", 0)
            monkeypatch.setattr(exact, "GATHER_COST", 0)  # always gathered
            gathered = index.rank(query, 12, owner="a", task_ids=subset)
            monkeypatch.setattr(exact, "GATHER_COST", 10**9)  # always whole
            whole = index.rank(query, 12, owner="a", task_ids=subset)
            assert gathered == by_runs == whole
            assert len(gathered) == 4
