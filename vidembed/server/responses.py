"""The error bodies and the one table of error statuses that every route documents in OpenAPI.

Every API's errors are flat ``{code, message}`` bodies (docs/CONTRACT.md §1.4) except Embed v2's:
every error of ``/embed-v2`` and ``/embed-v2/tasks`` (under ``/v1.3`` too) is nested as
``{error: {code, message, details}}``, as both of TwelveLabs' OpenAPI documents say
(``nests_errors`` decides by the path; ``error_body`` builds either shape).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    """A flat 4xx/5xx body, as in TwelveLabs' v1.3 API (docs/CONTRACT.md §1.4)."""

    code: str = Field(examples=["parameter_invalid"])
    message: str = Field(examples=["The video_clip_length parameter is invalid."])


class NestedError(BaseModel):
    code: str = Field(examples=["content_too_large"])
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class NestedErrorBody(BaseModel):
    """A nested 4xx/5xx body: ``{error: {code, message, details}}``."""

    error: NestedError


# Embed v2's routes, under the root and /v1.3: every error they answer is nested
NESTED_ROUTE_ROOTS = ("/embed-v2", "/v1.3/embed-v2")


def nests_errors(path: str) -> bool:
    """Whether errors on ``path`` have nested bodies: Embed v2's routes and any path under them
    (an unknown route or a wrong method there too)."""
    return any(path == root or path.startswith(root + "/") for root in NESTED_ROUTE_ROOTS)


def error_body(
    code: str, message: str, *, nested: bool, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A flat ``{code, message}`` body, or the nested ``{error: {code, message, details}}``."""
    if nested:
        return {"error": {"code": code, "message": message, "details": details or {}}}
    return {"code": code, "message": message}


# What each status means, for every route that answers it; {resource} names what a 404 looked for.
ERROR_DESCRIPTIONS = {
    400: "`parameter_invalid` or `parameter_not_provided` (validation is always 400, never 422)",
    401: "`api_key_invalid`: no key, or an unknown key, in the `x-api-key` header (servers with keys only)",
    404: "`resource_not_exist`: no {resource} with this id for this API key",
    413: "`content_too_large`: the request body, or its base64 media, is too large",
    429: "`too_many_requests`: too many tasks processing at once for this API key",
    503: "`not_ready`: the models are still loading, or a database or the media store cannot be used",
}
UNKNOWN_FIELDS_400 = "`parameter_invalid`, `parameter_not_provided` or `parameter_unknown`"
RETRY_AFTER = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}}


def error_responses(
    *statuses: int,
    resource: str = "task",
    nested: Collection[int] = (),
    unknown_fields: bool = False,
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the error statuses a route can answer: ``resource`` is what its
    404 did not find, ``nested`` the statuses whose body is nested, ``unknown_fields`` whether a
    400 may say ``parameter_unknown`` (JSON bodies)."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        description = ERROR_DESCRIPTIONS[status].format(resource=resource)
        if status == 400 and unknown_fields:
            description = UNKNOWN_FIELDS_400
        model = NestedErrorBody if status in nested else ErrorBody
        if status in nested:
            description += ". The body is nested: `{error: {code, message, details}}`"
        out[status] = {"model": model, "description": description}
        if status == 429:
            out[status]["headers"] = RETRY_AFTER
    return out
