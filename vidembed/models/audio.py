"""The default stack's audio option: ConSE over YAMNet's AudioSet classes (speech left out).

Speech belongs to the transcription option (as in Marengo 3.0, where `audio` is non-speech
audio), so YAMNet's speech classes are dropped before the mix; a clip whose remaining classes are
all weak is embedded as the text "silence".
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from vidembed.models.runtime import conse, session

SAMPLE_RATE = 16_000
PATCH_FRAMES, PATCH_HOP = 96, 48
TOP_K = 5
SOUND_TEMPLATES = ("the sound of {}.", "{} sound.")
# YAMNet classes that mean "someone speaks" or "nothing" (ids of yamnet_class_map.csv).
SPEECH_CLASSES = (0, 1, 2, 3, 4, 5, 65)
# AudioSet parents that fire with every animal sound ("Animal", "Domestic animals, pets",
# "Livestock, ...", "Wild animals"): in the mix they pull every animal clip to the same vector.
GENERIC_CLASSES = (67, 68, 81, 103)
SILENCE_CLASS = 494
MIN_EVENT_SCORE = 0.05
SILENCE_TEXT = "silence"


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + f / 700.0)


def _mel_filterbank(
    n_fft: int = 512, n_mels: int = 64, fmin: float = 125.0, fmax: float = 7500.0
) -> np.ndarray:
    """HTK triangular filters, unnormalised: the frontend YAMNet was trained with."""
    freqs = np.linspace(0, SAMPLE_RATE / 2, n_fft // 2 + 1)
    mel_points = np.linspace(_hz_to_mel(np.array(fmin)), _hz_to_mel(np.array(fmax)), n_mels + 2)
    hz_points = 700.0 * (10 ** (mel_points / 2595.0) - 1.0)
    diff = np.diff(hz_points)
    slopes = hz_points[None, :] - freqs[:, None]
    down = -slopes[:, :-2] / diff[:-1]
    up = slopes[:, 2:] / diff[1:]
    return np.maximum(0.0, np.minimum(down, up)).astype(np.float32)  # (257, 64)


_WINDOW = np.zeros(512, np.float32)
_WINDOW[56 : 56 + 400] = np.hanning(401)[:-1]  # periodic Hann of 400, centred in n_fft 512
_MEL = _mel_filterbank()


def log_mel(pcm: np.ndarray) -> np.ndarray:
    """(frames, 64) log-mel spectrogram: STFT 512, window 400, hop 160, no centre padding."""
    if len(pcm) < 512:
        pcm = np.pad(pcm, (0, 512 - len(pcm)))
    n_frames = 1 + (len(pcm) - 512) // 160
    idx = np.arange(512)[None, :] + 160 * np.arange(n_frames)[:, None]
    spectrum = np.abs(np.fft.rfft(pcm[idx] * _WINDOW, axis=1))
    return np.log(spectrum @ _MEL + 1e-6).astype(np.float32)


def patches(pcm: np.ndarray) -> np.ndarray:
    mel = log_mel(pcm)
    if len(mel) < PATCH_FRAMES:
        mel = np.pad(mel, ((0, PATCH_FRAMES - len(mel)), (0, 0)))
    starts = range(0, len(mel) - PATCH_FRAMES + 1, PATCH_HOP)
    return np.stack([mel[s : s + PATCH_FRAMES] for s in starts])


def pool_windows(scores: np.ndarray) -> np.ndarray:
    """(windows, classes) -> (classes,): half mean, half max over the clip's windows.

    The max lets a short event through when speech or quiet fills the rest of the clip (the
    mean alone drowns it); the mean keeps a steady background's weight.
    """
    return 0.5 * (scores.mean(axis=0) + scores.max(axis=0))


class YamnetAudioEncoder:
    """ConSE over YAMNet's AudioSet classes; fills the audio role."""

    sample_rate = 16_000
    placeholder_text = SILENCE_TEXT

    def __init__(
        self,
        model_path: Path,
        label_vectors: np.ndarray,
        silence_vector: np.ndarray,
        threads: int = 1,
        identity: str = "conse-yamnet",
    ) -> None:
        self.identity = identity
        graph = onnx.load(str(model_path), load_external_data=False)
        consts = {
            i.name: numpy_helper.to_array(i)
            for i in graph.graph.initializer
            if i.name.startswith(("audio_", "class_scores_"))
        }
        self._in_scale = float(consts["audio_scale"])
        self._in_zero = float(consts["audio_zero_point"])
        self._out_scale = float(consts["class_scores_scale"])
        self._out_zero = float(consts["class_scores_zero_point"])
        self._session = session(model_path, threads)
        self._labels = label_vectors
        self._silence = silence_vector
        self._keep = np.ones(len(label_vectors), bool)
        self._keep[list(SPEECH_CLASSES) + list(GENERIC_CLASSES) + [SILENCE_CLASS]] = False

    def class_scores(self, pcm: np.ndarray) -> np.ndarray:
        """(patches, 521) probabilities for 0.96 s windows every 0.48 s."""
        quantised = np.clip(np.round(patches(pcm) / self._in_scale + self._in_zero), 0, 255).astype(np.uint8)
        out = [self._session.run(None, {"audio": q[None, None]})[0][0] for q in quantised]
        logits = self._out_scale * (np.stack(out).astype(np.float32) - self._out_zero)
        # This export ends before YAMNet's sigmoid: its outputs are logits.
        return (0.5 * (1.0 + np.tanh(0.5 * logits))).astype(np.float32)  # sigmoid, no overflow

    def encode_clips(self, pcm: np.ndarray | None, windows: Sequence[tuple[int, int]]) -> np.ndarray:
        """One vector per (start, end) sample window of ``pcm``; no audio gives "silence"."""
        out = np.tile(self._silence, (len(windows), 1))
        if pcm is None:
            return out
        for i, (lo, hi) in enumerate(windows):
            segment = pcm[lo:hi]
            if not np.any(np.abs(segment) > 1e-4):
                continue
            scores = pool_windows(self.class_scores(segment)) * self._keep
            if scores.max() >= MIN_EVENT_SCORE:
                out[i] = conse(scores[None], self._labels, TOP_K)[0]
        return out
