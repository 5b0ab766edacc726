"""Which classes fill a stack's roles, by the kind of stack a configuration describes.

Two kinds today:

- ``conse`` (the built-in ``conse-minilm-384``): all-MiniLM-L6-v2 anchors the space; the visual
  and audio options are ConSE mixes of class-name vectors (EfficientNet-Lite0 ImageNet classes
  with OCR and detectors; YAMNet AudioSet classes); speech is Whisper base.
- ``image-text`` (a stacks file's ``image_text = ...``): an image-text model (CLIP, SigLIP) embeds
  frames and every text; the audio option is YAMNet's ConSE over sound-class names embedded by
  that model's text tower, so sounds land in the same space; transcripts go through the same text
  tower (in chunks that fit its context). Speech is the stack's Whisper model. With ``audio_text =
  ...`` (a CLAP export, ``vidembed.models.clap``) the audio option is CLAP's ConSE instead: CLAP
  scores the sound against the same class names in its own text space, and the names' vectors in
  the stack's space are mixed.

Besides these, ``fake`` (``vidembed.models.fake``): the tests' stack without weights, added by code
(``StackSettings.extra_stacks``), never by a stacks file.

A new kind is a builder here; a new model is one class that fills a role (``roles.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from vidembed.models.roles import TextEncoder, VisualEncoder
from vidembed.models.stacks_file import BUILTIN_SPEECH, StackConfig

if TYPE_CHECKING:
    from vidembed.models.audio import YamnetAudioEncoder
    from vidembed.models.clap import AudioTextModel, ClapAudioEncoder
    from vidembed.models.image_text import ImageTextVisualEncoder
    from vidembed.models.openclip import ImageTextModel
    from vidembed.models.speech import TranscriptionEncoder as WhisperTranscription
    from vidembed.models.stack import ModelStack, StackSettings
    from vidembed.models.visual import ConseVisualEncoder

# Whisper is the longest stage: two threads let it take the second core whenever decoding and
# the visual stage leave it free (measured: 12.6x instead of 10.6x realtime on 720p, 2 cores).
ASR_THREADS = 2


def kind(config: StackConfig) -> str:
    if config.kind == "fake":  # the tests' stack without weights (models/fake.py); never from a file
        return "fake"
    return "image-text" if config.image_text else "conse"


def _digest(sha256: str) -> str:
    return sha256[:12]


def placeholder_texts(config: StackConfig) -> dict[str, str]:
    if kind(config) == "fake":
        from vidembed.models import fake

        return {"audio": fake.SILENCE_TEXT, "transcription": fake.NO_SPEECH_TEXT}
    from vidembed.models.audio import SILENCE_TEXT
    from vidembed.models.speech import NO_SPEECH_TEXT

    return {"audio": SILENCE_TEXT, "transcription": NO_SPEECH_TEXT}


# --- text encoders -----------------------------------------------------------------------------


def build_text_encoder(config: StackConfig, settings: StackSettings) -> TextEncoder:
    if kind(config) == "fake":
        from vidembed.models.fake import FakeTextEncoder

        return FakeTextEncoder()
    if kind(config) == "image-text":
        from vidembed.models.image_text import ImageTextTextEncoder

        return ImageTextTextEncoder(_image_text_model(config, settings))
    from vidembed.models import assets
    from vidembed.models.text import MiniLMTextEncoder

    return MiniLMTextEncoder(
        assets.locate(assets.MINILM_ONNX),
        assets.locate(assets.MINILM_TOKENIZER),
        identity=f"all-MiniLM-L6-v2 int8 onnx:{_digest(assets.MINILM_ONNX.sha256)}",
    )


def _from_stacks_file(spec: str, source: Path | None) -> str:
    """A model spec of the stacks file: a relative folder that exists beside the file is taken from
    there; anything else (an absolute folder, a hub id, a size name) as written."""
    local = Path(spec).expanduser()
    if not local.is_absolute() and source is not None and (source / local).exists():
        return str(source / local)
    return str(local) if local.is_absolute() or spec.startswith("~") else spec


_image_text_models: dict[tuple[str, Path | None], ImageTextModel] = {}


def _image_text_model(config: StackConfig, settings: StackSettings) -> ImageTextModel:
    """One ImageTextModel per model folder and process: the text and visual roles share it. A
    relative folder is taken from the stacks file's folder."""
    from vidembed.models import assets
    from vidembed.models.openclip import ImageTextModel, resolve_model_folder

    assert config.image_text is not None
    key = (config.image_text, config.source)
    if key not in _image_text_models:
        folder = resolve_model_folder(
            _from_stacks_file(config.image_text, config.source), assets.models_dir()
        )
        _image_text_models[key] = ImageTextModel(folder, threads=settings.threads)
    return _image_text_models[key]


_audio_text_models: dict[tuple[str, Path | None], AudioTextModel] = {}


