"""The tiny CLIP / SigLIP test models: Immich's layout, and ONNX graphs faithful to the reference model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image
from tiny_models import TinyModel, make_tiny_clip, make_tiny_siglip, siglip_unigram_tokenizer
from tokenizers import Tokenizer

OPENAI_IDS = [49406, 320, 786, 3941, 320, 1929, 49407]  # OpenAI's tokenizer on "a man walking a dog"
TEXTS = [
    "a man walking a dog",
    "A rocket launching into space at night!",
    "",
    " ".join(["the chef is slicing fresh tomatoes and onions in the kitchen"] * 12),  # > both context lengths
]
PREPROCESS_KEYS = {"size", "mode", "mean", "std", "interpolation", "resize_mode", "fill_color"}


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, TinyModel]:
    folder = tmp_path_factory.mktemp("tiny-models")
    return {"clip": make_tiny_clip(folder / "clip"), "siglip": make_tiny_siglip(folder / "siglip")}


@pytest.fixture(params=["clip", "siglip"])
def tiny(request: pytest.FixtureRequest, tiny_models: dict[str, TinyModel]) -> TinyModel:
    return tiny_models[request.param]


def _images() -> list[Image.Image]:
    """Three unrelated non-square pictures (random vision towers barely tell pictures apart)."""
    rng = np.random.default_rng(7)
    noise = rng.integers(0, 256, (72, 96, 3), dtype=np.uint8)
    ramp = np.zeros((120, 80, 3), np.uint8)
    ramp[..., 0] = np.linspace(0, 255, 80, dtype=np.uint8)[None, :]
    ramp[..., 2] = np.linspace(255, 0, 120, dtype=np.uint8)[:, None]
    split = np.full((64, 150, 3), (20, 200, 40), np.uint8)
    split[:, 75:] = (250, 250, 10)
    return [Image.fromarray(a) for a in (noise, ramp, split)] + [Image.fromarray(noise).convert("L")]


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def _json(path: Path) -> dict:
    return json.loads(path.read_text())


def test_layout_files_and_keys(tiny: TinyModel) -> None:
    root = tiny.folder
    for name in ("config.json", "visual/model.onnx", "visual/preprocess_cfg.json", "textual/model.onnx",
                 "textual/tokenizer.json", "textual/tokenizer_config.json"):  # fmt: skip
        assert (root / name).is_file(), name

    config = _json(root / "config.json")
    assert config["embed_dim"] == tiny.embed_dim == (32 if tiny.kind == "clip" else 64)
    assert config["vision_cfg"]["image_size"] == tiny.image_size == 64
    assert config["text_cfg"]["context_length"] == tiny.context_length == (77 if tiny.kind == "clip" else 64)
    if tiny.kind == "clip":
        assert config["text_cfg"]["vocab_size"] == 49408
    else:
        assert config["text_cfg"]["vocab_size"] == tiny.model.config.text_config.vocab_size

    preprocess = _json(root / "visual" / "preprocess_cfg.json")
    assert set(preprocess) == PREPROCESS_KEYS
    assert preprocess["size"] == [64, 64] and preprocess["mode"] == "RGB" and preprocess["fill_color"] == 0
    assert preprocess["interpolation"] == "bicubic"
    if tiny.kind == "clip":
        assert preprocess["resize_mode"] == "shortest"
        assert preprocess["mean"] == [0.48145466, 0.4578275, 0.40821073]
        assert preprocess["std"] == [0.26862954, 0.26130258, 0.27577711]
    else:
        assert preprocess["resize_mode"] == "squash"
        assert preprocess["mean"] == preprocess["std"] == [0.5, 0.5, 0.5]

    tokenizer_cfg = _json(root / "textual" / "tokenizer_config.json")
    assert tokenizer_cfg["pad_token"] == ("<|endoftext|>" if tiny.kind == "clip" else "<pad>")
    assert tokenizer_cfg["model_max_length"] == tiny.context_length

    visual = ort.InferenceSession((root / "visual" / "model.onnx").as_posix())
    (image,) = visual.get_inputs()
    assert (image.name, image.type, image.shape[1:]) == ("image", "tensor(float)", [3, 64, 64])
    assert isinstance(image.shape[0], str)  # a dynamic batch
    assert [(o.name, o.shape[1:]) for o in visual.get_outputs()] == [("embedding", [tiny.embed_dim])]
    textual = ort.InferenceSession((root / "textual" / "model.onnx").as_posix())
    (text,) = textual.get_inputs()
    assert (text.name, text.type, text.shape[1:]) == ("text", "tensor(int32)", [tiny.context_length])
    assert isinstance(text.shape[0], str)
    assert [(o.name, o.shape[1:]) for o in textual.get_outputs()] == [("embedding", [tiny.embed_dim])]


def test_visual_onnx_matches_reference(tiny: TinyModel) -> None:
    session = ort.InferenceSession(tiny.visual_onnx.as_posix())
    images = _images()
    pixels = np.concatenate([tiny.reference_pixel_values(img) for img in images])
    assert pixels.shape == (len(images), 3, 64, 64) and pixels.dtype == np.float32
    onnx = session.run(None, {"image": pixels})[0]  # one batch of four
    reference = np.stack([tiny.reference_image_embedding(img) for img in images])
    assert reference.shape == (len(images), tiny.embed_dim) and reference.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(onnx, axis=1), 1.0, atol=1e-5)  # normalised in the graph
    for i, img in enumerate(images):
        alone = session.run(None, {"image": tiny.reference_pixel_values(img)})[0][0]
        assert _cosine(alone, reference[i]) >= 0.9999
        assert _cosine(onnx[i], reference[i]) >= 0.9999
        assert np.abs(onnx[i] - reference[i]).max() < 1e-4
    # Random towers give nearly the same vector for any picture: the parts that do differ must agree too.
    residual_onnx, residual_ref = onnx - onnx.mean(0), reference - reference.mean(0)
    assert np.linalg.norm(residual_ref, axis=1).min() > 1e-3
    for a, b in zip(residual_onnx, residual_ref, strict=True):
        assert _cosine(a, b) >= 0.999


def test_textual_onnx_matches_reference(tiny: TinyModel) -> None:
    session = ort.InferenceSession(tiny.textual_onnx.as_posix())
    ids = np.array([tiny.reference_text_ids(t) for t in TEXTS], dtype=np.int32)
    assert ids.shape == (len(TEXTS), tiny.context_length)
    onnx = session.run(None, {"text": ids})[0]
    for i, text in enumerate(TEXTS):
        reference = tiny.reference_text_embedding(text)
        assert reference.shape == (tiny.embed_dim,) and reference.dtype == np.float32
        assert abs(float(np.linalg.norm(onnx[i])) - 1.0) < 1e-5
        assert _cosine(onnx[i], reference) >= 0.9999, text
    assert _cosine(onnx[0], onnx[1]) < 0.999  # the text tower does tell sentences apart


def test_clip_tokenizer_json_gives_openai_ids(tiny_models: dict[str, TinyModel]) -> None:
    clip = tiny_models["clip"]
    tokenizer = Tokenizer.from_file((clip.folder / "textual" / "tokenizer.json").as_posix())
    assert tokenizer.encode("a man walking a dog").ids == OPENAI_IDS
    assert tokenizer.encode("A  Man walking a DOG").ids == OPENAI_IDS  # lowercased, whitespace collapsed
    assert tokenizer.get_vocab_size() == 49408
    assert clip.reference_text_ids("a man walking a dog") == OPENAI_IDS + [49407] * (77 - len(OPENAI_IDS))


@pytest.mark.parametrize("text", TEXTS)
def test_tokenizer_files_read_as_immich_reads_them_give_the_reference_ids(tiny: TinyModel, text: str) -> None:
    """Immich: Tokenizer.from_file, pad with tokenizer_config's pad_token to context_length, truncate."""
    textual = tiny.folder / "textual"
    context_length = _json(tiny.folder / "config.json")["text_cfg"]["context_length"]
    pad_token = _json(textual / "tokenizer_config.json")["pad_token"]
    tokenizer = Tokenizer.from_file((textual / "tokenizer.json").as_posix())
    pad_id = tokenizer.token_to_id(pad_token)
    tokenizer.enable_padding(length=context_length, pad_token=pad_token, pad_id=pad_id)
    tokenizer.enable_truncation(max_length=context_length)
    ids = tokenizer.encode(text).ids
    assert ids == tiny.reference_text_ids(text)
    eos = tokenizer.token_to_id("<|endoftext|>" if tiny.kind == "clip" else "</s>")
    assert len(ids) == context_length and eos in ids


