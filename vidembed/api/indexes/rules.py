"""The request rules of TwelveLabs' indexes API (docs/SEARCH-API.md): a name, one embedding model
with its options, the thumbnail add-on; the list's page, filters and order."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from vidembed import errors
from vidembed.api.rules import (
    absent,
    parse_choice,
    parse_flag,
    parse_number,
    parse_order,
    parse_page,
    parse_time,
    parse_user_metadata,
)
from vidembed.records import IndexListing, JsonObject, TaskRecord
from vidembed.service.indexes import Condition, IndexRequest, VideoFilter, matches

INDEX_OPTIONS = ("visual", "audio")  # Marengo 3.0's model_options; audio covers sound and speech
ADDONS = ("thumbnail",)
MAX_NAME = 255
CREATE_FIELDS = ("index_name", "models", "addons")
MODEL_FIELDS = ("model_name", "model_options")
MODEL_FAMILIES = ("marengo", "pegasus")
EXAMPLE_MODELS = '[{"model_name": "marengo3.0", "model_options": ["visual", "audio"]}]'
PEGASUS = (
    "Pegasus (video to text) is not served by vidembed: an index here holds embeddings for search. "
    "Use one model such as marengo3.0."
)


def _body(value: object) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise errors.BadRequestError("The request body must be a JSON object.", "parameter_invalid")
    return value


def _unknown(obj: Mapping[str, object], prefix: str, allowed: Sequence[str]) -> None:
    unknown = [f"{prefix}{key}" for key in obj if key not in allowed]
    if unknown:
        raise errors.unknown_parameters(unknown)


def parse_index_name(value: object) -> str:
    if absent(value):
        raise errors.not_provided("index_name")
    if not isinstance(value, str):
        raise errors.invalid("index_name", "It must be a string.")
    name = value.strip()
    if len(name) > MAX_NAME:
        raise errors.invalid("index_name", f"It must be at most {MAX_NAME} characters long.")
    return name


def _options(value: object, parameter: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise errors.invalid(parameter, f"Give a non-empty list of: {', '.join(INDEX_OPTIONS)}.")
    unknown = [v for v in value if v not in INDEX_OPTIONS]
    if unknown:
        raise errors.invalid(
            parameter,
            f"{', '.join(unknown)} is not a model option here; use some of: {', '.join(INDEX_OPTIONS)}.",
        )
    return tuple(o for o in INDEX_OPTIONS if o in value)


def parse_index_create(body: object, known_models: Sequence[str]) -> IndexRequest:
    """``POST /indexes``: ``{"index_name", "models": [{"model_name", "model_options"}], "addons"?}``
    with one embedding model (a stack's name or alias) and a non-empty subset of visual, audio."""
    obj = _body(body)
    _unknown(obj, "", CREATE_FIELDS)
    name = parse_index_name(obj.get("index_name"))
    models = obj.get("models")
    if absent(models) or models == []:
        raise errors.not_provided("models")
    if not isinstance(models, list) or not all(isinstance(m, Mapping) for m in models):
        raise errors.invalid(
            "models",
            'Give a list such as [{"model_name": "marengo3.0", "model_options": ["visual", "audio"]}].',
        )
    if any(str(m.get("model_name", "")).lower().startswith("pegasus") for m in models):
        raise errors.invalid("models", PEGASUS)
    if len(models) > 1:
        raise errors.invalid("models", "Give one model: an index here is embedded by one stack.")
    model = models[0]
    _unknown(model, "models[0].", MODEL_FIELDS)
    model_name = model.get("model_name")
    if absent(model_name):
        raise errors.not_provided("models[0].model_name")
    if not isinstance(model_name, str) or model_name.strip() not in known_models:
        raise errors.invalid("models[0].model_name", f"Available models: {', '.join(sorted(known_models))}.")
    options = _options(model.get("model_options"), "models[0].model_options")
    addons = obj.get("addons")
    chosen: tuple[str, ...] = ()
    if addons is not None:
        if not isinstance(addons, list) or any(a not in ADDONS for a in addons):
            raise errors.invalid("addons", f"The only add-on is {ADDONS[0]}.")
        chosen = tuple(a for a in ADDONS if a in addons)
    return IndexRequest(name, model_name.strip(), options, chosen)


def parse_index_update(body: object) -> str:
    """``PUT /indexes/{id}``: ``{"index_name"}`` only (models and add-ons cannot change)."""
    obj = _body(body)
    if "models" in obj:
        raise errors.BadRequestError(
            "The models of an index cannot be changed; create another index.",
            "index_option_cannot_be_changed",
        )
    _unknown(obj, "", ("index_name",))
    return parse_index_name(obj.get("index_name"))


def parse_index_list(query: Mapping[str, str]) -> tuple[IndexListing, int, int, bool]:
    """``GET /indexes``: the listing, the page, its size, and whether it can have any result
    (``model_family=pegasus`` matches nothing here)."""
    page, limit = parse_page(query.get("page"), query.get("page_limit"))
    raw_options = query.get("model_options")
    options: tuple[str, ...] = ()
    if not absent(raw_options):
        options = _options([p.strip() for p in str(raw_options).split(",") if p.strip()], "model_options")
    family = parse_choice("model_family", query.get("model_family"), MODEL_FAMILIES, "marengo")
    name = None if absent(query.get("index_name")) else str(query.get("index_name"))
    sort_field, descending = parse_order(query.get("sort_by"), query.get("sort_option"))
    listing = IndexListing(
        name=name,
        options=options,
        created_from=parse_time("created_at", query.get("created_at")),
        updated_from=parse_time("updated_at", query.get("updated_at")),
        sort_by=sort_field,
        descending=descending,
    )
    return listing, page, limit, family == "marengo"


# --- videos in an index ---------------------------------------------------------------------

VIDEO_NUMBERS = ("duration", "fps", "width", "height", "size")  # system fields filtered as numbers
VIDEO_LIST_FIELDS = ("page", "page_limit", "sort_by", "sort_option", "filename", "created_at", "updated_at")
VIDEO_EMBEDDING_OPTIONS = ("visual", "audio", "transcription")


@dataclass(frozen=True)
class VideoListing:
    conditions: VideoFilter
    created_from: float | None
    updated_from: float | None
    sort_by: str
    descending: bool

    def admits(self, task: TaskRecord) -> bool:
        """Whether a video passes the listing's filters (conditions, created/updated at or after)."""
        return (
            matches(task, self.conditions)
            and (self.created_from is None or task.created_at >= self.created_from)
            and (self.updated_from is None or task.updated_at >= self.updated_from)
        )


def query_value(text: str) -> tuple[str | float | bool, ...]:
    """The values a query-string value stands for: itself, and the number or boolean it spells
    (user metadata keeps its JSON types; a query string has only text)."""
    values: list[str | float | bool] = [text]
    if text in ("true", "false"):
        values.append(text == "true")
    try:
        number = float(text)
    except ValueError:
        return tuple(values)
    if math.isfinite(number):
        values.append(number)
    return tuple(values)


def _bound(name: str, value: str) -> float:
    number = parse_number(name, value, "It must be a number.")
    assert number is not None
    return number


def parse_video_list(query: Mapping[str, str]) -> tuple[VideoListing, int, int]:
    """``GET /indexes/{id}/videos``: a page, the order, and filters: ``filename``; ``duration``,
    ``fps``, ``width``, ``height``, ``size`` as a number or ``key[gte]`` / ``key[lte]``; any other
    key is user metadata, equal to the value (``user_metadata[key]=value``, as the SDK sends it, or
    ``key=value``)."""
    page, limit = parse_page(query.get("page"), query.get("page_limit"))
    bounds: dict[str, dict[str, float]] = {}
    conditions: list[Condition] = []
    for key, value in query.items():
        if key in VIDEO_LIST_FIELDS or absent(value):
            continue
        field, _, rest = key.partition("[")
        if field == "user_metadata" and rest.endswith("]"):  # the SDK's form: user_metadata[key]=value
            conditions.append(Condition(rest[:-1], equals=query_value(value)))
        elif rest:
            operator = rest.rstrip("]")
            if field not in VIDEO_NUMBERS or operator not in ("gte", "lte"):
                raise errors.invalid(key, f"Ranges are {', '.join(VIDEO_NUMBERS)} with [gte] or [lte].")
            bounds.setdefault(field, {})[operator] = _bound(key, value)
        elif key in VIDEO_NUMBERS:
            conditions.append(Condition(key, equals=(_bound(key, value),)))
        else:
            conditions.append(Condition(key, equals=query_value(value)))
    filename = query.get("filename")
    if not absent(filename):
        conditions.append(Condition("filename", equals=(str(filename),)))
    conditions += [Condition(k, gte=b.get("gte"), lte=b.get("lte")) for k, b in bounds.items()]
    sort_field, descending = parse_order(query.get("sort_by"), query.get("sort_option"))
    listing = VideoListing(
        conditions=tuple(conditions),
        created_from=parse_time("created_at", query.get("created_at")),
        updated_from=parse_time("updated_at", query.get("updated_at")),
        sort_by=sort_field,
        descending=descending,
    )
    return listing, page, limit


def parse_video_retrieve(embedding_option: object, transcription: object) -> tuple[tuple[str, ...], bool]:
    """``GET /indexes/{id}/videos/{video_id}``: the embedding options to include (none: no
    embeddings) and whether to include the transcription."""
    values = [] if absent(embedding_option) else embedding_option
    items = (
        [values] if isinstance(values, str) else list(values) if isinstance(values, list | tuple) else None
    )
    if items is None:
        raise errors.invalid("embedding_option", f"Use some of: {', '.join(VIDEO_EMBEDDING_OPTIONS)}.")
    options = [part.strip() for item in items for part in str(item).split(",") if part.strip()]
    unknown = [o for o in options if o not in VIDEO_EMBEDDING_OPTIONS]
    if unknown:
        raise errors.invalid("embedding_option", f"Use some of: {', '.join(VIDEO_EMBEDDING_OPTIONS)}.")
    with_text = False
    if not absent(transcription):
        text = str(transcription).strip().lower()
        if text not in ("true", "false"):
            raise errors.invalid("transcription", "Use true or false.")
        with_text = text == "true"
    return tuple(o for o in VIDEO_EMBEDDING_OPTIONS if o in options), with_text


def parse_video_update(body: object) -> JsonObject:
    """``PUT``/``PATCH /indexes/{id}/videos/{video_id}``: ``{"user_metadata": {...}}``; a key set
    to null is removed."""
    obj = _body(body)
    _unknown(obj, "", ("user_metadata",))
    if "user_metadata" not in obj:
        raise errors.not_provided("user_metadata")
    metadata = parse_user_metadata(obj.get("user_metadata"))
    return metadata or {}


# --- indexed assets ---------------------------------------------------------------------------

INDEXED_STATUSES = ("pending", "queued", "indexing", "ready", "failed", "validating")


def parse_indexed_asset_create(body: object) -> tuple[str, JsonObject | None]:
    """``POST /indexes/{id}/indexed-assets``: ``{"asset_id", "enable_video_stream"?,
    "user_metadata"?}`` (``enable_video_stream`` is accepted and has no effect)."""
    obj = _body(body)
    _unknown(obj, "", ("asset_id", "enable_video_stream", "user_metadata"))
    asset_id = obj.get("asset_id")
    if absent(asset_id):
        raise errors.not_provided("asset_id")
    if not isinstance(asset_id, str):
        raise errors.invalid("asset_id", "It must be a string.")
    parse_flag("enable_video_stream", obj.get("enable_video_stream"))
    metadata = parse_user_metadata(obj.get("user_metadata"))
    if metadata is not None:
        metadata = {k: v for k, v in metadata.items() if v is not None} or None
    return asset_id.strip(), metadata


def parse_indexed_asset_list(
    query: Mapping[str, str], statuses: Sequence[str]
) -> tuple[VideoListing, tuple[str, ...], int, int]:
    """``GET /indexes/{id}/indexed-assets``: the videos list's rules and a ``status`` filter."""
    wanted = tuple(part.strip() for value in statuses for part in value.split(",") if part.strip())
    unknown = [s for s in wanted if s not in INDEXED_STATUSES]
    if unknown:
        raise errors.invalid("status", f"Use some of: {', '.join(INDEXED_STATUSES)}.")
    listing, page, limit = parse_video_list({k: v for k, v in query.items() if k != "status"})
    return listing, wanted, page, limit
