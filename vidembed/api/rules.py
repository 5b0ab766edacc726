"""The request rules every API shares: numbers, model names, pages, task lists, options.

Input values may be Python numbers (embedded client) or the strings that multipart forms carry
(server); an empty string means "not provided" (the SDK sends explicit ``None`` as ``""``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from vidembed import errors
from vidembed.api.wire import parse_rfc3339
from vidembed.models.stack import OPTIONS
from vidembed.records import JsonObject, TaskRecord
from vidembed.service.tasks import STATUSES, TaskQuery


def absent(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


def parse_number(name: str, value: Any, detail: str | None = None) -> float | None:
    if absent(value):
        return None
    if isinstance(value, bool):
        raise errors.invalid(name, detail)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise errors.invalid(name, detail) from None
    if not math.isfinite(number):
        raise errors.invalid(name, detail)
    return number


def parse_model_name(value: Any, known_models: Sequence[str]) -> str:
    """The model_name rule of every endpoint that takes one: required, and a known name."""
    if absent(value):
        raise errors.not_provided("model_name")
    if not isinstance(value, str) or value.strip() not in known_models:
        raise errors.invalid("model_name", f"Available models: {', '.join(sorted(known_models))}.")
    return value.strip()


def parse_required_text(name: str, value: Any) -> str:
    """A text parameter that must hold more than blanks (``text``, ``query_text``)."""
    if value is None or not str(value).strip():
        raise errors.not_provided(name)
    return str(value)


MAX_PAGE_LIMIT = 50
# The largest page number taken: what a signed 64-bit integer holds (TwelveLabs' OpenAPI document
# bounds nothing, so clients may send anything; a page past the end answers ``data: []``).
MAX_PAGE = 2**63 - 1


def parse_whole(name: str, value: Any, default: int, minimum: int, maximum: int | None = None) -> int:
    """A whole-number parameter (``page``, ``page_limit``): a number or its string form."""
    if value in (None, ""):
        return default
    try:
        number = int(str(value))
    except ValueError:
        raise errors.invalid(name, "It must be a whole number.") from None
    if number < minimum or (maximum is not None and number > maximum):
        bound = f" and at most {maximum}" if maximum is not None else ""
        raise errors.invalid(name, f"It must be at least {minimum}{bound}.")
    return number


def parse_page(page: Any, page_limit: Any) -> tuple[int, int]:
    """The pager of every list (tasks of both APIs, assets): page from 1, 1-50 items, default 10."""
    return parse_whole("page", page, 1, minimum=1, maximum=MAX_PAGE), parse_whole(
        "page_limit", page_limit, 10, minimum=1, maximum=MAX_PAGE_LIMIT
    )


def parse_task_query(status: Any, started_at: Any, ended_at: Any, page: Any, page_limit: Any) -> TaskQuery:
    """The task-list rules of both embed APIs: a known status, RFC 3339 bounds, a page."""
    page_number, limit = parse_page(page, page_limit)
    wanted = None if status in (None, "") else str(status)
    if wanted is not None and wanted not in STATUSES:
        raise errors.invalid("status", f"Use one of: {', '.join(STATUSES)}.")
    return TaskQuery(
        wanted, parse_time("started_at", started_at), parse_time("ended_at", ended_at), page_number, limit
    )


def parse_time(name: str, value: Any) -> float | None:
    """An RFC 3339 date-time parameter (list filters), as epoch seconds; absent: None."""
    if absent(value):
        return None
    try:
        return parse_rfc3339(str(value))
    except ValueError:
        raise errors.invalid(name, "Use an RFC 3339 date-time such as 2024-05-10T04:57:15Z.") from None


def parse_choice(name: str, value: Any, allowed: Sequence[str], default: str) -> str:
    """A parameter that takes one of a few words (``sort_option``, ``group_by``...)."""
    if absent(value):
        return default
    text = str(value).strip()
    if text not in allowed:
        raise errors.invalid(name, f"Use one of: {', '.join(allowed)}.")
    return text


SORT_FIELDS = ("created_at", "updated_at")
SORT_OPTIONS = ("asc", "desc")


def parse_order(sort_by: Any, sort_option: Any) -> tuple[str, bool]:
    """The order of the Search API's lists: a field (``created_at`` or ``updated_at``) and
    whether it is descending (the default)."""
    field = parse_choice("sort_by", sort_by, SORT_FIELDS, "created_at")
    return field, parse_choice("sort_option", sort_option, SORT_OPTIONS, "desc") == "desc"


def page_of(
    tasks: Sequence[TaskRecord], sort_by: str, descending: bool, page: int, limit: int
) -> list[TaskRecord]:
    """One page of tasks filtered in memory (an index's videos, index tasks), in the list's order
    (ties by id); a page past the end is empty."""
    ordered = sorted(tasks, key=lambda t: (getattr(t, sort_by), t.id), reverse=descending)
    start = min((page - 1) * limit, len(ordered))
    return ordered[start : start + limit]


def option_list(value: str | Sequence[str] | None) -> list[str]:
    """An ``embedding_option`` value as names: a list, or comma-separated text, blanks dropped."""
    if value is None:
        return []
    items = [value] if isinstance(value, str) else list(value)
    return [part.strip() for item in items for part in str(item).split(",") if part.strip()]


def requested_options(value: Any) -> list[str]:
    """The options a request asks to compute (all when none is named), in the stack's order."""
    options = option_list(value)
    if not options:
        return list(OPTIONS)
    if any(o not in OPTIONS for o in options):
        raise errors.invalid("embedding_option", f"Use some of: {', '.join(OPTIONS)}.")
    return [o for o in OPTIONS if o in options]


MAX_METADATA_BYTES = 64 * 1024  # a video's user metadata, as JSON
METADATA_RULE = (
    "Give a JSON object whose values are strings, numbers, booleans or lists of strings, such as "
    '{"category": "news", "year": 2024}.'
)


def parse_user_metadata(value: Any, parameter: str = "user_metadata") -> JsonObject | None:
    """A video's user metadata: a JSON object (or its JSON text) of strings, numbers, booleans and
    lists of strings; ``None`` values are kept (an update removes those keys)."""
    if absent(value):
        return None
    if isinstance(value, str | bytes):
        if len(value) > MAX_METADATA_BYTES:
            raise errors.invalid(parameter, f"It must be at most {MAX_METADATA_BYTES} bytes of JSON.")
        try:
            value = json.loads(value)
        except ValueError:
            raise errors.invalid(parameter, f"It is not valid JSON. {METADATA_RULE}") from None
    if not isinstance(value, dict):
        raise errors.invalid(parameter, METADATA_RULE)
    for key, item in value.items():
        scalar = item is None or isinstance(item, str | int | float | bool)
        strings = isinstance(item, list) and all(isinstance(v, str) for v in item)
        if not isinstance(key, str) or not key or not (scalar or strings):
            raise errors.invalid(parameter, f"The value of {key!r} is not allowed. {METADATA_RULE}")
    return dict(value)


def parse_flag(name: str, value: Any) -> bool | None:
    """A boolean sent as a form field ("true"/"false") or a Python bool."""
    if absent(value):
        return None
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text not in ("true", "false"):
        raise errors.invalid(name, "Use true or false.")
    return text == "true"