def test_reference_pixels_follow_preprocess_cfg(tiny: TinyModel) -> None:
    """The reference processor does what preprocess_cfg.json says, done here with plain PIL."""
    cfg = _json(tiny.folder / "visual" / "preprocess_cfg.json")
    size = cfg["size"][0]
    for img in _images():
        rgb = img.convert("RGB")
        if cfg["resize_mode"] == "squash":
            rgb = rgb.resize((size, size), Image.Resampling.BICUBIC)
        else:  # shortest: the short side to `size`, then a centre crop
            w, h = rgb.size
            new = (size, int(h * size / w)) if w <= h else (int(w * size / h), size)
            rgb = rgb.resize(new, Image.Resampling.BICUBIC)
            left, top = (new[0] - size) // 2, (new[1] - size) // 2
            rgb = rgb.crop((left, top, left + size, top + size))
        mean, std = np.array(cfg["mean"], np.float32), np.array(cfg["std"], np.float32)
        expected = ((np.asarray(rgb, np.float32) / 255 - mean) / std).transpose(2, 0, 1)
        np.testing.assert_allclose(tiny.reference_pixel_values(img)[0], expected, atol=1e-5)


def test_siglip_tokenizer_is_the_same_every_run(tiny_models: dict[str, TinyModel]) -> None:
    written = Tokenizer.from_file((tiny_models["siglip"].folder / "textual" / "tokenizer.json").as_posix())
    assert siglip_unigram_tokenizer().get_vocab() == written.get_vocab()
    assert written.encode("a man walking a dog").tokens == ["▁a", "▁man", "▁walking", "▁a", "▁dog", "</s>"]
    assert written.token_to_id("<pad>") == 0 and written.token_to_id("</s>") == 1
