"""What the two stores' full-text search over the clips' spoken words shares (TwelveLabs'
``transcription_options=["lexical"]``: the query's words, with minor spelling variations).

One tokenizer for both stores and both sides: ``words_of`` makes a text's words, which both
stores index as they are (SQLite's FTS5 table and PostgreSQL's tsvector are built from them), and
``query_words`` makes the words a query looks up. Neither engine's own parser decides what a word
is, so both stores find the same clips, in any language: PostgreSQL's 'simple' configuration keeps
diacritics ('café' is not 'cafe' there; unaccent is an extension) and keeps ``red-car``, ``3.14``
and ``foo_bar`` as words of their own; FTS5's unicode61 knows the letters of Unicode 6.1 only.
Pure Python, no I/O.
"""

from __future__ import annotations

import json
import threading
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

# A query's words beyond these are ignored: every word is a required term with its variants, and
# a pasted paragraph is not a lexical query.
MAX_QUERY_WORDS = 32
# Longer "words" (a URL without punctuation, a hash) are not indexed nor looked up: PostgreSQL
# refuses lexemes over 2047 bytes, and no one misspells a 100-letter word.
MAX_WORD_CHARS = 100
# The closest spellings kept per query word: a long word can have dozens of neighbours within two
# edits in a large vocabulary, and each one is a term of the full-text query.
MAX_VARIANTS = 16
# Characters of words: letters, numbers and the marks that are left once diacritics are dropped
# (the vowel signs of Indic scripts are spacing marks, part of the word). Everything else,
# underscore, apostrophe and hyphen included, separates words.
_WORD_CATEGORIES = frozenset("LNM")


@dataclass(frozen=True)
class ClipText:
    """The words spoken in one clip of a task's video, as transcribed."""

    start: float
    end: float
    text: str


@dataclass(frozen=True)
class LexicalHit:
    """A clip whose words match a lexical query; ``score`` is larger for better matches, > 0."""

    task_id: str
    start: float
    end: float
    score: float