def _audio_text_model(config: StackConfig, settings: StackSettings) -> AudioTextModel:
    """One AudioTextModel (CLAP) per model folder and process. A relative folder is taken from the
    stacks file's folder."""
    from vidembed.models import assets
    from vidembed.models.clap import AudioTextModel, resolve_model_folder

    assert config.audio_text is not None
    key = (config.audio_text, config.source)
    if key not in _audio_text_models:
        folder = resolve_model_folder(
            _from_stacks_file(config.audio_text, config.source), assets.models_dir()
        )
        _audio_text_models[key] = AudioTextModel(folder, threads=settings.threads)
    return _audio_text_models[key]


# --- identities: names and weight digests, known without loading the weights -------------------


def _conse_visual_identity(text: TextEncoder) -> str:
    from vidembed.models import assets

    parts = {
        "efficientnet-lite0": assets.EFFICIENTNET_PTH.sha256,
        "blazeface": assets.FACE_TFLITE.sha256,
        "centernet": assets.HUMAN_MODELS.sha256,
    }
    return "conse " + " ".join(f"{k}:{_digest(v)}" for k, v in parts.items()) + f" over {text.identity}"


def _yamnet_identity(text: TextEncoder) -> str:
    from vidembed.models import assets

    return f"conse yamnet:{_digest(assets.YAMNET_ZIP.sha256)} over {text.identity}"


def _clap_identity(config: StackConfig, settings: StackSettings, text: TextEncoder) -> str:
    return f"conse clap {_audio_text_model(config, settings).identity} over {text.identity}"


def _whisper_identity(config: StackConfig, text: TextEncoder) -> str:
    from vidembed.models import assets

    name = (
        f"whisper-base int8 part1:{_digest(assets.WHISPER_PART1.sha256)}"
        if config.speech == BUILTIN_SPEECH
        else f"whisper {config.speech}"
    )
    # The beam width is a decoding setting (GET /models shows it), not part of the identity: the
    # fast mode should not set aside every task embedded before it.
    return f"{name} language:{config.language or 'auto'} over {text.identity}"


def identities(config: StackConfig, settings: StackSettings, text: TextEncoder) -> dict[str, str]:
    """Per role, the identity of the encoder a stack built from ``config`` has (what
    ``ModelStack.identities()`` gives once built), without loading the video encoders."""
    if kind(config) == "fake":
        from vidembed.models import fake

        return dict(fake.IDENTITIES)
    if kind(config) == "image-text":
        visual = f"{_image_text_model(config, settings).identity} (image)"
    else:
        visual = _conse_visual_identity(text)
    return {
        "text": text.identity,
        "visual": visual,
        "audio": _clap_identity(config, settings, text) if config.audio_text else _yamnet_identity(text),
        "transcription": _whisper_identity(config, text),
    }


# --- whole stacks ------------------------------------------------------------------------------


def build_visual(config: StackConfig, settings: StackSettings, text: TextEncoder) -> VisualEncoder:
    """The stack's visual encoder: the one way to build it, for ``build_stack`` and for a process
    that embeds image queries without the rest of the stack (``StackCatalog.visual_encoder``)."""
    if kind(config) == "fake":
        from vidembed.models.fake import FakeVisualEncoder

        return FakeVisualEncoder()
    if kind(config) == "image-text":
        return _image_text_visual(config, settings)
    return _conse_visual(text, settings)


def build_stack(
    config: StackConfig, settings: StackSettings, text: TextEncoder, visual: VisualEncoder | None = None
) -> ModelStack:
    """The whole stack; ``visual``: its visual encoder when this process has built it already."""
    if kind(config) == "fake":
        from vidembed.models import fake

        return fake.build_stack(config, text, visual)
    from vidembed.models.stack import OPTIONS, ModelStack

    return ModelStack(
        name=config.name,
        text=text,
        visual=visual if visual is not None else build_visual(config, settings, text),
        audio=_clap_audio(config, text, settings) if config.audio_text else _yamnet_audio(text, settings),
        transcription=_whisper(config, settings, text),
        options=OPTIONS,
    )


def _label_cache() -> Path:
    from vidembed.models import assets

    return assets.models_dir() / "labels"


def _conse_visual(text: TextEncoder, settings: StackSettings) -> ConseVisualEncoder:
    from vidembed.models import assets, vocabulary
    from vidembed.models.visual import DETECTOR_PHRASES, IMAGE_TEMPLATES, ConseVisualEncoder

    files = assets.prepare_all()
    cache, key = _label_cache(), text.identity
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
        identity=_conse_visual_identity(text),
    )


def _image_text_visual(config: StackConfig, settings: StackSettings) -> ImageTextVisualEncoder:
    from vidembed.models.image_text import ImageTextVisualEncoder

    return ImageTextVisualEncoder(_image_text_model(config, settings))


def _yamnet_audio(text: TextEncoder, settings: StackSettings) -> YamnetAudioEncoder:
    """YAMNet's sound classes, named in the stack's text space ("the sound of {name}")."""
    from vidembed.models import assets, vocabulary
    from vidembed.models.audio import SILENCE_TEXT, SOUND_TEMPLATES, YamnetAudioEncoder

    files = assets.prepare_all()
    names = vocabulary.yamnet_names(files["yamnet_classes"])
    sound_labels = vocabulary.label_vectors(
        names, SOUND_TEMPLATES, text.encode, _label_cache(), text.identity
    )
    return YamnetAudioEncoder(
        files["yamnet"],
        sound_labels,
        text.encode([SILENCE_TEXT])[0],
        settings.threads,
        identity=_yamnet_identity(text),
    )


