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
SAMPLE_RATE = 16_000


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

    def transcribe(self, pcm: np.ndarray, vad: bool = True) -> list[Word]:
        segments, _info = self._model.transcribe(
            pcm,
            language=self.language,
            beam_size=self._beam_size,
            vad_filter=vad,
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


class SpeechPacker:
    """Streams audio through Silero VAD and transcribes the speech in packs of up to ~29 s.

    Whisper pays for a full 30 s window per call, so speech from consecutive chunks is packed
    into one window (silence removed), as faster-whisper does for a whole track, and word times
    are mapped back to the video's timeline. Chunked calls without packing cost 1.7x more.
    """

    def __init__(self, transcriber: WhisperTranscriber, max_seconds: float = 29.0) -> None:
        self._transcriber = transcriber
        self._max = int(max_seconds * SAMPLE_RATE)
        self._pieces: list[tuple[float, np.ndarray]] = []  # (start time in the video, samples)
        self._size = 0

    def add(self, pcm: np.ndarray, start: float) -> list[Word]:
        """Adds PCM that begins at ``start`` seconds; returns the words of any pack completed."""
        from faster_whisper.vad import VadOptions, get_speech_timestamps

        words: list[Word] = []
        options = VadOptions(max_speech_duration_s=self._max / SAMPLE_RATE, min_silence_duration_ms=160)
        for stamp in get_speech_timestamps(pcm, options):
            piece = pcm[stamp["start"] : stamp["end"]]
            if self._size + len(piece) > self._max:
                words += self.flush()
            self._pieces.append((start + stamp["start"] / SAMPLE_RATE, piece))
            self._size += len(piece)
        return words

    def flush(self) -> list[Word]:
        if not self._pieces:
            return []
        audio = np.concatenate([p for _, p in self._pieces])
        offsets = np.cumsum([0] + [len(p) for _, p in self._pieces]) / SAMPLE_RATE
        starts = [t for t, _ in self._pieces]
        self._pieces, self._size = [], 0

        def to_video_time(t: float) -> float:
            i = max(0, min(len(starts) - 1, int(np.searchsorted(offsets, t, side="right")) - 1))
            return starts[i] + (t - offsets[i])

        return [
            Word(to_video_time(w.start), to_video_time(w.end), w.text)
            for w in self._transcriber.transcribe(audio, vad=False)
        ]


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
