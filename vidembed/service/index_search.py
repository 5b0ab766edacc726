"""IndexSearch: TwelveLabs' ``search.query`` over an index's videos (the core; the request rules
and the JSON are in ``vidembed.api.search``).

**Ranking** is vidembed's fused ranking (``search.rank``): one query vector (the text's, the
image's, or for a text and images together their normalised sum, a composed query in the stack's
one space) against every searched option of the index's ready videos; with several options,
clips are ordered by the fused score, with one by its cosine.

**The match rule** (docs/SEARCH-API.md, "Which clips match"): a clip matches an option when its
cosine with the query is within ``MATCH_MARGIN`` of the best clip's cosine in that option, for
this query; for ``transcription`` with ``lexical``, a clip also matches when its spoken words hold
every word of the query or a close spelling of it. ``or`` returns the clips that match any of the
searched options, ``and`` those that match all of them: ``and`` is a subset of ``or`` by
construction, and a query always gets each option's strongest clip (it is within the margin of
itself). Everything else is cut: results are the relevant part of the index, not all of it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vidembed import errors
from vidembed.records import IndexListing, IndexRecord, TaskRecord
from vidembed.search.rank import FUSED, Hit
from vidembed.service.indexes import IndexCore, VideoFilter, embedded_options, holds, value_of
from vidembed.service.tasks import IMAGE_QUERY_OPTIONS, changed_encoders
from vidembed.stores.base import thumbnail_key
from vidembed.stores.lexical import LexicalHit

log = logging.getLogger(__name__)

SEARCH_OPTIONS = ("visual", "audio", "transcription")
TRANSCRIPTION_MODES = ("lexical", "semantic")
# A clip matches an option when its cosine is at most this far below the option's best clip for
# the query. Measured by benchmarks/quality/search_api.py (docs/SEARCH-API.md, "Which clips
# match"): per option, the smallest margin that keeps the right clip of >= 95 % of the queries the
# option ranks in its top 5, on the matched set and on the crossed queries meant for it.
# Transcription separates sharply (right clip ~0.8-0.9, others ~0.2-0.3): 0.03 keeps all of them
# with 1.2-1.6 clips returned; visual needs 0.08 on the crossed set (0.05 lost 1 in 5); audio's
# YAMNet cosines are flat: 0.08 is the first margin that reaches 0.96 / 1.00.
MATCH_MARGIN = {"visual": 0.08, "audio": 0.08, "transcription": 0.03}
# The most clips one option can bring: a search answers at most this many clips (pages of up to
# 50 items over them), so that a broad query costs the same as a precise one.
CANDIDATES = 200
_lexical_threads: ThreadPoolExecutor | None = None
_lexical_threads_lock = threading.Lock()
MAX_CACHED_INDEXES = 32  # indexes whose videos a process keeps in memory between searches
MAX_CACHED_FILTERS = 16  # per index, filters whose videos are kept until its videos change
PAGE_TTL_SECONDS = 3600.0  # how long a search's next pages can be fetched (page_expires_at)
THUMBNAIL_SECRET = "thumbnail-urls"  # the name of the key that signs thumbnail URLs (IndexStore.secret)

ClipKey = tuple[str, float, float]  # video (task) id, start, end


@dataclass(frozen=True)
class SearchQuery:
    """A search as the request rules accepted it, with its pictures decoded (RGB uint8)."""

    options: tuple[str, ...]
    text: str | None = None
    images: tuple[np.ndarray, ...] = ()
    transcription_modes: tuple[str, ...] = TRANSCRIPTION_MODES
    operator: str = "or"
    group_by: str = "clip"
    sort_by_clip_count: bool = False
    conditions: VideoFilter = ()
    page_limit: int = 10
    include_user_metadata: bool = False


@dataclass(frozen=True)
class VideoPool:
    """An index's ready videos as of a generation: how many, their duration, and those embedded
    by the stack's current encoders (the ones search ranks)."""

    generation: int
    count: int
    duration: float
    current: list[TaskRecord]
    # per filter key: the current videos (positions in ``current``) by their value of that key,
    # grouped once per generation, so that a filter is judged once per distinct value, not once
    # per video (at 100k videos, 0.7 s of Python per filtered search; docs/SEARCH-API.md "Speed")
    _by_value: dict[str, list[tuple[object, np.ndarray]]] = field(default_factory=dict)
    # the last filters' videos: the same list object again for the same filter, which the vector
    # index recognises (its task numbers are kept by list, search.exact.ClipIndex._numbers_of)
    _matched: dict[str, list[TaskRecord]] = field(default_factory=dict)
    _ids: dict[int, tuple[list[TaskRecord], list[str]]] = field(default_factory=dict)  # by list identity

    def matching(self, conditions: VideoFilter) -> list[TaskRecord]:
        """The current videos that pass every condition (``indexes.matches``' rule)."""
        if not conditions:
            return self.current
        # as JSON: Condition("k", (1,)) == Condition("k", (True,)) in Python, not in a filter
        key = json.dumps([(c.key, c.equals, c.gte, c.lte) for c in conditions])
        found = self._matched.get(key)
        if found is None:
            found = self._filter(conditions)
            _evict_oldest(self._matched, MAX_CACHED_FILTERS - 1)
            self._matched[key] = found
        return found

    def ids(self, videos: list[TaskRecord]) -> list[str]:
        """The ids of a list ``matching`` gave, the same list object each time (the stores keep
        what they make of a list of ids by identity: 100k ids cost ~50 ms a query to list and
        encode at 1M clips)."""
        found = self._ids.get(id(videos))
        if found is None or found[0] is not videos:
            found = (videos, [v.id for v in videos])
            _evict_oldest(self._ids, MAX_CACHED_FILTERS)
            self._ids[id(videos)] = found
        return found[1]

    def _filter(self, conditions: VideoFilter) -> list[TaskRecord]:
        keep = np.ones(len(self.current), bool)
        for condition in conditions:
            passed = np.zeros(len(self.current), bool)
            for value, members in self._values(condition.key):
                if holds(value, condition):
                    passed[members] = True
            keep &= passed
        return [self.current[i] for i in np.flatnonzero(keep)]

    def _values(self, key: str) -> list[tuple[object, np.ndarray]]:
        grouped = self._by_value.get(key)
        if grouped is None:
            positions: dict[str, tuple[object, list[int]]] = {}
            for i, video in enumerate(self.current):
                value = value_of(video, key)
                # JSON text tells 1 from True and 1.0 from "1", and holds lists and objects alike
                positions.setdefault(json.dumps(value, sort_keys=True), (value, []))[1].append(i)
            grouped = [(value, np.asarray(members, np.int64)) for value, members in positions.values()]
            self._by_value[key] = grouped  # a race builds it twice, the same
        return grouped


