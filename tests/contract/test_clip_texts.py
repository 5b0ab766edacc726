"""The clips' spoken words and the lexical search over them, checked on both stores: SQLite's FTS5
table (vidembed/stores/sqlite/texts.py) and PostgreSQL's full-text index (a database of this
module's own, tests/pg.py, holding only a ``tasks`` table and the clip texts' schema). Then the
shared, pure part (vidembed/stores/lexical.py)."""

from __future__ import annotations

import random
import sqlite3
import string
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import psycopg
import pytest
from pg import pg_admin, temporary_database  # noqa: F401
from rapidfuzz.distance import Levenshtein

from vidembed.stores import lexical as shared
from vidembed.stores.lexical import ClipText, LexicalHit, VocabularyCache, query_words, variants
from vidembed.stores.postgres import texts as pg_texts
from vidembed.stores.postgres.migrations.texts import CLIP_TEXTS
from vidembed.stores.sqlite import texts as sqlite_texts


@dataclass
class Store:
    """One store's functions on one connection (autocommit: the functions never commit)."""

    run: Callable[[str, tuple[object, ...]], object]
    insert_texts: Callable[[str, Sequence[ClipText]], None]
    delete_texts: Callable[[str], None]
    texts_of: Callable[[Sequence[str]], dict[str, list[ClipText]]]
    lexical: Callable[[Sequence[str], str, int], list[LexicalHit]]
    placeholder: str

    def add_tasks(self, *task_ids: str) -> None:
        for task_id in task_ids:
            self.run(f"INSERT INTO tasks (id) VALUES ({self.placeholder})", (task_id,))

    def delete_task(self, task_id: str) -> None:
        self.run(f"DELETE FROM tasks WHERE id = {self.placeholder}", (task_id,))

    def found(self, task_ids: Sequence[str], query: str, limit: int = 100) -> list[tuple[str, float]]:
        return [(h.task_id, h.start) for h in self.lexical(task_ids, query, limit)]


def sqlite_store() -> Iterator[Store]:
    db = sqlite3.connect(":memory:", isolation_level=None)
    db.execute("PRAGMA foreign_keys = ON")  # as the task store has it
    db.execute("CREATE TABLE tasks (id TEXT PRIMARY KEY)")
    db.executescript(sqlite_texts.TEXTS_SCHEMA)
    db.executescript(sqlite_texts.TEXTS_SCHEMA)  # opening an existing database again
    vocabulary = VocabularyCache()
    yield Store(
        run=db.execute,
        insert_texts=lambda task_id, texts: sqlite_texts.insert_texts(db, task_id, texts),
        delete_texts=lambda task_id: sqlite_texts.delete_texts(db, task_id),
        texts_of=lambda ids: sqlite_texts.texts_of(db, ids),
        # the task store's way: the vocabulary kept in memory between queries
        lexical=lambda ids, query, limit: sqlite_texts.lexical(db, ids, query, limit, vocabulary),
        placeholder="?",
    )
    integrity = "INSERT INTO clip_texts_fts (clip_texts_fts, rank) VALUES ('integrity-check', 1)"
    db.execute(integrity)  # the index agrees with clip_texts after every test (raises if not)
    db.close()


@pytest.fixture(scope="module")
def pg_texts_database(pg_admin: str) -> Iterator[str]:  # noqa: F811
    """A database of this module's own: its ``tasks`` table is not the task store's."""
    with temporary_database(pg_admin) as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute('CREATE TABLE tasks (id text COLLATE "C" PRIMARY KEY)')
            conn.execute(CLIP_TEXTS)
        yield url


def postgres_store(url: str) -> Iterator[Store]:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE tasks, clip_texts, clip_words")
        vocabulary = VocabularyCache()  # the task store's way, as for SQLite
        yield Store(
            run=conn.execute,
            insert_texts=lambda task_id, texts: pg_texts.insert_texts(conn, task_id, texts),
            delete_texts=lambda task_id: pg_texts.delete_texts(conn, task_id),
            texts_of=lambda ids: pg_texts.texts_of(conn, ids),
            lexical=lambda ids, query, limit: pg_texts.lexical(conn, ids, query, limit, vocabulary),
            placeholder="%s",
        )


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    if request.param == "sqlite":
        yield from sqlite_store()
    else:
        yield from postgres_store(request.getfixturevalue("pg_texts_database"))


