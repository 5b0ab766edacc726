"""The request rules of TwelveLabs' assets API (docs/CONTRACT.md §5.1): a method and its file or
URL, a file name, user metadata; the list's page and filters."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence

from vidembed import errors
from vidembed.api.rules import parse_page
from vidembed.records import FileInput, JsonObject
from vidembed.service.assets import AssetQuery, AssetRequest

METHODS = ("direct", "url")


# What the SDK may send as asset_types (AssetsListRequestAssetTypesItem); we hold no documents,
# so "document" is accepted and matches nothing.
FILTER_TYPES = ("image", "video", "audio", "document")


MAX_FILENAME = 255


def _required(parameter: str, detail: str) -> errors.BadRequestError:
    error = errors.not_provided(parameter)
    return errors.BadRequestError(f"{error.message} {detail}", error.code)


def _text(value: object) -> str | None:
    """A form value: ``""`` (what the SDK sends for an explicit None) means absent."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def parse_method(value: object) -> str:
    method = _text(value)
    if method is None:
        raise _required("method", "Use direct (with the file in a part named file) or url (with url).")
    if method not in METHODS:
        raise errors.invalid(
            "method",
            "Use direct (upload the file in a multipart part named file) or url (import it from "
            "a publicly accessible URL given in url).",
        )
    return method


def _metadata_value_ok(value: object) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)  # NaN and Infinity are not JSON: no answer could carry them
    if value is None or isinstance(value, (str, bool, int)):
        return True
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def parse_user_metadata(value: str | Mapping[str, object] | None) -> JsonObject | None:
    """``user_metadata``: a JSON object (as a string, or a mapping from the embedded client) whose
    values are strings, numbers, booleans, null or lists of strings (the SDK's ``UserMetadata``)."""
    if isinstance(value, Mapping):
        parsed: object = dict(value)
    else:
        text = _text(value)
        if text is None:
            return None
        try:
            parsed = json.loads(text)
        except ValueError as exc:
            raise errors.invalid(
                "user_metadata",
                f'It is not valid JSON ({exc}). Send an object such as {{"category": "news"}}.',
            ) from None
    if not isinstance(parsed, dict):
        raise errors.invalid("user_metadata", 'It must be a JSON object such as {"category": "news"}.')
    bad = [str(key) for key, item in parsed.items() if not _metadata_value_ok(item)]
    if bad:
        raise errors.invalid(
            "user_metadata",
            f"The values of {', '.join(bad)} are not allowed: use a string, a number, a boolean or "
            "a list of strings.",
        )
    return {str(key): item for key, item in parsed.items()}


def _filename(value: object) -> str | None:
    name = _text(value)
    if name is not None and len(name) > MAX_FILENAME:
        raise errors.invalid("filename", f"It must be at most {MAX_FILENAME} characters long.")
    return name


def _values(value: str | Sequence[str] | None) -> list[str]:
    """A repeated query parameter (``a=1&a=2``), also comma-separated."""
    if value is None:
        return []
    items = [value] if isinstance(value, str) else list(value)
    return [part.strip() for item in items for part in item.split(",") if part.strip()]


def parse_asset_create(
    *,
    method: object,
    file: FileInput | None,
    url: object,
    filename: object,
    user_metadata: str | Mapping[str, object] | None,
) -> AssetRequest:
    """``POST /assets``: ``direct`` with the file in a part named file, or ``url``."""
    chosen = parse_method(method)
    metadata = parse_user_metadata(user_metadata)
    name = _filename(filename)
    link = _text(url)
    if chosen == "url":
        if file is not None:
            raise errors.invalid(
                "file", "method=url imports the file from url: leave the file part out, or use method=direct."
            )
        if link is None:
            raise _required("url", "With method=url, give the publicly accessible URL of the file.")
        return AssetRequest(chosen, url=link, filename=name, user_metadata=metadata)
    if link is not None:
        raise errors.invalid("url", "method=direct uploads the file part: leave url out, or use method=url.")
    if file is None:
        raise _required(
            "file", "With method=direct, send the file as a multipart part named file (or use method=url)."
        )
    return AssetRequest(chosen, file=file, filename=name, user_metadata=metadata)


def parse_asset_query(
    page: str | int | None,
    page_limit: str | int | None,
    asset_ids: str | Sequence[str] | None,
    asset_types: str | Sequence[str] | None,
    filename: str | None,
) -> AssetQuery:
    """``GET /assets``: paging rules as ``GET /embed/tasks``; ids and types repeat or are
    comma-separated."""
    page_number, limit = parse_page(page, page_limit)
    types = _values(asset_types)
    if any(t not in FILTER_TYPES for t in types):
        raise errors.invalid("asset_types", f"Use some of: {', '.join(FILTER_TYPES)}.")
    return AssetQuery(page_number, limit, tuple(_values(asset_ids)), tuple(types), _text(filename))