@dataclass(frozen=True)
class ClipMatch:
    """One clip of the results: its video, times, score (higher is better) and the options it
    matched (``transcription`` for a lexical match too)."""

    video_id: str
    start: float
    end: float
    score: float
    options: tuple[str, ...]


@dataclass(frozen=True)
class SearchResults:
    """A whole search, as its pages are cut from it: the clips by rank, how they are grouped,
    and the search pool (the index's ready videos)."""

    search_id: str
    index_id: str
    clips: tuple[ClipMatch, ...]
    group_by: str
    sort_by_clip_count: bool
    page_limit: int
    include_user_metadata: bool
    pool_count: int
    pool_duration: float
    expires_at: float
    thumbnails: bool = False  # the index has the thumbnail add-on: items link their clip's picture

    def to_json(self) -> str:
        # by hand: dataclasses.asdict's deep copy took 20 ms of a 130 ms search at 100k clips
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        data["clips"] = [
            {"video_id": c.video_id, "start": c.start, "end": c.end, "score": c.score, "options": c.options}
            for c in self.clips
        ]
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> SearchResults:
        data = json.loads(text)
        data["clips"] = tuple(
            ClipMatch(c["video_id"], c["start"], c["end"], c["score"], tuple(c["options"]))
            for c in data["clips"]
        )
        return cls(**data)

    def groups(self) -> list[tuple[str, list[ClipMatch]]]:
        """``group_by=video``: each video's clips by rank, videos by their best clip (or by how
        many clips match, with ``sort_option=clip_count``)."""
        by_video: dict[str, list[ClipMatch]] = {}
        for clip in self.clips:
            by_video.setdefault(clip.video_id, []).append(clip)
        groups = list(by_video.items())  # first seen = best clip first
        if self.sort_by_clip_count:
            groups.sort(key=lambda group: -len(group[1]))  # stable: ties keep the best-clip order
        return groups

    def item_count(self) -> int:
        return len(self.groups()) if self.group_by == "video" else len(self.clips)


