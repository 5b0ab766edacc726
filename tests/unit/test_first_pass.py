"""The exact index's first pass over large partitions (product quantization, faiss): the rankings
of rank_clips, over every task and over some; codes kept in step with added, removed and
compacted rows; flushed and reopened without training again."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from index_support import DIM, OPTIONS, assert_same_ranking, keyed, make_task, placeholders_for, unit

from vidembed.records import StoredSegment
from vidembed.search import exact
from vidembed.search.exact import ClipIndex
from vidembed.search.rank import FUSED, rank_clips

TASKS, CLIPS = 60, 50  # 3,000 clips a task's option: above APPROXIMATE_FROM, so the first pass runs
APPROXIMATE_FROM = 1_000


@pytest.fixture(autouse=True)
def few_candidates(monkeypatch: pytest.MonkeyPatch) -> None:
    # 300 of the 3,000 rows go on from the first pass (at the default, 10,000 of at least
    # 200,000): what the first pass leaves out is then most of the partition
    monkeypatch.setattr(exact, "APPROX_CANDIDATES", 300)


def seeded() -> tuple[np.random.Generator, dict[str, np.ndarray]]:
    """A test's random numbers, and the placeholders drawn first from them."""
    rng = np.random.default_rng(11)
    return rng, placeholders_for(rng)


def filled(
    rng: np.random.Generator, placeholders: dict[str, np.ndarray], folder: Path | None = None
) -> tuple[ClipIndex, dict[str, list[StoredSegment]]]:
    index = ClipIndex(DIM, placeholders, folder, exact_below=100, approximate_from=APPROXIMATE_FROM)
    segments = {}
    for n in range(TASKS):
        task_id = f"{n:024d}"
        segments[task_id] = make_task(rng, task_id, CLIPS, placeholders)
        index.add_task(task_id, "a", segments[task_id])
    return index, segments


def quantized_rows(index: ClipIndex) -> dict[str, tuple[int, int] | None]:
    """Per option: the rows its first pass holds codes of and the rows it was trained at."""
    found = {}
    for option in OPTIONS:
        quantizer = index._partitions[("a", option)].quantizer
        found[option] = None if quantizer is None else (quantizer.rows, quantizer.trained_at)
    return found


def test_the_first_pass_ranks_as_rank_clips_over_all_tasks_and_some() -> None:
    rng, placeholders = seeded()
    index, segments = filled(rng, placeholders)
    everything = [s for task in segments.values() for s in task]
    assert quantized_rows(index) == dict.fromkeys(OPTIONS)  # trained by the first query that needs it
    for query in unit(rng.standard_normal((8, DIM))):
        assert_same_ranking(
            index.rank(query, 10, owner="a"), rank_clips(query, everything, 10, placeholders), 1e-5
        )
    rows = {o: index._partitions[("a", o)].rows for o in OPTIONS}
    assert rows["visual"] == TASKS * CLIPS and rows["transcription"] < rows["audio"] < rows["visual"]
    assert quantized_rows(index) == {o: (rows[o], rows[o]) for o in OPTIONS}
    # over half the tasks: the first pass asks for twice the candidates and keeps the allowed
    # ones; per option the same clips and scores, the fused statistics from the int8 scores
    chosen = sorted(segments)[::2]
    subset = [s for t in chosen for s in segments[t]]
    for query in unit(rng.standard_normal((8, DIM))):
        found = index.rank(query, 20, owner="a", task_ids=chosen)
        expected = rank_clips(query, subset, 20, placeholders)
        for option in OPTIONS:
            assert keyed(found[option]) == keyed(expected[option])
        assert len(set(keyed(found[FUSED])) & set(keyed(expected[FUSED]))) >= 18
    # a query that is a stored vector finds it first, with cosine 1
    target = segments[sorted(segments)[17]][40]
    top = index.rank(target.vector, 1, owner="a", options=[target.option])[target.option][0]
    assert (top.task_id, top.start, top.score) == (target.task_id, target.start, pytest.approx(1.0, abs=1e-6))


