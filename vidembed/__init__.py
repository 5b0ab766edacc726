"""vidembed: self-hosted video embeddings behind a TwelveLabs-compatible Embed API."""

from vidembed.client import VidEmbed
from vidembed.errors import ApiError, BadRequestError, MediaError, NotFoundError, VidEmbedError

__version__ = "0.1.0"
__all__ = ["VidEmbed", "ApiError", "BadRequestError", "NotFoundError", "MediaError", "VidEmbedError"]