class IndexSearch:
    """Searches an index's videos and keeps each search's results for its next pages."""

    def __init__(self, indexes: IndexCore) -> None:
        self.indexes = indexes
        self.tasks = indexes.tasks
        self._pools: dict[str, VideoPool] = {}  # per index id: its videos as of a generation
        self._pools_lock = threading.Lock()

    def _pool(self, index: IndexRecord) -> VideoPool:
        """The index's ready videos, read from the store only when its generation changed since
        they were last read (a search at 100k clips spent ~75 % of its time reading them:
        benchmarks/search_api.py, docs/SEARCH-API.md "Speed"). The generation goes up in the
        transaction of every change, so servers sharing a database never serve stale videos."""
        generation = self.tasks.store.index_generation(index.id)
        with self._pools_lock:
            cached = self._pools.get(index.id)
        if cached is not None and cached.generation == generation:
            return cached
        videos = self.indexes.videos(index)
        pool = VideoPool(
            generation,
            len(videos),
            float(sum(v.duration or 0.0 for v in videos)),
            self._current(index, videos),
        )
        with self._pools_lock:
            if len(self._pools) >= MAX_CACHED_INDEXES and index.id not in self._pools:
                self._pools.pop(next(iter(self._pools)))  # the oldest entry
            self._pools[index.id] = pool
        return pool

    def warm(self) -> int:
        """Does for the most recently updated indexes (MAX_CACHED_INDEXES of them, any owner) what
        their first search would: reads their videos and opens their stacks' vector indexes, with
        one search of a text each; a server runs it after loading its models, so that the first
        search after a start does not pay for it (13-19 s at 1M clips: docs/SEARCH-API.md,
        "Speed"). Returns the indexes warmed; one that fails is logged and left to its first
        search."""
        listing = IndexListing(sort_by="updated_at")
        indexes, _ = self.indexes.store.list(None, listing, 0, MAX_CACHED_INDEXES)
        warmed = 0
        for index in reversed(indexes):  # the most recent last: the pool cache keeps the newest
            try:
                videos = self._pool(index).current
                if videos:
                    options = embedded_options(index)
                    vector = _unit(self.tasks.embed_text(index.stack, "warm up"))
                    placeholders = self.tasks.catalog.placeholder_vectors(index.stack)
                    self.tasks.indexes.rank(
                        index.stack, vector, 1, placeholders, owner=index.owner, tasks=videos, options=options
                    )
                warmed += 1
            except Exception:  # noqa: BLE001 - a warm-up never stops a server; its search will say
                log.exception("warming the search of index %s failed", index.id)
        return warmed

    def search(self, index: IndexRecord, query: SearchQuery) -> SearchResults:
        allowed = embedded_options(index)
        for option in query.options:
            if option not in allowed:
                raise errors.search_option_not_supported(option, ", ".join(index.options))
        pool = self._pool(index)
        searched = pool.matching(query.conditions)
        clips = self._clips(index, query, searched, pool.ids(searched)) if searched else []
        results = SearchResults(
            search_id=secrets.token_urlsafe(12),
            index_id=index.id,
            clips=tuple(clips),
            group_by=query.group_by,
            sort_by_clip_count=query.sort_by_clip_count,
            page_limit=query.page_limit,
            include_user_metadata=query.include_user_metadata,
            pool_count=pool.count,
            pool_duration=pool.duration,
            expires_at=time.time() + PAGE_TTL_SECONDS,
            thumbnails="thumbnail" in index.addons,
        )
        if results.item_count() > query.page_limit:  # a next page exists: keep the results for it
            self.indexes.store.save_search(
                results.search_id, index.owner, results.expires_at, results.to_json()
            )
        return results

    def results(self, search_id: str, owner: str | None, token: str) -> SearchResults:
        """A kept search, for its next pages; 400 ``search_page_token_expired`` once it is gone."""
        document = self.indexes.store.load_search(search_id, owner, time.time())
        if document is None:
            raise errors.page_token_expired(token)
        return SearchResults.from_json(document)

    # --- thumbnails: signed links that an <img> tag can load without an API key ------------

    def _signature(self, video_id: str, millis: int, expires: int) -> str:
        key = self.indexes.store.secret(THUMBNAIL_SECRET).encode()
        message = f"{video_id}/{millis}/{expires}".encode()
        return hmac.new(key, message, hashlib.sha256).hexdigest()[:32]

    def thumbnail_link(self, video_id: str, start: float, expires_at: float) -> tuple[str, int, str]:
        """The path and query of a clip's thumbnail, valid until ``expires_at`` (its search's
        page expiry): (``<video>/<millis>.jpg``, expires, signature)."""
        millis, expires = round(start * 1000), int(expires_at)
        return f"{video_id}/{millis}.jpg", expires, self._signature(video_id, millis, expires)

    def thumbnail(self, video_id: str, name: str, expires: int, signature: str) -> str:
        """The media store location of a thumbnail whose link is valid now; 404 (saying why)
        for a link that is wrong, expired, or whose video is gone."""
        millis_text = name.removesuffix(".jpg")
        gone = errors.NotFoundError(
            "This thumbnail link is not valid or has expired (links last as long as their search's "
            "pages); run the search again for a fresh one."
        )
        if not millis_text.isdigit() or expires < time.time():
            raise gone
        expected = self._signature(video_id, int(millis_text), expires)
        if not hmac.compare_digest(expected, signature):
            raise gone
        key = thumbnail_key(video_id, int(millis_text) / 1000)
        if not self.tasks.media_store.exists(key):
            raise errors.NotFoundError(
                f"The thumbnail of video {video_id} at {int(millis_text) / 1000:g} s is gone."
            )
        return self.tasks.media_store.location(key)

    def _current(self, index: IndexRecord, videos: Sequence[TaskRecord]) -> list[TaskRecord]:
        """The videos embedded by the stack's encoders of now (vectors of an encoder since replaced
        live in another space)."""
        current = self.tasks.catalog.identities(index.stack)
        return [v for v in videos if not changed_encoders(v.encoders, current, v.options)]

    def _clips(
        self, index: IndexRecord, query: SearchQuery, videos: list[TaskRecord], ids: list[str]
    ) -> list[ClipMatch]:
        options = list(query.options)
        if query.text is None:  # an image compares with what clips show (the rules saw to one)
            options = [o for o in options if o in IMAGE_QUERY_OPTIONS]
        lexical_hits: Future[list[LexicalHit]] | None = None
        if "transcription" in options and "lexical" in query.transcription_modes and query.text:
            # The full-text search waits on the database, not on the GIL: it runs while the text
            # is encoded and the vectors scanned. At 1M clips, in-process, against searching after
            # them, alternated in one process, 45 searches each, twice: plain p50 94.6 -> 79.6 ms
            # and 96.1 -> 84.6; filtered and grouped no different (2026-12-06, docs/SEARCH-API.md).
            lexical_hits = _lexical_pool().submit(self.tasks.store.lexical, ids, query.text, CANDIDATES)
        vector = self._query_vector(index.stack, query)
        semantic = [o for o in options if o != "transcription" or "semantic" in query.transcription_modes]
        ranked: dict[str, list[Hit]] = {}
        if semantic:
            placeholders = self.tasks.catalog.placeholder_vectors(index.stack)
            ranked = self.tasks.indexes.rank(
                index.stack,
                vector,
                CANDIDATES,
                placeholders,
                owner=index.owner,
                tasks=videos,
                options=semantic,
            )
        matched = {o: _within_margin(ranked.get(o, []), MATCH_MARGIN[o]) for o in semantic}
        lexical: dict[ClipKey, float] = {}
        if lexical_hits is not None:
            lexical = {(h.task_id, h.start, h.end): h.score for h in lexical_hits.result()}
            matched.setdefault("transcription", {}).update(dict.fromkeys(lexical, 0.0))
        chosen = _combine(matched, options, query.operator)
        return _ordered(chosen, matched, ranked, lexical)

    def _query_vector(self, stack: str, query: SearchQuery) -> np.ndarray:
        parts = []
        if query.images:
            pictures = [self.tasks.embed_picture(stack, image) for image in query.images]
            parts.append(_unit(np.mean(pictures, axis=0)))
        if query.text is not None:
            parts.append(_unit(self.tasks.embed_text(stack, query.text)))
        return _unit(np.sum(parts, axis=0))


