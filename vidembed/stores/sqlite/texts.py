"""The clips' spoken words on SQLite, and the lexical search over them: an FTS5 full-text index.

Functions on the task store's connection: the caller holds its lock and, for writes, its
transaction (they neither begin nor commit). ``clip_texts`` keeps each clip's text as transcribed
and its words as ``vidembed.stores.lexical.words_of`` finds them (lowercase, no diacritics, one
space apart); the FTS5 table indexes those words, so SQLite finds what PostgreSQL finds. The
tokenizer is unicode61 with no stemming (texts are in any language) and the mark categories, so
that it splits the stored words exactly where ``words_of`` did.

The FTS5 table has external content (the words are stored once, in ``clip_texts``), kept in step
by triggers. Their rowids are ``clip_texts.id``, an INTEGER PRIMARY KEY: VACUUM may renumber the
implicit rowids of a table without one, which would leave the index pointing at other rows.
Deleting a task from ``tasks`` deletes its texts (ON DELETE CASCADE, with ``PRAGMA foreign_keys``
on, as the task store has it), and the cascade fires the delete trigger, so the FTS rows go too:
SQLite runs foreign key actions as triggers of their own, and other triggers fire within them
whatever ``recursive_triggers`` says (measured with SQLite 3.40.1, and checked by
tests/contract/test_clip_texts.py).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

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

TEXTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS clip_texts (
    id INTEGER PRIMARY KEY,
    task_id TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    start_sec REAL NOT NULL,
    end_sec REAL NOT NULL,
    text TEXT NOT NULL,
    words TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS clip_texts_by_task ON clip_texts (task_id, start_sec);
CREATE VIRTUAL TABLE IF NOT EXISTS clip_texts_fts USING fts5 (
    words,
    content = 'clip_texts',
    content_rowid = 'id',
    tokenize = "unicode61 remove_diacritics 2 categories 'L* N* Co M*'"
);
CREATE TRIGGER IF NOT EXISTS clip_texts_inserted AFTER INSERT ON clip_texts BEGIN
    INSERT INTO clip_texts_fts (rowid, words) VALUES (new.id, new.words);
END;
CREATE TRIGGER IF NOT EXISTS clip_texts_deleted AFTER DELETE ON clip_texts BEGIN
    INSERT INTO clip_texts_fts (clip_texts_fts, rowid, words) VALUES ('delete', old.id, old.words);
END;
CREATE TRIGGER IF NOT EXISTS clip_texts_updated AFTER UPDATE ON clip_texts BEGIN
    INSERT INTO clip_texts_fts (clip_texts_fts, rowid, words) VALUES ('delete', old.id, old.words);
    INSERT INTO clip_texts_fts (rowid, words) VALUES (new.id, new.words);
END;
-- The index's vocabulary: each word once, with the clips that hold it (the variants' source).
CREATE VIRTUAL TABLE IF NOT EXISTS clip_words USING fts5vocab (clip_texts_fts, row);
-- One row, bumped whenever texts are added: the version of the vocabulary that lexical.VocabularyCache keeps.
CREATE TABLE IF NOT EXISTS clip_texts_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
"""


def insert_texts(db: sqlite3.Connection, task_id: str, texts: Sequence[ClipText]) -> None:
    """Replaces the task's clip texts with ``texts``; empty or blank texts are left out."""
    delete_texts(db, task_id)
    rows = [(task_id, t.start, t.end, t.text, " ".join(words_of(t.text))) for t in texts if t.text.strip()]
    db.executemany(
        "INSERT INTO clip_texts (task_id, start_sec, end_sec, text, words) VALUES (?, ?, ?, ?, ?)", rows
    )
    if rows:
        db.execute(
            "INSERT INTO clip_texts_version (id, version) VALUES (1, 1) "
            "ON CONFLICT (id) DO UPDATE SET version = version + 1"
        )


def delete_texts(db: sqlite3.Connection, task_id: str) -> None:
    """The task's clip texts, and their words in the full-text index (by trigger). Deleting the
    task does the same by cascade; this is for replacing texts, or a connection without
    ``PRAGMA foreign_keys``."""
    db.execute("DELETE FROM clip_texts WHERE task_id = ?", (task_id,))


