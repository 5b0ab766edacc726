"""The Search API at scale: ``POST /search`` over HTTP against a served index of N clips.

    python -m benchmarks.search_api --clips 10000 100000 [--clips 1000000] [--repeat 30]
                                    [--cache-dir .cache/bench-search-api] [--profile-queries 5]

For each N it builds (or reuses, from ``--cache-dir``/<N>) a data folder holding one search index
of N/10 synthetic videos of 10 clips of 6 s, written straight into the task store the way a worker
completes an index task (``insert_leased`` + ``complete``: the built-in stack's identities as the
encoders, random unit vectors of its dimension for ``visual``, ``audio`` and ``transcription``
clips plus the ``video`` scope, the "silence" and "no speech" placeholders in 5 % and 30 % of
the audio and transcription clips, short texts of words drawn with Zipf frequencies from a
vocabulary of 20,000 pseudo-words for the spoken clips; ``user_metadata`` ``{"group": i % 100}``),
then runs one in-process search so that the exact index (``vidembed.search.exact``) is built from
the store and flushed, as a server's first search would. No engine and no video: embedding real
videos would take days. A folder is reused only if its ``complete.json`` says it was finished
with the same layout.

It then starts ``python -m vidembed.cli --data-dir DIR serve`` on that folder (the default exact
search index, SQLite), waits for ``/ready``, times the first search (the index opened and
checked against the store), warms up, and times with one httpx client, sequential requests
(multipart, as the SDK sends them):

- ``plain``: a text query over ``visual``, ``audio`` and ``transcription`` (both transcription
  modes), query texts in turn;
- ``grouped 1 %`` / ``grouped 50 %``: the same with ``group_by=video`` and a user-metadata
  ``filter`` matching 1 % (``{"group": 7}``) and 50 % (``{"group": {"lte": 49}}``) of the videos;
- ``next page``: ``GET /search/{next_page_token}`` of a plain search (``page_limit`` 5).

It prints p50 / p95 in ms per case and N, the server process's memory after the runs (VmRSS and
its peak, VmHWM, from /proc), the build times and the data folder's size, as a Markdown table;
then, at the largest N, a cProfile of ``services.search.query`` in-process on the same folder
(top 15 by cumulative time) and a breakdown of one query's parts.

How long it takes on this shared 2-core machine (2026-12-06): 10k and 100k clips together with
``--repeat 30`` 5 min (builds 8 s and 90 s; each query at 100k takes about 0.8 s); 1M clips with
``--repeat 10`` 18 min: the build 10.5 min (the store 9 min, the exact index 1.5 min; 12 GB on
disk), then about 6.5 s per query. Reusing cached folders, a run is the serving and timing only.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any
from unittest import mock

import httpx
import numpy as np

from benchmarks.search import disk_mb, percentiles, unit
from vidembed.api.compose import Services, compose
from vidembed.config import Settings
from vidembed.records import SegmentRow, TaskRecord
from vidembed.search.exact import ClipIndex, _Partition
from vidembed.segmentation import ClipParams
from vidembed.stores.lexical import ClipText

LAYOUT = 3  # bump when what a cached folder holds changes: older folders are rebuilt
CLIPS_PER_VIDEO = 10
CLIP_SECONDS = 6.0
OPTIONS = ("visual", "audio", "transcription")
MODEL = "marengo3.0"
GROUPS = 100  # user_metadata {"group": video number % 100}
FILTERS: dict[str, dict[str, object]] = {
    "1 %": {"group": 7},
    "50 %": {"group": {"lte": 49}},
}
# share of clips holding the stack's placeholder ("silence", "no speech") instead of a vector
PLACEHOLDER_SHARE = {"audio": 0.05, "transcription": 0.3}
VOCABULARY = 20_000
QUERIES = (
    "someone cutting vegetables in a kitchen",
    "a dog running on the beach",
    "people talking about the weather",
    "a red car driving at night",
    "a crowd cheering in a stadium",
    "a man playing the guitar",
    "children laughing in a park",
    "an aeroplane taking off",
)
PROGRESS_EVERY = 5_000  # videos between two progress lines of a build


@dataclass
class Built:
    """A data folder holding one index of ``clips`` clips, complete."""

    clips: int
    videos: int
    index_id: str
    layout: int = LAYOUT
    store_s: float = 0.0  # writing the tasks into the store
    index_s: float = 0.0  # the first in-process search: the exact index built and flushed
    vocabulary: list[str] = field(default_factory=list)  # the words texts and queries draw from


@dataclass
class Measured:
    clips: int
    cases: dict[str, tuple[float, float]]  # case -> (p50 ms, p95 ms)
    first_ms: float  # the server's first search (index opened and reconciled)
    ready_s: float  # from the server's start to /ready
    rss_mb: float
    hwm_mb: float
    children_rss_mb: float
    build: Built
    disk_mb: float
    notes: list[str] = field(default_factory=list)


# --- building a data folder ----------------------------------------------------------------


def pseudo_words(count: int, rng: np.random.Generator) -> list[str]:
    """``count`` distinct pronounceable words of 1-4 syllables (real enough for FTS5 and its
    edit-distance variants: a vocabulary, not random strings)."""
    consonants, vowels = list("bcdfghjklmnprstvwz"), list("aeiou")
    words: dict[str, None] = {}
    while len(words) < count:
        syllables = int(rng.integers(1, 5))
        word = "".join(str(rng.choice(consonants)) + str(rng.choice(vowels)) for _ in range(syllables))
        words[word] = None
    return list(words)


def clip_text(rng: np.random.Generator, vocabulary: Sequence[str], weights: np.ndarray) -> str:
    count = int(rng.integers(6, 16))  # about 2 words a second
    return " ".join(vocabulary[i] for i in rng.choice(len(vocabulary), count, p=weights))


def zipf_weights(count: int) -> np.ndarray:
    weights = 1.0 / np.arange(1, count + 1) ** 1.1
    return weights / weights.sum()


def video_rows(
    rng: np.random.Generator, dim: int, placeholders: Mapping[str, np.ndarray]
) -> tuple[list[SegmentRow], list[bool]]:
    """One video's rows, clips then the whole video per option, and which clips hold speech."""
    vectors = unit(rng.standard_normal((len(OPTIONS) * (CLIPS_PER_VIDEO + 1), dim), dtype=np.float32))
    rows: list[SegmentRow] = []
    spoken = [True] * CLIPS_PER_VIDEO
    at = 0
    for option in OPTIONS:
        share = PLACEHOLDER_SHARE.get(option, 0.0)
        for clip in range(CLIPS_PER_VIDEO):
            vector = vectors[at]
            at += 1
            if share and rng.random() < share:
                vector = placeholders[option]
                if option == "transcription":
                    spoken[clip] = False
            start = clip * CLIP_SECONDS
            rows.append((option, "clip", start, start + CLIP_SECONDS, vector))
    for option in OPTIONS:
        rows.append((option, "video", 0.0, CLIPS_PER_VIDEO * CLIP_SECONDS, vectors[at]))
        at += 1
    return rows, spoken


