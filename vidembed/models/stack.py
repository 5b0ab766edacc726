"""Model stacks, as data: one embedding space anchored on a text encoder, one encoder per option.

A stack is configuration: which encoder fills each role (``vidembed.models.roles``). The
built-in stack ``conse-minilm-384`` uses only weights that ship in registry packages; a stacks
file (``vidembed.models.stacks_file``) adds stacks with real image-text models. This module holds
the data every layer shares (``StackSettings``, the built ``ModelStack``, the names); the kinds of
stack are built by ``vidembed.models.registry`` (``KINDS``), and ``vidembed.models.catalog``
serves them by name. ``marengo3.0`` and ``marengo3.5`` are accepted as aliases (of the stack that
lists them, else of the built-in one) so that code written for the TwelveLabs API runs unchanged;
the vectors are ours, not Marengo's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidembed.models.roles import AudioEncoder, TextEncoder, TranscriptionEncoder, VisualEncoder
from vidembed.models.stacks_file import StackConfig

DEFAULT_STACK = "conse-minilm-384"
# The built-in multilingual stack: the same ConSE stack anchored on Universal Sentence Encoder
# Multilingual v3 (``StackConfig.text_model = "muse"``); Whisper detects the language.
MULTILINGUAL_STACK = "conse-muse-512"
MUSE_TEXT_MODEL = "muse"
BUILTIN_ALIASES = ("marengo3.0", "marengo3.5", "Marengo-retrieval-2.7")
OPTIONS = ("visual", "audio", "transcription")


@dataclass(frozen=True)
class StackSettings:
    """What every process that embeds or searches must agree on (picklable: worker processes get
    a copy). ``stacks_file`` adds stacks to the built-in ones; Whisper's beam width applies to the
    built-in stacks and ``language`` to conse-minilm-384 (conse-muse-512 always detects the
    language; a stacks file sets its own stacks' language). ``extra_stacks``:
    stacks added by code rather than by a file (the tests' fake stack, ``vidembed.models.fake``).
    ``models_dir``: where prepared weights and fetched hub models are kept (``VIDEMBED_MODELS``;
    None: the per-user cache folder of the process that loads the models, ``weights.models_dir``);
    ``hf_endpoint``: the Hugging Face hub that hub ids are fetched from (``HF_ENDPOINT``; None:
    huggingface_hub's default). ``vidembed.config`` fills both from the environment; the model
    layer reads none."""

    stacks_file: Path | None = None
    asr_beam: int = 5
    language: str | None = "en"
    threads: int = 1
    extra_stacks: tuple[StackConfig, ...] = ()
    models_dir: Path | None = None
    hf_endpoint: str | None = None


@dataclass
class ModelStack:
    name: str
    text: TextEncoder
    visual: VisualEncoder
    audio: AudioEncoder
    transcription: TranscriptionEncoder
    options: tuple[str, ...] = OPTIONS

    @property
    def dimension(self) -> int:
        return self.text.dimension

    def encode_text(self, texts: Sequence[str]) -> np.ndarray:
        return self.text.encode(texts)

    def identities(self) -> dict[str, str]:
        """Which encoders make this stack's vectors (names and weight digests), per role."""
        return {
            "text": self.text.identity,
            "visual": self.visual.identity,
            "audio": self.audio.identity,
            "transcription": self.transcription.identity,
        }

    def placeholder_vectors(self) -> dict[str, np.ndarray]:
        """Per option that has one, the vector a clip holds when the option found nothing."""
        texts = {"audio": self.audio.placeholder_text, "transcription": self.transcription.placeholder_text}
        return dict(zip(texts, self.encode_text(list(texts.values())), strict=True))

    def warm_up(self) -> None:
        """Runs the ONNX encoders once on a tiny input, so the first task does not pay for their
        first-call allocations. Whisper is left out: on a tone it decodes a whole 30 s window
        and hallucinates for seconds, more than it would save."""
        spec = self.visual.frames
        frames = np.zeros((1, spec.size, spec.size, 3), np.uint8)
        detail = np.zeros((64, 64, 3), np.uint8) if self.visual.detail is not None else None
        self.visual.encode_clip(frames, detail)
        tone = np.sin(np.arange(16000) / 10).astype(np.float32) * 0.1
        self.audio.encode_clips(tone, [(0, 16000)])
        self.encode_text(["warm up"])
