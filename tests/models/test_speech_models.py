"""Whisper models other than the built-in base: a local CTranslate2 folder (the tiny random Whisper of
tests/tiny_whisper.py), the device choice (CUDA when CTranslate2 sees one, else CPU), a size name
that cannot be fetched (no hub here), and a stacks file's ``speech = "<folder>"``."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import ctranslate2
import faster_whisper
import numpy as np
import pytest
from tiny_models import make_tiny_clip
from tiny_whisper import FILES, MEL_BINS, make_tiny_whisper

from vidembed.devtools.synth import speak
from vidembed.errors import ModelUnavailableError
from vidembed.models import registry, speech
from vidembed.models.catalog import StackCatalog
from vidembed.models.speech import SAMPLE_RATE, WhisperTranscriber, Word
from vidembed.models.stack import StackSettings

ROOT = Path(__file__).resolve().parents[2]
SECONDS = 5.0


@pytest.fixture(scope="module")
def tiny_whisper(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_whisper(tmp_path_factory.mktemp("tiny-whisper") / "whisper-tiny-random")


@pytest.fixture(scope="module")
def pcm() -> np.ndarray:
    """5 s of 16 kHz speech (espeak), padded with silence."""
    voice = speak("The chef is slicing fresh tomatoes and onions in the kitchen.", SAMPLE_RATE)
    out = np.zeros(int(SECONDS * SAMPLE_RATE), np.float32)
    out[: min(len(voice), len(out))] = voice[: len(out)]
    return out


def base_dir() -> Path:
    from vidembed.models import weights as assets

    return assets.whisper_dir()


def _check_words(words: list[Word], start: float, end: float) -> None:
    assert isinstance(words, list)
    for w in words:
        assert isinstance(w, Word)
        assert isinstance(w.text, str) and w.text and w.text == w.text.strip()
        assert isinstance(w.start, float) and isinstance(w.end, float)
        assert start <= w.start <= w.end <= end, w


def test_the_tiny_whisper_folder_is_a_ctranslate2_whisper(tiny_whisper: Path) -> None:
    assert sorted(p.name for p in tiny_whisper.iterdir()) == sorted(FILES)
    base = json.loads((base_dir() / "config.json").read_text())
    config = json.loads((tiny_whisper / "config.json").read_text())
    for key in ("lang_ids", "suppress_ids", "suppress_ids_begin"):  # the real special tokens
        assert config[key] == base[key]
    assert (tiny_whisper / "tokenizer.json").read_bytes() == (base_dir() / "tokenizer.json").read_bytes()
    vocabulary = json.loads((tiny_whisper / "vocabulary.json").read_text())
    assert (
        vocabulary
        == (base_dir() / "vocabulary.txt").read_text(encoding="utf-8").split("\n")[: len(vocabulary)]
    )
    assert json.loads((tiny_whisper / "preprocessor_config.json").read_text())["feature_size"] == MEL_BINS


def test_a_local_folder_loads_on_cpu_and_transcribes(tiny_whisper: Path, pcm: np.ndarray) -> None:
    transcriber = WhisperTranscriber(tiny_whisper, threads=2, beam_size=2)
    assert transcriber.device == "cpu" and transcriber.compute_type == "int8"
    # The random weights say anything, but a whole window without VAD always decodes some tokens.
    windowed = transcriber.transcribe_windows(pcm, [(0, len(pcm))])
    assert windowed
    _check_words(windowed, 0.0, SECONDS)
    _check_words(transcriber.transcribe(pcm), 0.0, SECONDS)  # VAD on: maybe nothing, maybe garbage
    # What the CUDA probe in speech._load runs, on the real model object (here on CPU).
    model = transcriber._model
    assert model.model.n_mels == MEL_BINS and model.feature_extractor.nb_max_frames == 3000
    model.encode(np.zeros((model.model.n_mels, model.feature_extractor.nb_max_frames), np.float32))


def test_a_size_name_given_as_str_and_a_folder_as_str_both_resolve(tiny_whisper: Path) -> None:
    assert speech.resolve_whisper_model(str(tiny_whisper)) == str(tiny_whisper)
    assert speech.resolve_whisper_model(tiny_whisper) == str(tiny_whisper)


# --- device choice -------------------------------------------------------------------------------


class FakeWhisperModel:
    """Records how faster-whisper's WhisperModel was built; ``fail_on`` devices raise as CTranslate2 does."""

    calls: list[tuple[str, dict[str, Any]]] = []
    fail_on: dict[str, str] = {}  # device -> "load" or "encode"

    def __init__(self, path: str, **kwargs: Any) -> None:
        self.calls.append((path, kwargs))
        self.device = kwargs["device"]
        if self.fail_on.get(self.device) == "load":
            raise RuntimeError(
                "CUDA failed with error CUDA driver version is insufficient for CUDA runtime version"
            )
        self.model = type("Ct2Whisper", (), {"n_mels": MEL_BINS})()
        self.feature_extractor = type("Features", (), {"nb_max_frames": 3000})()

    def encode(self, features: np.ndarray) -> None:
        assert features.shape == (MEL_BINS, 3000)
        if self.fail_on.get(self.device) == "encode":
            raise RuntimeError("Library libcublas.so.12 is not found or cannot be loaded")