def texts_of(db: sqlite3.Connection, task_ids: Sequence[str]) -> dict[str, list[ClipText]]:
    """The clip texts of these tasks, each task's by start time (then as inserted); no key for a
    task without any. The ids go as one JSON list, however many there are (SQLite allows 32766
    parameters, and each would be a statement of its own to prepare)."""
    found: dict[str, list[ClipText]] = {}
    rows = db.execute(
        "SELECT task_id, start_sec, end_sec, text FROM clip_texts "
        "WHERE task_id IN (SELECT value FROM json_each(?)) ORDER BY task_id, start_sec, id",
        (json.dumps(list(task_ids)),),
    )
    for task_id, start, end, text in rows:
        found.setdefault(task_id, []).append(ClipText(start, end, text))
    return found


def _vocabulary(db: sqlite3.Connection, words: list[str], cache: VocabularyCache) -> list[str]:
    """The index's words of the lengths a variant of ``words`` may have ([] if none may have one).
    A whole scan of the FTS5 vocabulary, the cost of a query with a word of 4 letters or more:
    200 ms for 191 000 distinct words, 250 ms for the whole query over 100 000 clips, against
    0.2 ms for a query of short words (SQLite 3.40.1, 2026-12-06; random words, more distinct
    than any spoken language's): read into ``cache`` again only when texts were added since."""
    lengths = variant_lengths(words)
    if lengths is None:
        return []
    row = db.execute("SELECT version FROM clip_texts_version WHERE id = 1").fetchone()
    every = lambda: (term for (term,) in db.execute("SELECT term FROM clip_words"))  # noqa: E731
    return cache.words(row[0] if row else 0, lengths, every)


def _quoted(term: str) -> str:
    """A term as an FTS5 string: double quotes around it, and doubled inside it."""
    return '"' + term.replace('"', '""') + '"'


def match_expression(db: sqlite3.Connection, query: str, cache: VocabularyCache) -> str | None:
    """The FTS5 MATCH expression of ``query``: every word, each one or one of its variants
    (``("helicoptor" OR "helicopter") AND ("red")``); None if the query has no words."""
    words = query_words(query)
    if not words:
        return None
    vocabulary = _vocabulary(db, words, cache)
    groups = [" OR ".join(_quoted(v) for v in variants(w, vocabulary)) for w in words]
    return " AND ".join(f"({group})" for group in groups)


def lexical(
    db: sqlite3.Connection,
    tasks: Sequence[str] | TaskSet,
    query: str,
    limit: int,
    cache: VocabularyCache,
) -> list[LexicalHit]:
    """The clips of these tasks whose words hold every word of ``query`` or a variant of it,
    best first by BM25 (then by task and time), at most ``limit``. FTS5's ``bm25()`` is negative,
    smaller for better matches, and never 0 (a word in every clip gets an IDF of 1e-6, not 0 or
    less): the score is its negation. The best matches of the whole index are read first; only
    when those leave the answer in doubt (too few of them are of these tasks, or a tie at the
    edge) is the search run again over these tasks alone."""
    expression = match_expression(db, query, cache)
    if expression is None or limit <= 0:
        return []

    def best_of_index(read: int) -> list[Match]:
        return db.execute(
            "SELECT t.task_id, t.start_sec, t.end_sec, -f.score FROM "
            "(SELECT rowid, bm25(clip_texts_fts) AS score FROM clip_texts_fts WHERE clip_texts_fts MATCH ? "
            "ORDER BY score LIMIT ?) AS f JOIN clip_texts AS t ON t.id = f.rowid",
            (expression, read),
        ).fetchall()

    def best_of_tasks(allowed: TaskSet) -> list[Match]:
        return db.execute(
            "SELECT t.task_id, t.start_sec, t.end_sec, -bm25(clip_texts_fts) AS score "
            "FROM clip_texts_fts JOIN clip_texts AS t ON t.id = clip_texts_fts.rowid "
            "WHERE clip_texts_fts MATCH ? AND t.task_id IN (SELECT value FROM json_each(?)) "
            "ORDER BY score DESC, t.task_id, t.start_sec LIMIT ?",
            (expression, allowed.as_json, limit),
        ).fetchall()

    return search_in_two_passes(tasks, limit, best_of_index, best_of_tasks)
