"""The kinds of stack, in one table: ``KINDS`` maps a kind's name to the object that builds and
describes its stacks (``vidembed.models.kinds``, one module per kind on ``kinds.base.StackKind``).

- ``conse``: the built-in ``conse-minilm-384`` and ``conse-muse-512`` (weights from registry
  packages; ``StackConfig.text_model`` picks the text encoder that anchors it);
- ``image-text``: a stacks file's ``image_text = ...`` (CLIP, SigLIP; CLAP with ``audio_text``);
- ``fake``: the tests' stack without weights, added by code (``StackSettings.extra_stacks``), never
  by a stacks file.

A new kind is a module in ``kinds/`` (copy a sibling) and one line in ``KINDS``; a new model for a
role is one class (``roles.py``) that a kind wires. The functions below are what the rest of the
package calls (``vidembed.models.catalog``): each asks the config's kind.
"""

from __future__ import annotations

from vidembed.errors import ConfigurationError
from vidembed.models import parts
from vidembed.models.kinds import conse, fake, image_text
from vidembed.models.kinds.base import StackKind
from vidembed.models.roles import TextEncoder, VisualEncoder
from vidembed.models.stack import ModelStack, StackSettings
from vidembed.models.stacks_file import StackConfig

# One line per kind, keyed by its class-level ``name`` ("conse", "image-text", "fake").
KINDS: dict[str, StackKind] = {
    each.name: each
    for each in (
        conse.ConseKind(),  # the built-in conse-minilm-384 and conse-muse-512
        image_text.ImageTextKind(),  # a stacks file's image_text (CLIP, SigLIP), with CLAP and Whisper
        fake.FakeKind(),  # the tests' stack without weights
    )
}


def kind(config: StackConfig) -> str:
    """The name of ``config``'s kind: the one code gave it (``StackConfig.kind``, e.g. "fake"), else
    "image-text" for a stack with an image-text model, else "conse" (the built-in stack)."""
    if config.kind:
        return config.kind
    return "image-text" if config.image_text else "conse"


def kind_of(config: StackConfig) -> StackKind:
    name = kind(config)
    if name not in KINDS:
        raise ConfigurationError(
            f"The stack {config.name!r} is of kind {name!r}, which is none of {', '.join(KINDS)}."
        )
    return KINDS[name]


def languages(config: StackConfig) -> list[str] | None:
    """The languages ``config``'s stack serves (ISO 639-1), or None when its kind cannot tell."""
    return kind_of(config).languages(config)


def placeholder_texts(config: StackConfig) -> dict[str, str]:
    return kind_of(config).placeholders(config)


def build_text_encoder(config: StackConfig, settings: StackSettings) -> TextEncoder:
    return kind_of(config).text_encoder(config, settings)


def build_visual(config: StackConfig, settings: StackSettings, text: TextEncoder) -> VisualEncoder:
    """The stack's visual encoder: the one way to build it, for ``build_stack`` and for a process
    that embeds image queries without the rest of the stack (``StackCatalog.visual_encoder``)."""
    return kind_of(config).visual_encoder(config, settings, text)


def build_stack(
    config: StackConfig, settings: StackSettings, text: TextEncoder, visual: VisualEncoder | None = None
) -> ModelStack:
    """The whole stack; ``visual``: its visual encoder when this process has built it already."""
    return kind_of(config).build_stack(config, settings, text, visual)


def identities(config: StackConfig, settings: StackSettings, text: TextEncoder) -> dict[str, str]:
    """Per role, the identity of the encoder a stack built from ``config`` has (what
    ``ModelStack.identities()`` gives once built), without loading the video encoders."""
    return kind_of(config).identities(config, settings, text)


def describe_encoders(
    config: StackConfig, settings: StackSettings, text: TextEncoder
) -> dict[str, dict[str, str]]:
    """Per role: what the encoder is and its identity (from the encoders' own metadata, without
    loading the video encoders' weights); for ``GET /models`` and ``vidembed models``."""
    return kind_of(config).describe(config, settings, text)


# tests/models/test_speech_models.py builds a stack's transcription alone by this name.
_whisper = parts.whisper_transcription