def clips(*texts: str) -> list[ClipText]:
    """Clips of 2 s, one after the other."""
    return [ClipText(2.0 * i, 2.0 * i + 2, text) for i, text in enumerate(texts)]


# --- storing ------------------------------------------------------------------------------


def test_texts_read_back_by_start_time_and_are_replaced(store: Store) -> None:
    store.add_tasks("t1", "t2", "t3")
    store.insert_texts(
        "t1",
        [
            ClipText(4.0, 6.0, "third"),
            ClipText(0.0, 2.0, "first"),
            ClipText(2.0, 4.0, "  "),
            ClipText(2.0, 4.0, ""),
        ],
    )
    store.insert_texts("t2", [ClipText(3.0, 4.0, "♪ ♪"), ClipText(1.5, 3.0, "Ça va, l'été?")])
    store.insert_texts("t3", [ClipText(0.0, 1.0, "\n\t ")])  # nothing but blanks: no texts
    expected_t1 = [ClipText(0.0, 2.0, "first"), ClipText(4.0, 6.0, "third")]
    assert store.texts_of(["t1", "t2", "t3", "missing"]) == {
        "t1": expected_t1,
        "t2": [ClipText(1.5, 3.0, "Ça va, l'été?"), ClipText(3.0, 4.0, "♪ ♪")],  # as given; no words: kept
    }
    assert store.texts_of([]) == {}

    store.insert_texts("t1", clips("new words", "more words"))  # replaces
    assert store.texts_of(["t1"]) == {
        "t1": [ClipText(0.0, 2.0, "new words"), ClipText(2.0, 4.0, "more words")]
    }
    assert store.found(["t1"], "third") == []
    assert store.found(["t1"], "words") == [("t1", 0.0), ("t1", 2.0)]  # equal scores: by start time
    store.delete_texts("t1")
    assert store.texts_of(["t1", "t2"]).keys() == {"t2"}
    assert store.found(["t1", "t2"], "words") == []


def test_texts_of_takes_thousands_of_ids(store: Store) -> None:
    store.add_tasks("a", "b")
    store.insert_texts("a", clips("alpha"))
    store.insert_texts("b", clips("beta"))
    ids = [f"missing-{i}" for i in range(40_000)] + ["b", "a", "'); DROP TABLE tasks; --"]
    assert store.texts_of(ids) == {"a": clips("alpha"), "b": clips("beta")}
    assert store.found(ids, "beta") == [("b", 0.0)]


# --- matching -----------------------------------------------------------------------------


def test_a_clip_is_found_by_an_exact_word_whatever_its_case(store: Store) -> None:
    store.add_tasks("t")
    store.insert_texts("t", clips("The helicopter lands.", "A boat leaves the harbour", "Nothing here"))
    assert store.found(["t"], "helicopter") == [("t", 0.0)]
    assert store.found(["t"], "HARBOUR!") == [("t", 2.0)]
    assert store.found(["t"], "submarine") == []
    hits = store.lexical(["t"], "boat", 10)
    assert [(h.task_id, h.start, h.end) for h in hits] == [("t", 2.0, 4.0)] and hits[0].score > 0


def test_a_misspelt_word_finds_the_word_but_short_words_must_be_exact(store: Store) -> None:
    store.add_tasks("t")
    store.insert_texts("t", clips("the helicopter lands", "a quiet evening", "the cat sat"))
    assert store.found(["t"], "helicoptor") == [("t", 0.0)]  # 10 letters: 2 edits allowed
    assert store.found(["t"], "hleicopter") == [("t", 0.0)]  # a swap is 2 edits
    assert store.found(["t"], "evenin") == [("t", 2.0)]  # 6 letters: 1 edit
    assert store.found(["t"], "evenning") == [("t", 2.0)]  # 8 letters: 2 edits
    assert store.found(["t"], "quite") == []  # 5 letters, 2 edits from "quiet"
    assert store.found(["t"], "teh") == []  # 3 letters: exact only
    assert store.found(["t"], "cot") == []
    assert store.found(["t"], "cat") == [("t", 4.0)]


