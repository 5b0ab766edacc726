"""The default stack's transcription option: Whisper base (CTranslate2) over the whole track.

Whisper pads every call to 30 s, so the interval is transcribed once (VAD on) and the words are
cut into clips by the midpoint of their timestamps, then each clip's words are embedded as text.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vidembed.errors import ModelUnavailableError

log = logging.getLogger(__name__)

NO_SPEECH_TEXT = "no speech"
SAMPLE_RATE = 16_000
WINDOWS_PER_BATCH = 2  # 4 saves a little more time but costs ~250 MB more peak memory

# Speech left after a window's last decoded word that is decoded again (VAD pads each piece of
# speech by up to 0.4 s, and Whisper often ends a word a little early).
MIN_TAIL_SECONDS = 1.5
# Whisper's test for a decoding that went wrong (openai/whisper's compression_ratio_threshold):
# text that gzip compresses more than this is repeating itself.
MAX_COMPRESSION_RATIO = 2.4

AUTO, CPU, CUDA = "auto", "cpu", "cuda"
# int8 weights everywhere; on CUDA the activations in float16 (CTranslate2 has no int8 activations there).
COMPUTE_TYPES = {CPU: "int8", CUDA: "int8_float16"}
MODEL_FILES = ("model.bin", "config.json")  # what a CTranslate2 Whisper folder cannot do without


@dataclass(frozen=True)
class Word:
    start: float  # seconds from the start of the PCM given to transcribe()
    end: float
    text: str


class WhisperTranscriber:
    """faster-whisper (CTranslate2) with the decoding options every call shares.

    ``model_dir`` is a CTranslate2 Whisper folder, or a faster-whisper size name (``"small"``,
    ``"large-v3"``, ...) or CTranslate2 hub id, which faster-whisper fetches from the Hugging Face hub
    once into its cache (ModelUnavailableError, saying which folder to make instead, when it cannot).
    ``device`` is ``"auto"`` (CUDA when CTranslate2 sees a CUDA device, else CPU), ``"cpu"`` or
    ``"cuda"``; the one used is ``self.device``, logged once per process.
    """

    def __init__(
        self,
        model_dir: Path | str,
        threads: int = 1,
        beam_size: int = 5,
        language: str | None = "en",
        device: str = AUTO,
        detect_among: Sequence[str] | None = None,
    ) -> None:
        from faster_whisper import BatchedInferencePipeline, WhisperModel

        path = resolve_whisper_model(model_dir)
        self.device = choose_device(device)
        try:
            self._model = _load(WhisperModel, path, self.device, threads)
        except RuntimeError as exc:
            # "auto" saw a CUDA device that CTranslate2 cannot use (driver too old, cuBLAS or cuDNN
            # missing): run on CPU rather than fail every task.
            if device != AUTO or self.device == CPU:
                raise
            log.warning("Whisper cannot run on CUDA (%s): running it on CPU", str(exc).strip()[:300])
            self.device = CPU
            self._model = _load(WhisperModel, path, CPU, threads)
        self.compute_type = COMPUTE_TYPES[self.device]
        _log_device_once(self.device)
        self._batched = BatchedInferencePipeline(self._model)
        self._beam_size = beam_size
        self.language = language
        # When detecting: the languages the stack's text space serves. Whisper's own choice among
        # its 99 can be one the text encoder cannot read (espeak's German voice comes out as
        # Yiddish, docs/QUALITY.md "Many languages"), so the most probable of these is taken.
        self.detect_among = tuple(detect_among) if detect_among else None

    def _decoding(self, language: str | None = None) -> dict[str, Any]:
        """Options shared by both ways of calling Whisper, so both decode the same way."""
        return {
            "language": language or self.language,
            "beam_size": self._beam_size,
            "word_timestamps": True,
            "condition_on_previous_text": False,
            # No temperature fallback: sampling would make the same video give other vectors.
            "temperature": 0.0,
        }

    def transcribe_windows(
        self,
        pcm: np.ndarray,
        bounds: Sequence[tuple[int, int]],
        languages: list[tuple[str, float]] | None = None,
    ) -> list[Word]:
        """Words of each (start, end) sample window of ``pcm`` (each at most 30 s), decoded as one
        batch per language; times are from the start of ``pcm``. ``languages``, when given, gets
        each window's language and weight (seconds of speech times the language's probability)
        appended: the pinned language, or the one detected on that window when ``self.language``
        is None, so a video that changes language is transcribed in each of its languages."""
        if self.language is not None:
            ranked = [[(self.language, 1.0)] for _ in bounds]
        else:
            ranked = self.detect_languages(pcm, bounds)
        chosen = [candidates[0] for candidates in ranked]
        by_window = self._decode_by_language(pcm, list(bounds), [c[0] for c in chosen])
        # A detected language whose decoding loops (Whisper's hallucination test: text that
        # compresses over 2.4 times, e.g. espeak's "Here is a pig" x6 taken for Thai, p 0.47 vs
        # English 0.41, came back as one Thai syllable repeated) gives way to the next candidate.
        looping = [i for i, (_, loops) in enumerate(by_window) if loops and len(ranked[i]) > 1]
        if looping:
            again = self._decode_by_language(
                pcm, [bounds[i] for i in looping], [ranked[i][1][0] for i in looping]
            )
            for i, (words, loops) in zip(looping, again, strict=True):
                if not loops:
                    by_window[i], chosen[i] = (words, loops), ranked[i][1]
        if languages is not None:
            for (a, b), (language, probability) in zip(bounds, chosen, strict=True):
                languages.append((language, probability * (b - a) / SAMPLE_RATE))
        return sorted((w for words, _ in by_window for w in words), key=lambda w: w.start)

    def _decode_by_language(
        self, pcm: np.ndarray, windows: list[tuple[int, int]], chosen: list[str]
    ) -> list[tuple[list[Word], bool]]:
        """Each window's words in its chosen language (one batched call per language), and
        whether its decoding looped."""
        out: list[tuple[list[Word], bool]] = [([], False)] * len(windows)
        for language in dict.fromkeys(chosen):
            indices = [i for i, c in enumerate(chosen) if c == language]
            group = [windows[i] for i in indices]
            segments = self._decode(pcm, group, language)
            # One decoding pass over a window can stop before its end (Whisper emits its end token
            # after a few sentences: the 8th of 8 packed sentences was lost, docs/QUALITY.md "Many
            # languages"); faster-whisper's sequential mode seeks on from the last timestamp, the
            # batched one does not, so the untranscribed tails are decoded once more.
            tails = untranscribed_tails(_words(segments), group)
            if tails:
                segments += self._decode(pcm, tails, language)
            for i, (a, b) in zip(indices, group, strict=True):
                # by midpoint, as words are: a segment's start may round to just before its window
                mine = [s for s in segments if a <= (s.start + s.end) / 2 * SAMPLE_RATE < b]
                loops = any(s.compression_ratio > MAX_COMPRESSION_RATIO for s in mine)
                out[i] = (_words(mine), loops)
        return out

    def _decode(self, pcm: np.ndarray, windows: Sequence[tuple[int, int]], language: str) -> list[Any]:
        """faster-whisper's segments of the (start, end) sample windows of ``pcm``, decoded as one
        batch (segment times are from the start of ``pcm``)."""
        segments, _info = self._batched.transcribe(
            pcm,
            vad_filter=False,
            clip_timestamps=[{"start": a / SAMPLE_RATE, "end": b / SAMPLE_RATE} for a, b in windows],
            batch_size=max(1, len(windows)),
            without_timestamps=False,
            **self._decoding(language),
        )
        return list(segments)

    def detect_languages(
        self, pcm: np.ndarray, bounds: Sequence[tuple[int, int]]
    ) -> list[list[tuple[str, float]]]:
        """Each window's languages, most probable first, from one batched encoder pass: with
        ``detect_among``, only those languages (probabilities renormalised over them). Costs one
        more encoder pass per window than a pinned language."""
        from faster_whisper.audio import pad_or_trim

        extractor = self._model.feature_extractor
        features = np.stack([pad_or_trim(extractor(pcm[a:b])) for a, b in bounds])
        encoded = self._model.encode(features)
        ranked = []
        for probabilities in self._model.model.detect_language(encoded):
            scores = {token[2:-2]: float(p) for token, p in probabilities}  # "<|de|>" -> "de"
            if self.detect_among:
                allowed = {k: v for k, v in scores.items() if k in self.detect_among}
                scores = allowed or scores
            total = max(sum(scores.values()), 1e-9)
            ranked.append(sorted(((k, v / total) for k, v in scores.items()), key=lambda kv: -kv[1]))
            log.debug("speech in %s", ranked[-1][:3])
        return ranked

    def transcribe(self, pcm: np.ndarray) -> list[Word]:
        """Words of a whole track, VAD on (what the speed benchmark's naive reference calls per clip)."""
        segments, _info = self._model.transcribe(pcm, vad_filter=True, **self._decoding())
        return _words(segments)


def untranscribed_tails(words: Sequence[Word], windows: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """The ends of windows that hold words but whose last word ends MIN_TAIL_SECONDS or more before
    the window does (windows hold only speech, packed by VAD: such a tail holds words Whisper did
    not decode). A window without words is left alone: Whisper heard no speech in it."""
    tails = []
    for a, b in windows:
        ends = [w.end for w in words if a <= (w.start + w.end) / 2 * SAMPLE_RATE < b]
        if ends and b - max(ends) * SAMPLE_RATE >= MIN_TAIL_SECONDS * SAMPLE_RATE:
            tails.append((int(max(ends) * SAMPLE_RATE), b))
    return tails


def _load(whisper_model: Any, path: str, device: str, threads: int) -> Any:
    model = whisper_model(
        path, device=device, compute_type=COMPUTE_TYPES[device], cpu_threads=threads, num_workers=1
    )
    if device == CUDA:
        # CTranslate2 loads cuBLAS and cuDNN at their first use: one encoder pass over a silent
        # window finds a missing library now rather than in the first task.
        model.encode(np.zeros((model.model.n_mels, model.feature_extractor.nb_max_frames), np.float32))
    return model


def choose_device(requested: str = AUTO) -> str:
    """``"cuda"`` or ``"cpu"``: the one requested, or for ``"auto"`` CUDA when CTranslate2 sees a CUDA
    device (``ctranslate2.get_cuda_device_count() > 0``), else CPU."""
    if requested not in (AUTO, CPU, CUDA):
        raise ValueError(f"Whisper device must be {AUTO!r}, {CPU!r} or {CUDA!r}, not {requested!r}")
    if requested != AUTO:
        return requested
    import ctranslate2

    return CUDA if ctranslate2.get_cuda_device_count() > 0 else CPU


_logged_devices: set[str] = set()
_log_lock = threading.Lock()


def _log_device_once(device: str) -> None:
    with _log_lock:
        if device in _logged_devices:
            return
        _logged_devices.add(device)
    log.info("Whisper on %s (CTranslate2 %s)", device, COMPUTE_TYPES[device])


def resolve_whisper_model(spec: Path | str) -> str:
    """What faster-whisper loads for ``spec``: a local CTranslate2 Whisper folder as it is, or the
    folder of a size name / hub id in faster-whisper's cache (fetched from the hub if not there).

    ``spec`` is a folder if it is a Path, exists, or starts with ``/``, ``.`` or ``~``. Raises
    ModelUnavailableError saying what is wrong and which folder to make instead.
    """
    from faster_whisper.utils import available_models, download_model

    text = str(spec)
    local = Path(text).expanduser()
    if isinstance(spec, Path) or text.startswith(("/", ".", "~")) or local.exists():
        if not local.is_dir():
            raise ModelUnavailableError(
                f"No Whisper model folder at {local.absolute()}. {_folder_hint(None, local.absolute())}"
            )
        missing = [name for name in MODEL_FILES if not (local / name).is_file()]
        if missing:
            raise ModelUnavailableError(
                f"{local.absolute()} is not a CTranslate2 Whisper folder (missing {', '.join(missing)}). "
                f"{_folder_hint(None, local.absolute())}"
            )
        return str(local)
    if "/" not in text and text not in available_models():
        raise ModelUnavailableError(
            f"The Whisper model {text!r} is neither an existing folder nor a faster-whisper size name "
            f"({', '.join(available_models())}). {_folder_hint(None, None)}"
        )
    try:
        return str(download_model(text))
    except Exception as exc:  # any hub, HTTP, network or cache error: the message says what to do
        from huggingface_hub import constants
        from huggingface_hub.errors import LocalEntryNotFoundError

        why = (
            "the hub could not be reached (or downloads are off: HF_HUB_OFFLINE)"
            if isinstance(exc, LocalEntryNotFoundError)
            else "the hub did not give it"
        )
        detail = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
        raise ModelUnavailableError(
            f"The Whisper model {text!r} is not in faster-whisper's cache on this machine and could not be "
            f"fetched from the Hugging Face hub at {constants.ENDPOINT}: {why} ({type(exc).__name__}: "
            f"{detail}). {_folder_hint(text, None)}"
        ) from exc


def _transformers_id(size: str) -> str:
    """The transformers checkpoint a faster-whisper size name was converted from."""
    if size.startswith("distil-"):
        return f"distil-whisper/{size}"
    if size in ("turbo", "large-v3-turbo"):
        return "openai/whisper-large-v3-turbo"
    return f"openai/whisper-{'large-v3' if size == 'large' else size}"


def _folder_hint(name: str | None, folder: Path | None) -> str:
    """How to make a local CTranslate2 Whisper folder (for the size name or hub id ``name``)."""
    where = str(folder) if folder is not None else "FOLDER"
    source = _transformers_id(name) if name is not None and "/" not in name else "openai/whisper-small"
    convert = (
        f"`ct2-transformers-converter --model {source} --output_dir {where} "
        f"--copy_files tokenizer.json preprocessor_config.json --quantization int8` "
        f"(pip install ctranslate2 transformers torch)"
    )
    if folder is not None:
        return (
            f"Make it on a machine with internet with {convert} and copy it here, or point speech in the "
            f"stacks file at another CTranslate2 Whisper folder."
        )
    hint = f"Use a local CTranslate2 Whisper folder instead: on a machine with internet, run {convert}"
    if name is not None:
        from faster_whisper import utils

        repo = getattr(utils, "_MODELS", {}).get(name, name)  # size name -> the hub repository fetched
        hint += (
            f", or copy the files of the hub repository {repo} (config.json, model.bin, tokenizer.json, "
            f"vocabulary.*, preprocessor_config.json) into {where}"
        )
    return f'{hint}; then set speech = "{where}" (an absolute path) in the stacks file.'


def _words(segments: Iterable[Any]) -> list[Word]:
    return [
        Word(float(w.start), float(w.end), w.word.strip())
        for segment in segments
        for w in segment.words or []
        if w.word.strip()
    ]


class SpeechPacker:
    """Streams audio through Silero VAD and transcribes the speech in windows of up to ~29 s.

    Whisper pays for a full 30 s window per call, so speech from consecutive chunks is packed
    into one window (silence removed), as faster-whisper does for a whole track; chunked calls
    without packing cost 1.7x more. Full windows are transcribed WINDOWS_PER_BATCH at a time in one
    batched call (ASR 1.35x faster than one by one on 2 cores), and word times are mapped back to the
    video's timeline.
    """

    def __init__(
        self, transcriber: WhisperTranscriber, max_seconds: float = 29.0, batch: int = WINDOWS_PER_BATCH
    ) -> None:
        self._transcriber = transcriber
        self._max = int(max_seconds * SAMPLE_RATE)
        self._batch = batch
        self._pieces: list[tuple[float, np.ndarray]] = []  # (start time in the video, samples)
        self._windows: list[int] = []  # end of each closed window, as an index into _pieces
        self._size = 0  # samples in the open window
        # (language, weight) of each window transcribed: Whisper's detection when the stack pins
        # no language (conse-muse-512), else the pinned one (WhisperTranscriber.transcribe_windows).
        self.languages: list[tuple[str, float]] = []

    @property
    def detected_language(self) -> str | None:
        """The language of most of the speech so far (each window weighted by its seconds of
        speech and its language's probability); None before any speech was transcribed."""
        weights: dict[str, float] = {}
        for language, probability in self.languages:
            weights[language] = weights.get(language, 0.0) + probability
        return max(weights, key=lambda k: weights[k]) if weights else None

    def add(self, pcm: np.ndarray, start: float) -> list[Word]:
        """Adds PCM that begins at ``start`` seconds; returns the words of any batch completed."""
        from faster_whisper.vad import VadOptions, get_speech_timestamps

        words: list[Word] = []
        options = VadOptions(max_speech_duration_s=self._max / SAMPLE_RATE, min_silence_duration_ms=160)
        for stamp in get_speech_timestamps(pcm, options):
            piece = pcm[stamp["start"] : stamp["end"]]
            if self._size and self._size + len(piece) > self._max:
                self._windows.append(len(self._pieces))
                self._size = 0
                if len(self._windows) >= self._batch:
                    words += self.flush()
            self._pieces.append((start + stamp["start"] / SAMPLE_RATE, piece))
            self._size += len(piece)
        return words

    def flush(self) -> list[Word]:
        """Transcribes every window held (closed or open) and returns their words."""
        if self._size:
            self._windows.append(len(self._pieces))
        if not self._pieces:
            return []
        audio = np.concatenate([p for _, p in self._pieces])
        offsets = np.cumsum([0] + [len(p) for _, p in self._pieces])
        bounds = [
            (int(offsets[a]), int(offsets[b]))
            for a, b in zip([0, *self._windows], self._windows, strict=False)
        ]
        starts = [t for t, _ in self._pieces]
        seconds = offsets / SAMPLE_RATE
        self._pieces, self._windows, self._size = [], [], 0

        def to_video(w: Word) -> Word:
            # The piece holding the word's midpoint places the whole word: Whisper often starts a
            # word a few ms before the piece it belongs to, which would put its start in the
            # previous piece, across a removed silence.
            mid = (w.start + w.end) / 2
            i = max(0, min(len(starts) - 1, int(np.searchsorted(seconds, mid, side="right")) - 1))
            shift = starts[i] - seconds[i]
            return Word(w.start + shift, w.end + shift, w.text)

        return [to_video(w) for w in self._transcriber.transcribe_windows(audio, bounds, self.languages)]


def words_in(words: Sequence[Word], start: float, end: float) -> str:
    """The words whose midpoint falls in [start, end)."""
    return " ".join(w.text for w in words if start <= (w.start + w.end) / 2 < end)


class TranscriptionEncoder:
    """Whisper words packed by VAD (a session per task), clip transcripts embedded by the stack's
    text encoder; fills the transcription role."""

    sample_rate = SAMPLE_RATE
    placeholder_text = NO_SPEECH_TEXT

    def __init__(
        self,
        transcriber: WhisperTranscriber,
        encode_text: Callable[[Sequence[str]], np.ndarray],
        identity: str = "whisper",
    ) -> None:
        self.transcriber = transcriber
        self._encode_text = encode_text
        self.identity = identity

    def session(self) -> SpeechPacker:
        return SpeechPacker(self.transcriber)

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Clips without words are embedded as the text "no speech"."""
        return self._encode_text([t if t.strip() else NO_SPEECH_TEXT for t in texts])