def _clap_audio(config: StackConfig, text: TextEncoder, settings: StackSettings) -> ClapAudioEncoder:
    """CLAP's ConSE: YAMNet's AudioSet class names in CLAP's text space (to score the sound) and in
    the stack's (to mix), both cached by encoder identity."""
    from vidembed.models import assets, vocabulary
    from vidembed.models.audio import SILENCE_TEXT, SOUND_TEMPLATES
    from vidembed.models.clap import CLAP_TEMPLATES, ClapAudioEncoder

    model = _audio_text_model(config, settings)
    names = vocabulary.yamnet_names(assets.locate(assets.YAMNET_CLASSES))
    clap_labels = vocabulary.label_vectors(
        names, CLAP_TEMPLATES, model.encode_text, _label_cache(), f"{model.identity} (text)"
    )
    stack_labels = vocabulary.label_vectors(
        names, SOUND_TEMPLATES, text.encode, _label_cache(), text.identity
    )
    return ClapAudioEncoder(
        model,
        clap_labels,
        stack_labels,
        text.encode([SILENCE_TEXT])[0],
        identity=_clap_identity(config, settings, text),
    )


def _whisper(config: StackConfig, settings: StackSettings, text: TextEncoder) -> WhisperTranscription:
    from vidembed.models import assets
    from vidembed.models.speech import TranscriptionEncoder, WhisperTranscriber

    model = (
        assets.whisper_dir()
        if config.speech == BUILTIN_SPEECH
        else _whisper_model(config.speech, config.source)
    )
    transcriber = WhisperTranscriber(
        model, ASR_THREADS, beam_size=settings.asr_beam, language=config.language
    )
    return TranscriptionEncoder(transcriber, text.encode, identity=_whisper_identity(config, text))


def _whisper_model(spec: str, source: Path | None = None) -> Path | str:
    """A local CTranslate2 folder (a relative one is taken from the stacks file's folder, as
    ``image_text`` is), or a faster-whisper size name (faster-whisper fetches it from the hub once,
    into its cache; ``speech.resolve_whisper_model`` says which folder to make when it cannot)."""
    local = Path(_from_stacks_file(spec, source))
    return local if local.exists() else spec


# --- description ---------------------------------------------------------------------------------


def describe_encoders(
    config: StackConfig, settings: StackSettings, text: TextEncoder
) -> dict[str, dict[str, str]]:
    """Per role: what the encoder is and its identity (from the encoders' own metadata, without
    loading the video encoders' weights); for ``GET /models`` and ``vidembed models``."""
    if kind(config) == "fake":
        from vidembed.models import fake

        return fake.describe()
    from vidembed.models.stack import CONSE_ABOUT

    audio = {"kind": "conse", "about": CONSE_ABOUT["audio"], "identity": _yamnet_identity(text)}
    speech = {
        "kind": "whisper",
        "about": CONSE_ABOUT["transcription"]
        if config.speech == BUILTIN_SPEECH
        else f"Whisper {config.speech} (CTranslate2, Silero VAD) words cut into clips by timestamp, embedded "
        'by the stack\'s text encoder; clips without words hold the vector of "no speech"',
        "identity": _whisper_identity(config, text),
    }
    if kind(config) == "conse":
        return {
            "text": {"kind": "text", "about": CONSE_ABOUT["text"], "identity": text.identity},
            "visual": {
                "kind": "conse",
                "about": CONSE_ABOUT["visual"],
                "identity": _conse_visual_identity(text),
            },
            "audio": audio,
            "transcription": speech,
        }
    model = _image_text_model(config, settings)
    return {
        "text": {
            "kind": "image-text",
            "about": "the image-text model's text tower (texts longer than its context in chunks, averaged)",
            "identity": text.identity,
            "provider": model.provider,
        },
        "visual": {
            "kind": "image-text",
            "about": "mean of the image embeddings of 3 frames per clip, by the same model's image tower",
            "identity": f"{model.identity} (image)",
            "provider": model.provider,
        },
        "audio": _clap_description(config, settings, text)
        if config.audio_text
        else audio
        | {
            "about": "ConSE over YAMNet AudioSet classes whose names are embedded by the "
            'image-text model\'s text tower ("the sound of {name}"); clips without audible '
            'events hold the vector of "silence"'
        },
        "transcription": speech,
    }


def _clap_description(config: StackConfig, settings: StackSettings, text: TextEncoder) -> dict[str, str]:
    return {
        "kind": "conse",
        "about": "ConSE over CLAP: the clip's sound scored by the audio-text model against AudioSet class "
        "names in its own text space (softmax with its logit scale; speech, silence and generic animal "
        "classes left out of the mix), the top 5 names' vectors in this stack's space (\"the sound of "
        '{name}") mixed; clips without audible events hold the vector of "silence"',
        "identity": _clap_identity(config, settings, text),
    }
