"""The error bodies and the one table of error statuses that every route documents in OpenAPI.

Every API's errors are flat ``{code, message}`` bodies (docs/CONTRACT.md §1.4) except where the
contract nests them as ``{error: {code, message, details}}`` (the routes say which statuses).
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


# What each status means, for every route that answers it; {resource} names what a 404 looked for.
ERROR_DESCRIPTIONS = {
    400: "`parameter_invalid` or `parameter_not_provided` (validation is always 400, never 422)",
    401: "`api_key_invalid`: no key, or an unknown key, in the `x-api-key` header (servers with keys only)",
    404: "`resource_not_exist`: no {resource} with this id for this API key",
    413: "`content_too_large`, nested: `{{error: {{code, message, details}}}}` (as the SDK parses it)",
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
        out[status] = {"model": model, "description": description}
        if status == 429:
            out[status]["headers"] = RETRY_AFTER
    return out
