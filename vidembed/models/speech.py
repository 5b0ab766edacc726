"""The default stack's transcription option: Whisper base (CTranslate2) over the whole track.

Whisper pads every call to 30 s, so the interval is transcribed once (VAD on) and the words are
cut into clips by the midpoint of their timestamps, then each clip's words are embedded as text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

NO_SPEECH_TEXT = "no speech"
SAMPLE_RATE = 16_000
WINDOWS_PER_BATCH = 2  # 4 saves a little more time but costs ~250 MB more peak memory


@dataclass(frozen=True)
class Word:
    start: float  # seconds from the start of the PCM given to transcribe()
    end: float
    text: str


class WhisperTranscriber:
    def __init__(
        self, model_dir: Path, threads: int = 1, beam_size: int = 5, language: str | None = "en"
    ) -> None:
        from faster_whisper import BatchedInferencePipeline, WhisperModel

        self._model = WhisperModel(
            str(model_dir), device="cpu", compute_type="int8", cpu_threads=threads, num_workers=1
        )
        self._batched = BatchedInferencePipeline(self._model)
        self._beam_size = beam_size
        self.language = language

    def _decoding(self) -> dict[str, Any]:
        """Options shared by both ways of calling Whisper, so both decode the same way."""
        return {
            "language": self.language,
            "beam_size": self._beam_size,
            "word_timestamps": True,
            "condition_on_previous_text": False,
            # No temperature fallback: sampling would make the same video give other vectors.
            "temperature": 0.0,
        }

    def transcribe_windows(self, pcm: np.ndarray, bounds: Sequence[tuple[int, int]]) -> list[Word]:
        """Words of each (start, end) sample window of ``pcm`` (each at most 30 s), decoded as one
        batch; times are from the start of ``pcm``."""
        segments, _info = self._batched.transcribe(
            pcm,
            vad_filter=False,
            clip_timestamps=[{"start": a / SAMPLE_RATE, "end": b / SAMPLE_RATE} for a, b in bounds],
            batch_size=max(1, len(bounds)),
            without_timestamps=False,
            **self._decoding(),
        )
        return _words(segments)

    def transcribe(self, pcm: np.ndarray) -> list[Word]:
        """Words of a whole track, VAD on (what the speed benchmark's naive reference calls per clip)."""
        segments, _info = self._model.transcribe(pcm, vad_filter=True, **self._decoding())
        return _words(segments)


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

        return [to_video(w) for w in self._transcriber.transcribe_windows(audio, bounds)]


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
