"""A fake stack for tests of engine, service and server logic: tiny, deterministic, no weights.

It fills every role (``roles.py``) with arithmetic, so a test that checks segment counts, clip
boundaries, task states, error codes or messages does not pay for loading and running the real
models. Its vectors mean nothing beyond that: they are unit vectors of dimension 16, the same for
the same input in every process.

- text: each word (lower case) hashed into a fixed random projection, summed and normalised;
- visual: the frames' mean colour and brightness through a fixed random projection (frames 32 px,
  square crop, no detail frame);
- audio: each window's RMS and zero-crossing rate through a fixed random projection; silent
  windows (and videos without audio) hold the text vector of "silence", as the built-in stack's;
- transcription: a session that hears no words, so every clip holds the text vector of "no
  speech".

A stacks file cannot select it: the stack exists only where code adds ``FAKE_STACK`` to
``StackSettings.extra_stacks`` (``Settings.extra_stacks``), as the tests do. Building it takes
milliseconds. This module holds the encoders (the test double); ``vidembed.models.kinds.fake``
wires them into a stack.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Mapping, Sequence

import numpy as np

from vidembed.models.roles import FrameSpec, TextEncoder
from vidembed.models.speech import NO_SPEECH_TEXT, Word
from vidembed.models.stacks_file import StackConfig

FAKE_KIND = "fake"  # StackConfig.kind; its key in vidembed.models.registry.KINDS
FAKE_STACK = StackConfig("fake", kind=FAKE_KIND)
DIMENSION = 16
SAMPLE_RATE = 16_000
# The built-in stacks' text for "nothing audible" (vidembed.models.audio.SILENCE_TEXT, written out so
# that building this stack does not import the ONNX code behind it; tests/unit/test_fake_stack.py checks).
SILENCE_TEXT = "silence"
IDENTITIES = {
    "text": "fake-text",
    "visual": "fake-visual",
    "audio": "fake-audio",
    "transcription": "fake-transcription",
}
FRAMES = FrameSpec(size=32, crop_square=True)
_BUCKETS = 1024
_WORD = re.compile(r"\w+")


def _projection(seed: int, rows: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((rows, DIMENSION)).astype(np.float32)


_WORDS = _projection(1, _BUCKETS)  # one row per hash bucket of words
_COLOUR = _projection(2, 5)  # bias, red, green, blue, brightness
_SOUND = _projection(3, 3)  # bias, RMS, zero-crossing rate


def _unit(vectors: np.ndarray) -> np.ndarray:
    return (vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)).astype(np.float32)


class FakeTextEncoder:
    """Words hashed into a fixed random projection (a text without words: bucket 0)."""

    dimension = DIMENSION
    identity = IDENTITIES["text"]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), DIMENSION), np.float32)
        for i, text in enumerate(texts):
            buckets = [zlib.crc32(w.encode()) % _BUCKETS for w in _WORD.findall(text.lower())] or [0]
            out[i] = _WORDS[buckets].sum(axis=0)
        return _unit(out)


class FakeVisualEncoder:
    """The frames' mean colour and brightness through a fixed random projection."""

    frames = FRAMES
    detail = None
    identity = IDENTITIES["visual"]

    def encode_clip(self, frames: np.ndarray, detail: np.ndarray | None) -> np.ndarray:
        rgb = frames.reshape(-1, 3).mean(axis=0) / 255.0
        brightness = float(rgb @ np.array([0.299, 0.587, 0.114]))
        features = np.array([1.0, *(rgb - 0.5), brightness - 0.5], np.float32)
        return _unit(features @ _COLOUR)

    def busy_seconds(self) -> Mapping[str, float]:
        return {}


class FakeAudioEncoder:
    """Each window's RMS and zero-crossing rate through a fixed random projection; silence (no
    sample above 1e-4, or no audio) gives the text vector of "silence"."""

    sample_rate = SAMPLE_RATE
    identity = IDENTITIES["audio"]
    placeholder_text = SILENCE_TEXT

    def __init__(self, text: TextEncoder) -> None:
        self._silence = text.encode([SILENCE_TEXT])[0]

    def encode_clips(self, pcm: np.ndarray | None, windows: Sequence[tuple[int, int]]) -> np.ndarray:
        out = np.tile(self._silence, (len(windows), 1))
        if pcm is None:
            return out
        for i, (lo, hi) in enumerate(windows):
            segment = pcm[lo:hi]
            if not np.any(np.abs(segment) > 1e-4):
                continue
            rms = float(np.sqrt(np.mean(np.square(segment, dtype=np.float64))))
            crossings = np.signbit(segment[1:]) != np.signbit(segment[:-1])
            zcr = float(crossings.mean()) if len(crossings) else 0.0
            out[i] = _unit(np.array([1.0, 4.0 * rms, 4.0 * zcr], np.float32) @ _SOUND)
        return out


class _NoWords:
    """A speech session that hears nothing."""

    def add(self, pcm: np.ndarray, start: float) -> list[Word]:
        return []

    def flush(self) -> list[Word]:
        return []

    @property
    def detected_language(self) -> str | None:
        return None


class FakeTranscriptionEncoder:
    """No words are ever heard: every clip's transcript is empty and holds "no speech"."""

    sample_rate = SAMPLE_RATE
    identity = IDENTITIES["transcription"]
    placeholder_text = NO_SPEECH_TEXT

    def __init__(self, text: TextEncoder) -> None:
        self._text = text

    def session(self) -> _NoWords:
        return _NoWords()

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        return self._text.encode([t if t.strip() else NO_SPEECH_TEXT for t in texts])
