"""Claim throughput of the stores: how many tasks per second workers can take and finish.

    python -m benchmarks.claims --database-url postgresql://postgres@127.0.0.1/DB [--tasks 2000]
                                [--threads 1,4,8] [--segments 30]
    python -m benchmarks.claims            # SQLite in a temporary folder

Each round fills the store with ``--tasks`` processing tasks, then ``--threads`` worker threads
each claim, renew once and complete (with ``--segments`` 384-d vectors) until nothing is left;
it prints tasks per second and checks that every task was completed exactly once; then it
deletes the round's tasks. Give PostgreSQL a database of its own (the store's tables are created
there). The embedding itself is not part of it: this is the store's ceiling, not the service's.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from vidembed.records import TaskRecord
from vidembed.segmentation import ClipParams
from vidembed.stores.base import TaskStore
from vidembed.stores.open import open_store


def fill(store: TaskStore, n_tasks: int, round_name: str) -> list[str]:
    now = time.time()
    ids = [f"{round_name}-{i:06d}" for i in range(n_tasks)]
    for i, task_id in enumerate(ids):
        store.insert(
            TaskRecord(
                id=task_id,
                owner="bench",
                model_name="marengo3.0",
                status="processing",
                params=ClipParams(clip_length=6.0, scopes=("clip",)),
                options=["visual"],
                created_at=now + i * 1e-6,
                updated_at=now,
            )
        )
    return ids


def drain(store: TaskStore, n_threads: int, n_segments: int) -> tuple[float, list[str]]:
    """Seconds to claim and complete every task with n_threads workers; the ids completed."""
    rng = np.random.default_rng(0)
    rows = [
        ("visual", "clip", 6.0 * i, 6.0 * i + 6, rng.standard_normal(384).astype(np.float32))
        for i in range(n_segments)
    ]
    done: list[str] = []
    lock = threading.Lock()

    def work(worker: str) -> None:
        while (task := store.claim(worker, 60, 3)) is not None:
            store.renew(task.id, worker, 60, 0.5, "visual")
            if store.complete(task.id, worker, 6.0 * n_segments, rows):
                with lock:
                    done.append(task.id)

    threads = [threading.Thread(target=work, args=(f"w{n}",)) for n in range(n_threads)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temporary folder")
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--threads", default="1,4,8")
    parser.add_argument("--segments", type=int, default=30, help="vectors per task (30: a 3-minute video)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        store = open_store(args.database_url, Path(folder) / "vidembed.sqlite3")
        kind = type(store).__name__
        try:
            for n_threads in (int(t) for t in args.threads.split(",")):
                ids = fill(store, args.tasks, f"r{n_threads}")
                seconds, done = drain(store, n_threads, args.segments)
                assert sorted(done) == ids, "a task was completed twice or not at all"
                print(
                    f"{kind:14} {n_threads:2d} threads  {args.tasks} tasks x {args.segments} vectors  "
                    f"{seconds:6.2f} s  {args.tasks / seconds:7.1f} tasks/s"
                )
                for task_id in ids:
                    store.delete(task_id)
        finally:
            store.close()


if __name__ == "__main__":
    main()
