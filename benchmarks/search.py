"""Search at scale: today's brute force against the embedded store's vector index.

    python -m benchmarks.search [--sizes 10000,100000,1000000] [--kinds random,clustered]
                                [--fused 100000] [--queries 200] [--brute-queries 20]

For each size and kind of vectors it fills a fresh SQLite store through its own write path
(``insert`` + ``claim`` + ``complete``, tasks of ``--task-clips`` clips of one option, dimension
384 as the default stack), then measures, over the same queries:

- today's search: ``store.segments`` of every ready task + ``search.rank_clips`` (run at sizes up
  to ``--brute-max``; above it, extrapolated linearly from the largest size run, marked "~");
- the index (``vidembed.search.exact.ClipIndex``): rebuilt from the store, flushed to
  disk, reopened, queried; and the same index forced to exact float32 search;

and prints p50/p99 query latency, recall@10 against exact search, build time, RSS growth and disk.
``--fused`` adds a store of that many clips with all three options (and placeholders: "no speech"
in 30% of the transcription clips, "silence" in 5% of the audio), comparing the index's fused
top 10 with rank_clips' fused top 10. Kinds: ``random`` (unit vectors uniform on the sphere: the
worst case for graph indexes, no structure) and ``clustered`` (1,000 centres, cosine about 0.7 to
their centre; queries near a centre but noisier than the clips, as text queries sit apart from
clip vectors). Also printed: the crossover between exact float32 and the int8 scan, and what
restricting a query to 10% of the tasks costs against an index of those tasks only.

``--pgvector`` fills a PostgreSQL store with the same tasks, through the same write path, on a
private PostgreSQL 16 with pgvector 0.6.2 (the ``pgserver`` wheel of the test extra), and adds
the pgvector search's rows (``vidembed.search.pgvector``): its build time is the first search
(copying the vectors into ``clip_vectors`` and building the HNSW index), its disk the size of
``clip_vectors`` with its indexes; the server's memory is not in RSS+ (another process).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidembed.records import TaskRecord
from vidembed.search.exact import ClipIndex, _Partition
from vidembed.search.rank import FUSED, rank_clips
from vidembed.segmentation import ClipParams
from vidembed.stores.base import TaskStore
from vidembed.stores.sqlite.tasks import SQLiteStore

DIM = 384
OPTIONS = ("visual", "audio", "transcription")
CENTRES = 1000


@dataclass
class Row:
    case: str
    method: str
    vectors: int
    build_s: float | None
    p50_ms: float
    p99_ms: float
    recall: float
    rss_mb: float | None
    disk_mb: float | None
    estimated: bool = False


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def make_vectors(kind: str, count: int, rng: np.random.Generator, centres: np.ndarray) -> np.ndarray:
    if kind == "random":
        return unit(rng.standard_normal((count, DIM), dtype=np.float32))
    picked = centres[rng.integers(0, len(centres), count)]
    return unit(picked + 0.05 * rng.standard_normal((count, DIM), dtype=np.float32))


def make_queries(kind: str, count: int, rng: np.random.Generator, centres: np.ndarray) -> np.ndarray:
    if kind == "random":
        return unit(rng.standard_normal((count, DIM), dtype=np.float32))
    picked = centres[rng.integers(0, len(centres), count)]
    return unit(picked + 0.08 * rng.standard_normal((count, DIM), dtype=np.float32))


def add_ready_task(
    store: TaskStore, task_id: str, owner: str, segments: Sequence[tuple[str, float, float, np.ndarray]]
) -> None:
    """One task through the store's own write path: created, claimed by a worker, completed with
    its clip vectors (``(option, start, end, vector)``)."""
    now = time.time()
    options = sorted({option for option, _, _, _ in segments})
    store.insert(
        TaskRecord(
            id=task_id,
            owner=owner,
            model_name="conse-minilm-384",
            status="processing",
            params=ClipParams(clip_length=6.0, scopes=("clip",)),
            options=options,
            created_at=now,
            updated_at=now,
            stack="conse-minilm-384",
        )
    )
    claimed = store.claim("bench-worker", lease_seconds=600, max_attempts=3)
    assert claimed is not None and claimed.id == task_id
    rows = [(option, "clip", start, end, vector) for option, start, end, vector in segments]
    assert store.complete(task_id, "bench-worker", duration=6.0 * len(rows), segments=rows)


def task_id_of(number: int) -> str:
    return f"{number:024x}"


def rss_mb(kind: str = "RssAnon") -> float:
    """This process's private memory (``RssAnon``): file pages it maps (the memory-mapped float32
    vectors) are page cache the kernel can reclaim, and are reported apart (``RssFile``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{kind}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def disk_mb(path: Path) -> float:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files) / 2**20