def open_services(folder: Path) -> Services:
    return compose(Settings(data_dir=folder, workers=1), start_workers=False)


def build(clips: int, folder: Path, seed: int = 0) -> Built:
    """Writes an index of ``clips`` clips into a fresh data folder, then builds its exact index."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed + clips)
    vocabulary = pseudo_words(VOCABULARY, rng)
    weights = zipf_weights(VOCABULARY)
    services = open_services(folder)
    try:
        assert services.indexes is not None and services.search is not None
        models = [{"model_name": MODEL, "model_options": ["visual", "audio"]}]
        index_id = services.indexes.create({"index_name": "bench", "models": models}, owner="")["_id"]
        catalog, store = services.core.catalog, services.core.store
        stack = catalog.resolve(MODEL)
        dim = catalog.text_encoder(stack).dimension
        encoders = catalog.identities(stack)
        placeholders = catalog.placeholder_vectors(stack)
        videos = clips // CLIPS_PER_VIDEO
        media: dict[str, Any] = {"width": 1280.0, "height": 720.0, "fps": 30.0, "size": 12_000_000.0}
        started = time.perf_counter()
        base = time.time() - videos
        for number in range(videos):
            created = base + number  # one a second: "newest first" is well defined
            task = TaskRecord(
                id=uuid.UUID(int=int(rng.integers(0, 2**62)) << 64 | number).hex[:24],
                owner="",
                model_name=MODEL,
                status="processing",
                params=ClipParams(scopes=("clip", "video")),
                options=list(OPTIONS),
                created_at=created,
                updated_at=created,
                input_filename=f"video-{number:07d}.mp4",
                stack=stack,
                api="index",
                index_id=index_id,
                user_metadata={"group": number % GROUPS},
            )
            rows, spoken = video_rows(rng, dim, placeholders)
            texts = [
                ClipText(i * CLIP_SECONDS, (i + 1) * CLIP_SECONDS, clip_text(rng, vocabulary, weights))
                for i in range(CLIPS_PER_VIDEO)
                if spoken[i]
            ]
            # one video = two transactions, as a worker's claim and complete (WAL, synchronous=NORMAL)
            store.insert_leased(task, "bench", 3600)
            duration = CLIPS_PER_VIDEO * CLIP_SECONDS
            assert store.complete(task.id, "bench", duration, rows, encoders, texts, media)
            if (number + 1) % PROGRESS_EVERY == 0:
                rate = (number + 1) / (time.perf_counter() - started)
                print(f"  {clips:,} clips: {number + 1:,}/{videos:,} videos ({rate:.0f}/s)", flush=True)
        store_s = time.perf_counter() - started
        started = time.perf_counter()
        with moments_at_flush():
            services.search.query(index_id=index_id, query_text=QUERIES[0], search_options=list(OPTIONS))
        index_s = time.perf_counter() - started
    finally:
        services.close()
    built = Built(clips, videos, index_id, LAYOUT, store_s, index_s, vocabulary)
    (folder / "complete.json").write_text(json.dumps(asdict(built)))
    return built


@contextmanager
def moments_at_flush() -> Iterator[None]:
    """The exact index built as ``reconcile`` builds it, except the partitions' score moments
    (sum and second moment of their vectors): computed once per partition before the flush, in
    chunks, instead of per task and option as ``_Partition.append`` does (a 384 x 384 float64
    update each: 3-10 ms here, 15-50 min of the build at 1M clips). The files are the same up to
    float64 rounding. Only for a build: no task is removed meanwhile, every row is live."""
    flush = ClipIndex.flush

    def flush_with_moments(index: ClipIndex) -> Path:
        for partition in index._partitions.values():
            partition.total = np.zeros(partition.dim, np.float64)
            partition.second = np.zeros((partition.dim, partition.dim), np.float64)
            assert partition.live == partition.rows  # nothing removed: every row is live
            for first in range(0, partition.rows, 32_768):
                chunk = partition.span(first, min(first + 32_768, partition.rows)).astype(np.float64)
                partition.total += chunk.sum(axis=0)
                partition.second += chunk.T @ chunk
        return flush(index)

    with (
        mock.patch.object(_Partition, "_account", lambda self, vectors, sign: None),
        mock.patch.object(ClipIndex, "flush", flush_with_moments),
    ):
        yield


def cached(clips: int, folder: Path) -> Built | None:
    """The folder's index if a finished build of the same layout left it there."""
    try:
        data = json.loads((folder / "complete.json").read_text())
        built = Built(**data)
    except (OSError, ValueError, TypeError):
        return None
    whole = built.clips == clips and built.layout == LAYOUT and (folder / "vidembed.sqlite3").is_file()
    return built if whole and (folder / "index").is_dir() else None


