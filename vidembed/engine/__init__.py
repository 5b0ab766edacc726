"""The pure engine: media in, vectors out. Knows nothing of HTTP, storage or task ids."""

from vidembed.engine.engine import EmbeddingResult, Engine, Segment

__all__ = ["Engine", "EmbeddingResult", "Segment"]
