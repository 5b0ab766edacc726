"""The stacks a process serves, by name: ``StackCatalog`` resolves names and aliases to stack
configurations and loads each stack's encoders once per process, on first use.

It knows no kind of stack: every build goes through ``vidembed.models.registry`` (its ``KINDS``
table), so a new kind changes nothing here. ``BUILTIN`` is the catalog of default settings (the
built-in stack, the per-user models folder), for benchmarks and tests; entry points build their
own from ``vidembed.config.Settings.stacks``.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from vidembed.models import registry
from vidembed.models.roles import TextEncoder, VisualEncoder
from vidembed.models.stack import (
    BUILTIN_ALIASES,
    DEFAULT_STACK,
    MULTILINGUAL_STACK,
    MUSE_TEXT_MODEL,
    OPTIONS,
    ModelStack,
    StackSettings,
)
from vidembed.models.stacks_file import StackConfig, parse_stacks_file


class StackCatalog:
    """The stacks a process serves: the built-in ones, those of the stacks file and the settings'
    extra stacks, their aliases, and the loaded encoders (each loaded once per process, on first
    use)."""

    def __init__(self, settings: StackSettings | None = None) -> None:
        self.settings = settings or StackSettings()
        builtins = [
            StackConfig(DEFAULT_STACK, language=self.settings.language),
            # Multilingual: Whisper detects the language (VIDEMBED_LANGUAGE pins the English stack only).
            StackConfig(MULTILINGUAL_STACK, language=None, text_model=MUSE_TEXT_MODEL),
        ]
        extra = list(self.settings.extra_stacks)
        names = [*(c.name for c in builtins), *(c.name for c in extra)]
        if len(set(names)) < len(names):
            raise ValueError(f"extra stacks must have names of their own, not {names}")
        configured = (
            parse_stacks_file(self.settings.stacks_file, reserved=tuple(names))
            if self.settings.stacks_file is not None
            else []
        )
        self.configs: dict[str, StackConfig] = {c.name: c for c in [*builtins, *configured, *extra]}
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
        config = self.config(model_name)
        with _lock:
            if config not in _text_encoders:
                _text_encoders[config] = registry.build_text_encoder(config, self.settings)
            return _text_encoders[config]

    def visual_encoder(self, model_name: str) -> VisualEncoder:
        """Only the stack's visual encoder: what embedding image queries needs, in a process that
        otherwise loads text encoders only (the server). Built once per process, by the registry's
        one way to build it, and shared with the whole stack when this process loads that too."""
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
        config = self.config(model_name)
        return registry.identities(config, self.settings, self.text_encoder(config.name))

    def describe(self, model_name: str) -> dict[str, Any]:
        """What a stack's vectors mean, for users (``GET /models``, ``vidembed models``): from
        its configuration and its encoders' own metadata (identities, dimension, provider)."""
        config = self.config(model_name)
        text = self.text_encoder(config.name)
        return {
            "name": config.name,
            "aliases": sorted(a for a, target in self.aliases.items() if target == config.name),
            "dimension": text.dimension,
            "options": list(OPTIONS),
            "normalised": True,
            # ISO 639-1 codes of the languages its queries and speech may be in; null: not declared
            # (a stacks file's model: see its own documentation).
            "languages": registry.languages(config),
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
