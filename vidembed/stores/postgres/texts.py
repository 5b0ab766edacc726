"""The clips' spoken words on PostgreSQL, and the lexical search over them: full-text search with
a GIN index (the schema: vidembed/stores/postgres/migrations/texts.py).

Functions on a connection of the task store's pool, inside the caller's transaction (they never
commit). The same words as SQLite's FTS5 table: each clip's tsvector is written from
``vidembed.stores.lexical.words_of`` (a tsvector literal, lexemes taken as they are, with their
positions for ``ts_rank_cd``), and a query is a tsquery literal of ``query_words`` and their
variants. Neither passes through PostgreSQL's parser, and a user's text reaches the tsquery
syntax only as quoted lexemes of letters, digits and marks.
"""

from __future__ import annotations

from collections.abc import Sequence

import psycopg

from vidembed.stores.lexical import (
    ClipText,
    LexicalHit,
    Match,
    TaskSet,
    VocabularyCache,
    query_words,
    search_in_two_passes,
    variant_lengths,
    variants,
    words_of,
)


def _lexeme(word: str) -> str:
    """A lexeme as tsvector and tsquery input take it verbatim: in single quotes, with quotes and
    backslashes escaped (``words_of`` leaves neither in a word; escaped all the same)."""
    return "'" + word.replace("\\", "\\\\").replace("'", "''") + "'"


def tsvector_literal(words: Sequence[str]) -> str:
    """``words`` as a tsvector with their positions from 1: ``'red':1 'car':2,4``. PostgreSQL keeps
    256 positions per lexeme and makes those over 16383 16383, without an error (measured with
    PostgreSQL 15): a clip's words are far fewer."""
    positions: dict[str, list[str]] = {}
    for position, word in enumerate(words, start=1):
        positions.setdefault(word, []).append(str(position))
    return " ".join(f"{_lexeme(w)}:{','.join(p)}" for w, p in positions.items())


def insert_texts(conn: psycopg.Connection, task_id: str, texts: Sequence[ClipText]) -> None:
    """Replaces the task's clip texts with ``texts`` (empty or blank texts are left out), and adds
    their words to the vocabulary. New words go in sorted order: two tasks adding the same new
    words wait for each other in turn, not in a deadlock (each waits on the first word both add)."""
    kept = [t for t in texts if t.text.strip()]
    words = [words_of(t.text) for t in kept]
    with conn.cursor() as cur:
        delete_texts(conn, task_id)
        cur.executemany(
            "INSERT INTO clip_texts (task_id, seq, start_sec, end_sec, text, words) "
            "VALUES (%s, %s, %s, %s, %s, %s::tsvector)",
            [
                (task_id, i, t.start, t.end, t.text, tsvector_literal(w))
                for i, (t, w) in enumerate(zip(kept, words, strict=True))
            ],
        )
        vocabulary = sorted({w for clip in words for w in clip})
        if vocabulary:
            cur.execute(
                "INSERT INTO clip_words (word) SELECT unnest(%s::text[]) ORDER BY 1 ON CONFLICT DO NOTHING",
                (vocabulary,),
            )


def delete_texts(conn: psycopg.Connection, task_id: str) -> None:
    """The task's clip texts (deleting the task does the same, by cascade). Their words stay in
    the vocabulary: a stale word only costs a variant that matches nothing."""
    conn.execute("DELETE FROM clip_texts WHERE task_id = %s", (task_id,))


def texts_of(conn: psycopg.Connection, task_ids: Sequence[str]) -> dict[str, list[ClipText]]:
    """The clip texts of these tasks, each task's by start time (then as inserted); no key for a
    task without any. The ids go as one array parameter, however many there are."""
    found: dict[str, list[ClipText]] = {}
    rows = conn.execute(
        "SELECT task_id, start_sec, end_sec, text FROM clip_texts WHERE task_id = ANY(%s) "
        "ORDER BY task_id, start_sec, seq",
        (list(task_ids),),
    )
    for task_id, start, end, text in rows:
        found.setdefault(task_id, []).append(ClipText(start, end, text))
    return found


def _vocabulary(conn: psycopg.Connection, words: list[str], cache: VocabularyCache) -> list[str]:
    """The vocabulary's words of the lengths a variant of ``words`` may have ([] if none may have
    one). A whole scan of ``clip_words`` (pg_trgm, which could index it, is not assumed): 134 ms
    for 191 000 distinct words, 164 ms for the whole query over 100 000 clips, against 0.9 ms for
    a query of short words (PostgreSQL 15, 2026-12-06; random words, more distinct than any spoken
    language's): read into ``cache`` again only when words were added since (``clip_words`` never
    loses a word, so its row count is its version)."""
    lengths = variant_lengths(words)
    if lengths is None:
        return []
    (count,) = conn.execute("SELECT count(*) FROM clip_words").fetchone() or (0,)
    every = lambda: (word for (word,) in conn.execute("SELECT word FROM clip_words"))  # noqa: E731
    return cache.words(int(count), lengths, every)


def tsquery_literal(conn: psycopg.Connection, query: str, cache: VocabularyCache) -> str | None:
    """The tsquery of ``query``: every word, each one or one of its variants
    (``('helicoptor' | 'helicopter') & ('red')``); None if the query has no words."""
    words = query_words(query)
    if not words:
        return None
    vocabulary = _vocabulary(conn, words, cache)
    groups = [" | ".join(_lexeme(v) for v in variants(w, vocabulary)) for w in words]
    return " & ".join(f"({group})" for group in groups)


def lexical(
    conn: psycopg.Connection,
    tasks: Sequence[str] | TaskSet,
    query: str,
    limit: int,
    cache: VocabularyCache,
) -> list[LexicalHit]:
    """The clips of these tasks whose words hold every word of ``query`` or a variant of it, best
    first by cover density (``ts_rank_cd``: more and closer occurrences rank higher; > 0 for
    every clip that matches, its words having positions), then by task and time, at most
    ``limit``. The best matches of the whole index are read first (``lexical.first_pass``); the
    search runs over these tasks alone only when those leave the answer in doubt."""
    tsquery = tsquery_literal(conn, query, cache)
    if tsquery is None or limit <= 0:
        return []

    def best_of_index(read: int) -> list[Match]:
        return conn.execute(
            "SELECT task_id, start_sec, end_sec, ts_rank_cd(words, q) AS score "
            "FROM clip_texts, CAST(%s AS tsquery) AS q WHERE words @@ q "
            "ORDER BY score DESC, task_id, start_sec LIMIT %s",
            (tsquery, read),
        ).fetchall()

    def best_of_tasks(allowed: TaskSet) -> list[Match]:
        return conn.execute(
            "SELECT task_id, start_sec, end_sec, ts_rank_cd(words, q) AS score "
            "FROM clip_texts, CAST(%s AS tsquery) AS q "
            "WHERE words @@ q AND task_id = ANY(%s) "
            "ORDER BY score DESC, task_id, start_sec LIMIT %s",
            (tsquery, list(allowed.ids), limit),
        ).fetchall()

    return search_in_two_passes(tasks, limit, best_of_index, best_of_tasks)
