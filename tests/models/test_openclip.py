"""Image-text models in Immich's ONNX layout, proved on tiny graphs this file writes with onnx.helper.

The towers are deliberately simple (image: mean colour @ W; text: token ids as floats @ W), so the
expected embeddings can be computed here with numpy from an independent preprocessing.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import logging
import threading
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from PIL import Image
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

from vidembed.errors import ModelUnavailableError
from vidembed.models.openclip import ImageTextModel, resolve_model_folder
from vidembed.models.providers import choose_providers, text_providers

DIM = 8
SIZE = 16
CONTEXT = 8
MEAN = [0.48145466, 0.4578275, 0.40821073]
STD = [0.26862954, 0.26130258, 0.27577711]
VOCAB = {"<start>": 1, "<end>": 2, "<unk>": 3, "a": 4, "dog": 5, "cat": 6, "<pad>": 7, "runs": 8, "red": 9}
PAD, START, END = 7, 1, 2
RESAMPLING = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR}


# --- a fake model folder ------------------------------------------------------------------------


def _save(model: onnx.ModelProto, path: Path) -> None:
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))


def _normalised(raw: str) -> list[onnx.NodeProto]:
    return [
        helper.make_node("ReduceL2", [raw], ["norm"], axes=[1], keepdims=1),
        helper.make_node("Div", [raw, "norm"], ["embedding"]),
    ]


def _visual_graph(path: Path, weights: np.ndarray, batch: int | str) -> None:
    """image [N,3,S,S] -> mean over H, W -> @ W (3 x d) -> unit length -> embedding."""
    nodes = [
        helper.make_node("ReduceMean", ["image"], ["pooled"], axes=[2, 3], keepdims=0),
        helper.make_node("MatMul", ["pooled", "W"], ["raw"]),
        *_normalised("raw"),
    ]
    graph = helper.make_graph(
        nodes,
        "visual",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [batch, 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [batch, DIM])],
        [numpy_helper.from_array(weights.astype(np.float32), "W")],
    )
    _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def _textual_graph(path: Path, weights: np.ndarray, batch: int | str) -> None:
    """text [N,L] int32 -> float -> @ W (L x d) -> unit length -> embedding."""
    nodes = [
        helper.make_node("Cast", ["text"], ["as_float"], to=TensorProto.FLOAT),
        helper.make_node("MatMul", ["as_float", "W"], ["raw"]),
        *_normalised("raw"),
    ]
    graph = helper.make_graph(
        nodes,
        "textual",
        [helper.make_tensor_value_info("text", TensorProto.INT32, [batch, CONTEXT])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [batch, DIM])],
        [numpy_helper.from_array(weights.astype(np.float32), "W")],
    )
    _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def _tokenizer(lowercase: bool) -> Tokenizer:
    tokenizer = Tokenizer(models.WordLevel(VOCAB, unk_token="<unk>"))
    if lowercase:  # as CLIP's tokenizer.json does; SigLIP's relies on open_clip's canonicalize
        tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<start> $A <end>", special_tokens=[("<start>", START), ("<end>", END)]
    )
    return tokenizer


class FakeModel:
    def __init__(self, folder: Path, visual_w: np.ndarray, text_w: np.ndarray, cfg: dict[str, Any]) -> None:
        self.folder, self.visual_w, self.text_w, self.cfg = folder, visual_w, text_w, cfg


def make_model_folder(
    root: Path,
    name: str = "ViT-Tiny__test",
    *,
    resize_mode: str = "shortest",
    interpolation: str = "bicubic",
    fill_color: int | list[int] = 0,
    size: int | list[int] = SIZE,
    batch: int | str = "batch",
    siglip: bool = False,
) -> FakeModel:
    folder = root / name
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    visual_w, text_w = rng.normal(size=(3, DIM)), rng.normal(size=(CONTEXT, DIM))
    _visual_graph(folder / "visual" / "model.onnx", visual_w, batch)
    _textual_graph(folder / "textual" / "model.onnx", text_w, batch)
    text_cfg: dict[str, Any] = {"context_length": CONTEXT, "vocab_size": len(VOCAB) + 1}
    if siglip:
        text_cfg["tokenizer_kwargs"] = {"clean": "canonicalize"}
    config = {"embed_dim": DIM, "vision_cfg": {"image_size": SIZE, "patch_size": 8}, "text_cfg": text_cfg}
    (folder / "config.json").write_text(json.dumps(config))
    cfg = {
        "size": size,
        "mode": "RGB",
        "mean": MEAN,
        "std": STD,
        "interpolation": interpolation,
        "resize_mode": resize_mode,
        "fill_color": fill_color,
    }
    (folder / "visual" / "preprocess_cfg.json").write_text(json.dumps(cfg))
    _tokenizer(lowercase=not siglip).save(str(folder / "textual" / "tokenizer.json"))
    (folder / "textual" / "tokenizer_config.json").write_text(json.dumps({"pad_token": "<pad>"}))
    return FakeModel(folder, visual_w, text_w, cfg)


# --- independent references ---------------------------------------------------------------------


def reference_pixels(frame: np.ndarray, cfg: dict[str, Any]) -> np.ndarray:
    """open_clip's / Immich's eval transform written out with numpy, Pillow only resizing (float64)."""
    size = cfg["size"] if isinstance(cfg["size"], int) else cfg["size"][0]
    resample = RESAMPLING[cfg["interpolation"]]
    height, width = frame.shape[:2]
    image = Image.fromarray(frame)
    if cfg["resize_mode"] == "squash":
        pixels = np.asarray(image.resize((size, size), resample))
    elif cfg["resize_mode"] == "shortest":
        if width < height:
            new_w, new_h = size, int(height * size / width)
        else:
            new_w, new_h = int(width * size / height), size
        resized = np.asarray(image.resize((new_w, new_h), resample))
        top, left = (new_h - size) // 2, (new_w - size) // 2
        pixels = resized[top : top + size, left : left + size]
    else:
        scale = size / max(height, width)
        new_w, new_h = round(width * scale), round(height * scale)
        pixels = np.empty((size, size, 3), np.uint8)
        pixels[:] = cfg["fill_color"]
        top, left = (size - new_h) // 2, (size - new_w) // 2
        pixels[top : top + new_h, left : left + new_w] = np.asarray(image.resize((new_w, new_h), resample))
    x = pixels.astype(np.float64) / 255.0
    return ((x - np.array(MEAN)) / np.array(STD)).transpose(2, 0, 1)


def reference_embedding(features: np.ndarray, weights: np.ndarray) -> np.ndarray:
    raw = features @ weights
    return raw / np.linalg.norm(raw, axis=1, keepdims=True)


def expected_ids(words: list[str]) -> list[int]:
    ids = [START, *[VOCAB[w] for w in words][: CONTEXT - 2], END]
    return ids + [PAD] * (CONTEXT - len(ids))


def frames(*shapes: tuple[int, int], seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in shapes]


# --- preprocessing ------------------------------------------------------------------------------


@pytest.mark.parametrize("resize_mode", ["shortest", "squash", "longest"])
@pytest.mark.parametrize("interpolation", ["bicubic", "bilinear"])
def test_preprocess_matches_independent_computation(
    tmp_path: Path, resize_mode: str, interpolation: str
) -> None:
    fake = make_model_folder(tmp_path, resize_mode=resize_mode, interpolation=interpolation, fill_color=200)
    model = ImageTextModel(fake.folder)
    images = frames((37, 53), (53, 37), (5, 7), (16, 16))  # landscape, portrait, upscaled, exact
    pixels = model.preprocess(images)
    assert pixels.dtype == np.float32 and pixels.shape == (4, 3, SIZE, SIZE)
    for got, frame in zip(pixels, images, strict=True):
        assert np.abs(got - reference_pixels(frame, fake.cfg)).max() < 1e-5
    other = {"bicubic": "bilinear", "bilinear": "bicubic"}[interpolation]
    wrong = reference_pixels(images[0], {**fake.cfg, "interpolation": other})
    assert np.abs(pixels[0] - wrong).max() > 1e-3  # the test can tell the filters apart
    assert not model.loaded  # preprocessing needs no ONNX session


def test_longest_mode_pads_with_fill_color(tmp_path: Path) -> None:
    fake = make_model_folder(tmp_path, resize_mode="longest", fill_color=[10, 200, 30], size=[SIZE, SIZE])
    model = ImageTextModel(fake.folder)
    (pixels,) = model.preprocess(frames((37, 53)))  # resized to 11 x 16: rows 0-1 and 13-15 are padding
    fill = (np.array([10, 200, 30]) / 255.0 - np.array(MEAN)) / np.array(STD)
    for rows in (slice(0, 2), slice(13, 16)):
        assert np.abs(pixels[:, rows, :] - fill[:, None, None]).max() < 1e-5
    assert np.abs(pixels[:, 2:13, :] - fill[:, None, None]).max() > 0.1  # the picture itself is not fill
    assert np.abs(pixels - reference_pixels(frames((37, 53))[0], fake.cfg)).max() < 1e-5


def test_shortest_mode_crops_the_centre(tmp_path: Path) -> None:
    """A wide picture whose left and right thirds are black and middle is white: after the
    short-side resize and centre crop, only white remains."""
    fake = make_model_folder(tmp_path, resize_mode="shortest")
    frame = np.zeros((32, 96, 3), np.uint8)
    frame[:, 32:64] = 255
    (pixels,) = ImageTextModel(fake.folder).preprocess([frame])
    white = (1.0 - np.array(MEAN)) / np.array(STD)
    assert np.abs(pixels[:, :, 2:-2] - white[:, None, None]).max() < 1e-5


# --- tokenizer ----------------------------------------------------------------------------------


def test_tokenize_pads_with_pad_id_and_truncates(tmp_path: Path) -> None:
    model = ImageTextModel(make_model_folder(tmp_path).folder)
    ids = model.tokenize(["a dog", "A   Dog  runs", "a red dog runs a cat a dog runs", ""])
    assert ids.dtype == np.int32 and ids.shape == (4, CONTEXT)  # the dtype of the graph's input
    assert ids[0].tolist() == expected_ids(["a", "dog"])  # padded with <pad> = 7, not 0
    assert ids[1].tolist() == expected_ids(["a", "dog", "runs"])  # lowercased by tokenizer.json
    assert ids[2].tolist() == [START, 4, 9, 5, 8, 4, 6, END]  # truncated, the end token kept
    assert ids[3].tolist() == [START, END] + [PAD] * (CONTEXT - 2)


def test_siglip_canonicalize_strips_punctuation_and_lowercases(tmp_path: Path) -> None:
    model = ImageTextModel(make_model_folder(tmp_path, siglip=True).folder)
    ids = model.tokenize(["A DOG, runs!", "a dog runs"])
    assert ids[0].tolist() == ids[1].tolist() == expected_ids(["a", "dog", "runs"])
    clip = ImageTextModel(make_model_folder(tmp_path, "clip").folder)
    assert clip.tokenize(["a dog, runs"])[0].tolist() != expected_ids(["a", "dog", "runs"])  # "," is <unk>


# --- encoders -----------------------------------------------------------------------------------


@pytest.mark.parametrize("batch", ["batch", 1], ids=["dynamic-batch", "fixed-batch-1-like-immich"])
def test_encoders_equal_the_numpy_computation(tmp_path: Path, batch: int | str) -> None:
    fake = make_model_folder(tmp_path, batch=batch)
    model = ImageTextModel(fake.folder, threads=1)
    images = frames(*[(24 + i, 40 - i) for i in range(19)])  # more than one batch of 16
    vectors = model.encode_images(images)
    pooled = np.stack([reference_pixels(f, fake.cfg).mean(axis=(1, 2)) for f in images])
    expected = reference_embedding(pooled, fake.visual_w)
    assert vectors.shape == (19, model.dimension) == (19, DIM) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert (np.sum(vectors * expected, axis=1) > 0.9999).all()

    texts = ["a dog", "a cat runs", "red", "dog dog dog", "a red cat"] * 4
    text_vectors = model.encode_text(texts)
    ids = np.array([expected_ids(t.split()) for t in texts], np.float64)
    expected_text = reference_embedding(ids, fake.text_w)
    assert text_vectors.shape == (20, DIM)
    np.testing.assert_allclose(np.linalg.norm(text_vectors, axis=1), 1.0, atol=1e-5)
    assert (np.sum(text_vectors * expected_text, axis=1) > 0.9999).all()
    assert model.encode_text([]).shape == (0, DIM) and model.encode_images([]).shape == (0, DIM)


def test_properties_identity_and_provider(tmp_path: Path) -> None:
    fake = make_model_folder(tmp_path, "ViT-Tiny__props")
    model = ImageTextModel(fake.folder)
    assert (model.name, model.dimension, model.image_size, model.context_length) == (
        "ViT-Tiny__props",
        DIM,
        SIZE,
        CONTEXT,
    )
    visual = hashlib.sha256((fake.folder / "visual" / "model.onnx").read_bytes()).hexdigest()[:12]
    textual = hashlib.sha256((fake.folder / "textual" / "model.onnx").read_bytes()).hexdigest()[:12]
    assert model.identity == f"ViT-Tiny__props visual:{visual} textual:{textual}"
    assert not model.loaded
    assert model.provider == "CPUExecutionProvider" and model.text_provider == "CPUExecutionProvider"
    assert model.loaded


def test_loads_once_under_concurrent_first_use(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    model = ImageTextModel(make_model_folder(tmp_path).folder)
    results: list[np.ndarray] = []
    barrier = threading.Barrier(4)

    def use() -> None:
        barrier.wait()
        results.append(model.encode_text(["a dog"]))

    with caplog.at_level(logging.INFO, logger="vidembed.models.openclip"):
        threads = [threading.Thread(target=use) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(results) == 4 and all(np.array_equal(r, results[0]) for r in results)
    assert sum("loading image-text model" in r.getMessage() for r in caplog.records) == 1


def test_a_broken_folder_fails_at_load_with_a_clear_error(tmp_path: Path) -> None:
    fake = make_model_folder(tmp_path)
    (fake.folder / "textual" / "tokenizer_config.json").write_text(json.dumps({"pad_token": "<nope>"}))
    with pytest.raises(ModelUnavailableError, match="pad_token '<nope>' is not in textual/tokenizer.json"):
        ImageTextModel(fake.folder).encode_text(["a dog"])
    other = make_model_folder(tmp_path, "other", size=24)  # preprocess says 24 px, the graph takes 16
    with pytest.raises(ModelUnavailableError, match=r"takes \[16, 16\] pixels but .* says size 24"):
        ImageTextModel(other.folder).encode_images(frames((20, 20)))


# --- resolve_model_folder -----------------------------------------------------------------------


def test_local_folder_is_returned_as_is(tmp_path: Path) -> None:
    folder = make_model_folder(tmp_path).folder
    assert resolve_model_folder(str(folder), tmp_path / "models") == folder


def test_local_folder_missing_a_file_names_it(tmp_path: Path) -> None:
    folder = make_model_folder(tmp_path).folder
    (folder / "textual" / "model.onnx").unlink()
    with pytest.raises(ModelUnavailableError) as error:
        resolve_model_folder(str(folder), tmp_path / "models")
    assert "missing textual/model.onnx" in str(error.value)
    assert f"Copy the model folder (config.json, visual/, textual/) to {folder}." in str(error.value)
    with pytest.raises(ModelUnavailableError, match="No image-text model folder at"):
        resolve_model_folder(str(tmp_path / "nowhere"), tmp_path / "models")


@pytest.fixture
def http_server() -> Iterator[Callable[[type[http.server.BaseHTTPRequestHandler]], str]]:
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(handler: type[http.server.BaseHTTPRequestHandler]) -> str:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)  # port 0: a free port
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


class _Quiet(http.server.BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class NothingHere(_Quiet):
    """A server that serves nothing: every request gets 404."""

    def do_GET(self) -> None:
        self.send_error(404)

    do_HEAD = do_GET


def test_unreachable_hub_says_where_to_copy_the_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, http_server: Callable[..., str]
) -> None:
    endpoint = http_server(NothingHere)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    models_dir = tmp_path / "models"
    with pytest.raises(ModelUnavailableError) as error:
        resolve_model_folder("immich-app/ViT-B-32__openai", models_dir, hf_endpoint=endpoint)
    message = str(error.value)
    target = models_dir / "hub" / "immich-app__ViT-B-32__openai"
    assert f"copy the model folder (config.json, visual/, textual/) to {target}." in message
    assert "Set HF_ENDPOINT / check the network" in message
    with pytest.raises(ModelUnavailableError, match="downloads are off"):
        resolve_model_folder("immich-app/ViT-B-32__openai", models_dir, allow_download=False)


def fake_hub(
    repo_id: str, files: dict[str, bytes], requests: list[str]
) -> type[http.server.BaseHTTPRequestHandler]:
    """A FAKE of the three Hugging Face hub endpoints huggingface_hub 2.4's snapshot_download calls:
    repo info (/api/models/{repo}/revision/{rev}), the file tree (/api/models/{repo}/tree/{sha})
    and each file (/{repo}/resolve/{sha}/{path}, HEAD then GET)."""
    sha = "0123456789abcdef0123456789abcdef01234567"
    oids = {path: hashlib.sha1(data).hexdigest() for path, data in files.items()}

    class FakeHub(_Quiet):
        def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for key, value in {**headers, "Content-Length": str(len(body))}.items():
                self.send_header(key, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            requests.append(f"{self.command} {path}")
            if path == f"/api/models/{repo_id}/revision/main":
                body = {"id": repo_id, "sha": sha, "siblings": [{"rfilename": p} for p in files]}
                self._send(200, json.dumps(body).encode(), {"Content-Type": "application/json"})
            elif path == f"/api/models/{repo_id}/tree/{sha}":
                tree = [{"type": "file", "path": p, "size": len(d), "oid": oids[p]} for p, d in files.items()]
                self._send(200, json.dumps(tree).encode(), {"Content-Type": "application/json"})
            elif path.startswith(f"/{repo_id}/resolve/{sha}/") and path.split(f"{sha}/", 1)[1] in files:
                name = path.split(f"{sha}/", 1)[1]
                headers = {"X-Repo-Commit": sha, "ETag": f'"{oids[name]}"'}
                self._send(200, files[name], headers)
            else:
                self._send(404, b'{"error": "not found"}', {"X-Error-Code": "RepoNotFound"})

        do_HEAD = do_GET

    return FakeHub


def test_hub_id_is_downloaded_once_from_a_fake_hub(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, http_server: Callable[..., str]
) -> None:
    source = make_model_folder(tmp_path / "source", "ViT-Tiny__fake").folder
    files = {p.relative_to(source).as_posix(): p.read_bytes() for p in source.rglob("*") if p.is_file()}
    files["visual/model.rknn"] = b"not for onnxruntime"  # Immich's repositories also hold RKNN builds
    files["README.md"] = b"# a model card"
    requests: list[str] = []
    endpoint = http_server(fake_hub("immich-app/ViT-Tiny__fake", files, requests))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    models_dir = tmp_path / "models"

    folder = resolve_model_folder("immich-app/ViT-Tiny__fake", models_dir, hf_endpoint=endpoint)
    assert folder == models_dir / "hub" / "immich-app__ViT-Tiny__fake"
    for name, data in files.items():
        wanted = name not in ("visual/model.rknn", "README.md")
        assert (folder / name).is_file() == wanted
        if wanted:
            assert (folder / name).read_bytes() == data
    assert any(r.startswith("GET /immich-app/ViT-Tiny__fake/resolve/") for r in requests)
    reference, downloaded = ImageTextModel(source), ImageTextModel(folder)
    np.testing.assert_array_equal(downloaded.encode_text(["a dog"]), reference.encode_text(["a dog"]))

    requests.clear()
    assert (
        resolve_model_folder("immich-app/ViT-Tiny__fake", models_dir, hf_endpoint=endpoint) == folder
    )  # reused
    assert requests == []


def test_hub_repository_without_the_layout_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, http_server: Callable[..., str]
) -> None:
    files = {"config.json": b"{}", "visual/model.onnx": b"x"}
    endpoint = http_server(fake_hub("someone/not-immich", files, []))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with pytest.raises(
        ModelUnavailableError, match="not an image-text model in Immich's layout.*textual/model.onnx"
    ):
        resolve_model_folder("someone/not-immich", tmp_path / "models", hf_endpoint=endpoint)


def test_a_spec_that_is_neither_a_folder_nor_a_hub_id(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailableError, match="neither an existing folder nor a Hugging Face hub id"):
        resolve_model_folder("ViT-B-32__openai", tmp_path)


# --- execution providers ------------------------------------------------------------------------


def test_choose_providers() -> None:
    assert choose_providers(["CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    chosen = choose_providers(["CPUExecutionProvider", "CoreMLExecutionProvider", "CUDAExecutionProvider"])
    assert chosen == ["CUDAExecutionProvider", "CoreMLExecutionProvider", "CPUExecutionProvider"]
    assert choose_providers(["TensorrtExecutionProvider", "CUDAExecutionProvider"]) == [
        "CUDAExecutionProvider",
        "CPUExecutionProvider",
    ]
    assert choose_providers() == ["CPUExecutionProvider"]  # what this machine's onnxruntime has
    # Immich keeps text encoders off CoreML when CoreML is the only accelerator
    assert text_providers(["CoreMLExecutionProvider", "CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    assert text_providers(["CUDAExecutionProvider", "CPUExecutionProvider"]) == [
        "CUDAExecutionProvider",
        "CPUExecutionProvider",
    ]