def test_words_added_after_a_query_are_variants_of_the_next(store: Store) -> None:
    """The vocabulary a query's spelling variants come from follows the texts added since the
    last query (SQLite keeps it in memory, by a version bumped with every insert)."""
    store.add_tasks("t", "u")
    store.insert_texts("t", clips("the helicopter lands"))
    assert store.found(["t", "u"], "helicoptor") == [("t", 0.0)]
    assert store.found(["t", "u"], "submarinne") == []
    store.insert_texts("u", clips("a yellow submarine"))
    assert store.found(["t", "u"], "submarinne") == [("u", 0.0)]
    store.delete_task("t")  # a word no longer spoken finds nothing, with or without its variants
    assert store.found(["t", "u"], "helicoptor") == []
    store.add_tasks("v")
    store.insert_texts("v", clips("a helicopter again"))
    assert store.found(["t", "u", "v"], "helicoptor") == [("v", 0.0)]


def test_diacritics_and_case_are_ignored_both_ways(store: Store) -> None:
    store.add_tasks("t")
    store.insert_texts("t", clips("Un café crème", "naive approach", "Ελληνικά λόγια", "Straße"))
    assert store.found(["t"], "cafe") == [("t", 0.0)]
    assert store.found(["t"], "CAFÉ CREME") == [("t", 0.0)]
    assert store.found(["t"], "naïve") == [("t", 2.0)]
    assert store.found(["t"], "λογια") == [("t", 4.0)]  # Greek, accent dropped
    assert store.found(["t"], "strasse") == []  # ß is a letter of its own, as in SQLite's unicode61
    assert store.found(["t"], "STRAßE") == [("t", 6.0)]


def test_every_word_of_the_query_is_required(store: Store) -> None:
    store.add_tasks("t")
    store.insert_texts("t", clips("a red car", "a red bus", "the car is blue", "red-car racing"))
    assert store.found(["t"], "red car") == [("t", 0.0), ("t", 6.0)]  # "red-car" is two words
    assert store.found(["t"], "red bus") == [("t", 2.0)]
    assert store.found(["t"], "red car bus") == []
    assert store.found(["t"], "car, red!") == store.found(
        ["t"], "red car"
    )  # order and punctuation: no matter


def test_a_word_said_twice_ranks_above_a_word_said_once(store: Store) -> None:
    store.add_tasks("t")
    store.insert_texts(
        "t",
        clips(
            "the engine starts now", "engine engine starts now", "nothing else to say", "people are talking"
        ),
    )
    hits = store.lexical(["t"], "engine", 10)
    assert [h.start for h in hits] == [2.0, 0.0]
    assert hits[0].score > hits[1].score > 0
    # the exact word and a variant count alike: the clip with more matches first
    store.insert_texts(
        "t", clips("helicopter over the city", "helicopters helicopter overhead", "quiet", "calm")
    )
    hits = store.lexical(["t"], "helicopter", 10)
    assert [h.start for h in hits] == [2.0, 0.0] and hits[0].score > hits[1].score > 0


def test_only_the_given_tasks_are_searched_and_limit_holds(store: Store) -> None:
    store.add_tasks("a", "b", "c")
    for task_id in ("a", "b", "c"):
        store.insert_texts(task_id, clips(*[f"ocean waves {i}" for i in range(5)]))
    assert {t for t, _ in store.found(["a", "c"], "ocean")} == {"a", "c"}
    assert len(store.found(["a", "c"], "ocean")) == 10
    assert store.found([], "ocean") == []
    assert store.found(["zzz"], "ocean") == []
    assert len(store.found(["a", "b", "c"], "ocean", limit=4)) == 4
    assert store.found(["a"], "ocean", limit=0) == []
    # equal scores: by task, then start time
    assert store.found(["c", "b"], "waves 3", limit=3) == [("b", 6.0), ("c", 6.0)]


@pytest.mark.parametrize(
    "query",
    [
        "'\" AND NEAR( * OR ) -'",
        '"',
        "*",
        "NEAR(",
        "AND",
        "a:*",
        "!(x) & | <-> y",
        "'",
        "\\",
        "col:word",
        "^start",
        "",
        "   ",
        "-- ; DROP TABLE tasks",
        "\x00",
        "w" * 5000,
        " ".join(f"word{i}" for i in range(500)),
    ],
)
def test_hostile_queries_give_hits_or_nothing_never_an_error(store: Store, query: str) -> None:
    store.add_tasks("t")
    store.insert_texts("t", clips("and near or not", "AND NEAR OR", "col word start", "x y"))
    hits = store.lexical(["t"], query, 10)
    assert all(h.task_id == "t" and h.score > 0 for h in hits)
    if query.startswith("'\" AND"):
        assert [h.start for h in hits] == [2.0, 0.0] or [h.start for h in hits] == [0.0, 2.0]


