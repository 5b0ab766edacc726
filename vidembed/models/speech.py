"""The default stack's transcription option: Whisper base (CTranslate2) over the whole track.

Whisper pads every call to 30 s, so the interval is transcribed once (VAD on) and the words are
cut into clips by the midpoint of their timestamps, then each clip's words are embedded as text.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

NO_SPEECH_TEXT = "no speech"


@dataclass(frozen=True)
class Word:
    start: float  # seconds from the start of the PCM given to transcribe()
    end: float
    text: str


def default_language() -> str | None:
    """``VIDEMBED_LANGUAGE``: a Whisper language code, or ``auto`` to detect; default ``en``.

    The default stack's text encoder (all-MiniLM-L6-v2) is English, and detection on short or
    noisy tracks is unreliable (an espeak voice over animal sounds was taken for Thai), so
    English is the default rather than detection.
    """
    value = os.environ.get("VIDEMBED_LANGUAGE", "en").strip()
    return None if value in ("", "auto") else value


class WhisperTranscriber:
    def __init__(
        self, model_dir: Path, threads: int = 1, beam_size: int = 5, language: str | None = "en"
    ) -> None:
        from faster_whisper import WhisperModel

        self._model = WhisperModel(
            str(model_dir), device="cpu", compute_type="int8", cpu_threads=threads, num_workers=1
        )
        self._beam_size = beam_size
        self.language = language

    def transcribe(self, pcm: np.ndarray) -> list[Word]:
        segments, _info = self._model.transcribe(
            pcm,
            language=self.language,
            beam_size=self._beam_size,
            vad_filter=True,
            word_timestamps=True,
            condition_on_previous_text=False,
            # No temperature fallback: sampling would make the same video give other vectors.
            temperature=0.0,
        )
        words: list[Word] = []
        for segment in segments:
            for w in segment.words or []:
                if w.word.strip():
                    words.append(Word(float(w.start), float(w.end), w.word.strip()))
        return words


def words_in(words: Sequence[Word], start: float, end: float) -> str:
    """The words whose midpoint falls in [start, end)."""
    return " ".join(w.text for w in words if start <= (w.start + w.end) / 2 < end)


class TranscriptionEncoder:
    def __init__(
        self, transcriber: WhisperTranscriber, encode_text: Callable[[Sequence[str]], np.ndarray]
    ) -> None:
        self.transcriber = transcriber
        self._encode_text = encode_text

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Clips without words are embedded as the text "no speech"."""
        return self._encode_text([t if t.strip() else NO_SPEECH_TEXT for t in texts])
