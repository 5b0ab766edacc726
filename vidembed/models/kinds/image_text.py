"""Kind ``image-text``: a stacks file's ``image_text = ...`` (CLIP, SigLIP, SigLIP 2 in Immich's ONNX
layout, ``vidembed.models.openclip``).

The image-text model embeds the frames and every text; the audio option is YAMNet's ConSE over
sound-class names embedded by that model's text tower, so sounds land in the same space, or, with
``audio_text = ...`` (a CLAP export, ``vidembed.models.clap``), CLAP's ConSE over the same names.
Transcripts go through the same text tower (in chunks that fit its context); speech is the stack's
Whisper model (docs/MODELS.md, "Use a real image-text model").
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from vidembed.models import parts, weights
from vidembed.models.kinds.base import StackKind
from vidembed.models.roles import AudioEncoder, TextEncoder, TranscriptionEncoder
from vidembed.models.stack import StackSettings
from vidembed.models.stacks_file import StackConfig

if TYPE_CHECKING:
    from vidembed.models.image_text import ImageTextTextEncoder, ImageTextVisualEncoder
    from vidembed.models.openclip import ImageTextModel

YAMNET_ABOUT = (
    "ConSE over YAMNet AudioSet classes whose names are embedded by the "
    'image-text model\'s text tower ("the sound of {name}"); clips without audible '
    'events hold the vector of "silence"'
)

_models: dict[tuple[str, Path | None, Path | None, str | None], ImageTextModel] = {}


def image_text_model(config: StackConfig, settings: StackSettings) -> ImageTextModel:
    """One ImageTextModel per model folder and process: the text and visual roles share it. A
    relative folder is taken from the stacks file's folder."""
    from vidembed.models.openclip import ImageTextModel, resolve_model_folder

    assert config.image_text is not None
    key = (config.image_text, config.source, settings.models_dir, settings.hf_endpoint)
    if key not in _models:
        folder = resolve_model_folder(
            parts.from_stacks_file(config.image_text, config.source),
            weights.models_dir(settings.models_dir),
            hf_endpoint=settings.hf_endpoint,
        )
        _models[key] = ImageTextModel(folder, threads=settings.threads)
    return _models[key]


class ImageTextKind(StackKind):
    name = "image-text"

    def text_encoder(self, config: StackConfig, settings: StackSettings) -> ImageTextTextEncoder:
        from vidembed.models.image_text import ImageTextTextEncoder

        return ImageTextTextEncoder(image_text_model(config, settings))

    def visual_encoder(
        self, config: StackConfig, settings: StackSettings, text: TextEncoder
    ) -> ImageTextVisualEncoder:
        from vidembed.models.image_text import ImageTextVisualEncoder

        return ImageTextVisualEncoder(image_text_model(config, settings))

    def audio_encoder(self, config: StackConfig, settings: StackSettings, text: TextEncoder) -> AudioEncoder:
        return parts.audio_encoder(config, settings, text)

    def transcription(
        self, config: StackConfig, settings: StackSettings, text: TextEncoder
    ) -> TranscriptionEncoder:
        return parts.whisper_transcription(config, settings, text)

    def identities(self, config: StackConfig, settings: StackSettings, text: TextEncoder) -> dict[str, str]:
        return {
            "text": text.identity,
            "visual": f"{image_text_model(config, settings).identity} (image)",
            "audio": parts.audio_identity(config, settings, text),
            "transcription": parts.whisper_identity(config, text),
        }

    def describe(
        self, config: StackConfig, settings: StackSettings, text: TextEncoder
    ) -> dict[str, dict[str, str]]:
        model = image_text_model(config, settings)
        return {
            "text": {
                "kind": "image-text",
                "about": "the image-text model's text tower (texts longer than its context in chunks, "
                "averaged)",
                "identity": text.identity,
                "provider": model.provider,
            },
            "visual": {
                "kind": "image-text",
                "about": "mean of the image embeddings of 3 frames per clip, by the same model's image tower",
                "identity": f"{model.identity} (image)",
                "provider": model.provider,
            },
            "audio": parts.clap_description(config, settings, text)
            if config.audio_text
            else parts.yamnet_description(text, YAMNET_ABOUT),
            "transcription": parts.whisper_description(config, text),
        }
