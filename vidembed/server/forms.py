"""Multipart forms as the TwelveLabs SDKs send them, parsed by hand for every route that takes one.

``""`` means absent; a text parameter may also arrive as a small file part (SDK 0.4.x); a body is
refused while it streams in once it passes the upload limit (plus FORM_SLACK for the multipart
overhead), with a message that names the route's file field. FastAPI cannot infer these forms, so
``multipart_body`` writes their OpenAPI by hand.
"""

from __future__ import annotations

import json
from typing import IO, Any

from fastapi import Request
from starlette.datastructures import FormData, UploadFile
from starlette.types import Message, Receive

from vidembed.errors import BadRequestError, invalid

TEXT_PART_MAX = 64 * 1024  # a "file" part this small may be a text parameter (SDK 0.4.x)


FORM_SLACK = 1024 * 1024  # multipart overhead allowed above the upload limit


FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


def json_body(
    example: dict[str, Any], schema: dict[str, Any] | None = None, rules: str = ""
) -> dict[str, Any]:
    """OpenAPI for a route that reads a JSON object by hand, with an example; ``schema``: the
    body's JSON Schema (default: any object); ``rules``: what the schema cannot say, as its
    description (as ``multipart_body`` does)."""
    body = dict(schema) if schema is not None else {"type": "object"}
    if rules:
        body["description"] = rules
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": body, "example": example}},
        }
    }


def multipart_body(
    properties: dict[str, Any], required: tuple[str, ...] = ("model_name",), rules: str = ""
) -> dict[str, Any]:
    """OpenAPI for a route that parses its multipart form by hand (FastAPI cannot infer it);
    ``rules``: what a schema cannot say (fields that go together or exclude each other, bounds that
    depend on another field or on the media), as the schema's description, so that a request
    valid by the schema and refused by a rule is not a surprise."""
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if rules:
        schema["description"] = rules
    if required:  # an empty list is not valid OpenAPI
        schema["required"] = list(required)
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}}


def _limited(receive: Receive, limit: int, upload_limit: int, field: str) -> Receive:
    """An ASGI receive that stops a body larger than ``limit`` while it streams in."""
    seen = 0

    async def receive_limited() -> Message:
        nonlocal seen
        message = await receive()
        seen += len(message.get("body", b""))
        if seen > limit:
            raise _too_large(upload_limit, field)
        return message

    return receive_limited


def _too_large(limit: int, field: str = "video_file") -> BadRequestError:
    return invalid(field, f"The upload is larger than the limit of {limit} bytes.")


def _check_form_type(request: Request) -> None:
    """A body that is not a form would parse as an empty form and give a misleading "not provided".

    No Content-Type with an empty body (the SDK's retried POST, CONTRACT.md §1.5) still goes on
    to the missing-parameter answer.
    """
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type in FORM_TYPES:
        return
    if media_type:
        sent = f"as {media_type[:100]}"
    elif request.headers.get("content-length", "0").strip() in ("", "0"):
        return
    else:
        sent = "with no Content-Type header"
    raise BadRequestError(
        f"This route takes {FORM_TYPES[0]} (or {FORM_TYPES[1]}); the request was sent {sent}.",
        "parameter_invalid",
    )


async def read_form(request: Request, upload_limit: int, file_field: str = "video_file") -> FormData:
    """The form, refused while it streams in when larger than ``upload_limit`` (a message naming
    ``file_field``, the route's upload)."""
    _check_form_type(request)
    limit = upload_limit + FORM_SLACK
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(upload_limit, file_field)
    limited = Request(request.scope, _limited(request.receive, limit, upload_limit, file_field))
    # Files spool to disk past 1 MB (python-multipart), so an upload is never whole in memory.
    return await limited.form(max_files=8, max_fields=200)


async def form_text(form: FormData, name: str) -> str | None:
    """The first non-empty text value; else the content of a small file part of that name."""
    values = form.getlist(name)
    for value in values:
        if isinstance(value, str) and value.strip():
            return value
    for value in values:
        if isinstance(value, UploadFile) and (value.size or 0) <= TEXT_PART_MAX:
            content = (await value.read()).decode("utf-8", errors="replace").strip()
            if content:
                return content
    return None


def upload_part(form: FormData, name: str) -> UploadFile | None:
    for value in form.getlist(name):
        if isinstance(value, UploadFile):
            return value
    return None


def file_only(form: FormData, name: str, hint: str) -> tuple[str, IO[bytes]] | None:
    """A parameter that is a file part only: its (file name, content); a text value is refused,
    and an empty part without a file name (a form's unused file field) is absent."""
    upload = upload_part(form, name)
    if upload is not None and (upload.filename or upload.size):
        return (upload.filename or "upload", upload.file)
    if any(isinstance(v, str) and v.strip() for v in form.getlist(name)):
        raise invalid(name, f"Send {name} as a file part (multipart/form-data){hint}.")
    return None


SMALL_JSON_MAX = 64 * 1024  # a JSON body of settings (an index's name and models), never media


async def read_small_json(request: Request, limit: int = SMALL_JSON_MAX) -> object:
    """A small JSON body (``application/json``), refused past ``limit`` bytes; 400 otherwise."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        sent = media_type or "no Content-Type header"
        raise BadRequestError(f"This route takes application/json; the request was sent with {sent}.")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BadRequestError(f"The request body is larger than {limit} bytes.")
    try:
        return json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError):
        raise BadRequestError("The request body is not valid JSON.") from None