def data_folder(clips: int, cache_dir: Path) -> tuple[Path, Built, bool]:
    folder = cache_dir / str(clips)
    found = cached(clips, folder)
    if found is not None:
        return folder, found, True
    print(f"  {clips:,} clips: building {folder}", flush=True)
    return folder, build(clips, folder), False


# --- serving and timing -----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(folder: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "vidembed.cli", "--data-dir", str(folder), "serve", "--port", str(port)],
            start_new_session=True,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def wait_ready(client: httpx.Client, server: subprocess.Popen[bytes], timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with {server.returncode}")
        try:
            if client.get("/ready").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the server was not ready in time")


def multipart(fields: Mapping[str, str | Sequence[str]]) -> tuple[bytes, str]:
    """A multipart/form-data body of text fields (a list: the field repeated), as the SDK sends
    every search, file or not."""
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        for item in [value] if isinstance(value, str) else value:
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{item}\r\n')
    body = "".join(parts) + f"--{boundary}--\r\n"
    return body.encode(), f"multipart/form-data; boundary={boundary}"


def search(client: httpx.Client, fields: Mapping[str, str | Sequence[str]]) -> dict[str, Any]:
    body, content_type = multipart(fields)
    response = client.post("/search", content=body, headers={"content-type": content_type})
    if response.status_code != 200:
        raise RuntimeError(f"POST /search answered {response.status_code}: {response.text[:300]}")
    return dict(response.json())


def next_page(client: httpx.Client, token: str) -> None:
    client.get(f"/search/{token}").raise_for_status()


def memory_mb(pid: int) -> dict[str, float]:
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0]) / 1024
    return found


