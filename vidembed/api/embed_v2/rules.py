"""The rules of Embed API v2 requests (``POST /embed-v2``, ``POST /embed-v2/tasks``): JSON bodies
in, validated requests out, for the server and the embedded client alike.

The shapes follow the official SDK 1.3.6 (``twelvelabs/types``) and docs/CONTRACT.md §5. Fields
that only Marengo 3.5 has (``embedding_uncertainty``, a shorter ``embedding_dimension``,
``time_based_metadata``, documents) are refused with a message that says so, since no stack of
ours can honour them; ``embedding_dimension`` equal to the stack's own is accepted.
``multi_input`` (text and up to 10 image, video or audio sources) is embedded as one vector.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from vidembed import errors
from vidembed.api.rules import parse_model_name
from vidembed.segmentation import (
    DEFAULT_CLIP_SEC,
    DEFAULT_DYNAMIC_SEC,
    MAX_CLIP_SEC,
    MAX_DYNAMIC_SEC,
    MIN_CLIP_SEC,
    MIN_DYNAMIC_SEC,
    STRATEGIES,
    ClipParams,
)

SYNC_INPUT_TYPES = ("text", "image", "text_image", "audio", "video", "multi_input")
ASYNC_INPUT_TYPES = ("audio", "video", "image")
# An image task's fields each take one value (docs: "always visual", "always asset", ...)
IMAGE_TASK_VALUES = {
    "embedding_option": "visual",
    "embedding_type": "separate_embedding",
    "embedding_scope": "asset",
}
MARENGO_35 = "marengo3.5"
# The synchronous route embeds at most this much audio or video; longer goes to the task route.
MAX_SYNC_MEDIA_SEC = 600.0
MB = 1024 * 1024
MAX_BASE64_MEDIA_BYTES = 36 * MB  # decoded, for audio and video (the SDK's documented limit)
MAX_BASE64_IMAGE_BYTES = 32 * MB
OPTIONS_BY_INPUT = {"video": ("visual", "audio", "transcription"), "audio": ("audio", "transcription")}
DEFAULT_OPTIONS_35 = {"video": ("visual", "audio"), "audio": ("audio",)}
SCOPES = ("clip", "asset")
SCOPE_ALIASES = {"local": "clip"}  # the SDK's Marengo 3.5 name for clip
EMBEDDING_TYPES = ("separate_embedding", "fused_embedding")
# The segmentation strategies each input takes (audio has no shots to follow).
STRATEGIES_BY_INPUT = {"video": STRATEGIES, "audio": ("fixed",)}
ONLY_35 = "Only Marengo 3.5 has it, and no vidembed stack can honour it"

# The fields each object of a body may have (any other is a 400 parameter_unknown); the OpenAPI
# schema (``schema.py``) lists exactly these.
TOP_LEVEL_FIELDS = (
    "input_type",
    "model_name",
    "text",
    "image",
    "text_image",
    "audio",
    "video",
    "multi_input",
    "document",
    "auto_truncate",
    "embedding_uncertainty",
    "embedding_dimension",
)
MEDIA_FIELDS = (
    "media_source",
    "start_sec",
    "end_sec",
    "segmentation",
    "embedding_option",
    "embedding_scope",
    "embedding_type",
    "time_based_metadata",
)
MAX_MULTI_SOURCES = 10
MAX_MULTI_MEDIA_SEC = 30.0  # a multi_input's audio or video source (Marengo 3.5's limit)
MULTI_MEDIA_TYPES = ("image", "video", "audio", "document")
MULTI_ONLY_35 = ("document",)  # multi_input media types that only Marengo 3.5 embeds
MEDIA_SOURCE_KEYS = ("url", "base64_string", "asset_id")
MULTI_INPUT_FIELDS = ("input_text", "media_sources")
MULTI_SOURCE_FIELDS = ("name", "media_type", *MEDIA_SOURCE_KEYS)
# Every input object of either route (only one of them, the one input_type names, may be set).
INPUT_OBJECTS = ("text", "image", "text_image", "audio", "video", "multi_input", "document")
_REFERENCE = re.compile(r"<@([^<>]*)>")  # a media source named in multi_input.input_text
SYNC_FIELDS = {
    "text": ("input_text",),
    "image": ("media_source",),
    "text_image": ("media_source", "input_text"),
}


@dataclass(frozen=True)
class MediaSource:
    """Where a v2 input's file is: exactly one of a URL, decoded base64 bytes or an asset id.
    ``parameter`` names it in messages (``video.media_source``)."""

    parameter: str
    url: str | None = None
    data: bytes | None = None
    asset_id: str | None = None


@dataclass(frozen=True)
class MediaRequest:
    """An audio or video input: its source, how it is cut, what is embedded and returned."""

    input_type: str  # "video" or "audio"
    source: MediaSource
    clip: ClipParams  # scopes always ("clip", "video"): the asset vector is cheap, filtered on output
    options: tuple[str, ...]
    scopes: tuple[str, ...]  # the v2 scopes asked for: clip and/or asset
    embedding_types: tuple[str, ...]


@dataclass(frozen=True)
class SyncRequest:
    input_type: str
    model_name: str
    text: str | None = None
    image: MediaSource | None = None
    media: MediaRequest | None = None
    sources: tuple[tuple[str, MediaSource], ...] = ()  # multi_input's (media_type, source)


@dataclass(frozen=True)
class AsyncRequest:
    """An audio or video task (``media``), or an image task (``image``: one vector)."""

    model_name: str
    media: MediaRequest | None
    image: MediaSource | None = None


# --- small readers ----------------------------------------------------------------------------


def _object(value: object, name: str) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise errors.invalid(name, "It must be a JSON object.")
    return value


def _check_fields(obj: Mapping[str, object], prefix: str, allowed: Sequence[str]) -> None:
    unknown = [f"{prefix}{key}" for key in obj if key not in allowed]
    if unknown:
        raise errors.unknown_parameters(unknown)


def _present(obj: Mapping[str, object], key: str) -> bool:
    return obj.get(key) is not None


def _number(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise errors.invalid(name, "It must be a number.")
    return float(value)


def _string_list(value: object, name: str, allowed: Sequence[str]) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise errors.invalid(name, f"It must be a non-empty list of: {', '.join(allowed)}.")
    wrong = [v for v in value if v not in allowed]
    if wrong:
        raise errors.invalid(name, f"{', '.join(wrong)} is not one of: {', '.join(allowed)}.")
    return tuple(dict.fromkeys(value))  # order kept, repeats dropped


# --- the parts --------------------------------------------------------------------------------


def parse_media_source(value: object, parameter: str, max_bytes: int) -> MediaSource:
    """``{"url"|"base64_string"|"asset_id": ...}`` with exactly one key set; base64 is decoded
    here, and more than ``max_bytes`` decoded is a 413 (ContentTooLargeError)."""
    source = _object(value, parameter)
    _check_fields(source, f"{parameter}.", MEDIA_SOURCE_KEYS)
    given = [k for k in MEDIA_SOURCE_KEYS if isinstance(source.get(k), str) and source[k]]
    if len(given) != 1:
        raise errors.invalid(
            parameter,
            f"Set exactly one of url, base64_string and asset_id (the request set "
            f"{', '.join(given) if given else 'none'}).",
        )
    key = given[0]
    text = str(source[key]).strip()
    if key == "url":
        return MediaSource(parameter, url=text)
    if key == "asset_id":
        return MediaSource(parameter, asset_id=text)
    return MediaSource(parameter, data=_decode_base64(text, f"{parameter}.base64_string", max_bytes))


def _decode_base64(text: str, parameter: str, max_bytes: int) -> bytes:
    if "," in text[:100] and text.startswith("data:"):  # a data URL: keep the payload
        text = text.split(",", 1)[1]
    estimate = len(text) * 3 // 4
    if estimate > max_bytes + 3:
        raise _too_large(parameter, estimate, max_bytes)
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise errors.invalid(parameter, "It is not valid base64.") from None
    if len(data) > max_bytes:
        raise _too_large(parameter, len(data), max_bytes)
    if not data:
        raise errors.invalid(parameter, "It decodes to an empty file.")
    return data


def _too_large(parameter: str, size: int, limit: int) -> errors.ContentTooLargeError:
    return errors.ContentTooLargeError(
        f"File size ({size / MB:.1f} MB) exceeds maximum limit of {limit // MB} MB for {parameter}. "
        "Give a url or an asset_id instead (POST /assets uploads larger files).",
        {"parameter": parameter, "size_bytes": size, "limit_bytes": limit},
    )


def parse_segmentation(value: object, input_type: str, model_name: str) -> ClipParams:
    """The ``segmentation`` object, with its defaults: video ``dynamic`` with a 4 s minimum (2 s
    for marengo3.5), audio ``fixed`` 6 s. marengo3.5 wraps it in ``{"temporal": ...}``."""
    name = f"{input_type}.segmentation"
    is_35 = model_name == MARENGO_35
    if value is None:
        if input_type == "audio":
            return ClipParams(clip_length=DEFAULT_CLIP_SEC)
        return ClipParams(strategy="dynamic", min_duration=MIN_DYNAMIC_SEC if is_35 else DEFAULT_DYNAMIC_SEC)
    obj = _object(value, name)
    if is_35 or "temporal" in obj:
        if not is_35:
            raise errors.invalid(
                name,
                'The "temporal" form is Marengo 3.5\'s; with this model, set {"strategy": ...} directly.',
            )
        if "temporal" not in obj:
            raise errors.invalid(name, 'With marengo3.5, put the settings in {"temporal": {...}}.')
        _check_fields(obj, f"{name}.", ("temporal",))
        name, obj = f"{name}.temporal", _object(obj["temporal"], f"{name}.temporal")
    raw = obj.get("strategy")
    if raw not in STRATEGIES:
        raise errors.invalid(f"{name}.strategy", "Use fixed or dynamic.")
    strategy = str(raw)
    _check_fields(obj, f"{name}.", ("strategy", strategy))
    settings = _object(obj.get(strategy), f"{name}.{strategy}")
    if strategy == "fixed":
        _check_fields(settings, f"{name}.fixed.", ("duration_sec",))
        length = _number(settings.get("duration_sec"), f"{name}.fixed.duration_sec")
        if not MIN_CLIP_SEC <= length <= MAX_CLIP_SEC:
            raise errors.invalid(
                f"{name}.fixed.duration_sec", f"It must be from {MIN_CLIP_SEC:g} to {MAX_CLIP_SEC:g} seconds."
            )
        return ClipParams(clip_length=length)
    if strategy not in STRATEGIES_BY_INPUT[input_type]:
        raise errors.invalid(
            f"{name}.strategy",
            "Audio is cut into fixed segments only (dynamic segmentation follows the shots of a video).",
        )
    _check_fields(settings, f"{name}.dynamic.", ("min_duration_sec",))
    minimum = _number(settings.get("min_duration_sec"), f"{name}.dynamic.min_duration_sec")
    if not MIN_DYNAMIC_SEC <= minimum <= MAX_DYNAMIC_SEC:
        raise errors.invalid(
            f"{name}.dynamic.min_duration_sec",
            f"It must be from {MIN_DYNAMIC_SEC:g} to {MAX_DYNAMIC_SEC:g} seconds.",
        )
    return ClipParams(strategy="dynamic", min_duration=minimum)


def parse_media(value: object, input_type: str, model_name: str) -> MediaRequest:
    """A ``video`` or ``audio`` input object."""
    obj = _object(value, input_type)
    _check_fields(obj, f"{input_type}.", MEDIA_FIELDS)
    if _present(obj, "time_based_metadata"):
        raise errors.invalid(f"{input_type}.time_based_metadata", f"{ONLY_35}.")
    if not _present(obj, "media_source"):
        raise errors.not_provided(f"{input_type}.media_source")
    source = parse_media_source(obj["media_source"], f"{input_type}.media_source", MAX_BASE64_MEDIA_BYTES)
    clip = parse_segmentation(obj.get("segmentation"), input_type, model_name)
    start = _number(obj["start_sec"], f"{input_type}.start_sec") if _present(obj, "start_sec") else None
    end = _number(obj["end_sec"], f"{input_type}.end_sec") if _present(obj, "end_sec") else None
    if start is not None and start < 0:
        raise errors.invalid(f"{input_type}.start_sec", "It must be 0 or more.")
    if end is not None and end <= (start or 0.0):
        raise errors.invalid(f"{input_type}.end_sec", "It must be greater than start_sec.")
    allowed = OPTIONS_BY_INPUT[input_type]
    defaults = DEFAULT_OPTIONS_35[input_type] if model_name == MARENGO_35 else allowed
    options = (
        _string_list(obj["embedding_option"], f"{input_type}.embedding_option", allowed)
        if _present(obj, "embedding_option")
        else defaults
    )
    scopes: tuple[str, ...] = ("clip", "asset")
    if _present(obj, "embedding_scope"):
        asked = _string_list(
            obj["embedding_scope"], f"{input_type}.embedding_scope", (*SCOPES, *SCOPE_ALIASES)
        )
        scopes = tuple(dict.fromkeys(SCOPE_ALIASES.get(s, s) for s in asked))
    types: tuple[str, ...] = ("separate_embedding",)
    if _present(obj, "embedding_type"):
        types = _string_list(obj["embedding_type"], f"{input_type}.embedding_type", EMBEDDING_TYPES)
        if "fused_embedding" in types and len(options) < 2:
            raise errors.invalid(
                f"{input_type}.embedding_type",
                "fused_embedding combines several options: set at least two in embedding_option.",
            )
    names = (f"{input_type}.start_sec", f"{input_type}.end_sec")
    clip = ClipParams(
        clip.clip_length, start, end, ("clip", "video"), clip.strategy, clip.min_duration, offset_names=names
    )
    ordered = tuple(o for o in allowed if o in options)
    return MediaRequest(input_type, source, clip, ordered, scopes, types)


def parse_multi_input(value: object) -> tuple[str | None, tuple[tuple[str, MediaSource], ...]]:
    """``multi_input``: ``input_text`` and up to 10 ``media_sources``, all embedded as one vector.
    Image, video and audio sources (each at most 32 MB; audio and video at most 30 s, checked once
    fetched); documents are Marengo 3.5's (a 400 says so). Sources of different types need text,
    as TwelveLabs documents. A ``<@name>`` in the text must name a source; the references are
    taken out of the text before it is embedded (our text encoders cannot point at a source).
    Returns the text to embed (None: none) and the (media_type, source) pairs."""
    obj = _object(value, "multi_input")
    _check_fields(obj, "multi_input.", MULTI_INPUT_FIELDS)
    raw_text = obj.get("input_text")
    if raw_text is not None and (not isinstance(raw_text, str) or not raw_text.strip()):
        raise errors.invalid("multi_input.input_text", "It must be a non-empty string.")
    raw_sources = obj.get("media_sources")
    if raw_sources is not None and not isinstance(raw_sources, list):
        raise errors.invalid("multi_input.media_sources", "It must be a list of media sources.")
    items = raw_sources or []
    if len(items) > MAX_MULTI_SOURCES:
        raise errors.invalid(
            "multi_input.media_sources",
            f"It takes at most {MAX_MULTI_SOURCES} media sources ({len(items)} given).",
        )
    if raw_text is None and not items:
        raise errors.none_provided(["multi_input.input_text", "multi_input.media_sources"])
    names: set[str] = set()
    sources = []
    for i, item in enumerate(items):
        parameter = f"multi_input.media_sources[{i}]"
        source = _object(item, parameter)
        _check_fields(source, f"{parameter}.", MULTI_SOURCE_FIELDS)
        media_type = source.get("media_type")
        if media_type is None:
            raise errors.not_provided(f"{parameter}.media_type")
        if media_type not in MULTI_MEDIA_TYPES:
            raise errors.invalid(f"{parameter}.media_type", f"Use one of: {', '.join(MULTI_MEDIA_TYPES)}.")
        if media_type in MULTI_ONLY_35:
            raise errors.invalid(
                f"{parameter}.media_type",
                f"A {media_type} source in a multi_input needs Marengo 3.5; {ONLY_35}.",
            )
        name = source.get("name")
        if name is not None:
            if not isinstance(name, str) or not name.strip():
                raise errors.invalid(f"{parameter}.name", "It must be a non-empty string.")
            if name in names:
                raise errors.invalid(f"{parameter}.name", f"Another media source is named {name} already.")
            names.add(name)
        where = {k: v for k, v in source.items() if k in MEDIA_SOURCE_KEYS}
        sources.append((str(media_type), parse_media_source(where, parameter, MAX_BASE64_IMAGE_BYTES)))
    if raw_text is None and len({kind for kind, _ in sources}) > 1:
        raise errors.not_provided("multi_input.input_text")
    text = None
    if isinstance(raw_text, str):
        unknown = [r for r in _REFERENCE.findall(raw_text) if r not in names]
        if unknown:
            raise errors.invalid(
                "multi_input.input_text",
                f"It refers to <@{unknown[0]}>, but no media source has the name {unknown[0]}.",
            )
        text = " ".join(_REFERENCE.sub(" ", raw_text).split()) or None
    return text, tuple(sources)


def _model_and_extras(
    body: Mapping[str, object], known_models: Sequence[str], dimension_of: Callable[[str], int]
) -> str:
    """model_name, and the Marengo 3.5 fields: refused unless the stack can honour them."""
    model = parse_model_name(body.get("model_name"), known_models)
    if body.get("embedding_uncertainty") not in (None, False):
        raise errors.invalid(
            "embedding_uncertainty",
            f"{ONLY_35}: our vectors carry no per-dimension uncertainty. Leave it out.",
        )
    if body.get("embedding_dimension") is not None:
        dimension = dimension_of(model)
        if body["embedding_dimension"] != dimension:
            raise errors.invalid(
                "embedding_dimension",
                f"{ONLY_35}: the stack {model} makes {dimension}-dimensional vectors and cannot shorten "
                f"them. Leave embedding_dimension out, or set it to {dimension}.",
            )
    if body.get("auto_truncate") not in (None, True, False):
        raise errors.invalid("auto_truncate", "It must be true or false.")
    return model


def _input_type(body: Mapping[str, object], allowed: Sequence[str], route: str) -> str:
    value = body.get("input_type")
    if value is None:
        raise errors.not_provided("input_type")
    if (value == "multi_input" and route == "tasks") or value == "document":
        other = "POST /embed-v2 (input_type multi_input)" if value == "multi_input" else "the inputs listed"
        raise errors.invalid(
            "input_type", f"{value} is a Marengo 3.5 input that this server does not embed here; use {other}."
        )
    if value not in allowed:
        raise errors.invalid("input_type", f"Use one of: {', '.join(allowed)}.")
    for other_input in INPUT_OBJECTS:
        if other_input != value and body.get(other_input) is not None:
            raise errors.invalid(other_input, f"It does not go with input_type {value}; leave it out.")
    if body.get(str(value)) is None:
        raise errors.not_provided(str(value))
    return str(value)


def _body(value: object) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise errors.BadRequestError("The request body must be a JSON object.", "parameter_invalid")
    _check_fields(value, "", TOP_LEVEL_FIELDS)
    return value


def parse_sync(value: object, known_models: Sequence[str], dimension_of: Callable[[str], int]) -> SyncRequest:
    """``POST /embed-v2``: text, image, text_image, audio or video."""
    body = _body(value)
    model = _model_and_extras(body, known_models, dimension_of)
    input_type = _input_type(body, SYNC_INPUT_TYPES, "sync")
    item = body[input_type]
    if input_type in ("audio", "video"):
        return SyncRequest(input_type, model, media=parse_media(item, input_type, model))
    if input_type == "multi_input":
        text, sources = parse_multi_input(item)
        return SyncRequest(input_type, model, text=text, sources=sources)
    obj = _object(item, input_type)
    _check_fields(obj, f"{input_type}.", SYNC_FIELDS[input_type])
    text = None
    if input_type in ("text", "text_image"):
        raw = obj.get("input_text")
        if not isinstance(raw, str) or not raw.strip():
            raise errors.not_provided(f"{input_type}.input_text")
        text = raw
    image = None
    if input_type in ("image", "text_image"):
        if not _present(obj, "media_source"):
            raise errors.not_provided(f"{input_type}.media_source")
        image = parse_media_source(obj["media_source"], f"{input_type}.media_source", MAX_BASE64_IMAGE_BYTES)
    return SyncRequest(input_type, model, text=text, image=image)


def parse_async(
    value: object, known_models: Sequence[str], dimension_of: Callable[[str], int]
) -> AsyncRequest:
    """``POST /embed-v2/tasks``: audio or video."""
    body = _body(value)
    if body.get("auto_truncate") is not None:
        raise errors.unknown_parameters(["auto_truncate"])
    model = _model_and_extras(body, known_models, dimension_of)
    input_type = _input_type(body, ASYNC_INPUT_TYPES, "tasks")
    if input_type == "image":
        return AsyncRequest(model, None, parse_image_task(body["image"]))
    return AsyncRequest(model, parse_media(body[input_type], input_type, model))


def parse_image_task(value: object) -> MediaSource:
    """An async ``image`` input: its media source (at most 32 MB of base64); its
    ``embedding_option``, ``embedding_type`` and ``embedding_scope`` take only ``visual``,
    ``separate_embedding`` and ``asset``: one vector for the whole image."""
    obj = _object(value, "image")
    _check_fields(obj, "image.", ("media_source", *IMAGE_TASK_VALUES))
    for field, only in IMAGE_TASK_VALUES.items():
        if _present(obj, field):
            _string_list(obj[field], f"image.{field}", (only,))
    if not _present(obj, "media_source"):
        raise errors.not_provided("image.media_source")
    return parse_media_source(obj["media_source"], "image.media_source", MAX_BASE64_IMAGE_BYTES)
