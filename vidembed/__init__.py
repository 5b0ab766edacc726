"""vidembed: self-hosted video embeddings behind a TwelveLabs-compatible Embed API."""

from vidembed.client import VidEmbed
from vidembed.errors import (
    ApiError,
    AuthenticationError,
    BadRequestError,
    MediaError,
    NotFoundError,
    VidEmbedError,
)
from vidembed.version import __version__ as __version__

__all__ = [
    "VidEmbed",
    "ApiError",
    "AuthenticationError",
    "BadRequestError",
    "NotFoundError",
    "MediaError",
    "VidEmbedError",
]
