"""The request bodies of Embed API v2 (``POST /embed-v2``, ``POST /embed-v2/tasks``) as OpenAPI 3.1
JSON Schemas, for the server's OpenAPI document.

Built from the constants that ``rules`` parses with (input types, options, scopes, embedding
types, segmentation strategies and bounds, the fields of each object), so the document and the
parser cannot drift apart. Each object lists exactly the fields the parser takes
(``additionalProperties: false``: it answers any other with a 400 ``parameter_unknown``), and an
optional field may be ``null``, which the parser reads as absent. A field that the parser takes
only as absent (Marengo 3.5's ``time_based_metadata``, the inputs a route does not embed) is
typed ``null``, with a description that says why.

What a schema cannot say (the object named by ``input_type`` is required and no other, exactly one
media source, fields that depend on the model or on the media) is stated in ``SYNC_RULES`` and
``TASK_RULES``, which the server puts in the schema's ``description``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from vidembed.api.embed_v2.rules import (
    ASYNC_INPUT_TYPES,
    EMBEDDING_TYPES,
    IMAGE_TASK_VALUES,
    INPUT_OBJECTS,
    MARENGO_35,
    MAX_BASE64_IMAGE_BYTES,
    MAX_BASE64_MEDIA_BYTES,
    MAX_MULTI_MEDIA_SEC,
    MAX_MULTI_SOURCES,
    MAX_SYNC_MEDIA_SEC,
    MB,
    MEDIA_FIELDS,
    MEDIA_SOURCE_KEYS,
    MULTI_INPUT_FIELDS,
    MULTI_MEDIA_TYPES,
    MULTI_ONLY_35,
    MULTI_SOURCE_FIELDS,
    OPTIONS_BY_INPUT,
    SCOPE_ALIASES,
    SCOPES,
    STRATEGIES_BY_INPUT,
    SYNC_FIELDS,
    SYNC_INPUT_TYPES,
    TOP_LEVEL_FIELDS,
)
from vidembed.segmentation import (
    DEFAULT_CLIP_SEC,
    DEFAULT_DYNAMIC_SEC,
    MAX_CLIP_SEC,
    MAX_DYNAMIC_SEC,
    MIN_CLIP_SEC,
    MIN_DYNAMIC_SEC,
)

Schema = dict[str, Any]

_NON_BLANK = r"\S"  # a string with more than blanks in it (the parser strips and refuses "")


def _nullable(schema: Schema) -> Schema:
    """An optional field: the parser reads ``null`` as absent."""
    kind = schema["type"]
    return {**schema, "type": [*(kind if isinstance(kind, list) else [kind]), "null"]}


def _obj(properties: Mapping[str, Schema], required: Sequence[str] = (), **extra: Any) -> Schema:
    schema: Schema = {"type": "object", "properties": dict(properties), "additionalProperties": False}
    if required:
        schema["required"] = list(required)
    return {**schema, **extra}


def _absent(why: str) -> Schema:
    """A field the parser takes only as absent (or null)."""
    return {"type": "null", "description": why}


def _values(allowed: Sequence[str], description: str) -> Schema:
    """A non-empty list of values (repeats are dropped), or null for the default."""
    return _nullable(
        {
            "type": "array",
            "minItems": 1,
            "items": {"type": "string", "enum": list(allowed)},
            "description": description,
        }
    )


def media_source(max_bytes: int) -> Schema:
    keys = {
        "url": "a URL the server downloads (http or https)",
        "base64_string": f"the file in base64 (or a data URL), at most {max_bytes // MB} MB decoded",
        "asset_id": "an asset of the same API key (POST /assets)",
    }
    return _obj(
        {key: _nullable({"type": "string", "description": keys[key]}) for key in MEDIA_SOURCE_KEYS},
        description="Exactly one of url, base64_string and asset_id, a non-empty string.",
    )


def _strategy(strategy: str) -> Schema:
    if strategy == "fixed":
        setting = {
            "duration_sec": {"type": "number", "minimum": MIN_CLIP_SEC, "maximum": MAX_CLIP_SEC},
        }
    else:
        setting = {
            "min_duration_sec": {"type": "number", "minimum": MIN_DYNAMIC_SEC, "maximum": MAX_DYNAMIC_SEC},
        }
    return _obj(
        {"strategy": {"type": "string", "const": strategy}, strategy: _obj(setting, list(setting))},
        ["strategy", strategy],
    )


def segmentation(input_type: str) -> Schema:
    """``{"strategy": ..., <strategy>: {...}}``, or the same in ``{"temporal": ...}`` (marengo3.5)."""
    strategies = STRATEGIES_BY_INPUT[input_type]
    direct = {"oneOf": [_strategy(s) for s in strategies]}
    if input_type == "video":
        default = f"dynamic, min_duration_sec {DEFAULT_DYNAMIC_SEC:g} ({MIN_DYNAMIC_SEC:g} with {MARENGO_35})"
    else:
        default = f"fixed, duration_sec {DEFAULT_CLIP_SEC:g}"
    return {
        "oneOf": [
            {"type": "null"},
            direct,
            _obj({"temporal": direct}, ["temporal"]),
        ],
        "description": (
            f"How the {input_type} is cut: {' or '.join(strategies)}. With model_name {MARENGO_35} "
            'the object goes in {"temporal": ...}; with any other model, directly here. '
            f"Default: {default}."
        ),
    }


def media_input(input_type: str) -> Schema:
    """A ``video`` or ``audio`` input (either route)."""
    options = OPTIONS_BY_INPUT[input_type]
    fields: dict[str, Schema] = {
        "media_source": media_source(MAX_BASE64_MEDIA_BYTES),
        "start_sec": _nullable({"type": "number", "minimum": 0, "description": "default 0"}),
        "end_sec": _nullable(
            {
                "type": "number",
                "exclusiveMinimum": 0,
                "description": f"greater than start_sec, within the {input_type}; default its end",
            }
        ),
        "segmentation": segmentation(input_type),
        "embedding_option": _values(options, f"default {', '.join(options)}"),
        "embedding_scope": _values(
            (*SCOPES, *SCOPE_ALIASES),
            f"default {', '.join(SCOPES)}; "
            + ", ".join(f"{alias} is {scope}" for alias, scope in SCOPE_ALIASES.items()),
        ),
        "embedding_type": _values(EMBEDDING_TYPES, f"default {EMBEDDING_TYPES[0]}"),
        "time_based_metadata": _absent(f"Marengo 3.5's: {_only_35()}."),
    }
    return _obj({name: fields[name] for name in MEDIA_FIELDS}, ["media_source"])


def _only_35() -> str:
    return "no vidembed stack can honour it, so it is refused (leave it out)"


def still_input(input_type: str) -> Schema:
    """``text``, ``image`` or ``text_image`` (``POST /embed-v2``)."""
    fields = {
        "input_text": {"type": "string", "pattern": _NON_BLANK},
        "media_source": media_source(MAX_BASE64_IMAGE_BYTES),
    }
    names = SYNC_FIELDS[input_type]
    return _obj({name: fields[name] for name in names}, names)


def multi_input() -> Schema:
    kinds = [kind for kind in MULTI_MEDIA_TYPES if kind not in MULTI_ONLY_35]
    source_fields: dict[str, Schema] = {
        "name": _nullable(
            {"type": "string", "pattern": _NON_BLANK, "description": "for <@name> in input_text"}
        ),
        "media_type": {
            "type": "string",
            "enum": kinds,
            "description": f"{', '.join(MULTI_ONLY_35)}: Marengo 3.5's, refused",
        },
        **{key: media_source(MAX_BASE64_IMAGE_BYTES)["properties"][key] for key in MEDIA_SOURCE_KEYS},
    }
    fields: dict[str, Schema] = {
        "input_text": _nullable({"type": "string", "pattern": _NON_BLANK}),
        "media_sources": _nullable(
            {
                "type": "array",
                "maxItems": MAX_MULTI_SOURCES,
                "items": _obj({name: source_fields[name] for name in MULTI_SOURCE_FIELDS}, ["media_type"]),
            }
        ),
    }
    return _obj({name: fields[name] for name in MULTI_INPUT_FIELDS})


def image_task_input() -> Schema:
    """An ``image`` task (``POST /embed-v2/tasks``): each option field takes its one value."""
    fields = {
        "media_source": media_source(MAX_BASE64_IMAGE_BYTES),
        **{field: _values((only,), f"only {only}") for field, only in IMAGE_TASK_VALUES.items()},
    }
    return _obj(fields, ["media_source"])


def _body(
    input_types: Sequence[str],
    inputs: Mapping[str, Schema],
    extras: Mapping[str, Schema],
    models: Sequence[str],
) -> Schema:
    model: Schema = {"type": "string", "description": "a model (stack) of this server"}
    if models:
        model["enum"] = list(models)
    not_here = _absent("Not an input this route embeds: leave it out.")
    fields: dict[str, Schema] = {
        "input_type": {"type": "string", "enum": list(input_types)},
        "model_name": model,
        **{name: inputs.get(name, not_here) for name in INPUT_OBJECTS},
        "embedding_uncertainty": {
            "enum": [False, None],
            "description": "Marengo 3.5's: true is refused (our vectors carry no uncertainty)",
        },
        "embedding_dimension": _nullable(
            {
                "type": "integer",
                "description": "the model's own dimension only (shorter is Marengo 3.5's)",
            }
        ),
        **extras,
    }
    return _obj({name: fields[name] for name in TOP_LEVEL_FIELDS}, ["input_type", "model_name"])


def sync_schema(models: Sequence[str]) -> Schema:
    """The body of ``POST /embed-v2``; ``models``: the server's model names."""
    inputs = {
        **{kind: still_input(kind) for kind in SYNC_FIELDS},
        "audio": media_input("audio"),
        "video": media_input("video"),
        "multi_input": multi_input(),
    }
    extras = {"auto_truncate": _nullable({"type": "boolean"})}
    return _body(SYNC_INPUT_TYPES, {k: v for k, v in inputs.items() if k in SYNC_INPUT_TYPES}, extras, models)


