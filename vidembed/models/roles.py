"""The roles a model stack fills, as the engine sees them.

A stack puts every option and every text query in one space: a text encoder embeds queries, and
one encoder per option maps media into that space. The engine talks to these protocols only; how
an encoder works inside (ConSE over classifiers, OCR and detectors, a CLIP image tower, Whisper
with VAD packing) is the encoder's business. A new model is one class that fills a role, plus a
registry entry (`vidembed.models.registry`).

Every encoder declares an ``identity``: its name and the digests of its weights, so that stored
vectors can say which encoders made them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from vidembed.models.speech import Word


@dataclass(frozen=True)
class FrameSpec:
    """How the engine hands sampled frames to a visual encoder: RGB uint8 arrays, either resized
    so the short side is ``size`` and centre-cropped to a square (``crop_square``), or fitted
    inside ``size`` x ``size`` with the aspect ratio kept (never enlarged)."""

    size: int
    crop_square: bool


class TextEncoder(Protocol):
    """Texts -> unit vectors of the stack's space (queries, transcripts, class names)."""

    @property
    def dimension(self) -> int: ...

    @property
    def identity(self) -> str: ...

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


class VisualEncoder(Protocol):
    """A clip's sampled frames (and optionally one detail frame from its middle) -> one vector."""

    @property
    def frames(self) -> FrameSpec: ...

    @property
    def detail(self) -> FrameSpec | None: ...  # None: no detail frame is decoded

    @property
    def identity(self) -> str: ...

    def encode_clip(self, frames: np.ndarray, detail: np.ndarray | None) -> np.ndarray:
        """``frames`` (n, h, w, 3) uint8 as ``frames`` specifies -> (dim,) unit vector."""
        ...

    def busy_seconds(self) -> Mapping[str, float]:
        """Seconds spent inside each model so far in this process, for the speed profile."""
        ...


class AudioEncoder(Protocol):
    """Windows of a clip's PCM -> one vector per window; no audio gives the placeholder."""

    @property
    def sample_rate(self) -> int: ...

    @property
    def identity(self) -> str: ...

    @property
    def placeholder_text(self) -> str: ...  # the text whose vector "nothing audible" is

    def encode_clips(self, pcm: np.ndarray | None, windows: Sequence[tuple[int, int]]) -> np.ndarray: ...


class SpeechSession(Protocol):
    """One task's speech, streamed: audio in order, words (with video times) out."""

    def add(self, pcm: np.ndarray, start: float) -> list[Word]: ...

    def flush(self) -> list[Word]: ...

    @property
    def detected_language(self) -> str | None: ...  # of most of the speech so far; None: none heard


class TranscriptionEncoder(Protocol):
    """Speech -> words (a session per task) and clip transcripts -> vectors."""

    @property
    def sample_rate(self) -> int: ...

    @property
    def identity(self) -> str: ...

    @property
    def placeholder_text(self) -> str: ...  # the text whose vector "no words" is

    def session(self) -> SpeechSession: ...

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray: ...