def test_a_deleted_task_leaves_no_texts_and_no_hits(store: Store) -> None:
    store.add_tasks("gone", "kept")
    store.insert_texts("gone", clips("a helicopter lands", "sirens"))
    store.insert_texts("kept", clips("a quiet street"))
    store.delete_task("gone")  # the cascade, not delete_texts
    assert store.texts_of(["gone", "kept"]) == {"kept": clips("a quiet street")}
    assert store.found(["gone", "kept"], "helicopter") == []
    assert store.found(["gone", "kept"], "helicoptor") == []  # a stale vocabulary word matches nothing
    assert store.found(["gone", "kept"], "sirens") == []
    store.add_tasks("gone")  # the same id again: nothing of the old task comes back
    assert store.texts_of(["gone"]) == {}
    assert store.found(["gone"], "sirens") == []


def test_the_sqlite_cascade_reaches_the_full_text_index() -> None:
    """SQLite fires the delete trigger for rows deleted by ON DELETE CASCADE, without
    ``recursive_triggers``: the FTS rows and vocabulary words go with the task."""
    db = sqlite3.connect(":memory:", isolation_level=None)
    db.execute("PRAGMA foreign_keys = ON")
    assert db.execute("PRAGMA recursive_triggers").fetchone() == (0,)
    db.execute("CREATE TABLE tasks (id TEXT PRIMARY KEY)")
    db.executescript(sqlite_texts.TEXTS_SCHEMA)
    db.execute("INSERT INTO tasks VALUES ('t')")
    sqlite_texts.insert_texts(db, "t", clips("Helicopter café"))
    assert db.execute("SELECT term, doc FROM clip_words ORDER BY term").fetchall() == [
        ("cafe", 1),
        ("helicopter", 1),
    ]
    db.execute("DELETE FROM tasks WHERE id = 't'")
    assert db.execute("SELECT count(*) FROM clip_texts").fetchone() == (0,)
    assert db.execute("SELECT count(*) FROM clip_words").fetchone() == (0,)
    assert db.execute("SELECT count(*) FROM clip_texts_fts WHERE clip_texts_fts MATCH 'cafe'").fetchone() == (
        0,
    )
    db.execute("INSERT INTO clip_texts_fts (clip_texts_fts, rank) VALUES ('integrity-check', 1)")
    db.close()


# --- at scale -----------------------------------------------------------------------------


def _matches(clip_words: set[str], query: str) -> bool:
    """The match rule, by brute force: every query word within its distance of a clip word."""
    return all(
        any(Levenshtein.distance(w, c) <= shared.max_distance(w) for c in clip_words)
        for w in query_words(query)
    )


def test_lexical_is_right_over_ten_thousand_clips_of_random_words(store: Store) -> None:
    rng = random.Random(7)
    vocabulary = sorted(
        {"".join(rng.choices(string.ascii_lowercase[:12], k=rng.choice((3, 5, 8)))) for _ in range(600)}
    )
    task_ids = [f"task-{i:03d}" for i in range(100)]
    store.add_tasks(*task_ids)
    clip_words: dict[tuple[str, float], set[str]] = {}
    for task_id in task_ids:
        texts = [" ".join(rng.choices(vocabulary, k=rng.randint(1, 12))) for _ in range(100)]
        store.insert_texts(task_id, clips(*texts))
        clip_words.update({(task_id, c.start): set(c.text.split()) for c in clips(*texts)})
    assert sum(len(v) for v in store.texts_of(task_ids).values()) == 10_000
    scope = task_ids[::2]
    words = [w for w in vocabulary if len(w) in (5, 8)]
    queries = [rng.choice(words) for _ in range(4)]
    queries += [f"{rng.choice(words)} {rng.choice(vocabulary)}" for _ in range(4)]
    queries += [
        q[:2] + ("z" if q[2] != "z" else "y") + q[3:] for q in rng.sample(words, 4)
    ]  # one letter wrong
    queries += [rng.choice([w for w in vocabulary if len(w) == 3]), "zzzzzzzz"]
    for query in queries:
        expected = {key for key, have in clip_words.items() if key[0] in scope and _matches(have, query)}
        hits = store.lexical(scope, query, 20_000)
        assert {(h.task_id, h.start) for h in hits} == expected, query
        assert len(hits) == len(expected)
        assert all(h.score > 0 for h in hits)
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        if expected:
            top = store.lexical(scope, query, 5)
            assert [(h.task_id, h.start) for h in top] == [(h.task_id, h.start) for h in hits[:5]]
    assert any(clip_words) and store.found(scope, queries[0], limit=1)