def timed(calls: Sequence[Callable[[], object]]) -> tuple[list[float], list[object]]:
    seconds, results = [], []
    for call in calls:
        started = time.perf_counter()
        results.append(call())
        seconds.append(time.perf_counter() - started)
    return seconds, results


def recall(
    found: Sequence[Sequence[tuple[str, float]]], truth: Sequence[Sequence[tuple[str, float]]]
) -> float:
    hits = sum(len(set(f) & set(t)) for f, t in zip(found, truth, strict=True))
    return hits / max(sum(len(t) for t in truth), 1)


def keys(hits: Sequence[object]) -> list[tuple[str, float]]:
    return [(h.task_id, h.start) for h in hits]  # type: ignore[attr-defined]


def percentiles(seconds: Sequence[float]) -> tuple[float, float]:
    return float(np.percentile(seconds, 50) * 1e3), float(np.percentile(seconds, 99) * 1e3)


def build_index(
    store: SQLiteStore, folder: Path, placeholders: dict[str, np.ndarray]
) -> tuple[ClipIndex, float, float]:
    """The index rebuilt from the store and flushed: (index, seconds, RSS growth in MB)."""
    before = rss_mb()
    started = time.perf_counter()
    index = ClipIndex.open(folder, DIM, placeholders)
    ready = {t.id: t.owner for t in store.ready_tasks(None)}
    index.reconcile(ready, store.segments)
    index.flush()
    return index, time.perf_counter() - started, rss_mb() - before


