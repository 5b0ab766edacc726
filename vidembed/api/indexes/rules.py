"""The request rules of TwelveLabs' indexes API (docs/SEARCH-API.md): a name, one embedding model
with its options, the thumbnail add-on; the list's page, filters and order."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from vidembed import errors
from vidembed.api.rules import absent, parse_page
from vidembed.api.wire import parse_rfc3339
from vidembed.records import IndexListing
from vidembed.service.indexes import IndexRequest

INDEX_OPTIONS = ("visual", "audio")  # Marengo 3.0's model_options; audio covers sound and speech
ADDONS = ("thumbnail",)
MAX_NAME = 255
CREATE_FIELDS = ("index_name", "models", "addons")
MODEL_FIELDS = ("model_name", "model_options")
SORT_FIELDS = ("created_at", "updated_at")
SORT_OPTIONS = ("asc", "desc")
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


def _time(name: str, value: object) -> float | None:
    if absent(value):
        return None
    try:
        return parse_rfc3339(str(value))
    except ValueError:
        raise errors.invalid(name, "Use an RFC 3339 date-time such as 2024-05-10T04:57:15Z.") from None


def _choice(name: str, value: object, allowed: Sequence[str], default: str) -> str:
    if absent(value):
        return default
    if str(value) not in allowed:
        raise errors.invalid(name, f"Use one of: {', '.join(allowed)}.")
    return str(value)


def parse_index_list(query: Mapping[str, str]) -> tuple[IndexListing, int, int, bool]:
    """``GET /indexes``: the listing, the page, its size, and whether it can have any result
    (``model_family=pegasus`` matches nothing here)."""
    page, limit = parse_page(query.get("page"), query.get("page_limit"))
    raw_options = query.get("model_options")
    options: tuple[str, ...] = ()
    if not absent(raw_options):
        options = _options([p.strip() for p in str(raw_options).split(",") if p.strip()], "model_options")
    family = _choice("model_family", query.get("model_family"), MODEL_FAMILIES, "marengo")
    name = None if absent(query.get("index_name")) else str(query.get("index_name"))
    listing = IndexListing(
        name=name,
        options=options,
        created_from=_time("created_at", query.get("created_at")),
        updated_from=_time("updated_at", query.get("updated_at")),
        sort_by=_choice("sort_by", query.get("sort_by"), SORT_FIELDS, "created_at"),
        descending=_choice("sort_option", query.get("sort_option"), SORT_OPTIONS, "desc") == "desc",
    )
    return listing, page, limit, family == "marengo"