# --- the shared, pure part ----------------------------------------------------------------


def test_query_words_are_folded_split_and_unique() -> None:
    assert query_words("Café, CAFE and the  café!") == ["cafe", "and", "the"]
    assert query_words("red-car foo_bar 3.14 l'été") == ["red", "car", "foo", "bar", "3", "14", "l", "ete"]
    assert query_words("'\" AND NEAR( * OR ) -'") == ["and", "near", "or"]
    assert query_words("ｆｕｌｌ ｗｉｄｔｈ ﬁne") == ["full", "width", "fine"]
    assert query_words("東京タワー ελληνικά") == ["東京タワー", "ελληνικα"]
    assert query_words("") == [] and query_words(" ,.;*- ") == []
    assert query_words(" ".join(f"w{i}" for i in range(100))) == [f"w{i}" for i in range(32)]
    assert query_words("x" * 101) == [] and query_words("x" * 100) == ["x" * 100]


def test_words_of_keeps_repeats_in_order() -> None:
    assert shared.words_of("The cat, the CAT.") == ["the", "cat", "the", "cat"]


def test_variants_depend_on_the_word_length() -> None:
    vocabulary = [
        "the",
        "she",
        "then",
        "helicopter",
        "helicopters",
        "heliport",
        "boat",
        "boats",
        "bot",
        "coat",
    ]
    assert variants("teh", vocabulary) == ["teh"]  # 1-3 letters: exact only
    assert variants("the", vocabulary) == ["the"]
    assert variants("boat", vocabulary) == ["boat", "boats", "bot", "coat"]  # 4-7: one edit
    assert variants("boatt", vocabulary) == ["boatt", "boat", "boats"]
    assert variants("helicoptor", vocabulary) == ["helicoptor", "helicopter", "helicopters"]  # 8+: two
    assert variants("heliport", []) == ["heliport"]
    assert [shared.max_distance("x" * n) for n in (1, 3, 4, 7, 8, 30)] == [0, 0, 1, 1, 2, 2]


def test_variants_are_capped_closest_first() -> None:
    neighbours = [f"abcdefg{c}" for c in string.ascii_lowercase] + [
        f"abcdef{c}{d}" for c in "xy" for d in "xy"
    ]
    found = variants("abcdefgh", neighbours)
    assert len(found) == shared.MAX_VARIANTS and found[0] == "abcdefgh"
    assert (
        found[1:]
        == sorted(f"abcdefg{c}" for c in string.ascii_lowercase if c != "h")[: shared.MAX_VARIANTS - 1]
    )


@pytest.mark.parametrize("first_pass", [1, 2, 4])
def test_a_first_pass_over_the_whole_index_answers_as_the_search_over_the_tasks(
    store: Store, first_pass: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both stores read the whole index's best matches first and keep the allowed tasks' (fast
    when most matches are theirs), and search the allowed tasks alone when that leaves the answer
    in doubt: too few of them among the first, or a tie at the edge (lexical.first_pass). Both
    give what the search over the allowed tasks alone gives, whatever the share of allowed tasks
    and the ties."""
    rng = random.Random(first_pass)
    words = ["harbour", "lantern", "meadow", "orchard", "pebble"]
    tasks = [f"task{i:03d}" for i in range(60)]
    store.add_tasks(*tasks)
    for task in tasks:
        # repeated texts make exact ties in BM25
        store.insert_texts(
            task, clips(*(" ".join(rng.choices(words, k=rng.randint(1, 4))) for _ in range(6)))
        )
    for share in (1.0, 0.5, 0.1, 0.02):
        allowed = [t for t in tasks if rng.random() < share] or tasks[:1]
        for query in ("harbour", "lantern meadow", "pebble orchard harbour"):
            for limit in (1, 5, 20, 200):
                monkeypatch.setattr(shared, "FIRST_PASS", first_pass)
                fast = store.lexical(allowed, query, limit)
                monkeypatch.setattr(shared, "FIRST_PASS", 0)  # only the search over the tasks
                exact = store.lexical(allowed, query, limit)
                assert fast == exact, (share, query, limit)