def fold(text: str) -> str:
    """``text`` lowercased, with its diacritics dropped (NFKD, then the nonspacing marks: "Café"
    is "cafe"), and its compatibility forms unfolded ("ﬁ" is "fi", "²" is "2")."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if unicodedata.category(c) != "Mn")


def words_of(text: str) -> list[str]:
    """The words of ``text`` in order, repeats kept (positions count for ranking): what the stores
    index."""
    spaced = "".join(c if unicodedata.category(c)[0] in _WORD_CATEGORIES else " " for c in fold(text))
    return [w for w in spaced.split() if len(w) <= MAX_WORD_CHARS]


def query_words(text: str) -> list[str]:
    """The words of a query as ``words_of`` finds them, each once, in order; at most
    ``MAX_QUERY_WORDS``. Only letters, digits and marks survive, so nothing a user types (``AND``,
    ``*``, ``"``, ``NEAR(``) reaches a full-text query's syntax as anything but a word."""
    return list(dict.fromkeys(words_of(text)))[:MAX_QUERY_WORDS]


def max_distance(word: str) -> int:
    """The edits (Levenshtein distance) a spelling may be from ``word`` and still match it: 0 for
    words of 1 to 3 characters, 1 for 4 to 7, 2 for 8 or more. These numbers are ours, not
    TwelveLabs': short words have too many neighbours ("the" is one edit from "she", "then",
    "tie", "teh"), so a variation of a short word would be another word more often than a typo;
    long words are more often misspelt, and rarely one or two edits from another real word."""
    return 0 if len(word) <= 3 else 1 if len(word) <= 7 else 2


def variant_lengths(words: Iterable[str]) -> tuple[int, int] | None:
    """The range of lengths a variant of any of ``words`` can have (a word within k edits is at
    most k characters longer or shorter), for reading only that part of a vocabulary; None if
    none of them can have variants."""
    spans = [(len(w) - max_distance(w), len(w) + max_distance(w)) for w in words if max_distance(w)]
    return (min(s[0] for s in spans), max(s[1] for s in spans)) if spans else None


def variants(word: str, vocabulary: Iterable[str]) -> list[str]:
    """``word`` itself, then the words of ``vocabulary`` within ``max_distance(word)`` edits of it,
    closest first (then alphabetical), at most ``MAX_VARIANTS`` in all: "helicoptor" has
    "helicopter", "teh" has no variant (3 letters: exact words only)."""
    k = max_distance(word)
    if k == 0:
        return [word]
    choices = list(vocabulary)
    found = process.extract(word, choices, scorer=Levenshtein.distance, score_cutoff=k, limit=None)
    close = sorted((distance, other) for other, distance, _ in found if other != word)
    return [word, *(other for _, other in close[: MAX_VARIANTS - 1])]


class VocabularyCache:
    """A store's vocabulary (each distinct word of its clip texts once) kept in memory by word
    length, read again only when the store's texts ``version`` moved: reading the whole vocabulary
    for each lexical query cost 110 ms of a 300 ms query at 100k clips and ~250 ms at 1M
    (benchmarks/search_api.py, 2026-12-06). The version is what the store reads cheaply and what
    changes whenever words may have been added: SQLite's counter bumped in the transaction that
    adds texts, PostgreSQL's row count of ``clip_words`` (which never loses a word). Removing texts
    leaves it, since a word no longer spoken only costs a variant that matches nothing (as
    PostgreSQL's vocabulary table keeps such words for good)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._version: int | None = None
        self._by_length: dict[int, list[str]] = {}

    def words(
        self, version: int, lengths: tuple[int, int], read_all: Callable[[], Iterable[str]]
    ) -> list[str]:
        """The words whose length is within ``lengths`` (inclusive); ``read_all`` reads the whole
        vocabulary when ``version`` is not the one cached."""
        with self._lock:
            if version != self._version:
                by_length: dict[int, list[str]] = {}
                for word in read_all():
                    by_length.setdefault(len(word), []).append(word)
                self._by_length, self._version = by_length, version
            low, high = lengths
            return [w for n in range(low, high + 1) for w in self._by_length.get(n, ())]


@dataclass(frozen=True)
class TaskSet:
    """The tasks a lexical search may answer with: their ids, as a set to filter in Python, and
    as JSON for SQLite (which allows 32766 parameters). A store keeps the set it made for the last
    list of ids it was given (a search pool's, passed again unchanged on its next search)."""

    ids: tuple[str, ...]
    members: frozenset[str]

    @classmethod
    def of(cls, task_ids: Iterable[str]) -> TaskSet:
        ids = tuple(task_ids)
        return cls(ids, frozenset(ids))

    @cached_property
    def as_json(self) -> str:
        return json.dumps(list(self.ids))


class TaskSets:
    """The TaskSet of the last list of ids given, kept while the same list object comes again
    (100k ids cost ~50 ms a search to collect and encode at 1M clips)."""

    def __init__(self) -> None:
        self._last: tuple[Sequence[str], int, TaskSet] | None = None

    def of(self, task_ids: Sequence[str]) -> TaskSet:
        last = self._last
        if last is not None and last[0] is task_ids and last[1] == len(task_ids):
            return last[2]
        made = TaskSet.of(task_ids)
        self._last = (task_ids, len(task_ids), made)
        return made


# The first pass reads this many times ``limit`` of the best matches from the whole full-text
# index, then keeps those of the allowed tasks: a query whose words are in 28,000 of 1M clips took
# 320 ms joined and filtered in SQL on SQLite, 90 ms so (2026-12-06, benchmarks/search_api.py).
FIRST_PASS = 4


Match = tuple[str, float, float, float]  # task, start, end, score: a row of a store's full-text query


def search_in_two_passes(
    tasks: Sequence[str] | TaskSet,
    limit: int,
    best_of_index: Callable[[int], Sequence[Match]],
    best_of_tasks: Callable[[TaskSet], Iterable[Match]],
) -> list[LexicalHit]:
    """The stores' lexical search: ``best_of_index(n)`` (the whole index's best ``n`` matches)
    read first, ``best_of_tasks(allowed)`` (the allowed tasks' best ``limit``, best first) only
    when those leave the answer in doubt (``first_pass``)."""
    allowed = tasks if isinstance(tasks, TaskSet) else TaskSet.of(tasks)
    read = FIRST_PASS * limit
    hits = first_pass(best_of_index(read), allowed, limit, read)
    if hits is not None:
        return hits
    return [LexicalHit(task, start, end, float(score)) for task, start, end, score in best_of_tasks(allowed)]


def first_pass(best: Sequence[Match], allowed: TaskSet, limit: int, read: int) -> list[LexicalHit] | None:
    """The allowed tasks' best ``limit`` hits, from ``best``: the whole index's best matches
    (task, start, end, score), at most ``read`` of them; None when those cannot tell (as many as
    ``read`` were read, and fewer than ``limit`` are allowed or the last one kept ties with the
    weakest read: an unread match could equal it), and the search must run over the tasks
    alone. Ordered as the stores order hits: score, then task, then start."""
    kept = sorted((row for row in best if row[0] in allowed.members), key=lambda r: (-r[3], r[0], r[1]))
    weakest = min((row[3] for row in best), default=0.0)
    if len(best) < read or (len(kept) >= limit and kept[limit - 1][3] > weakest):
        return [LexicalHit(task, start, end, float(score)) for task, start, end, score in kept[:limit]]
    return None
