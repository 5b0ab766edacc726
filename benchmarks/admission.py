"""The per-key limit under simultaneous creates: how many tasks two servers accept at the same instant.

    python -m benchmarks.admission --database-url postgresql://postgres@127.0.0.1/DB [--rounds 50]
    python -m benchmarks.admission            # SQLite in a temporary folder

Two stores opened on one database stand for two API servers. In each round, ``--threads`` threads
(half on each store) are released at once by a barrier and each tries to create one task of the
round's own key, with a limit of ``--limit``: once by counting and then inserting (what
``TaskService`` did before ``insert_within_limit``), once through ``insert_within_limit``. It
prints, per way, how many rounds accepted how many tasks; the limit holds when every round
accepted exactly ``--limit``. Give PostgreSQL a database of its own (the tables are created there).
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from vidembed.records import TaskRecord
from vidembed.segmentation import ClipParams
from vidembed.stores.base import TaskStore
from vidembed.stores.open import open_store

Admit = Callable[[TaskStore, TaskRecord, int], bool]


def count_then_insert(store: TaskStore, task: TaskRecord, limit: int) -> bool:
    """The old way: a count, then an insert, each in a transaction of its own."""
    if store.count_active(task.owner) >= limit:
        return False
    store.insert(task)
    return True


def within_limit(store: TaskStore, task: TaskRecord, limit: int) -> bool:
    return store.insert_within_limit(task, limit)


def new_task(task_id: str, owner: str) -> TaskRecord:
    now = time.time()
    return TaskRecord(
        id=task_id,
        owner=owner,
        model_name="marengo3.0",
        status="processing",
        params=ClipParams(clip_length=6.0, scopes=("clip",)),
        options=["visual"],
        created_at=now,
        updated_at=now,
    )


def one_round(stores: list[TaskStore], admit: Admit, owner: str, threads: int, limit: int) -> int:
    """How many of ``threads`` simultaneous creates of one owner were accepted."""
    start = threading.Barrier(threads)

    def create(n: int) -> bool:
        task = new_task(f"{owner}-{n}", owner)
        start.wait(10)
        return admit(stores[n % len(stores)], task, limit)

    with ThreadPoolExecutor(threads) as pool:
        return sum(pool.map(create, range(threads)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temporary folder")
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--limit", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        default = Path(folder) / "vidembed.sqlite3"
        stores = [open_store(args.database_url, default) for _ in range(2)]
        try:
            for name, admit in (
                ("count then insert", count_then_insert),
                ("insert_within_limit", within_limit),
            ):
                accepted = Counter(
                    one_round(
                        stores, admit, f"bench-{name[0]}-{r}-{time.time_ns()}", args.threads, args.limit
                    )
                    for r in range(args.rounds)
                )
                shown = ", ".join(f"{n} accepted in {rounds}" for n, rounds in sorted(accepted.items()))
                print(f"{name:>20}: {shown} (of {args.rounds} rounds; limit {args.limit})")
        finally:
            for store in stores:
                store.close()


if __name__ == "__main__":
    main()
