"""The request rules of TwelveLabs' search (``POST /search``; docs/SEARCH-API.md): which options,
the query (a text, images, or both), how results are matched, grouped, filtered and paged.

Values arrive as Python values (the embedded client) or form strings (the server; repeated fields
as lists). Accepted from older clients and documented as such: ``sort_option`` (``score``,
``clip_count``: the order of videos with ``group_by=video``), ``threshold`` and
``adjust_confidence_level`` (checked, then not used: the match rule decides what is relevant).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from vidembed import errors
from vidembed.api.rules import MAX_PAGE_LIMIT, absent, parse_choice, parse_flag, parse_number, parse_whole
from vidembed.service.index_search import SEARCH_OPTIONS, TRANSCRIPTION_MODES, SearchQuery
from vidembed.service.indexes import Condition, VideoFilter
from vidembed.service.tasks import IMAGE_QUERY_OPTIONS

MAX_QUERY_CHARS = 2000  # about 500 tokens of English, Marengo 3.0's documented limit
MAX_IMAGES = 10
GROUPS = ("clip", "video")
OPERATORS = ("or", "and")
SORTS = ("score", "clip_count")
THRESHOLDS = ("high", "medium", "low", "none")
FILTER_EXAMPLE = '{"category": "news", "duration": {"gte": 60}, "id": ["<video id>", "<video id>"]}'


@dataclass(frozen=True)
class SearchRequest:
    """A search as the rules accepted it: the index, the images to fetch (URLs, or the files sent
    when there is none), and the query, whose ``images`` the operation fills once they are
    fetched and decoded."""

    index_id: str
    image_urls: tuple[str, ...]
    query: SearchQuery


def listed(value: Any) -> list[str]:
    """A repeated field: a list, one value, or comma-separated text; blanks dropped."""
    if absent(value):
        return []
    items = [value] if isinstance(value, str) else list(value)
    return [part.strip() for item in items for part in str(item).split(",") if part.strip()]


def parse_options(value: Any) -> tuple[str, ...]:
    options = listed(value)
    if not options:
        raise errors.not_provided("search_options")
    for option in options:
        if option not in SEARCH_OPTIONS:
            raise errors.BadRequestError(
                f"The search option {option!r} is not supported; use some of: {', '.join(SEARCH_OPTIONS)}.",
                "search_option_not_supported",
            )
    return tuple(o for o in SEARCH_OPTIONS if o in options)


def parse_text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value)
    if not text.strip():
        raise errors.invalid("query_text", "It must hold words: it is empty or only spaces.")
    if len(text) > MAX_QUERY_CHARS:
        raise errors.invalid("query_text", f"It must be at most {MAX_QUERY_CHARS} characters long.")
    return text.strip()


def parse_filter(value: Any) -> VideoFilter:
    """``filter``: a JSON object (or its text); each key a condition, all of them must hold:
    a string, number or boolean (equal), a list of them (any of), or ``{"gte": n, "lte": n}``."""
    if absent(value):
        return ()
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise errors.search_filter_invalid(
                f"It is not valid JSON. Use an object such as {FILTER_EXAMPLE}."
            ) from None
    if not isinstance(value, dict):
        raise errors.search_filter_invalid(f"It must be a JSON object such as {FILTER_EXAMPLE}.")
    return tuple(_condition(key, item) for key, item in value.items())


def _scalar(item: object) -> bool:
    return isinstance(item, str | bool) or (isinstance(item, int | float) and math.isfinite(item))


def _condition(key: str, item: object) -> Condition:
    if _scalar(item):
        return Condition(key, equals=(item,))  # type: ignore[arg-type]
    if isinstance(item, list) and item and all(_scalar(v) for v in item):
        return Condition(key, equals=tuple(item))
    if isinstance(item, dict) and item:
        unknown = [op for op in item if op not in ("gte", "lte")]
        if unknown:
            raise errors.search_filter_invalid(
                f"{key}: {', '.join(map(str, unknown))} is not an operator; use gte and lte."
            )
        bounds = {op: item[op] for op in ("gte", "lte") if op in item}
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in bounds.values()):
            raise errors.search_filter_invalid(f"{key}: gte and lte take numbers.")
        return Condition(key, gte=bounds.get("gte"), lte=bounds.get("lte"))
    raise errors.search_filter_invalid(
        f'{key}: use a string, a number, a boolean, a list of them, or {{"gte": n, "lte": n}}.'
    )


def parse_search(
    *,
    index_id: Any = None,
    search_options: Any = None,
    query_text: Any = None,
    query_media_type: Any = None,
    query_media_url: Any = None,
    image_files: int = 0,
    transcription_options: Any = None,
    group_by: Any = None,
    operator: Any = None,
    page_limit: Any = None,
    filter: Any = None,  # noqa: A002 - the API's name
    include_user_metadata: Any = None,
    sort_option: Any = None,
    threshold: Any = None,
    adjust_confidence_level: Any = None,
) -> SearchRequest:
    """``POST /search``'s parameters, checked in the order a person would fix them."""
    if absent(index_id):
        raise errors.not_provided("index_id")
    options = parse_options(search_options)
    text = parse_text(query_text)
    urls = tuple(listed(query_media_url))
    media_type = None if absent(query_media_type) else str(query_media_type).strip()
    if media_type is not None and media_type != "image":
        raise errors.invalid("query_media_type", "The only media type is image.")
    if (urls or image_files) and media_type is None:
        raise errors.invalid("query_media_type", "Set query_media_type=image to search with an image.")
    if media_type is not None and not (urls or image_files) and text is None:
        raise errors.none_provided(["query_media_url", "query_media_file"])
    if text is None and not (urls or image_files):
        raise errors.none_provided(["query_text", "query_media_url", "query_media_file"])
    if len(urls) > MAX_IMAGES or image_files > MAX_IMAGES:
        raise errors.invalid("query_media_url", f"Send at most {MAX_IMAGES} images.")
    if text is None and not any(o in IMAGE_QUERY_OPTIONS for o in options):
        raise errors.BadRequestError(
            "An image query searches what clips show: include visual in search_options.",
            "search_option_combination_not_supported",
        )
    modes = listed(transcription_options) or list(TRANSCRIPTION_MODES)
    if any(m not in TRANSCRIPTION_MODES for m in modes):
        raise errors.invalid("transcription_options", f"Use some of: {', '.join(TRANSCRIPTION_MODES)}.")
    parse_choice("threshold", threshold, THRESHOLDS, "none")
    level = parse_number(
        "adjust_confidence_level", adjust_confidence_level, "It must be a number from 0 to 1."
    )
    if level is not None and not 0 <= level <= 1:
        raise errors.invalid("adjust_confidence_level", "It must be a number from 0 to 1.")
    query = SearchQuery(
        options=options,
        text=text,
        transcription_modes=tuple(m for m in TRANSCRIPTION_MODES if m in modes),
        group_by=parse_choice("group_by", group_by, GROUPS, "clip"),
        operator=parse_choice("operator", operator, OPERATORS, "or"),
        page_limit=parse_whole("page_limit", page_limit, 10, minimum=1, maximum=MAX_PAGE_LIMIT),
        conditions=parse_filter(filter),
        include_user_metadata=parse_flag("include_user_metadata", include_user_metadata) or False,
        sort_by_clip_count=parse_choice("sort_option", sort_option, SORTS, "score") == "clip_count",
    )
    return SearchRequest(str(index_id).strip(), urls, query)


def parse_page_token(token: str) -> tuple[str, int]:
    """A page token: the search's id and the page number; 400 ``search_page_token_expired`` for
    anything else (a token is only ever one we made)."""
    search_id, _, page = token.partition(".")
    if not search_id or not page.isdigit() or int(page) < 1:
        raise errors.page_token_expired(token)
    return search_id, int(page)
