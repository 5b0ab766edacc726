"""The exact index's first pass over a large partition: the int8 scan against product quantization.

    python -m benchmarks.first_pass [--rows 1000000] [--queries 20] [--kinds random,clustered]
                                    [--candidates 10000]

Fills one partition (``vidembed.search.exact._Partition``, as the index holds one owner's clips
of one option) with ``--rows`` unit vectors of 384 dimensions in tasks of 10 rows, then runs the
same queries through its two ways of finding candidates, over every row and over the tasks of
50 % and 10 % of the videos (every other one, every tenth):

- ``int8``: every allowed row scored with its int8 code (numkong), the best rescored in float32;
- ``pq N``: the product-quantization first pass (faiss's 4-bit fast scan) keeps its best N rows
  (``APPROX_CANDIDATES``, scaled up as the allowed rows are rarer; at least 50 per row wanted,
  10,000 here), those are scored with their int8 codes, the best rescored in float32.

For each it prints p50 / p95 of the partition's scan (ms), recall of the exact top 10 and top 200
(float32 over the allowed rows: the Search API asks each option for its best 200), the worst
query's recall@200, and the statistics fusion takes (the spread of the allowed rows' scores)
against the exact one. Kinds as in ``benchmarks/search.py``: ``random`` (no structure: the
hardest case for any approximation, the 200th best within ~0.04 of the best) and ``clustered``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from unittest import mock

import numpy as np

from benchmarks.search import CENTRES, DIM, make_queries, make_vectors, unit
from vidembed.search import exact
from vidembed.search.exact import _Partition

TASK_ROWS = 10
WANTED = 200


def filled(vectors: np.ndarray) -> _Partition:
    partition = _Partition(DIM)
    times = np.arange(TASK_ROWS, dtype=np.float64) * 6.0
    for task in range(len(vectors) // TASK_ROWS):
        rows = vectors[task * TASK_ROWS : (task + 1) * TASK_ROWS]
        partition.append(f"{task:024d}", times, times + 6.0, rows)
    return partition


def run(
    partition: _Partition,
    vectors: np.ndarray,
    queries: np.ndarray,
    method: str,
    candidates: int,
    every: int,
) -> tuple[list[float], list[float], list[float], list[float]]:
    """Scan times (s), recall@10, recall@200 and the spread's relative error, per query."""
    tasks = len(vectors) // TASK_ROWS
    selected = None if every == 1 else (np.arange(tasks) % every == 0)
    allowed_rows = (
        np.arange(len(vectors)) if selected is None else np.flatnonzero(np.repeat(selected, TASK_ROWS))
    )
    approximate_from = 0 if method == "pq" else 10**12
    times, at10, at200, spread_error = [], [], [], []
    with mock.patch.object(exact, "APPROX_CANDIDATES", candidates):
        partition.scan_selected(queries[0], selected, WANTED, exact.EXACT_BELOW, approximate_from)  # trains
        for query in queries:
            started = time.perf_counter()
            scan = partition.scan_selected(query, selected, WANTED, exact.EXACT_BELOW, approximate_from)
            times.append(time.perf_counter() - started)
            truth = vectors[allowed_rows] @ query
            order = allowed_rows[np.argsort(-truth)]
            found = set(scan.rows.tolist())
            at10.append(len(found & set(order[:10].tolist())) / 10)
            at200.append(len(found & set(order[:WANTED].tolist())) / WANTED)
            spread = np.sqrt(scan.squares / scan.count - (scan.total / scan.count) ** 2)
            spread_error.append(abs(spread / truth.std() - 1))
    return times, at10, at200, spread_error


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--kinds", default="random,clustered")
    parser.add_argument("--candidates", default="10000")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(7)
    centres = unit(rng.standard_normal((CENTRES, DIM), dtype=np.float32))
    print("| vectors | allowed | first pass | scan p50 / p95 ms | recall@10 | recall@200 (worst) ", end="")
    print("| spread error |")
    print("|---|---|---|---:|---:|---:|---:|")
    for kind in args.kinds.split(","):
        vectors = make_vectors(kind, args.rows, rng, centres)
        queries = make_queries(kind, args.queries, rng, centres)
        started = time.perf_counter()
        partition = filled(vectors)
        print(f"<!-- {kind}: {args.rows:,} rows filled in {time.perf_counter() - started:.0f} s -->")
        for every, share in ((1, "all"), (2, "50 %"), (10, "10 %")):
            methods = [("int8", 0)] + [("pq", int(n)) for n in args.candidates.split(",")]
            for method, candidates in methods:
                times, at10, at200, spread = run(partition, vectors, queries, method, candidates, every)
                label = "int8 scan" if method == "int8" else f"pq, {candidates:,} candidates"
                p50, p95 = np.percentile(times, 50) * 1e3, np.percentile(times, 95) * 1e3
                print(
                    f"| {kind} {args.rows:,} | {share} | {label} | {p50:.1f} / {p95:.1f} "
                    f"| {np.mean(at10):.3f} | {np.mean(at200):.4f} ({min(at200):.3f}) "
                    f"| {np.max(spread):.1e} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
