"""Model stacks: one embedding space anchored on a text encoder, one encoder per option.

A stack is configuration: which encoder fills each role (``vidembed.models.roles``). The
built-in stack ``conse-minilm-384`` uses only weights that ship in registry packages; a stacks
file (``vidembed.models.stacks_file``) adds stacks with real image-text models, built by
``vidembed.models.registry``. ``marengo3.0`` and ``marengo3.5`` are accepted as aliases (of the
stack that lists them, else of the built-in one) so that code written for the TwelveLabs API runs
unchanged; the vectors are ours, not Marengo's.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vidembed.models.roles import AudioEncoder, TextEncoder, TranscriptionEncoder, VisualEncoder
from vidembed.models.stacks_file import StackConfig, parse_stacks_file

DEFAULT_STACK = "conse-minilm-384"
BUILTIN_ALIASES = ("marengo3.0", "marengo3.5", "Marengo-retrieval-2.7")
OPTIONS = ("visual", "audio", "transcription")


@dataclass(frozen=True)
class StackSettings:
    """What every process that embeds or searches must agree on (picklable: worker processes get
    a copy). ``stacks_file`` adds stacks to the built-in one; Whisper's beam width and language
    apply to the built-in stack (a stacks file sets its own stacks' language). ``extra_stacks``:
    stacks added by code rather than by a file (the tests' fake stack, ``vidembed.models.fake``)."""

    stacks_file: Path | None = None
    asr_beam: int = 5
    language: str | None = "en"
    threads: int = 1
    extra_stacks: tuple[StackConfig, ...] = ()


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


# What the built-in stack's vectors mean, for users.
CONSE_ABOUT = {
    "text": "all-MiniLM-L6-v2 (int8 ONNX), mean-pooled, L2-normalised: every option and every "
    "query is a vector of this text space",
    "visual": "ConSE over EfficientNet-Lite0 ImageNet-1k classes (top 10 of the mean of 3 frames per "
    "clip; class names with WordNet synonyms, each class leaning half-way to its WordNet parent), "
    "plus PP-OCRv4 text read in the clip's middle frame, plus people phrases (a person, a human face, "
    "a close-up of a face, a group of people) when MediaPipe's BlazeFace finds faces in that frame, "
    'plus "a photo of a {class}" for each of the 80 COCO classes CenterNet finds in it, '
    "weighted by score",
    "audio": "ConSE over YAMNet AudioSet classes (top 5 of the mean and max over 0.96 s windows, speech "
    "classes and generic animal parents excluded); clips without "
    'audible events hold the vector of "silence"',
    "transcription": "Whisper base (int8, CTranslate2, Silero VAD) words cut into clips by timestamp, "
    'embedded as text; clips without words hold the vector of "no speech"',
}


class StackCatalog:
    """The stacks a process serves: the built-in one, those of the stacks file and the settings'
    extra stacks, their aliases, and the loaded encoders (each loaded once per process, on first
    use)."""

    def __init__(self, settings: StackSettings | None = None) -> None:
        self.settings = settings or StackSettings()
        builtin = StackConfig(DEFAULT_STACK, language=self.settings.language)
        extra = list(self.settings.extra_stacks)
        names = [DEFAULT_STACK, *(c.name for c in extra)]
        if len(set(names)) < len(names):
            raise ValueError(f"extra stacks must have names of their own, not {names}")
        configured = (
            parse_stacks_file(self.settings.stacks_file, reserved=tuple(names))
            if self.settings.stacks_file is not None
            else []
        )
        self.configs: dict[str, StackConfig] = {c.name: c for c in [builtin, *configured, *extra]}
        self.aliases: dict[str, str] = {alias: DEFAULT_STACK for alias in BUILTIN_ALIASES}
        for config in [*configured, *extra]:
            for alias in config.aliases:
                self.aliases[alias] = config.name

    def known_names(self) -> list[str]:
        return [*self.configs, *self.aliases]

    def resolve(self, model_name: str) -> str:
        """The stack a name or alias selects; KeyError for an unknown name."""
        name = self.aliases.get(model_name, model_name)
        if name not in self.configs:
            raise KeyError(f"unknown model stack {model_name!r}")
        return name

    def config(self, model_name: str) -> StackConfig:
        return self.configs[self.resolve(model_name)]

    def text_encoder(self, model_name: str) -> TextEncoder:
        """Only the stack's text encoder: what serving text queries needs (the heavy video
        encoders live in the worker processes)."""
        from vidembed.models import registry

        config = self.config(model_name)
        with _lock:
            if config not in _text_encoders:
                _text_encoders[config] = registry.build_text_encoder(config, self.settings)
            return _text_encoders[config]

    def visual_encoder(self, model_name: str) -> VisualEncoder:
        """Only the stack's visual encoder: what embedding image queries needs, in a process that
        otherwise loads text encoders only (the server). Built once per process, by the registry's
        one way to build it, and shared with the whole stack when this process loads that too."""
        from vidembed.models import registry

        config = self.config(model_name)
        key = (config, self.settings.threads)
        with _lock:
            if key not in _visual_encoders:
                loaded = [s for k, s in _stacks.items() if (k[0], k[2]) == key]
                _visual_encoders[key] = (
                    loaded[0].visual
                    if loaded
                    else registry.build_visual(config, self.settings, self.text_encoder(config.name))
                )
            return _visual_encoders[key]

    def load(self, model_name: str) -> ModelStack:
        """The loaded, warmed-up stack for a model name or alias; loaded once per process and kept."""
        from vidembed.models import registry

        config = self.config(model_name)
        key = (config, self.settings.asr_beam, self.settings.threads)
        with _lock:
            if key not in _stacks:
                stack = registry.build_stack(
                    config,
                    self.settings,
                    self.text_encoder(config.name),
                    visual=_visual_encoders.get((config, self.settings.threads)),
                )
                stack.warm_up()
                _stacks[key] = stack
            return _stacks[key]

    def placeholder_texts(self, model_name: str) -> dict[str, str]:
        """Per option, the text whose vector a clip holds when the option found nothing in it (no
        audible sound, no speech): search leaves such clips out of that option's ranking."""
        from vidembed.models import registry

        return registry.placeholder_texts(self.config(model_name))

    def placeholder_vectors(self, model_name: str) -> dict[str, np.ndarray]:
        """The vectors of ``placeholder_texts`` by the stack's text encoder; encoded once."""
        config = self.config(model_name)
        with _lock:
            if config not in _placeholders:
                texts = self.placeholder_texts(config.name)
                vectors = self.text_encoder(config.name).encode(list(texts.values()))
                _placeholders[config] = dict(zip(texts, vectors, strict=True))
            return _placeholders[config]

    def identities(self, model_name: str) -> dict[str, str]:
        """Per role, the identity of the encoder that embeds for this stack now."""
        from vidembed.models import registry

        config = self.config(model_name)
        return registry.identities(config, self.settings, self.text_encoder(config.name))

    def describe(self, model_name: str) -> dict[str, Any]:
        """What a stack's vectors mean, for users (``GET /models``, ``vidembed models``): from
        its configuration and its encoders' own metadata (identities, dimension, provider)."""
        from vidembed.models import registry

        config = self.config(model_name)
        text = self.text_encoder(config.name)
        return {
            "name": config.name,
            "aliases": sorted(a for a, target in self.aliases.items() if target == config.name),
            "dimension": text.dimension,
            "options": list(OPTIONS),
            "normalised": True,
            "encoders": registry.describe_encoders(config, self.settings, text),
            "settings": {
                "asr_beam_size": self.settings.asr_beam,
                "asr_language": config.language or "auto",
                **({"stacks_file": str(self.settings.stacks_file)} if config.source else {}),
            },
            "note": "Aliases exist so that code written for the TwelveLabs API runs unchanged; the vectors "
            "are vidembed's own and are not comparable with Marengo's.",
        }


_stacks: dict[tuple[StackConfig, int, int], ModelStack] = {}
_text_encoders: dict[StackConfig, TextEncoder] = {}
_visual_encoders: dict[tuple[StackConfig, int], VisualEncoder] = {}  # (config, threads)
_placeholders: dict[StackConfig, dict[str, np.ndarray]] = {}
_lock = threading.RLock()
BUILTIN = StackCatalog()


# The built-in catalog, for code that needs only the built-in stack (benchmarks, tests).
def load_stack(model_name: str) -> ModelStack:
    return BUILTIN.load(model_name)


def load_text_encoder(model_name: str) -> TextEncoder:
    return BUILTIN.text_encoder(model_name)
