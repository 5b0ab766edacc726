"""What a kind of stack is: ``StackKind``, the template every module of this folder fills in.

A kind knows, for a ``StackConfig`` of its kind, how to build each role's encoder (text, visual,
audio, transcription) and what they are without loading the video encoders' weights (their
identities, the placeholder texts, a description for users). ``build_stack`` is the template that
puts the roles together (as immich's ``InferenceModel.load()`` calls each model's ``_load()``), so a
kind writes builders, never a stack.

Kinds import this module, never each other; ``vidembed.models.registry`` names them all (``KINDS``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

from vidembed.models.roles import AudioEncoder, TextEncoder, TranscriptionEncoder, VisualEncoder
from vidembed.models.stack import OPTIONS, ModelStack, StackSettings
from vidembed.models.stacks_file import StackConfig


class StackKind(ABC):
    """One kind of stack. Stateless: a kind that loads a model once per process keeps it in a
    module-level cache (several roles may share it, as an image-text model's two towers do)."""

    name: ClassVar[str]  # its key in vidembed.models.registry.KINDS

    @abstractmethod
    def text_encoder(self, config: StackConfig, settings: StackSettings) -> TextEncoder:
        """The text role: queries, transcripts and every class name are embedded by it."""

    @abstractmethod
    def visual_encoder(
        self, config: StackConfig, settings: StackSettings, text: TextEncoder
    ) -> VisualEncoder:
        """The visual role. Also built alone, for image queries in a process that loads no stack."""

    @abstractmethod
    def audio_encoder(self, config: StackConfig, settings: StackSettings, text: TextEncoder) -> AudioEncoder:
        """The audio role."""

    @abstractmethod
    def transcription(
        self, config: StackConfig, settings: StackSettings, text: TextEncoder
    ) -> TranscriptionEncoder:
        """The transcription role."""

    @abstractmethod
    def identities(self, config: StackConfig, settings: StackSettings, text: TextEncoder) -> dict[str, str]:
        """Per role, the identity of the encoder a stack of ``config`` has (what
        ``ModelStack.identities()`` gives once built), without loading the video encoders."""

    @abstractmethod
    def describe(
        self, config: StackConfig, settings: StackSettings, text: TextEncoder
    ) -> dict[str, dict[str, str]]:
        """Per role: ``kind``, ``about`` (what its vectors mean, for users) and ``identity``."""

    def languages(self, config: StackConfig) -> list[str] | None:
        """The languages (ISO 639-1) whose queries and speech the stack's text space serves; None
        when the kind cannot tell (it depends on the model a stacks file names)."""
        return None

    def placeholders(self, config: StackConfig) -> dict[str, str]:
        """Per option, the text whose vector a clip holds when the option found nothing in it."""
        from vidembed.models.audio import SILENCE_TEXT  # audio.py loads onnx: only when asked
        from vidembed.models.speech import NO_SPEECH_TEXT

        return {"audio": SILENCE_TEXT, "transcription": NO_SPEECH_TEXT}

    def build_stack(
        self,
        config: StackConfig,
        settings: StackSettings,
        text: TextEncoder,
        visual: VisualEncoder | None = None,
    ) -> ModelStack:
        """The whole stack; ``visual``: its visual encoder when this process has built it already."""
        return ModelStack(
            name=config.name,
            text=text,
            visual=visual if visual is not None else self.visual_encoder(config, settings, text),
            audio=self.audio_encoder(config, settings, text),
            transcription=self.transcription(config, settings, text),
            options=OPTIONS,
        )