def single_option_case(kind: str, size: int, args: argparse.Namespace, brute: dict[str, Row]) -> list[Row]:
    rng = np.random.default_rng(size + len(kind))
    centres = unit(rng.standard_normal((CENTRES, DIM), dtype=np.float32))
    case = f"{kind} {size:,}"
    work = Path(tempfile.mkdtemp(prefix="search-bench-", dir=args.workdir))
    try:
        store = SQLiteStore(work / "tasks.db")
        postgres = PgBench(args.pg_server) if args.pgvector else None
        all_vectors, all_keys = [], []
        started = time.perf_counter()
        for number in range(0, (size + args.task_clips - 1) // args.task_clips):
            count = min(args.task_clips, size - number * args.task_clips)
            vectors = make_vectors(kind, count, rng, centres)
            task_id = task_id_of(number)
            segments = [("visual", 6.0 * i, 6.0 * i + 6.0, v) for i, v in enumerate(vectors)]
            add_ready_task(store, task_id, "", segments)
            if postgres is not None:
                add_ready_task(postgres.store, task_id, "", segments)
            all_vectors.append(vectors)
            all_keys += [(task_id, 6.0 * i) for i in range(count)]
        fill_s = time.perf_counter() - started
        matrix = np.concatenate(all_vectors)
        del all_vectors
        queries = make_queries(kind, args.queries, rng, centres)
        truth = exact_top(matrix, queries, all_keys, 10)
        print(f"  {case}: store filled in {fill_s:.0f} s ({disk_mb(work / 'tasks.db'):.0f} MB)", flush=True)
        rows = [today_row(case, store, queries, truth, size, args, brute)]
        index, build_s, grown = build_index(store, work / "index", {})
        index_disk = disk_mb(work / "index")
        del index
        before, before_file = rss_mb(), rss_mb("RssFile")
        started = time.perf_counter()
        index = ClipIndex.open(work / "index", DIM, {})
        reopen_s = time.perf_counter() - started
        for q in queries[:20]:
            index.rank(q, 10, owner="")
        print(
            f"  {case}: index built in {build_s:.1f} s (private memory +{grown:.0f} MB), reopened in "
            f"{reopen_s:.2f} s (+{rss_mb() - before:.0f} MB private once queried, "
            f"+{rss_mb('RssFile') - before_file:.0f} MB of mapped page cache: the float32 vectors)"
        )
        for method, exact_below in (
            ("index (int8 scan + rescore)", None),
            ("index forced exact f32", 10**12),
        ):
            index.exact_below = exact_below if exact_below is not None else index.exact_below
            seconds, found = timed([lambda q=q: index.rank(q, 10, owner="")["visual"] for q in queries])
            p50, p99 = percentiles(seconds)
            got = recall([keys(f) for f in found], truth)  # type: ignore[arg-type]
            rows.append(Row(case, method, size, build_s, p50, p99, got, grown, index_disk))
        if size >= 10 * args.task_clips:
            filtered_cost(case, index, store, queries, args)
        if args.hnsw and size <= args.hnsw_max:
            rows += hnsw_rows(case, matrix, all_keys, queries, truth)
        if postgres is not None:
            rows += postgres.single_option_rows(case, size, queries, truth, args)
            postgres.close()
        store.close()
        return rows
    finally:
        shutil.rmtree(work, ignore_errors=True)


def hnsw_rows(
    case: str,
    matrix: np.ndarray,
    all_keys: Sequence[tuple[str, float]],
    queries: np.ndarray,
    truth: list[list[tuple[str, float]]],
) -> list[Row]:
    """The alternative measured and not chosen: an HNSW graph (usearch; ``pip install
    usearch==2.26.6``), cosine, connectivity 16, expansion_add 128, both cores to build."""
    try:
        from usearch.index import Index  # not a dependency of vidembed
    except ImportError:
        print("  --hnsw: usearch is not installed (.venv/bin/pip install usearch==2.26.6); skipped")
        return []

    before = rss_mb()
    started = time.perf_counter()
    graph = Index(ndim=DIM, metric="cos", dtype="f32", connectivity=16, expansion_add=128)
    graph.add(np.arange(len(matrix), dtype=np.uint64), matrix, threads=2)
    build_s, grown = time.perf_counter() - started, rss_mb() - before
    rows = []
    for expansion in (64, 256):
        graph.expansion_search = expansion
        seconds, found = timed([lambda q=q: graph.search(q, 10, threads=1).keys for q in queries])
        got = recall([[all_keys[int(i)] for i in f] for f in found], truth)  # type: ignore[attr-defined]
        rows.append(Row(case, f"usearch HNSW ef={expansion}", len(matrix), build_s, *percentiles(seconds),
                        got, grown, graph.memory_usage / 2**20))  # fmt: skip
    return rows


def exact_top(
    matrix: np.ndarray, queries: np.ndarray, all_keys: Sequence[tuple[str, float]], k: int
) -> list[list[tuple[str, float]]]:
    truth = []
    for q in queries:
        scores = matrix @ q
        best = np.argpartition(-scores, k - 1)[:k]
        truth.append([all_keys[i] for i in best])
    return truth


def today_row(
    case: str,
    store: SQLiteStore,
    queries: np.ndarray,
    truth: list[list[tuple[str, float]]],
    size: int,
    args: argparse.Namespace,
    brute: dict[str, Row],
) -> Row:
    """store.segments + rank_clips over every ready task, as TaskService.search does today."""
    kind = case.split()[0]
    if size > args.brute_max and kind in brute:
        measured = brute[kind]
        factor = size / measured.vectors
        return Row(
            case, "today (extrapolated)", size, None, measured.p50_ms * factor, measured.p99_ms * factor,
            1.0, None, None, True,
        )  # fmt: skip

    def search(q: np.ndarray) -> list[tuple[str, float]]:
        ids = [t.id for t in store.ready_tasks(None)]
        return keys(rank_clips(q, store.segments(ids), 10)["visual"])

    chosen = queries[: args.brute_queries]
    before = rss_mb()
    seconds, found = timed([lambda q=q: search(q) for q in chosen])
    p50, p99 = percentiles(seconds)
    row = Row(case, "today: segments + rank_clips", size, None, p50, p99,
              recall(found, truth[: len(chosen)]), rss_mb() - before, None)  # type: ignore[arg-type]  # fmt: skip
    brute[kind] = row
    return row


def filtered_cost(
    case: str, index: ClipIndex, store: SQLiteStore, queries: np.ndarray, args: argparse.Namespace
) -> None:
    """A query restricted to 10% of the tasks of a shared partition (``task_ids``: their rows are
    scanned) against a partition holding only those tasks (what one owner's partition is)."""
    index.exact_below = ClipIndex(DIM).exact_below
    ids = sorted(index.tasks())
    subset = ids[::10]
    alone = ClipIndex(DIM)
    for task_id in subset:
        alone.add_task(task_id, "", store.segments([task_id]))
    shared, _ = timed([lambda q=q: index.rank(q, 10, owner="", task_ids=subset) for q in queries[:50]])
    own, _ = timed([lambda q=q: alone.rank(q, 10, owner="") for q in queries[:50]])
    print(
        f"  {case}: 10% of the tasks ({alone.vector_count():,} vectors): by task_ids in the shared "
        f"index p50 {percentiles(shared)[0]:.2f} ms, in an index of their own {percentiles(own)[0]:.2f} ms"
    )


def fused_case(size: int, args: argparse.Namespace) -> list[Row]:
    """Three options per clip with placeholders: fused top 10 of the index against rank_clips'."""
    rng = np.random.default_rng(7)
    case = f"fused {size:,} x 3"
    placeholders = {
        "audio": unit(rng.standard_normal((1, DIM)))[0],
        "transcription": unit(rng.standard_normal((1, DIM)))[0],
    }
    empty_share = {"visual": 0.0, "audio": 0.05, "transcription": 0.3}
    work = Path(tempfile.mkdtemp(prefix="search-bench-", dir=args.workdir))
    try:
        store = SQLiteStore(work / "tasks.db")
        postgres = PgBench(args.pg_server) if args.pgvector else None
        started = time.perf_counter()
        for number in range(size // args.task_clips):
            segments = []
            for option in OPTIONS:
                vectors = unit(rng.standard_normal((args.task_clips, DIM), dtype=np.float32))
                empty = rng.random(args.task_clips) < empty_share[option]
                if option in placeholders:
                    vectors[empty] = placeholders[option]
                segments += [(option, 6.0 * i, 6.0 * i + 6.0, v) for i, v in enumerate(vectors)]
            add_ready_task(store, task_id_of(number), "", segments)
            if postgres is not None:
                add_ready_task(postgres.store, task_id_of(number), "", segments)
        print(f"  {case}: store filled in {time.perf_counter() - started:.0f} s", flush=True)
        queries = unit(rng.standard_normal((args.queries, DIM), dtype=np.float32))
        ids = [t.id for t in store.ready_tasks(None)]
        chosen = queries[: args.brute_queries]
        before = rss_mb()
        seconds, exact = timed(
            [lambda q=q: rank_clips(q, store.segments(ids), 10, placeholders) for q in chosen]
        )
        brute_rss = rss_mb() - before
        index, build_s, grown = build_index(store, work / "index", placeholders)
        index_disk = disk_mb(work / "index")
        rows = [
            Row(
                case,
                "today: segments + rank_clips",
                3 * size,
                None,
                *percentiles(seconds),
                1.0,
                brute_rss,
                None,
            )
        ]
        found_seconds, found = timed([lambda q=q: index.rank(q, 10, owner="") for q in queries])
        for option in (FUSED, *OPTIONS):
            got = recall([keys(f[option]) for f in found[: len(chosen)]], [keys(e[option]) for e in exact])  # type: ignore[index]
            label = f"index, {option} top 10"
            rows.append(
                Row(case, label, 3 * size, build_s, *percentiles(found_seconds), got, grown, index_disk)
            )
        if postgres is not None:
            rows += postgres.fused_rows(case, size, queries, exact, placeholders)
            postgres.close()
        store.close()
        return rows
    finally:
        shutil.rmtree(work, ignore_errors=True)


class PgBench:
    """A fresh database on the benchmark's pgvector server: the PostgreSQL store and its search."""

    def __init__(self, server_uri: str) -> None:
        import psycopg

        from vidembed.stores.postgres.tasks import PostgresStore

        self.name = f"search_bench_{time.time_ns()}"
        self.server_uri = server_uri
        with psycopg.connect(server_uri, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {self.name}")
        base, _, query = server_uri.partition("?")
        self.url = f"{base.rsplit('/', 1)[0]}/{self.name}?{query}"
        self.store = PostgresStore(self.url)

    def _search(self, **options: int) -> tuple[object, Callable[..., dict[str, list[object]]]]:
        from vidembed.search.pgvector import PgVectorIndex

        index = PgVectorIndex(self.url, **options)
        tasks = self.store.ready_tasks(None)
        return index, lambda q, placeholders=None: index.rank(  # type: ignore[return-value]
            "bench", q, 10, placeholders or {}, owner="", tasks=tasks, options=None
        )

    def disk_mb(self) -> float:
        import psycopg

        with psycopg.connect(self.url) as conn:
            row = conn.execute("SELECT pg_total_relation_size('clip_vectors')").fetchone()
        return float(row[0]) / 2**20 if row else 0.0

    def single_option_rows(
        self,
        case: str,
        size: int,
        queries: np.ndarray,
        truth: list[list[tuple[str, float]]],
        args: argparse.Namespace,
    ) -> list[Row]:
        rows = []
        index, rank = self._search()
        started = time.perf_counter()
        rank(queries[0])  # the first search copies the vectors over and starts the HNSW build
        index.wait_for_builds()  # type: ignore[attr-defined]
        build_s = time.perf_counter() - started
        print(f"  {case}: pgvector indexed in {build_s:.1f} s ({self.disk_mb():.0f} MB)", flush=True)
        disk = self.disk_mb()
        index.close()  # type: ignore[attr-defined]
        for ef in args.pgvector_ef:
            searcher, rank = self._search(ef_search=ef)
            rank(queries[0])  # this process looks for the index built above
            seconds, found = timed([lambda q=q, r=rank: r(q)["visual"] for q in queries])
            got = recall([keys(f) for f in found], truth)  # type: ignore[arg-type]
            label = f"pgvector HNSW ef={ef}"
            rows.append(Row(case, label, size, build_s, *percentiles(seconds), got, None, disk))
            searcher.close()  # type: ignore[attr-defined]
        exact, rank_exact = self._search(exact_rows=10**12)
        chosen = queries[: args.brute_queries]
        seconds, found = timed([lambda q=q: rank_exact(q)["visual"] for q in chosen])
        got = recall([keys(f) for f in found], truth[: len(chosen)])  # type: ignore[arg-type]
        rows.append(Row(case, "pgvector exact scan", size, build_s, *percentiles(seconds), got, None, disk))
        exact.close()  # type: ignore[attr-defined]
        return rows

    def fused_rows(
        self,
        case: str,
        size: int,
        queries: np.ndarray,
        exact: Sequence[object],
        placeholders: dict[str, np.ndarray],
    ) -> list[Row]:
        index, rank = self._search()
        started = time.perf_counter()
        rank(queries[0], placeholders)
        index.wait_for_builds()  # type: ignore[attr-defined]
        build_s = time.perf_counter() - started
        disk = self.disk_mb()
        seconds, found = timed([lambda q=q: rank(q, placeholders) for q in queries])
        rows = []
        for option in (FUSED, *OPTIONS):
            got = recall([keys(f[option]) for f in found[: len(exact)]], [keys(e[option]) for e in exact])  # type: ignore[index]
            rows.append(Row(case, f"pgvector, {option} top 10", 3 * size, build_s, *percentiles(seconds),
                            got, None, disk))  # fmt: skip
        index.close()  # type: ignore[attr-defined]
        return rows

    def close(self) -> None:
        import psycopg

        self.store.close()
        with psycopg.connect(self.server_uri, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")


def crossover(args: argparse.Namespace) -> None:
    """Per partition size: a query by exact float32 against the int8 scan + rescore."""
    rng = np.random.default_rng(1)
    print("  crossover (ms per query, p50 of 100): vectors  exact-f32  int8-scan")
    for size in (1_000, 2_000, 5_000, 10_000, 20_000, 50_000):
        partition = _Partition(DIM)
        partition.append("t", np.arange(size, dtype=np.float64), np.arange(size) + 1.0,
                         unit(rng.standard_normal((size, DIM), dtype=np.float32)))  # fmt: skip
        queries = unit(rng.standard_normal((100, DIM), dtype=np.float32))
        exact, _ = timed([lambda q=q, p=partition: p.scan(q, None, 10, 10**12) for q in queries])
        scan, _ = timed([lambda q=q, p=partition: p.scan(q, None, 10, 0) for q in queries])
        print(f"  {size:>30,}  {percentiles(exact)[0]:9.2f}  {percentiles(scan)[0]:9.2f}")


def print_table(rows: Sequence[Row]) -> None:
    today = {r.case: r for r in rows if r.method.startswith("today")}
    header = (
        f"{'case':<22} {'method':<30} {'build s':>8} {'p50 ms':>9} {'p99 ms':>9} {'x today':>8} "
        f"{'recall@10':>9} {'RSS+ MB':>8} {'disk MB':>8}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        base = today.get(r.case)
        ratio = f"{base.p50_ms / r.p50_ms:8.0f}" if base and not r.method.startswith("today") else f"{'':>8}"
        p50 = f"~{r.p50_ms:.0f}" if r.estimated else f"{r.p50_ms:.1f}"
        p99 = f"~{r.p99_ms:.0f}" if r.estimated else f"{r.p99_ms:.1f}"
        build = f"{r.build_s:.1f}" if r.build_s is not None else "-"
        rss = f"{r.rss_mb:.0f}" if r.rss_mb is not None else "-"
        disk = f"{r.disk_mb:.0f}" if r.disk_mb is not None else "-"
        recall_text = "(exact)" if r.estimated else f"{r.recall:.3f}"
        print(
            f"{r.case:<22} {r.method:<30} {build:>8} {p50:>9} {p99:>9} {ratio} {recall_text:>9} "
            f"{rss:>8} {disk:>8}"
        )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10000,100000,1000000", help="clip vectors of one option")
    parser.add_argument("--kinds", default="random,clustered")
    parser.add_argument("--fused", type=int, default=100_000, help="clips with 3 options (0: skip)")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--brute-queries", type=int, default=20, help="queries for today's search")
    parser.add_argument("--brute-max", type=int, default=100_000, help="largest size today's search runs at")
    parser.add_argument("--task-clips", type=int, default=1000, help="clips per task")
    parser.add_argument("--hnsw", action="store_true", help="also measure usearch's HNSW (if installed)")
    parser.add_argument("--hnsw-max", type=int, default=100_000, help="largest size HNSW is built at")
    parser.add_argument("--workdir", default=None, help="where the stores go (default: the temp folder)")
    parser.add_argument(
        "--pgvector", action="store_true", help="also measure pgvector search (pgserver, test extra)"
    )
    parser.add_argument(
        "--pgvector-ef",
        default="100",
        type=lambda text: [int(v) for v in text.split(",") if v],
        help="hnsw.ef_search values to measure, comma-separated (default 100: vidembed's)",
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    if args.pgvector:
        import pgserver  # the test extra: PostgreSQL 16 with pgvector 0.6.2

        pg_folder = Path(tempfile.mkdtemp(prefix="search-bench-pg-", dir=args.workdir))
        server = pgserver.get_server(pg_folder, cleanup_mode="delete")
        args.pg_server = server.get_uri()
    rows: list[Row] = []
    brute: dict[str, Row] = {}
    crossover(args)
    sizes = sorted(int(s) for s in args.sizes.split(",") if s)
    for kind in args.kinds.split(","):
        for size in sizes:
            rows += single_option_case(kind, size, args, brute)
    if args.fused:
        rows += fused_case(args.fused, args)
    print()
    print_table(rows)
    print(f"\ntotal run time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