@pytest.fixture
def fake_whisper(monkeypatch: pytest.MonkeyPatch) -> type[FakeWhisperModel]:
    monkeypatch.setattr(FakeWhisperModel, "calls", [])
    monkeypatch.setattr(FakeWhisperModel, "fail_on", {})
    monkeypatch.setattr(faster_whisper, "WhisperModel", FakeWhisperModel)
    monkeypatch.setattr(faster_whisper, "BatchedInferencePipeline", lambda model: model)
    monkeypatch.setattr(speech, "_logged_devices", set())
    return FakeWhisperModel


def _cuda_devices(monkeypatch: pytest.MonkeyPatch, count: int) -> None:
    monkeypatch.setattr(ctranslate2, "get_cuda_device_count", lambda: count)


def test_cpu_is_called_exactly_as_before(
    tiny_whisper: Path,
    fake_whisper: type[FakeWhisperModel],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _cuda_devices(monkeypatch, 0)
    with caplog.at_level(logging.INFO, logger="vidembed.models.speech"):
        first = WhisperTranscriber(tiny_whisper, threads=2)
        WhisperTranscriber(tiny_whisper, threads=2)
    assert first.device == "cpu"
    expected = {"device": "cpu", "compute_type": "int8", "cpu_threads": 2, "num_workers": 1}
    assert fake_whisper.calls == [(str(tiny_whisper), expected)] * 2
    assert [r.getMessage() for r in caplog.records] == ["Whisper on cpu (CTranslate2 int8)"]  # once


def test_cuda_when_ctranslate2_sees_a_device(
    tiny_whisper: Path,
    fake_whisper: type[FakeWhisperModel],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _cuda_devices(monkeypatch, 1)
    with caplog.at_level(logging.INFO, logger="vidembed.models.speech"):
        transcriber = WhisperTranscriber(tiny_whisper, threads=2)
    assert transcriber.device == "cuda" and transcriber.compute_type == "int8_float16"
    expected = {"device": "cuda", "compute_type": "int8_float16", "cpu_threads": 2, "num_workers": 1}
    assert fake_whisper.calls == [(str(tiny_whisper), expected)]
    assert [r.getMessage() for r in caplog.records] == ["Whisper on cuda (CTranslate2 int8_float16)"]
    # Asked for explicitly, each device is used whatever CTranslate2 sees.
    assert WhisperTranscriber(tiny_whisper, device="cpu").device == "cpu"
    with pytest.raises(ValueError, match="'auto', 'cpu' or 'cuda'"):
        WhisperTranscriber(tiny_whisper, device="gpu")


@pytest.mark.parametrize("failing", ["load", "encode"])
def test_an_unusable_cuda_device_falls_back_to_cpu(
    tiny_whisper: Path,
    fake_whisper: type[FakeWhisperModel],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    failing: str,
) -> None:
    _cuda_devices(monkeypatch, 1)
    fake_whisper.fail_on = {"cuda": failing}
    with caplog.at_level(logging.INFO, logger="vidembed.models.speech"):
        transcriber = WhisperTranscriber(tiny_whisper)
    assert transcriber.device == "cpu" and transcriber.compute_type == "int8"
    assert [kwargs["device"] for _, kwargs in fake_whisper.calls] == ["cuda", "cpu"]
    assert "Whisper cannot run on CUDA" in caplog.text and "Whisper on cpu" in caplog.text
    with pytest.raises(RuntimeError):  # asked for CUDA: no silent fallback
        WhisperTranscriber(tiny_whisper, device="cuda")


@pytest.mark.skipif(ctranslate2.get_cuda_device_count() > 0, reason="a usable CUDA device is present")
def test_the_real_ctranslate2_refusing_cuda_falls_back_to_cpu(
    tiny_whisper: Path, monkeypatch: pytest.MonkeyPatch, pcm: np.ndarray
) -> None:
    """CTranslate2 without a CUDA device, told there is one: the load fails and Whisper runs on CPU."""
    _cuda_devices(monkeypatch, 1)
    transcriber = WhisperTranscriber(tiny_whisper, beam_size=1)
    assert transcriber.device == "cpu"
    _check_words(transcriber.transcribe_windows(pcm, [(0, len(pcm))]), 0.0, SECONDS)


# --- names and folders that cannot be used ---------------------------------------------------------


def _load_in_clean_process(spec: str, tmp_path: Path, **env: str) -> dict[str, Any]:
    """WhisperTranscriber(spec) in a new process (huggingface_hub reads HF_* when imported), with an
    empty hub cache; its ModelUnavailableError message and how long it took."""
    code = (
        "import json, sys, time\n"
        "from vidembed.errors import ModelUnavailableError\n"
        "from vidembed.models.speech import WhisperTranscriber\n"
        "t = time.monotonic()\n"
        "try:\n"
        "    WhisperTranscriber(sys.argv[1])\n"
        "    print(json.dumps({'loaded': True}))\n"
        "except ModelUnavailableError as exc:\n"
        "    print(json.dumps({'message': str(exc), 'seconds': time.monotonic() - t}))\n"
    )
    environ = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    environ |= {"HF_HOME": str(tmp_path / "hf-home"), **env}
    done = subprocess.run(
        [sys.executable, "-c", code, spec], env=environ, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize(
    ("size", "env", "reason", "source", "repo"),
    [
        (
            "small",
            {"HF_ENDPOINT": "http://127.0.0.1:9"},
            "Connection refused",
            "openai/whisper-small",
            "Systran/faster-whisper-small",
        ),
        (
            "distil-large-v3",
            {"HF_HUB_OFFLINE": "1"},
            "outgoing traffic has been disabled",
            "distil-whisper/distil-large-v3",
            "Systran/faster-distil-whisper-large-v3",
        ),
    ],
)
def test_a_size_name_that_cannot_be_fetched_says_which_folder_to_use(
    tmp_path: Path, size: str, env: dict[str, str], reason: str, source: str, repo: str
) -> None:
    result = _load_in_clean_process(size, tmp_path, **env)
    message = result["message"]
    assert result["seconds"] < 5, result  # no retries
    assert f"The Whisper model '{size}' is not in faster-whisper's cache" in message
    assert "the hub could not be reached" in message and reason in message
    if "HF_ENDPOINT" in env:
        assert "http://127.0.0.1:9" in message
    assert (
        f"`ct2-transformers-converter --model {source} --output_dir FOLDER "
        "--copy_files tokenizer.json preprocessor_config.json --quantization int8`"
    ) in message
    assert f"copy the files of the hub repository {repo}" in message
    assert 'then set speech = "FOLDER" (an absolute path) in the stacks file.' in message


def test_an_unknown_size_name_or_a_missing_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailableError, match="'smal' is neither an existing folder nor a faster"):
        WhisperTranscriber("smal")
    missing = tmp_path / "whisper-small-ct2"
    with pytest.raises(
        ModelUnavailableError, match=re.escape(f"No Whisper model folder at {missing}")
    ) as error:
        WhisperTranscriber(str(missing))
    assert f"--output_dir {missing} " in str(error.value)
    missing.mkdir()
    (missing / "config.json").write_text("{}")
    with pytest.raises(
        ModelUnavailableError, match=r"not a CTranslate2 Whisper folder \(missing model.bin\)"
    ):
        WhisperTranscriber(missing)


# --- a stacks file's speech folder --------------------------------------------------------------------


def test_a_stack_with_a_speech_folder_transcribes_with_it(
    tiny_whisper: Path, pcm: np.ndarray, tmp_path_factory: pytest.TempPathFactory
) -> None:
    root = tmp_path_factory.mktemp("speech-stack")
    clip = make_tiny_clip(root / "ViT-tiny__clip")
    stacks = root / "stacks.toml"
    stacks.write_text(
        f'[stacks.tiny-speech]\nimage_text = "{clip.folder}"\nspeech = "{tiny_whisper}"\nlanguage = "de"\n'
    )
    catalog = StackCatalog(StackSettings(stacks_file=stacks))
    config = catalog.config("tiny-speech")
    assert config.speech == str(tiny_whisper) and config.language == "de"
    text = catalog.text_encoder("tiny-speech")
    encoder = registry._whisper(config, catalog.settings, text)

    assert isinstance(encoder.transcriber, WhisperTranscriber)
    assert encoder.transcriber.device == "cpu" and encoder.transcriber.language == "de"
    assert f"whisper {tiny_whisper} " in encoder.identity and "language:de" in encoder.identity
    assert encoder.identity.endswith(f"over {text.identity}")
    described = registry.describe_encoders(config, catalog.settings, text)["transcription"]
    assert described["identity"] == encoder.identity

    session = encoder.session()  # VAD packing, then the tiny Whisper, times back on the video's timeline
    words = session.add(pcm, 10.0) + session.flush()
    _check_words(words, 10.0, 10.0 + SECONDS)
    vectors = encoder.encode_texts([" ".join(w.text for w in words), ""])
    assert vectors.shape == (2, clip.embed_dim)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
