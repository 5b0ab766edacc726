"""Kind ``conse``: the built-in stacks ``conse-minilm-384`` and ``conse-muse-512``, from weights
that ship in registry packages (``vidembed.models.weights``).

A text encoder anchors the space: all-MiniLM-L6-v2 (English), or Universal Sentence Encoder
Multilingual v3 when ``StackConfig.text_model`` is ``"muse"`` (16 languages). Every builder below
takes that encoder as a parameter, so both stacks are the same code. The visual option is a ConSE
mix of the names of EfficientNet-Lite0's ImageNet classes, with OCR text and the face and object
detectors' phrases; the audio option a ConSE mix of YAMNet's AudioSet class names; speech is Whisper base
(docs/MODELS.md, "The built-in stack").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vidembed.errors import ConfigurationError
from vidembed.models import parts, weights
from vidembed.models.kinds.base import StackKind
from vidembed.models.roles import AudioEncoder, TextEncoder, TranscriptionEncoder
from vidembed.models.stack import MUSE_TEXT_MODEL, StackSettings
from vidembed.models.stacks_file import StackConfig

if TYPE_CHECKING:
    from vidembed.models.visual import ConseVisualEncoder

# What the built-in stack's text and visual vectors mean, for users (audio and transcription:
# ``parts.YAMNET_ABOUT``, ``parts.WHISPER_BASE_ABOUT``).
TEXT_ABOUT = (
    "all-MiniLM-L6-v2 (int8 ONNX), mean-pooled, L2-normalised: every option and every "
    "query is a vector of this text space"
)
MUSE_ABOUT = (
    "Universal Sentence Encoder Multilingual v3 (pure numpy, 512-d), L2-normalised: every option "
    "and every query is a vector of this text space, so class names, text read in frames, transcripts "
    "and queries in any of its 16 languages meet their translations"
)
VISUAL_ABOUT = (
    "ConSE over EfficientNet-Lite0 ImageNet-1k classes (top 10 of the mean of 3 frames per "
    "clip; class names with WordNet synonyms, each class leaning half-way to its WordNet parent), "
    "plus PP-OCRv4 text read in the clip's middle frame, plus people phrases (a person, a human face, "
    "a close-up of a face, a group of people) when MediaPipe's BlazeFace finds faces in that frame, "
    'plus "a photo of a {class}" for each of the 80 COCO classes CenterNet finds in it, '
    "weighted by score"
)


def visual_identity(text: TextEncoder) -> str:
    weight_files = {
        "efficientnet-lite0": weights.EFFICIENTNET_PTH.sha256,
        "blazeface": weights.FACE_TFLITE.sha256,
        "centernet": weights.HUMAN_MODELS.sha256,
    }
    named = " ".join(f"{k}:{parts.digest(v)}" for k, v in weight_files.items())
    return f"conse {named} over {text.identity}"


class ConseKind(StackKind):
    name = "conse"

    def text_encoder(self, config: StackConfig, settings: StackSettings) -> TextEncoder:
        if config.text_model == MUSE_TEXT_MODEL:
            return parts.muse_text_encoder(settings)
        if config.text_model:
            raise ConfigurationError(
                f"The stack {config.name!r} asks for the text model {config.text_model!r}; a conse stack "
                f'takes all-MiniLM-L6-v2 ("") or {MUSE_TEXT_MODEL!r}.'
            )
        from vidembed.models.text import MiniLMTextEncoder

        return MiniLMTextEncoder(
            weights.locate(weights.MINILM_ONNX),
            weights.locate(weights.MINILM_TOKENIZER),
            identity=f"all-MiniLM-L6-v2 int8 onnx:{parts.digest(weights.MINILM_ONNX.sha256)}",
        )

    def visual_encoder(
        self, config: StackConfig, settings: StackSettings, text: TextEncoder
    ) -> ConseVisualEncoder:
        from vidembed.models import vocabulary
        from vidembed.models.visual import DETECTOR_PHRASES, IMAGE_TEMPLATES, ConseVisualEncoder

        files = weights.prepare_all(settings.models_dir)
        cache, key = parts.label_cache(settings), text.identity
        imagenet = vocabulary.imagenet_names(files["imagenet_synsets"], files["imagenet_lemmas"])
        image_labels = vocabulary.with_parents(
            vocabulary.label_vectors(imagenet, IMAGE_TEMPLATES, text.encode, cache, key),
            vocabulary.label_vectors(
                vocabulary.imagenet_parents(imagenet), IMAGE_TEMPLATES, text.encode, cache, key
            ),
        )
        return ConseVisualEncoder(
            files["efficientnet"],
            image_labels,
            text.encode,
            threads=settings.threads,
            face_model=files["faces"],
            object_model=files["objects"],
            phrase_vectors=vocabulary.phrase_vectors(DETECTOR_PHRASES, text.encode, cache, key),
            identity=visual_identity(text),
        )

    def audio_encoder(self, config: StackConfig, settings: StackSettings, text: TextEncoder) -> AudioEncoder:
        return parts.audio_encoder(config, settings, text)

    def transcription(
        self, config: StackConfig, settings: StackSettings, text: TextEncoder
    ) -> TranscriptionEncoder:
        return parts.whisper_transcription(config, settings, text, detect_among=self.languages(config))

    def identities(self, config: StackConfig, settings: StackSettings, text: TextEncoder) -> dict[str, str]:
        return {
            "text": text.identity,
            "visual": visual_identity(text),
            "audio": parts.audio_identity(config, settings, text),
            "transcription": parts.whisper_identity(config, text),
        }

    def describe(
        self, config: StackConfig, settings: StackSettings, text: TextEncoder
    ) -> dict[str, dict[str, str]]:
        about = MUSE_ABOUT if config.text_model == MUSE_TEXT_MODEL else TEXT_ABOUT
        return {
            "text": {"kind": "text", "about": about, "identity": text.identity},
            "visual": {"kind": "conse", "about": VISUAL_ABOUT, "identity": visual_identity(text)},
            "audio": parts.yamnet_description(text),
            "transcription": parts.whisper_description(config, text),
        }

    def languages(self, config: StackConfig) -> list[str] | None:
        if config.text_model == MUSE_TEXT_MODEL:
            from vidembed.models.muse import LANGUAGES

            return list(LANGUAGES)
        return ["en"]
