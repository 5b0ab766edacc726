"""Opens the search a configuration names (``--search-index``): the data folder's exact index
(``exact.ClipIndexes``, the default) or pgvector inside PostgreSQL (``pgvector.PgVectorIndex``,
psycopg and pgvector imported only then). docs/SEARCH.md measures both."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from vidembed.errors import ConfigurationError
from vidembed.records import TaskRecord
from vidembed.search.base import ClipSearch
from vidembed.search.exact import ClipIndexes
from vidembed.stores.base import TaskStore, database_target

SEARCH_INDEXES = ("local", "pgvector")


def open_clip_search(
    kind: str,
    database_url: str | None,
    folder: Path,
    store: TaskStore,
    stack_of: Callable[[TaskRecord], str | None],
    ef_search: int = 100,
) -> ClipSearch:
    """The search a ``Settings.search_index`` names, over the store that ``database_url`` opens:
    "local" (the default) with ``ClipIndexes`` in ``folder``, whatever the store; "pgvector"
    inside PostgreSQL with pgvector's HNSW graphs, each search asking for ``ef_search`` candidates
    (ConfigurationError if the database cannot).
    Why local is the default: docs/SEARCH.md (exact, and faster per query; the graph's recall@10
    at 1M synthetic vectors was 0.02-0.55 with pgvector's defaults)."""
    if kind not in SEARCH_INDEXES:
        raise ConfigurationError(
            f"The search index (--search-index / VIDEMBED_SEARCH_INDEX) must be one of "
            f"{', '.join(SEARCH_INDEXES)}, not {kind!r}."
        )
    if kind == "local":
        return ClipIndexes(folder, store, stack_of)
    target = database_target(database_url, folder)
    if not isinstance(target, str):
        raise ConfigurationError("--search-index pgvector needs a PostgreSQL database (--database-url).")
    try:
        from vidembed.search.pgvector import PgVectorIndex
    except ImportError as exc:
        raise ConfigurationError(f"pgvector search needs: pip install 'vidembed[postgres]' ({exc})") from None
    if not 1 <= ef_search <= 1000:
        raise ConfigurationError(
            f"--pgvector-ef-search must be within 1-1000 (pgvector's range), not {ef_search}."
        )
    return PgVectorIndex(target, ef_search=ef_search)