def task_schema(models: Sequence[str]) -> Schema:
    """The body of ``POST /embed-v2/tasks``; ``models``: the server's model names."""
    inputs = {"audio": media_input("audio"), "video": media_input("video"), "image": image_task_input()}
    extras = {"auto_truncate": _absent("The synchronous route's only: leave it out.")}
    return _body(
        ASYNC_INPUT_TYPES, {k: v for k, v in inputs.items() if k in ASYNC_INPUT_TYPES}, extras, models
    )


_COMMON = (
    "The object named by input_type is required, and no other input object may be set. "
    "model_name is one of this server's models; embedding_dimension, if set, must equal its "
    "vectors' dimension. Fields only Marengo 3.5 has (embedding_uncertainty true, a shorter "
    "embedding_dimension, time_based_metadata, document inputs and sources) are refused with a "
    "400 that says so. media_source: exactly one of url, base64_string and asset_id, a non-empty "
    f"string; base64 is at most {MAX_BASE64_MEDIA_BYTES // MB} MB decoded for audio and video, "
    f"{MAX_BASE64_IMAGE_BYTES // MB} MB for images (more is a 413); an asset_id names an asset of "
    "the same API key, ready or still processing. audio and video: end_sec must be greater than "
    "start_sec, and both must fit the media, which is checked once its duration is known. "
    f"segmentation: with model_name {MARENGO_35} the settings go in "
    '{"temporal": {...}} and with any other model directly in the object; audio is cut into '
    "fixed segments only. embedding_type fused_embedding needs at least two embedding_option "
    "values (the defaults count when embedding_option is left out)."
)
SYNC_RULES = (
    f"{_COMMON} POST /embed-v2 embeds at most {MAX_SYNC_MEDIA_SEC / 60:g} minutes of audio or "
    "video (between start_sec and end_sec); longer is a 400 that names POST /embed-v2/tasks. "
    "multi_input: at least one of input_text and media_sources; sources of different media types "
    "need input_text; source names are unique, and every <@name> in input_text must name a "
    f"source; an audio or video source is at most {MAX_MULTI_MEDIA_SEC:g} s long."
)
TASK_RULES = (
    f"{_COMMON} A task for end_sec past the end of the media fails once the duration is known, "
    "naming the field. An image task gives one vector for the whole image."
)
