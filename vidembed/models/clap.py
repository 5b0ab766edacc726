"""Audio-text models (CLAP) in vidembed's ONNX layout, and the audio role they fill by ConSE.

No standard ONNX layout exists for CLAP, so vidembed defines one; ``python -m
vidembed.devtools.export_clap MODEL FOLDER`` writes it from a transformers ``ClapModel`` (LAION
CLAP: ``laion/clap-htsat-unfused``, ``laion/clap-htsat-fused``, ``laion/larger_clap_general``, ...).
A model folder::

    config.json          what the reader needs (below)
    audio/model.onnx     input_features float32 [N, 1, frames, n_mels] (the log-mel below)
                         -> embedding float32 [N, embed_dim], L2-normalised in the graph
    text/model.onnx      input_ids int64 [N, L], attention_mask int64 [N, L] (1 = token, 0 = pad)
                         -> embedding float32 [N, embed_dim], L2-normalised in the graph
    text/tokenizer.json  the model's tokenizer as a ``tokenizers`` file (RoBERTa BPE for LAION CLAP;
                         other files ``save_pretrained`` writes next to it are not read)

``config.json`` (the audio values are those LAION's checkpoints' ``preprocessor_config.json`` gives;
the exporter copies each model's own)::

    {"format": "vidembed-clap-onnx", "format_version": 1, "source": "laion/clap-htsat-unfused",
     "embed_dim": 512, "logit_scale": ...,           # exp(logit_scale_a): audio -> text logits
     "audio": {"sample_rate": 48000, "max_length_s": 10, "n_fft": 1024, "hop_length": 480,
               "n_mels": 64, "f_min": 50, "f_max": 14000, "mel_scale": "slaney", "mel_norm": "slaney",
               "padding": "repeatpad", "truncation": "split", "frames": 1001, "fusion": false},
     "text": {"context_length": 77, "pad_token": "<pad>", "pad_id": 1}}

The audio features are ``ClapFeatureExtractor``'s, made deterministic: for a waveform at
``sample_rate`` of at most ``max_length_s`` seconds they equal its ``input_features`` with
``truncation="rand_trunc"`` (which crops nothing at that length, so nothing random happens) and the
``padding`` mode (``repeatpad``: the waveform is tiled a whole number of times, then zero-padded to
``max_length_s``; ``repeat``: tiled and cut; ``pad``: zero-padded). Then a centred STFT (reflect
padding of n_fft / 2, periodic Hann window of n_fft, hop ``hop_length``), the power spectrum, the mel
filter bank (``mel_scale`` / ``mel_norm``: ``slaney`` / ``slaney`` is the bank the extractor uses
outside fusion mode, ``htk`` / null the one of its ``fusion`` mode), ``10 * log10(max(x, 1e-10))``.
``truncation: "split"`` says what the reader does with longer audio: it never crops at random, it
splits the waveform into equal pieces of at most ``max_length_s`` and averages their embeddings.
``fusion`` is always false: a fusion checkpoint (``laion/clap-htsat-fused``) is exported with its
short-audio path only (the graph copies the one mel into the four channels and sets ``is_longer``
false), since no piece is longer than ``max_length_s``; ``checkpoint_fusion`` records whether the
checkpoint had the fusion layers.

The engine hands 16 kHz PCM; it is resampled to the model's rate with FFmpeg's libswresample
(``av.AudioResampler``, PyAV is a dependency; scipy is not installed), which keeps the length exact
(3x for 16 -> 48 kHz) with no delay. Only onnxruntime, tokenizers, numpy, PyAV and (for downloads)
huggingface_hub are used here: torch and transformers are for the export command only.

Microsoft CLAP (``msclap``) is not a transformers model, so the export command does not read it; a
folder in this layout made by other means would load the same way.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import av
import numpy as np
from tokenizers import Tokenizer

from vidembed.errors import ModelUnavailableError
from vidembed.models import onnx_folder
from vidembed.models.audio import GENERIC_CLASSES, SILENCE_CLASS, SILENCE_TEXT, SPEECH_CLASSES, TOP_K
from vidembed.models.onnx_folder import HUB_ID, OnnxModelFolder, fixed_batch, output_name, read_tokenizer
from vidembed.models.runtime import conse, l2_normalise

log = logging.getLogger(__name__)

FORMAT = "vidembed-clap-onnx"
FORMAT_VERSION = 1
ENGINE_RATE = 16_000  # what the engine decodes audio to
BATCH = 8
REQUIRED_FILES = ("config.json", "audio/model.onnx", "text/model.onnx", "text/tokenizer.json")
HUB_PATTERNS = ["config.json", "audio/*", "text/*"]
PADDING_MODES = ("repeatpad", "repeat", "pad")
MEL_FLOOR = 1e-10
# LAION CLAP's zero-shot prompt (its README and ESC-50 evaluation: "This is a sound of dog.").
CLAP_TEMPLATES = ("This is a sound of {}.",)
# A window is "silent" unless its strongest sound class (speech and silence left out) has at least
# this share of the probability of the strongest class overall: speech alone or CLAP's own
# "Silence" class gives the placeholder. Not tuned on real CLAP weights (none are available here).
MIN_EVENT_RATIO = 0.1
AUDIBLE_PEAK = 1e-4  # as the YAMNet encoder: below this the PCM is digital silence
_download_lock = threading.Lock()


# --- the log-mel frontend ------------------------------------------------------------------------


def _hz_to_mel(freq: np.ndarray, scale: str) -> np.ndarray:
    if scale == "htk":
        return 2595.0 * np.log10(1.0 + freq / 700.0)
    mels = 3.0 * freq / 200.0  # slaney: linear below 1 kHz, logarithmic above
    log_region = freq >= 1000.0
    return np.where(log_region, 15.0 + np.log(np.maximum(freq, 1e-12) / 1000.0) * (27.0 / np.log(6.4)), mels)


def _mel_to_hz(mels: np.ndarray, scale: str) -> np.ndarray:
    if scale == "htk":
        return 700.0 * (10.0 ** (mels / 2595.0) - 1.0)
    freq = 200.0 * mels / 3.0
    return np.where(mels >= 15.0, 1000.0 * np.exp(np.log(6.4) / 27.0 * (mels - 15.0)), freq)


def mel_filters(
    n_fft: int, n_mels: int, f_min: float, f_max: float, sample_rate: int, scale: str, norm: str | None
) -> np.ndarray:
    """(n_fft // 2 + 1, n_mels) triangular filters, as transformers' ``mel_filter_bank`` (librosa's
    for ``slaney`` / ``slaney``, torchaudio's defaults for ``htk`` / None)."""
    if scale not in ("htk", "slaney") or norm not in (None, "slaney"):
        raise ValueError(f"mel_scale {scale!r} / mel_norm {norm!r}: expected htk or slaney / null or slaney")
    mel_points = np.linspace(
        _hz_to_mel(np.array(float(f_min)), scale), _hz_to_mel(np.array(float(f_max)), scale), n_mels + 2
    )
    hz_points = _mel_to_hz(mel_points, scale)
    freqs = np.linspace(0, sample_rate // 2, n_fft // 2 + 1)
    slopes = hz_points[None, :] - freqs[:, None]
    diff = np.diff(hz_points)
    down = -slopes[:, :-2] / diff[:-1]
    up = slopes[:, 2:] / diff[1:]
    filters = np.maximum(0.0, np.minimum(down, up))
    if norm == "slaney":
        filters *= (2.0 / (hz_points[2 : n_mels + 2] - hz_points[:n_mels]))[None, :]
    return filters


def resample(pcm: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Mono float32 PCM from ``rate_in`` to ``rate_out`` Hz with libswresample (FFmpeg's default
    windowed-sinc filter, as the engine's own decoding uses); the output is aligned with the input
    (no delay) and ``len(pcm) * rate_out / rate_in`` samples long."""
    pcm = np.ascontiguousarray(pcm, dtype=np.float32).reshape(-1)
    if rate_in == rate_out or len(pcm) == 0:
        return pcm.copy()
    resampler = av.AudioResampler(format="flt", layout="mono", rate=rate_out)
    frame = av.AudioFrame.from_ndarray(pcm[None, :], format="flt", layout="mono")
    frame.sample_rate = rate_in
    frame.pts = 0
    out = [f.to_ndarray().reshape(-1) for f in [*resampler.resample(frame), *resampler.resample(None)]]
    return np.concatenate(out).astype(np.float32, copy=False) if out else np.zeros(0, np.float32)


class AudioTextModel(OnnxModelFolder):
    """One CLAP model folder; its ONNX sessions and tokenizer load on first use, once.

    ``identity`` is ``name audio:<sha256[:12]> text:<sha256[:12]>`` of the two ONNX files."""

    kind = "audio-text"
    towers = ("audio", "text")
    required_files = REQUIRED_FILES
    _log = log

    # --- what config.json says (no ONNX needed) ---------------------------------------------------

    @cached_property
    def config(self) -> dict[str, Any]:
        path = self.folder / "config.json"
        data = self._json("config.json")
        if data.get("format") != FORMAT:
            raise ModelUnavailableError(_not_exported(self.folder))
        if int(data.get("format_version", 0)) > FORMAT_VERSION:
            raise ModelUnavailableError(
                f"{path}: format_version {data.get('format_version')} is newer than this vidembed reads "
                f"({FORMAT_VERSION}); upgrade vidembed or export the model again"
            )
        for key in ("embed_dim", "logit_scale", "audio", "text"):
            if key not in data:
                raise ModelUnavailableError(f"{path} has no {key!r}")
        return data

    @property
    def dimension(self) -> int:
        return int(self.config["embed_dim"])

    @property
    def logit_scale(self) -> float:
        return float(self.config["logit_scale"])

    @cached_property
    def audio_cfg(self) -> dict[str, Any]:
        cfg = dict(self.config["audio"])
        where = self.folder / "config.json"
        for key in ("sample_rate", "max_length_s", "n_fft", "hop_length", "n_mels", "f_min", "f_max"):
            if key not in cfg:
                raise ModelUnavailableError(f"{where}: audio has no {key!r}")
        if cfg.get("padding", "repeatpad") not in PADDING_MODES:
            raise ModelUnavailableError(
                f"{where}: audio.padding {cfg['padding']!r} is not one of {PADDING_MODES}"
            )
        return cfg

    @property
    def sample_rate(self) -> int:
        return int(self.audio_cfg["sample_rate"])

    @property
    def max_samples(self) -> int:
        return int(round(float(self.audio_cfg["max_length_s"]) * self.sample_rate))

    @property
    def frames(self) -> int:
        return self.max_samples // int(self.audio_cfg["hop_length"]) + 1

    @property
    def context_length(self) -> int:
        return int(self.config["text"].get("context_length", 77))

    @cached_property
    def _mel(self) -> np.ndarray:
        cfg = self.audio_cfg
        try:
            return mel_filters(
                int(cfg["n_fft"]),
                int(cfg["n_mels"]),
                float(cfg["f_min"]),
                float(cfg["f_max"]),
                self.sample_rate,
                str(cfg.get("mel_scale", "slaney")),
                cfg.get("mel_norm", "slaney"),
            )
        except ValueError as exc:
            raise ModelUnavailableError(f"{self.folder / 'config.json'}: {exc}") from exc

    @cached_property
    def _window(self) -> np.ndarray:
        n_fft = int(self.audio_cfg["n_fft"])
        return np.hanning(n_fft + 1)[:-1]  # periodic Hann

    @property
    def provider(self) -> str:
        self.load()
        return str(self._audio.get_providers()[0])

    # --- loading ----------------------------------------------------------------------------------

    def _incomplete_message(self, missing: Sequence[str]) -> str:
        return _incomplete(self.folder, missing)

    def _reload_hint(self) -> str:
        return "export the model again (python -m vidembed.devtools.export_clap MODEL FOLDER)"

    def _load(self) -> None:
        self._check_complete()
        _ = self._mel  # checks config.json before the sessions load
        self._audio, self._text = self._open_towers()
        features = self._audio.get_inputs()[0]
        expected = [1, self.frames, int(self.audio_cfg["n_mels"])]
        shape = list(features.shape)
        if len(shape) != 4 or any(
            isinstance(d, int) and d != e for d, e in zip(shape[1:], expected, strict=True)
        ):
            raise ModelUnavailableError(
                f"{self.folder / 'audio/model.onnx'} takes {features.shape}; config.json says "
                f"[N, {', '.join(map(str, expected))}]"
            )
        self._audio_input = features.name
        self._audio_batch = fixed_batch(features.shape)
        names = [i.name for i in self._text.get_inputs()]
        if "input_ids" not in names:
            raise ModelUnavailableError(
                f"{self.folder / 'text/model.onnx'} takes {names}; expected input_ids and attention_mask"
            )
        self._mask_input = "attention_mask" in names
        self._audio_output = output_name(self._audio)
        self._text_output = output_name(self._text)
        self._tokenizer = self._load_tokenizer()
        log.info(
            "audio-text model %s: %d-d, %d Hz, %s s windows, on %s",
            self.name,
            self.dimension,
            self.sample_rate,
            self.audio_cfg["max_length_s"],
            self._audio.get_providers()[0],
        )

    def _load_tokenizer(self) -> Tokenizer:
        path = self.folder / "text" / "tokenizer.json"
        tokenizer = read_tokenizer(path)
        text = self.config["text"]
        pad_token = text.get("pad_token", "<pad>")
        pad_id = text.get("pad_id", tokenizer.token_to_id(pad_token))
        if pad_id is None:
            raise ModelUnavailableError(
                f"{self.folder / 'config.json'}: pad_token {pad_token!r} is not in {path}"
            )
        tokenizer.enable_padding(pad_id=int(pad_id), pad_token=str(pad_token))  # to the batch's longest
        tokenizer.enable_truncation(max_length=self.context_length)
        return tokenizer

    # --- audio ------------------------------------------------------------------------------------

    def pieces(self, waveform: np.ndarray) -> list[np.ndarray]:
        """A waveform at the model's rate as equal pieces of at most ``max_length_s`` (one if shorter)."""
        count = max(1, -(-len(waveform) // self.max_samples))
        bounds = np.linspace(0, len(waveform), count + 1).round().astype(int)
        return [waveform[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]

    def features(self, waveform: np.ndarray) -> np.ndarray:
        """(1, frames, n_mels) float32 log-mel of one piece (at most ``max_length_s``) at the model's rate:
        ClapFeatureExtractor's ``input_features[0]`` (truncation rand_trunc, the padding of config.json)."""
        x = np.asarray(waveform, dtype=np.float64).reshape(-1)
        n = self.max_samples
        if len(x) > n:
            raise ValueError(f"a piece is {len(x)} samples, more than max_length_s ({n}): split it first")
        padding = self.audio_cfg.get("padding", "repeatpad")
        if 0 < len(x) < n and padding == "repeat":
            x = np.tile(x, n // len(x) + 1)[:n]
        elif 0 < len(x) < n and padding == "repeatpad":
            x = np.tile(x, n // len(x))
        x = np.pad(x, (0, n - len(x)))
        n_fft, hop = int(self.audio_cfg["n_fft"]), int(self.audio_cfg["hop_length"])
        x = np.pad(x, (n_fft // 2, n_fft // 2), mode="reflect")
        frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop]
        power = np.abs(np.fft.rfft(frames * self._window, axis=1)) ** 2
        mel = np.maximum(MEL_FLOOR, power @ self._mel)
        return (10.0 * np.log10(mel)).astype(np.float32)[None]

    def encode_audio(self, pcm: np.ndarray, sample_rate: int = ENGINE_RATE) -> np.ndarray:
        """(dimension,) unit vector of a mono waveform (16 kHz by default, as the engine decodes):
        resampled to the model's rate, split into pieces of at most ``max_length_s``, their
        embeddings averaged."""
        waveform = resample(pcm, sample_rate, self.sample_rate)
        return self.encode_waveforms([waveform])[0]

    def encode_waveforms(self, waveforms: Sequence[np.ndarray]) -> np.ndarray:
        """(N, dimension) unit vectors of waveforms at the model's rate (each split and averaged)."""
        if len(waveforms) == 0:
            return np.zeros((0, self.dimension), np.float32)
        owner: list[int] = []
        features: list[np.ndarray] = []
        for i, waveform in enumerate(waveforms):
            for piece in self.pieces(np.asarray(waveform, np.float32).reshape(-1)):
                features.append(self.features(piece))
                owner.append(i)
        vectors = self.run_audio(np.stack(features))
        out = np.zeros((len(waveforms), self.dimension), np.float32)
        np.add.at(out, np.array(owner, dtype=np.int64), vectors)
        return l2_normalise(out)

    def run_audio(self, features: np.ndarray) -> np.ndarray:
        """audio/model.onnx on (N, 1, frames, n_mels) features -> (N, dimension)."""
        self.load()
        step = self._audio_batch or BATCH
        out = []
        for start in range(0, len(features), step):
            chunk = np.ascontiguousarray(features[start : start + step], dtype=np.float32)
            out.append(self._run(self._audio, self._audio_output, {self._audio_input: chunk}))
        return l2_normalise(np.concatenate(out))

    # --- text -------------------------------------------------------------------------------------

    def tokenize(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """input_ids and attention_mask (int64 [N, L]), padded to the longest and truncated."""
        self.load()
        encodings = self._tokenizer.encode_batch(list(texts))
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        return ids, mask

    def encode_text(self, texts: Sequence[str]) -> np.ndarray:
        """(N, dimension) unit vectors, one per text."""
        if len(texts) == 0:
            return np.zeros((0, self.dimension), np.float32)
        self.load()
        out = []
        for start in range(0, len(texts), BATCH):
            ids, mask = self.tokenize(texts[start : start + BATCH])
            feeds = {"input_ids": ids}
            if self._mask_input:
                feeds["attention_mask"] = mask
            out.append(self._run(self._text, self._text_output, feeds))
        return l2_normalise(np.concatenate(out))


# --- the audio role ------------------------------------------------------------------------------


def kept_classes(count: int) -> np.ndarray:
    """Which of YAMNet's AudioSet classes enter the mix: speech, silence and the generic animal
    parents are left out, as the YAMNet encoder does (``vidembed.models.audio``)."""
    keep = np.ones(count, bool)
    keep[[c for c in (*SPEECH_CLASSES, *GENERIC_CLASSES, SILENCE_CLASS) if c < count]] = False
    return keep


class ClapAudioEncoder:
    """The audio role of a stack whose space is another model's (CLIP's text space, MiniLM's), by ConSE
    over CLAP.

    CLAP scores a window's audio against its own text embeddings of a sound vocabulary (AudioSet's
    class names, ``clap_labels``); the softmax (CLAP's logit scale) weighs the top-k classes, whose
    vectors in the stack's text space (``stack_labels``, same class order) are mixed. Speech and
    silence classes compete in the softmax but never enter the mix; a window whose strongest kept
    class is weak against the strongest class overall (MIN_EVENT_RATIO), or whose PCM is digitally
    silent, holds the stack's "silence" vector.
    """

    sample_rate = ENGINE_RATE
    placeholder_text = SILENCE_TEXT

    def __init__(
        self,
        model: AudioTextModel,
        clap_labels: np.ndarray,
        stack_labels: np.ndarray,
        silence_vector: np.ndarray,
        keep: np.ndarray | None = None,
        identity: str | None = None,
    ) -> None:
        if len(clap_labels) != len(stack_labels):
            raise ValueError(
                f"{len(clap_labels)} CLAP label vectors but {len(stack_labels)} in the stack's space"
            )
        self.model = model
        self._clap = np.asarray(clap_labels, np.float32)
        self._labels = np.asarray(stack_labels, np.float32)
        self._silence = np.asarray(silence_vector, np.float32)
        self._keep = kept_classes(len(clap_labels)) if keep is None else np.asarray(keep, bool)
        self._identity = identity

    @property
    def identity(self) -> str:
        return self._identity or f"conse clap {self.model.identity}"

    def class_probabilities(self, embeddings: np.ndarray) -> np.ndarray:
        """(N, classes) softmax of CLAP's audio -> text logits over the vocabulary."""
        logits = self.model.logit_scale * (np.asarray(embeddings, np.float32) @ self._clap.T)
        logits -= logits.max(axis=1, keepdims=True)
        weights = np.exp(logits)
        return (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)

    def encode_clips(self, pcm: np.ndarray | None, windows: Sequence[tuple[int, int]]) -> np.ndarray:
        """One vector per (start, end) window of 16 kHz ``pcm``; no audible sound gives "silence"."""
        out = np.tile(self._silence, (len(windows), 1))
        if pcm is None or len(windows) == 0:
            return out
        audible = [i for i, (lo, hi) in enumerate(windows) if np.any(np.abs(pcm[lo:hi]) > AUDIBLE_PEAK)]
        if not audible:
            return out
        # One resampling for the span of the windows, so window edges see real neighbours.
        first = min(windows[i][0] for i in audible)
        last = max(windows[i][1] for i in audible)
        ratio = self.model.sample_rate / self.sample_rate
        waveform = resample(pcm[first:last], self.sample_rate, self.model.sample_rate)
        segments = []
        for i in audible:
            lo, hi = windows[i]
            segments.append(waveform[round((lo - first) * ratio) : round((hi - first) * ratio)])
        probabilities = self.class_probabilities(self.model.encode_waveforms(segments))
        kept = probabilities * self._keep
        for row, i in enumerate(audible):
            if kept[row].max() >= MIN_EVENT_RATIO * probabilities[row].max():
                out[i] = conse(kept[row][None], self._labels, TOP_K)[0]
        return out


# --- folders and hub ids -------------------------------------------------------------------------


def missing_files(folder: Path) -> list[str]:
    """The files of the layout that ``folder`` lacks, relative to it."""
    return onnx_folder.missing_files(folder, REQUIRED_FILES)


def resolve_model_folder(
    spec: str, models_dir: Path, *, allow_download: bool = True, hf_endpoint: str | None = None
) -> Path:
    """The complete CLAP folder ``spec`` names: a local folder, or a hub id of a repository in this
    layout, downloaded once to ``models_dir/hub/org__name`` (from ``hf_endpoint``, else huggingface_hub's
    default).

    A transformers checkpoint (``laion/clap-htsat-unfused`` itself, or its local copy) is not this
    layout: the error says to run the export command. Raises ModelUnavailableError.
    """
    return onnx_folder.resolve_model_folder(
        spec,
        models_dir,
        REQUIRED_FILES,
        fetch=lambda repo_id, folder: _download(repo_id, folder, hf_endpoint),
        lock=_download_lock,
        not_a_folder=lambda local: (
            f"No audio-text model folder at {local.absolute()}: {_export_hint(spec, local)}, "
            "or give a Hugging Face hub id of a repository in that layout."
        ),
        not_a_hub_id=(
            f"{spec!r} is neither an existing folder nor a Hugging Face hub id (org/name) of an "
            "audio-text model."
        ),
        incomplete=lambda folder, missing: _incomplete(folder, missing, spec),
        downloads_off=lambda folder, missing: (
            f"{spec} is not downloaded ({folder} is incomplete) and downloads are off: "
            f"{_export_hint(spec, folder)}."
        ),
        not_in_layout=lambda folder: (
            _not_exported(folder, spec)
            if (folder / "config.json").is_file() and not _is_export(folder)
            else None
        ),
        allow_download=allow_download,
    )


def _is_export(folder: Path) -> bool:
    try:
        return bool(json.loads((folder / "config.json").read_text(encoding="utf-8")).get("format") == FORMAT)
    except (OSError, ValueError, AttributeError):
        return False


def _download(repo_id: str, folder: Path, endpoint: str | None) -> None:
    onnx_folder.fetch_from_hub(
        repo_id,
        folder,
        HUB_PATTERNS,
        hint=_export_hint(repo_id, folder),
        token_for="a private repository",
        endpoint=endpoint,
        logger=log,
    )


def _export_hint(spec: str, folder: Path) -> str:
    source = spec if HUB_ID.fullmatch(spec) else "laion/clap-htsat-unfused"
    return (
        f"export a CLAP model there with python -m vidembed.devtools.export_clap {source} "
        f'{Path(folder).absolute()} (needs pip install -e ".[export]")'
    )


def _not_exported(folder: Path, spec: str | None = None) -> str:
    return (
        f"{Path(folder).absolute() / 'config.json'} is not a vidembed CLAP export (no "
        f'"format": "{FORMAT}"); a transformers checkpoint must be exported first: '
        f"{_export_hint(spec or str(folder), folder)}."
    )


def _incomplete(folder: Path, missing: Sequence[str], spec: str | None = None) -> str:
    return onnx_folder.incomplete_message(
        "audio-text", folder, missing, _export_hint(spec or str(folder), folder)
    )