def _lexical_pool() -> ThreadPoolExecutor:
    """The process's threads for full-text searches run alongside vector scans (made on first use)."""
    global _lexical_threads
    with _lexical_threads_lock:
        if _lexical_threads is None:
            _lexical_threads = ThreadPoolExecutor(4, thread_name_prefix="vidembed-lexical")
        return _lexical_threads


def _evict_oldest(cache: dict[Any, Any], keep: int) -> None:
    """Drops the oldest entries of ``cache`` beyond ``keep``. Searches run in several threads:
    ``list()`` copies the keys in one step, where iterating could meet another thread's insert."""
    for key in list(cache)[: max(0, len(cache) - keep)]:
        cache.pop(key, None)


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return (vector / norm).astype(np.float32) if norm else vector.astype(np.float32)


def _within_margin(hits: Sequence[Hit], margin: float) -> dict[ClipKey, float]:
    """The option's clips whose cosine is within ``margin`` of its best (hits come best first)."""
    if not hits:
        return {}
    floor = hits[0].score - margin
    return {(h.task_id, h.start, h.end): h.score for h in hits if h.score >= floor}


def _combine(
    matched: Mapping[str, Mapping[ClipKey, float]], options: Sequence[str], operator: str
) -> set[ClipKey]:
    sets = [set(matched.get(o, {})) for o in options]
    if not sets:
        return set()
    if operator == "and":
        return set.intersection(*sets)
    return set.union(*sets)


def _ordered(
    chosen: Iterable[ClipKey],
    matched: Mapping[str, Mapping[ClipKey, float]],
    ranked: Mapping[str, Sequence[Hit]],
    lexical: Mapping[ClipKey, float],
) -> list[ClipMatch]:
    """The chosen clips best first: by the fused score (several options) or the one option's
    cosine; clips only the lexical match found follow, by their full-text score."""
    semantic = [o for o in ranked if o != FUSED]
    order = ranked.get(FUSED) if len(semantic) > 1 else (ranked[semantic[0]] if semantic else [])
    score = {(h.task_id, h.start, h.end): h.score for h in order or []}
    chosen = set(chosen)
    first = sorted((k for k in chosen if k in score), key=lambda k: (-score[k], k))
    rest = sorted((k for k in chosen if k not in score), key=lambda k: (-lexical.get(k, 0.0), k))
    out = []
    for key in first + rest:
        options = tuple(o for o in SEARCH_OPTIONS if key in matched.get(o, {}))
        value = score.get(key, lexical.get(key, 0.0))
        out.append(ClipMatch(key[0], key[1], key[2], round(float(value), 6), options))
    return out