def children_rss_mb(pid: int) -> float:
    """The RSS of the server's child processes (an engine child of a worker, if one started)."""
    total = 0.0
    for tasks in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in tasks.read_text().split():
            try:
                total += memory_mb(int(child)).get("VmRSS", 0.0)
            except OSError:
                pass
    return total


def timed_calls(calls: Sequence[Callable[[], object]]) -> list[float]:
    seconds = []
    for call in calls:
        started = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - started)
    return seconds


def p50_p95(seconds: Sequence[float]) -> tuple[float, float]:
    p50 = percentiles(seconds)[0]
    return p50, float(np.percentile(seconds, 95) * 1e3)


def query_fields(index_id: str, text: str, **extra: str) -> dict[str, str | Sequence[str]]:
    return {"index_id": index_id, "query_text": text, "search_options": list(OPTIONS), **extra}


def queries_of(built: Built) -> list[str]:
    """The fixed phrases, and as many of two common vocabulary words (lexical matches)."""
    words = built.vocabulary[:40]
    return [*QUERIES, *(f"{words[i]} {words[i + 20]}" for i in range(len(QUERIES)))]


def measure(clips: int, cache_dir: Path, repeat: int) -> Measured:
    folder, built, reused = data_folder(clips, cache_dir)
    if reused:
        print(f"  {clips:,} clips: reusing {folder} (built in {built.store_s + built.index_s:.0f} s)")
    port = free_port()
    log = cache_dir / f"serve-{clips}.log"
    started = time.perf_counter()
    server = serve(folder, port, log)
    notes: list[str] = []
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=600) as client:
            wait_ready(client, server)
            ready_s = time.perf_counter() - started
            texts = queries_of(built)
            started = time.perf_counter()
            search(client, query_fields(built.index_id, texts[0]))
            first_ms = (time.perf_counter() - started) * 1e3
            cases: dict[str, list[Callable[[], object]]] = {}

            def text(i: int) -> str:
                return texts[i % len(texts)]

            cases["plain"] = [
                partial(search, client, query_fields(built.index_id, text(i))) for i in range(repeat)
            ]
            for share, condition in FILTERS.items():
                extra = {"group_by": "video", "filter": json.dumps(condition)}
                cases[f"grouped {share}"] = [
                    partial(search, client, query_fields(built.index_id, text(i), **extra))
                    for i in range(repeat)
                ]
            tokens = []
            for i in range(repeat):
                page = search(client, query_fields(built.index_id, text(i), page_limit="5"))
                token = page["page_info"].get("next_page_token")
                if token:
                    tokens.append(token)
            if len(tokens) < repeat:
                notes.append(f"next page: {repeat - len(tokens)} of {repeat} searches had one page only")
            cases["next page"] = [partial(next_page, client, token) for token in tokens]
            results: dict[str, tuple[float, float]] = {}
            for name, calls in cases.items():
                if not calls:
                    continue
                for call in calls[: max(3, repeat // 10)]:  # warm-up
                    call()
                results[name] = p50_p95(timed_calls(calls))
                print(f"  {clips:,} clips: {name}: p50 {results[name][0]:.1f} ms, "
                      f"p95 {results[name][1]:.1f} ms", flush=True)  # fmt: skip
            memory = memory_mb(server.pid)
            children = children_rss_mb(server.pid)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    return Measured(
        clips, results, first_ms, ready_s, memory.get("VmRSS", float("nan")),
        memory.get("VmHWM", float("nan")), children, built, disk_mb(folder), notes,
    )  # fmt: skip


# --- where the time goes ----------------------------------------------------------------------


def profile(clips: int, cache_dir: Path, queries: int) -> None:
    """cProfile of ``services.search.query`` in-process at ``clips``, plain and grouped 50 %, and
    the parts of one query timed apart."""
    folder = cache_dir / str(clips)
    built = cached(clips, folder)
    if built is None:
        print(f"no complete data folder for {clips:,} clips in {folder}")
        return
    services = open_services(folder)
    try:
        assert services.search is not None
        search_api = services.search
        texts = queries_of(built)
        search_api.query(index_id=built.index_id, query_text=texts[0], search_options=list(OPTIONS))
        for name, extra in (
            ("plain", {}),
            ("grouped 50 %", {"group_by": "video", "filter": json.dumps(FILTERS["50 %"])}),
        ):
            profiler = cProfile.Profile()
            profiler.enable()
            for i in range(queries):
                search_api.query(
                    index_id=built.index_id, query_text=texts[i], search_options=list(OPTIONS), **extra
                )
            profiler.disable()
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out).strip_dirs().sort_stats("cumulative")
            stats.print_stats(15)
            print(f"\n### cProfile, {clips:,} clips, {name}: {queries} queries, top 15 cumulative\n")
            print("```")
            print(out.getvalue().strip())
            print("```")
        breakdown(services, built, texts[0])
    finally:
        services.close()


def breakdown(services: Services, built: Built, text: str) -> None:
    """One plain query's parts, each timed alone (best of 3, ms)."""
    assert services.indexes is not None and services.search is not None
    index_search = services.search.search
    core = index_search.indexes
    index = core.get(built.index_id, "")
    tasks = core.tasks
    stack = index.stack
    videos = core.videos(index)
    vector = tasks.embed_text(stack, text)
    placeholders = tasks.catalog.placeholder_vectors(stack)
    current = index_search._current(index, videos)
    parts: dict[str, Callable[[], object]] = {
        "store.index_tasks (SQL + TaskRecord)": lambda: tasks.store.index_tasks(index.id),
        "IndexCore.videos (+ status, filter)": lambda: core.videos(index),
        "IndexSearch._current (encoders)": lambda: index_search._current(index, videos),
        "embed_text": lambda: tasks.embed_text(stack, text),
        "ClipIndexes.rank (3 options, fused)": lambda: tasks.indexes.rank(
            stack, vector, 200, placeholders, owner="", tasks=current, options=list(OPTIONS)
        ),
        "store.lexical": lambda: tasks.store.lexical([v.id for v in current], text, 200),
        "whole search.query": lambda: services.search.query(  # type: ignore[union-attr]
            index_id=built.index_id, query_text=text, search_options=list(OPTIONS)
        ),
    }
    print(f"\n### One plain query's parts, {built.clips:,} clips (best of 3)\n")
    print("| part | ms |\n|---|---:|")
    for name, call in parts.items():
        best = min(timed_calls([call] * 3))
        print(f"| {name} | {best * 1e3:.1f} |")


# --- the table --------------------------------------------------------------------------------


def print_table(rows: Sequence[Measured]) -> None:
    names = ["plain", *(f"grouped {share}" for share in FILTERS), "next page"]
    header = ["clips (videos)", *(f"{n} p50 / p95 ms" for n in names)]
    header += ["first search ms", "server RSS / HWM MB", "build s (store + index)", "disk MB"]
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|")
    for r in rows:
        cells = [f"{r.clips:,} ({r.build.videos:,})"]
        for name in names:
            found = r.cases.get(name)
            cells.append(f"{found[0]:.1f} / {found[1]:.1f}" if found else "-")
        memory = f"{r.rss_mb:.0f} / {r.hwm_mb:.0f}"
        if r.children_rss_mb:
            memory += f" (+{r.children_rss_mb:.0f} children)"
        cells += [
            f"{r.first_ms:.0f}",
            memory,
            f"{r.build.store_s + r.build.index_s:.0f} ({r.build.store_s:.0f} + {r.build.index_s:.0f})",
            f"{r.disk_mb:,.0f}",
        ]
        print("| " + " | ".join(cells) + " |")
    for r in rows:
        for note in r.notes:
            print(f"- {r.clips:,} clips: {note}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--clips", type=int, nargs="+", action="extend", help="indexed clips, e.g. 10000 100000"
    )
    parser.add_argument("--repeat", type=int, default=30, help="timed requests per case")
    parser.add_argument("--cache-dir", type=Path, default=Path(".cache/bench-search-api"))
    parser.add_argument(
        "--profile-queries", type=int, default=5, help="queries profiled at the largest N (0: none)"
    )
    args = parser.parse_args(argv)
    sizes = sorted(set(args.clips or [10_000, 100_000]))
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    rows = [measure(clips, args.cache_dir, args.repeat) for clips in sizes]
    print()
    print_table(rows)
    if args.profile_queries:
        profile(sizes[-1], args.cache_dir, args.profile_queries)
    print(f"\ntotal run time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
