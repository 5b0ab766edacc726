"""The rules for every request's parameters, in one place for the embedded client and the server.

Input values may be Python numbers (embedded client) or the strings that multipart forms carry
(server); an empty string means "not provided" (the SDK sends explicit ``None`` as ``""``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from vidembed import errors
from vidembed.api.rules import absent, parse_model_name, parse_number
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
from vidembed.service.tasks import IMAGE_QUERY_OPTIONS

SCOPES = ("clip", "video")
CLIP_LENGTH_RULE = "video_clip_length should be within 2-10 seconds long"
END_AFTER_START_RULE = "video_end_offset_sec should be greater than video_start_offset_sec"
NOTHING_TO_EMBED = (
    "Nothing to embed: send text, an image (image_file or image_url), audio (audio_file or "
    "audio_url), or several of them."
)
ONE_IMAGE_RULE = "Send one image: image_file or image_url, not both."
ONE_AUDIO_RULE = "Send one audio file: audio_file or audio_url, not both."
AUDIO_WINDOW_SEC = 10.0  # POST /embed embeds this much audio from audio_start_offset_sec
NO_QUERY = "No query was provided: send query_text (a text) or query_image (an image file)."
ONE_QUERY_RULE = "Send one query: query_text or query_image, not both."


@dataclass(frozen=True)
class CreateRequest:
    model_name: str
    clip: ClipParams
    video_url: str | None = None
    has_file: bool = False


def parse_scopes(value: Any) -> tuple[str, ...]:
    """Accepts a list, a repeated form field or a comma-separated string; ``""`` items are dropped."""
    items: list[str] = []
    values = [value] if isinstance(value, str) or value is None else list(value)
    for item in values:
        if item is None:
            continue
        if not isinstance(item, str):
            raise errors.invalid("video_embedding_scope")
        items += [part.strip() for part in item.split(",") if part.strip()]
    if not items:
        return ("clip",)
    if any(item not in SCOPES for item in items):
        raise errors.invalid("video_embedding_scope", "Valid values are clip and video.")
    # ["video"] alone still embeds clips: the contract documents only [clip] and [clip, video].
    return ("clip", "video") if "video" in items else ("clip",)


def parse_clip_params(
    video_clip_length: Any = None,
    video_start_offset_sec: Any = None,
    video_end_offset_sec: Any = None,
    video_embedding_scope: Any = None,
) -> ClipParams:
    clip = parse_number("video_clip_length", video_clip_length, CLIP_LENGTH_RULE)
    clip = DEFAULT_CLIP_SEC if clip is None else clip
    if not MIN_CLIP_SEC <= clip <= MAX_CLIP_SEC:
        raise errors.invalid("video_clip_length", CLIP_LENGTH_RULE)
    start = parse_number("video_start_offset_sec", video_start_offset_sec, "It must be a number >= 0.")
    end = parse_number("video_end_offset_sec", video_end_offset_sec, "It must be a number.")
    if start is not None and start < 0:
        raise errors.invalid("video_start_offset_sec", "It must be a number >= 0.")
    if (start is None) != (end is None):
        raise errors.invalid_many(
            ["video_start_offset_sec", "video_end_offset_sec"],
            "Set both video_start_offset_sec and video_end_offset_sec, or neither.",
        )
    if start is not None and end is not None:
        if end <= start:
            raise errors.invalid("video_end_offset_sec", END_AFTER_START_RULE)
        if end - start < clip:
            raise errors.invalid_many(
                ["video_start_offset_sec", "video_end_offset_sec"],
                f"The interval between them ({end - start:g} s) must be at least "
                f"video_clip_length ({clip:g} s).",
            )
    return ClipParams(clip, start, end, parse_scopes(video_embedding_scope))


def parse_segmentation(
    clip: ClipParams, video_segmentation: Any = None, video_min_duration_sec: Any = None
) -> ClipParams:
    """Our v1.3 extension (the v2 ``segmentation``, as two form fields): ``video_segmentation``
    ``fixed`` (default: clips of video_clip_length) or ``dynamic`` (clips follow the shots, each
    at least ``video_min_duration_sec`` long, 2-5, default 4)."""
    strategy = "fixed" if absent(video_segmentation) else str(video_segmentation).strip()
    if strategy not in STRATEGIES:
        raise errors.invalid("video_segmentation", "Use fixed or dynamic.")
    minimum = parse_number(
        "video_min_duration_sec", video_min_duration_sec, "It must be from 2 to 5 seconds."
    )
    if minimum is not None and strategy != "dynamic":
        raise errors.invalid("video_min_duration_sec", "It applies to video_segmentation=dynamic only.")
    minimum = DEFAULT_DYNAMIC_SEC if minimum is None else minimum
    if not MIN_DYNAMIC_SEC <= minimum <= MAX_DYNAMIC_SEC:
        raise errors.invalid("video_min_duration_sec", "It must be from 2 to 5 seconds.")
    return ClipParams(clip.clip_length, clip.start, clip.end, clip.scopes, strategy, minimum)


def parse_create(
    *,
    model_name: Any,
    known_models: Sequence[str],
    video_url: Any = None,
    has_file: bool = False,
    video_start_offset_sec: Any = None,
    video_end_offset_sec: Any = None,
    video_clip_length: Any = None,
    video_embedding_scope: Any = None,
    video_segmentation: Any = None,
    video_min_duration_sec: Any = None,
) -> CreateRequest:
    """Validates a create request; raises :class:`vidembed.errors.BadRequestError`."""
    name = parse_model_name(model_name, known_models)
    url = None if absent(video_url) else str(video_url).strip()
    if url is None and not has_file:
        raise errors.none_provided(["video_url", "video_file"])
    clip = parse_clip_params(
        video_clip_length, video_start_offset_sec, video_end_offset_sec, video_embedding_scope
    )
    clip = parse_segmentation(clip, video_segmentation, video_min_duration_sec)
    # The contract: when both are given, video_url takes precedence.
    return CreateRequest(name, clip, url, has_file and url is None)


@dataclass(frozen=True)
class EmbedRequest:
    """A valid ``POST /embed``: any of text, an image (a file or a URL) and audio (a file or a
    URL, embedded for AUDIO_WINDOW_SEC from ``audio_start``)."""

    model_name: str
    text: str | None = None
    image_url: str | None = None
    has_image_file: bool = False
    audio_url: str | None = None
    has_audio_file: bool = False
    audio_start: float = 0.0

    @property
    def has_image(self) -> bool:
        return self.has_image_file or self.image_url is not None

    @property
    def has_audio(self) -> bool:
        return self.has_audio_file or self.audio_url is not None


def parse_embed(
    *,
    model_name: object,
    known_models: Sequence[str],
    text: object = None,
    image_url: object = None,
    has_image_file: bool = False,
    audio_url: object = None,
    has_audio_file: bool = False,
    audio_start_offset_sec: object = None,
) -> EmbedRequest:
    """``POST /embed`` and ``client.embed.create``: the model name as everywhere; then at least one
    of text, an image and audio, one image and one audio file at most."""
    name = parse_model_name(model_name, known_models)
    text_value = None if text is None or not str(text).strip() else str(text)
    url = None if absent(image_url) else str(image_url).strip()
    sound_url = None if absent(audio_url) else str(audio_url).strip()
    if text_value is None and url is None and not has_image_file and sound_url is None and not has_audio_file:
        raise errors.BadRequestError(NOTHING_TO_EMBED, "parameter_not_provided")
    if url is not None and has_image_file:
        raise errors.invalid_many(["image_file", "image_url"], ONE_IMAGE_RULE)
    if sound_url is not None and has_audio_file:
        raise errors.invalid_many(["audio_file", "audio_url"], ONE_AUDIO_RULE)
    offset = parse_number("audio_start_offset_sec", audio_start_offset_sec, "It must be a number >= 0.")
    if offset is not None and offset < 0:
        raise errors.invalid("audio_start_offset_sec", "It must be a number >= 0.")
    return EmbedRequest(name, text_value, url, has_image_file, sound_url, has_audio_file, offset or 0.0)


def parse_search_query(query_text: object, has_image: bool) -> str | None:
    """A clip search takes one query: a text (``query_text``) or an image (``query_image``).
    Returns the text, or None for an image query."""
    text = None if query_text is None or not str(query_text).strip() else str(query_text)
    if text is None and not has_image:
        raise errors.BadRequestError(NO_QUERY, "parameter_not_provided")
    if text is not None and has_image:
        raise errors.invalid_many(["query_text", "query_image"], ONE_QUERY_RULE)
    return text


def image_query_options(requested: Sequence[str] | None) -> list[str]:
    """The options an image query ranks: the visual option (an image is compared with what is
    seen), unless the caller asked for options; asked-for options that are not visual are refused."""
    if not requested:
        return list(IMAGE_QUERY_OPTIONS)
    other = [o for o in requested if o not in IMAGE_QUERY_OPTIONS]
    if other:
        raise errors.invalid(
            "embedding_option",
            f"An image query is compared with what the clips show: it searches the visual option only, "
            f"not {', '.join(other)}. Leave embedding_option out, or use visual.",
        )
    return list(requested)
