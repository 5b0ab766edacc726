"""Errors shared by every layer, with the codes and messages of the TwelveLabs contract.

The same exception classes are raised by the embedded client, the task service and (after
translation from HTTP) the HTTP client, so user code catches one set of errors in both modes.
"""

from __future__ import annotations

from typing import Any


class VidEmbedError(Exception):
    """Base of every error vidembed raises on purpose."""


class Interrupted(VidEmbedError):
    """Work stopped on purpose (a worker stopping: Ctrl-C, a server shutting down): its task is
    handed back for the next worker, never failed."""


class ApiError(VidEmbedError):
    status_code: int = 500
    default_code: str = "internal_error"

    def __init__(
        self,
        message: str,
        code: str | None = None,
        *,
        status_code: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        if status_code is not None:
            self.status_code = status_code
        self.headers = headers or {}

    @property
    def body(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message}

    @property
    def nested_body(self) -> dict[str, Any]:
        """The body as Embed v2 answers every error: ``{"error": {code, message, details}}``
        (docs/CONTRACT.md §1.4 and §5)."""
        details: dict[str, Any] = getattr(self, "details", None) or {}
        return {"error": {"code": self.code, "message": self.message, "details": details}}

    def __str__(self) -> str:
        return f"{self.status_code} {self.code}: {self.message}"


class BadRequestError(ApiError):
    status_code = 400
    default_code = "parameter_invalid"


class AuthenticationError(ApiError):
    status_code = 401
    default_code = "api_key_invalid"


class NotFoundError(ApiError):
    status_code = 404
    default_code = "resource_not_exist"


class TooManyRequestsError(ApiError):
    status_code = 429
    default_code = "too_many_requests"


class ContentTooLargeError(ApiError):
    """413 of the Embed v2 routes. Its body is nested (``{"error": {code, message, details}}``),
    as every Embed v2 error's is; the official SDK parses a 413 only in that shape
    (docs/CONTRACT.md §5)."""

    status_code = 413
    default_code = "content_too_large"

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.details = details or {}

    @property
    def body(self) -> dict[str, Any]:
        return self.nested_body


class ModelUnavailableError(VidEmbedError):
    """A model's weights are missing or do not match their pinned checksum."""


class ConfigurationError(VidEmbedError):
    """A setting or the stacks file is wrong; the message names the file, key or variable."""


class MediaError(VidEmbedError):
    """A video could not be used; the message is shown to the user as the task's failure reason."""


# --- messages (one place; CONTRACT.md §2.1 and §6) -------------------------------------------


def invalid(parameter: str, detail: str | None = None) -> BadRequestError:
    message = f"The {parameter} parameter is invalid."
    if detail:
        message = f"{message[:-1]}. {detail}"
    return BadRequestError(message, "parameter_invalid")


def invalid_many(parameters: list[str], detail: str | None = None) -> BadRequestError:
    message = f"The following parameters are invalid: {', '.join(parameters)}."
    if detail:
        message = f"{message[:-1]}. {detail}"
    return BadRequestError(message, "parameter_invalid")


def not_provided(parameter: str) -> BadRequestError:
    return BadRequestError(
        f"The {parameter} parameter is required but was not provided.", "parameter_not_provided"
    )


def none_provided(parameters: list[str]) -> BadRequestError:
    return BadRequestError(
        f"The following required parameters were not provided: {', '.join(parameters)}.",
        "parameter_not_provided",
    )


def task_not_found(task_id: str, collection: str = "embed_tasks") -> NotFoundError:
    return NotFoundError(f"Resource with id {task_id} does not exist in {collection}.")


def unknown_parameters(parameters: list[str]) -> BadRequestError:
    if len(parameters) == 1:
        return BadRequestError(f"The {parameters[0]} parameter is unknown.", "parameter_unknown")
    return BadRequestError(
        f"The following parameters are unknown: {', '.join(parameters)}.", "parameter_unknown"
    )


def api_key_invalid(missing: bool) -> AuthenticationError:
    """401 for a request with no key (``missing``) or with a key the server does not know.

    The code is TwelveLabs'; the message is ours, since there is no dashboard to send people to.
    """
    if missing:
        return AuthenticationError(
            "No API key was sent: put one of the server's keys in the x-api-key header."
        )
    return AuthenticationError(
        "The API key in the x-api-key header is not one of this server's keys "
        "(see --api-keys-file / VIDEMBED_API_KEYS)."
    )


def too_many_active(limit: int, retry_after: int) -> TooManyRequestsError:
    return TooManyRequestsError(
        f"You have exceeded the rate limit ({limit} tasks processing at once). "
        f"Please try again later after {retry_after} seconds.",
        headers={"Retry-After": str(retry_after)},
    )


def asset_not_found(asset_id: str) -> NotFoundError:
    """404 for an asset id that does not exist, or that belongs to another API key."""
    return NotFoundError(f"Resource with id {asset_id} does not exist in assets.")


def sync_timed_out(seconds: float, stage: str) -> ApiError:
    """A synchronous request whose task did not end in time (no worker free, or long media)."""
    where = "no worker had started it" if stage == "queued" else f"it was at stage '{stage}'"
    return ApiError(
        f"The embedding did not finish within {seconds:g} s ({where}). Use the task routes "
        "(POST /embed-v2/tasks) for long media, or try again when the workers are less busy.",
        "request_canceled_or_timed_out",
        status_code=408,
    )


def still_image_as_video(parameter: str, image_format: str) -> BadRequestError:
    """A still picture sent where a video is expected: say so, and where a picture goes instead."""
    return invalid(
        parameter,
        f"The file is a still image ({image_format}), not a video. Embed a picture with POST /embed "
        "(image_file or image_url: a vector to compare with the clips' visual vectors), or search "
        "the clips with it (POST /clips/search, query_image).",
    )


def index_not_found(index_id: str) -> NotFoundError:
    """404 for an index id that does not exist, or that belongs to another API key."""
    return NotFoundError(f"Resource with id {index_id} does not exist in indexes.")


def index_name_taken(name: str) -> BadRequestError:
    """Index names are unique per API key (TwelveLabs' ``index_name_already_exists``)."""
    return BadRequestError(
        f"An index named {name!r} already exists. Choose another index_name, or use the existing index.",
        "index_name_already_exists",
    )


def video_not_found(video_id: str, index_id: str) -> NotFoundError:
    """404 for a video that is not (or no longer) in this index."""
    return NotFoundError(f"Resource with id {video_id} does not exist in the videos of index {index_id}.")


def search_filter_invalid(detail: str) -> BadRequestError:
    """A ``filter`` that is not the documented JSON (docs/SEARCH-API.md, "Filters")."""
    return BadRequestError(f"The filter parameter is invalid. {detail}", "search_filter_invalid")


def search_option_not_supported(option: str, index_options: str) -> BadRequestError:
    return BadRequestError(
        f"The search option {option!r} is not supported by this index (it was built with "
        f"model_options {index_options}). Choose among the options the index supports.",
        "search_option_not_supported",
    )


def page_token_expired(token: str) -> BadRequestError:
    return BadRequestError(
        f"The page token {token!r} has expired or does not exist. Run the search again for a new one.",
        "search_page_token_expired",
    )