def test_codes_follow_added_removed_and_compacted_rows() -> None:
    rng, placeholders = seeded()
    index, segments = filled(rng, placeholders)
    query = unit(rng.standard_normal(DIM))
    index.rank(query, 10, owner="a")
    trained = quantized_rows(index)
    # a task added later is encoded with the trained codes, not trained again
    added = make_task(rng, "n" * 24, CLIPS, placeholders)
    index.add_task("n" * 24, "a", added)
    segments["n" * 24] = added
    grown = quantized_rows(index)
    assert all(grown[o][0] > trained[o][0] and grown[o][1] == trained[o][1] for o in OPTIONS)  # type: ignore[index]
    hit = index.rank(added[3].vector, 1, owner="a", options=["visual"])["visual"][0]
    assert (hit.task_id, hit.start) == ("n" * 24, 18.0)
    # a removed task's rows stay in the codes (dead) but are never found
    gone = sorted(segments)[5]
    index.remove_task(gone)
    rest = [s for t, task in segments.items() if t != gone for s in task]
    assert gone not in {h.task_id for h in index.rank(segments[gone][3].vector, 50, owner="a")["visual"]}
    assert_same_ranking(index.rank(query, 10, owner="a"), rank_clips(query, rest, 10, placeholders), 1e-5)
    # compaction rewrites the rows: their codes are dropped and trained again when next needed
    for task_id in sorted(segments)[10:30]:
        index.remove_task(task_id)
    assert quantized_rows(index) == dict.fromkeys(OPTIONS)
    left = [s for t, task in segments.items() if t != gone and t not in sorted(segments)[10:30] for s in task]
    assert_same_ranking(index.rank(query, 10, owner="a"), rank_clips(query, left, 10, placeholders), 1e-5)
    rows = {o: index._partitions[("a", o)].rows for o in OPTIONS}
    assert quantized_rows(index) == {o: (rows[o], rows[o]) for o in OPTIONS}


def test_trained_again_once_the_partition_doubled() -> None:
    rng, placeholders = seeded()
    index, _ = filled(rng, placeholders)
    query = unit(rng.standard_normal(DIM))
    index.rank(query, 10, owner="a", options=["visual"])
    for n in range(TASKS - 1):  # just short of twice the rows: the same centroids
        index.add_task(f"m{n:023d}", "a", make_task(rng, f"m{n:023d}", CLIPS, placeholders))
    index.rank(query, 10, owner="a", options=["visual"])
    assert quantized_rows(index)["visual"] == ((2 * TASKS - 1) * CLIPS, TASKS * CLIPS)
    index.add_task("z" * 24, "a", make_task(rng, "z" * 24, CLIPS, placeholders))
    index.rank(query, 10, owner="a", options=["visual"])
    assert quantized_rows(index)["visual"] == (2 * TASKS * CLIPS, 2 * TASKS * CLIPS)


def test_flushed_codes_reopen_without_training(tmp_path: Path) -> None:
    rng, placeholders = seeded()
    index, segments = filled(rng, placeholders, tmp_path / "index")
    queries = unit(rng.standard_normal((5, DIM)))
    before = [index.rank(q, 10, owner="a") for q in queries]
    trained = quantized_rows(index)
    index.flush()
    index.rank(queries[0], 10, owner="a")
    assert not index.unsaved()
    index._partitions[("a", "visual")].quantizer = None  # as after a compaction: trained again
    index.rank(queries[0], 10, owner="a")
    assert index.unsaved()  # so that ClipIndexes.close writes the codes, ~11 s of work at 1M rows
    generation = index.flush()
    assert not index.unsaved()
    assert sorted(p.name for p in generation.glob("*-pq.faiss")) == [
        "p0-pq.faiss",
        "p1-pq.faiss",
        "p2-pq.faiss",
    ]
    reopened = ClipIndex.open(
        tmp_path / "index", DIM, placeholders, exact_below=100, approximate_from=APPROXIMATE_FROM
    )
    assert quantized_rows(reopened) == trained  # read back, not trained again
    for query, expected in zip(queries, before, strict=True):
        assert_same_ranking(reopened.rank(query, 10, owner="a"), expected, 1e-5)
    # codes that do not fit their partition (here: another partition's) are made again
    (generation / "p0-pq.faiss").write_bytes((generation / "p2-pq.faiss").read_bytes())
    mismatched = ClipIndex.open(
        tmp_path / "index", DIM, placeholders, exact_below=100, approximate_from=APPROXIMATE_FROM
    )
    assert quantized_rows(mismatched)["visual"] is None
    (generation / "p1-pq.faiss").write_bytes(b"not a faiss index")
    damaged = ClipIndex.open(
        tmp_path / "index", DIM, placeholders, exact_below=100, approximate_from=APPROXIMATE_FROM
    )
    assert quantized_rows(damaged)["audio"] is None and quantized_rows(damaged)["transcription"] is not None
    everything = [s for task in segments.values() for s in task]
    assert_same_ranking(
        damaged.rank(queries[0], 10, owner="a"), rank_clips(queries[0], everything, 10, placeholders), 1e-5
    )


def test_the_statistics_sample_reads_the_rows_at_its_positions() -> None:
    """``_nth_rows`` (the sample's rows, without making every allowed row) against ``_rows_of``."""
    rng = np.random.default_rng(5)
    for _ in range(200):
        n = int(rng.integers(1, 50))
        firsts = np.sort(rng.choice(10_000, n, replace=False)) * 3
        ends = firsts + rng.integers(1, 3, n)
        every = exact._rows_of(firsts, ends)
        positions = np.sort(rng.choice(len(every), int(rng.integers(1, len(every) + 1)), replace=False))
        assert exact._nth_rows(firsts, ends, positions).tolist() == every[positions].tolist()
