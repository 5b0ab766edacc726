"""Tiny, randomly initialised CLIP and SigLIP models written in Immich's ONNX export layout, for tests.

No model hub is reachable here, so tests that load image-text models make their own: a transformers
`CLIPModel` / `SiglipModel` with a couple of 64-wide layers (seeded, so every run writes the same
weights), exported the way Immich's exporter (`machine-learning/export` in immich-app/immich) lays a
model out. The sizes are parameters (`TowerSize` per tower, patch and image size, projection dim,
context length, vocabulary size) whose defaults are the tiny test models; real sizes give random
models that cost what real weights cost, for the speed benchmark (`benchmarks/speed/image_text.py`)::

    config.json                    open_clip model config (embed_dim, vision_cfg, text_cfg)
    visual/model.onnx              image float32 [N, 3, S, S] -> embedding (L2-normalised in the graph)
    visual/preprocess_cfg.json     open_clip PreprocessCfg: size, mode, mean, std, interpolation, ...
    textual/model.onnx             text int32 [N, context_length] -> embedding (L2-normalised)
    textual/tokenizer.json         a `tokenizers` file, as `save_pretrained` writes it (no padding or
    textual/tokenizer_config.json  truncation in it: the reader pads with `pad_token` and truncates)

`TinyModel` keeps the torch model and answers with the REFERENCE implementation (transformers'
image processor, tokenizer and `get_image_features` / `get_text_features`), so a loader's output
can be compared with what the original model computes. torch and transformers are test/export-time
dependencies (the `export` extra); vidembed never imports them.

Random vision towers barely look at their input (two unrelated pictures give cosine 0.99): compare
pixel tensors directly, and image embeddings by their residuals from the mean over a few images.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import re
import subprocess
import sys
import warnings
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
# The CLIP BPE vocabulary ships in the open_clip_torch wheel; the tests read the file from the wheel and
# never install the package (it pulls torchvision). scripts/test.sh downloads the same pinned wheel.
OPEN_CLIP_WHEEL = ROOT / ".cache" / "wheels" / "open_clip_torch-3.3.0-py3-none-any.whl"
OPEN_CLIP_WHEEL_SHA256 = "c549ad5ed6bfc119cc11105033c0a2b9d7a2a4afeb40a58a09aab3da1a0043ce"
CLIP_VOCAB_MEMBER = "open_clip/bpe_simple_vocab_16e6.txt.gz"

OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
SIGLIP_MEAN = (0.5, 0.5, 0.5)
SIGLIP_STD = (0.5, 0.5, 0.5)

CLIP_CONTEXT_LENGTH = 77
CLIP_VOCAB_SIZE = 49408
SIGLIP_CONTEXT_LENGTH = 64
PATCH_SIZE = 16
WIDTH = 64
LAYERS = 2
HEADS = 2
CLIP_EMBED_DIM = 32  # CLIP projects both towers to projection_dim; SigLIP's embedding is the tower width
OPSET = 17

# The corpus the tiny SigLIP tokenizer (a SentencePiece-style Unigram model) is built from.
SIGLIP_CORPUS = [
    "a man walking a dog in the park",
    "a woman riding a bicycle down the street",
    "two children playing football on the grass",
    "a red car parked next to a building",
    "a cat sleeping on a sofa",
    "a plate of pasta with tomato sauce",
    "the chef is slicing fresh tomatoes and onions in the kitchen",
    "a rocket launching into space at night",
    "waves crashing on a sandy beach at sunset",
    "a snowy mountain under a blue sky",
    "people walking through a busy train station",
    "a dog catching a frisbee in the air",
    "an old man reading a newspaper on a bench",
    "a helicopter flying over the city",
    "a close up photo of a flower",
    "someone cutting vegetables for cooking",
    "a group of friends laughing at a table",
    "a bird sitting on a tree branch",
    "a black and white photo of a street",
    "Trees, rivers and 3 small boats on a lake!",
    "A dog runs after a ball while the cat watches",
]
SIGLIP_SUFFIXES = ["ing", "ed", "s", "er", "es"]


@dataclass(frozen=True)
class TowerSize:
    """One transformer tower's size: hidden width, layers, attention heads and MLP width."""

    width: int = WIDTH
    layers: int = LAYERS
    heads: int = HEADS
    mlp_width: int | None = None  # the MLP's intermediate size; default 2 * width (ViT-B: 4 * width)

    @property
    def intermediate_size(self) -> int:
        return self.mlp_width if self.mlp_width is not None else 2 * self.width


@dataclass
class TinyModel:
    """A tiny model written in Immich's layout in `folder`, with its reference implementation."""

    kind: str  # "clip" or "siglip"
    folder: Path
    embed_dim: int
    image_size: int
    context_length: int
    model: Any = field(repr=False)  # the transformers CLIPModel / SiglipModel (eval mode)
    processor: Any = field(repr=False)  # the transformers image processor matching preprocess_cfg.json
    tokenizer: Any = field(repr=False)  # the transformers tokenizer that wrote textual/tokenizer.json

    @property
    def visual_onnx(self) -> Path:
        return self.folder / "visual" / "model.onnx"

    @property
    def textual_onnx(self) -> Path:
        return self.folder / "textual" / "model.onnx"

    def reference_pixel_values(self, image: Image.Image) -> np.ndarray:
        """The reference processor's pixel values: float32 [1, 3, S, S], the batch visual/model.onnx takes."""
        out = self.processor(images=image, return_tensors="np")
        return np.asarray(out["pixel_values"], dtype=np.float32)

    def reference_image_embedding(self, image: Image.Image) -> np.ndarray:
        """Reference processor + `get_image_features`, L2-normalised: float32 [embed_dim]."""
        import torch

        pixels = torch.from_numpy(self.reference_pixel_values(image))
        with torch.no_grad():
            features = _features(self.model.get_image_features(pixel_values=pixels))
        return _normalised(features.numpy()[0])

    def reference_text_ids(self, text: str) -> list[int]:
        """Reference tokenizer ids, truncated and padded to `context_length` with the pad token."""
        encoded = self.tokenizer(text, padding="max_length", truncation=True, max_length=self.context_length)
        return list(encoded["input_ids"])

    def reference_text_embedding(self, text: str) -> np.ndarray:
        """Reference tokenizer + `get_text_features`, L2-normalised: float32 [embed_dim]."""
        import torch

        ids = torch.tensor([self.reference_text_ids(text)], dtype=torch.long)
        with torch.no_grad():
            features = _features(self.model.get_text_features(input_ids=ids))
        return _normalised(features.numpy()[0])


def make_tiny_clip(
    folder: Path,
    image_size: int = 64,
    *,
    vision: TowerSize = TowerSize(),
    text: TowerSize = TowerSize(),
    patch_size: int = PATCH_SIZE,
    embed_dim: int = CLIP_EMBED_DIM,
    context_length: int = CLIP_CONTEXT_LENGTH,
    vocab_size: int = CLIP_VOCAB_SIZE,
) -> TinyModel:
    """A random `CLIPModel` (OpenAI ViT layout, real CLIP BPE tokenizer) exported to `folder`.

    `embed_dim` is the projection dim of both towers; `vocab_size` is at least the BPE vocabulary's
    49408 (a larger one only grows the token embedding table).
    """
    import torch
    from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel, CLIPTokenizer
    from transformers.image_utils import PILImageResampling

    if vocab_size < CLIP_VOCAB_SIZE:
        raise ValueError(f"vocab_size {vocab_size}: the CLIP BPE tokenizer has {CLIP_VOCAB_SIZE} tokens")
    folder = Path(folder)
    config = CLIPConfig(
        text_config={
            "vocab_size": vocab_size,
            "hidden_size": text.width,
            "intermediate_size": text.intermediate_size,
            "num_hidden_layers": text.layers,
            "num_attention_heads": text.heads,
            "max_position_embeddings": context_length,
        },
        vision_config={
            "hidden_size": vision.width,
            "intermediate_size": vision.intermediate_size,
            "num_hidden_layers": vision.layers,
            "num_attention_heads": vision.heads,
            "image_size": image_size,
            "patch_size": patch_size,
        },
        projection_dim=embed_dim,
    )
    torch.manual_seed(0)
    model = CLIPModel(config).eval()

    vocab, merges = clip_bpe_vocab()
    tokenizer = CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=context_length)
    processor = CLIPImageProcessorPil(
        size={"shortest_edge": image_size},
        crop_size={"height": image_size, "width": image_size},
        do_center_crop=True,
        resample=PILImageResampling.BICUBIC,
        do_rescale=True,
        rescale_factor=1 / 255,
        do_normalize=True,
        image_mean=list(OPENAI_CLIP_MEAN),
        image_std=list(OPENAI_CLIP_STD),
    )
    open_clip_config = {
        "embed_dim": embed_dim,
        "vision_cfg": {
            "image_size": image_size,
            "layers": vision.layers,
            "width": vision.width,
            "patch_size": patch_size,
        },
        "text_cfg": {
            "context_length": context_length,
            "vocab_size": vocab_size,
            "width": text.width,
            "heads": text.heads,
            "layers": text.layers,
        },
    }
    preprocess_cfg = {
        "size": [image_size, image_size],
        "mode": "RGB",
        "mean": list(OPENAI_CLIP_MEAN),
        "std": list(OPENAI_CLIP_STD),
        "interpolation": "bicubic",
        "resize_mode": "shortest",
        "fill_color": 0,
    }
    tiny = TinyModel("clip", folder, embed_dim, image_size, context_length, model, processor, tokenizer)
    _write_layout(tiny, open_clip_config, preprocess_cfg)
    return tiny


def make_tiny_siglip(
    folder: Path,
    image_size: int = 64,
    *,
    vision: TowerSize = TowerSize(),
    text: TowerSize = TowerSize(),
    patch_size: int = PATCH_SIZE,
    context_length: int = SIGLIP_CONTEXT_LENGTH,
    vocab_size: int | None = None,
) -> TinyModel:
    """A random `SiglipModel` with a small Unigram tokenizer (pad `<pad>`, EOS `</s>`) exported to `folder`.

    The embedding is the vision tower's width (SigLIP's attention-pooling head has no projection); the
    text tower projects to it. `vocab_size` defaults to the tokenizer's (a few hundred pieces); a larger
    one (SigLIP's 32000) only grows the token embedding table, whose extra rows no text reaches.
    """
    import torch
    from transformers import PreTrainedTokenizerFast, SiglipConfig, SiglipImageProcessorPil, SiglipModel
    from transformers.image_utils import PILImageResampling

    folder = Path(folder)
    backend = siglip_unigram_tokenizer()
    if vocab_size is None:
        vocab_size = backend.get_vocab_size()
    elif vocab_size < backend.get_vocab_size():
        raise ValueError(f"vocab_size {vocab_size}: the tokenizer has {backend.get_vocab_size()} pieces")
    embed_dim = vision.width
    config = SiglipConfig(
        text_config={
            "vocab_size": vocab_size,
            "hidden_size": text.width,
            "intermediate_size": text.intermediate_size,
            "num_hidden_layers": text.layers,
            "num_attention_heads": text.heads,
            "max_position_embeddings": context_length,
            "pad_token_id": backend.token_to_id("<pad>"),
            "bos_token_id": None,  # SigLIP adds none (the default, 49406, is CLIP's)
            "eos_token_id": backend.token_to_id("</s>"),
            "projection_size": embed_dim,
        },
        vision_config={
            "hidden_size": vision.width,
            "intermediate_size": vision.intermediate_size,
            "num_hidden_layers": vision.layers,
            "num_attention_heads": vision.heads,
            "image_size": image_size,
            "patch_size": patch_size,
        },
    )
    torch.manual_seed(0)
    model = SiglipModel(config).eval()

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token="<pad>",
        eos_token="</s>",
        unk_token="<unk>",
        model_max_length=context_length,
    )
    # SiglipImageProcessor's defaults (bicubic, 0.5 / 0.5, a plain resize to S x S), which are also
    # open_clip's SigLIP preprocess config (`_slpcfg`: bicubic, resize_mode "squash").
    processor = SiglipImageProcessorPil(
        size={"height": image_size, "width": image_size},
        resample=PILImageResampling.BICUBIC,
        do_rescale=True,
        rescale_factor=1 / 255,
        do_normalize=True,
        image_mean=list(SIGLIP_MEAN),
        image_std=list(SIGLIP_STD),
    )
    open_clip_config = {
        "embed_dim": embed_dim,
        "init_logit_bias": -10,
        "custom_text": True,
        "vision_cfg": {
            "image_size": image_size,
            "layers": vision.layers,
            "width": vision.width,
            "patch_size": patch_size,
        },
        "text_cfg": {
            "context_length": context_length,
            "vocab_size": vocab_size,
            "width": text.width,
            "heads": text.heads,
            "layers": text.layers,
            "no_causal_mask": True,
            "proj_bias": True,
            "pool_type": "last",
        },
    }
    preprocess_cfg = {
        "size": [image_size, image_size],
        "mode": "RGB",
        "mean": list(SIGLIP_MEAN),
        "std": list(SIGLIP_STD),
        "interpolation": "bicubic",
        "resize_mode": "squash",
        "fill_color": 0,
    }
    tiny = TinyModel("siglip", folder, embed_dim, image_size, context_length, model, processor, tokenizer)
    _write_layout(tiny, open_clip_config, preprocess_cfg)
    return tiny


@cache
def clip_bpe_vocab() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """OpenAI CLIP's BPE vocabulary (49408 tokens) and merges, read from the pinned open_clip_torch wheel.

    The token order is OpenAI's: the 256 byte symbols, the same with `</w>`, one token per merge, then
    `<|startoftext|>` (49406) and `<|endoftext|>` (49407).
    """
    wheel = _open_clip_wheel()
    with zipfile.ZipFile(wheel) as archive:
        lines = gzip.decompress(archive.read(CLIP_VOCAB_MEMBER)).decode("utf-8").split("\n")
    merges = [tuple(line.split()) for line in lines[1 : 49152 - 256 - 2 + 1]]
    symbols = list(_bytes_to_unicode().values())
    tokens = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    assert len(tokens) == CLIP_VOCAB_SIZE, len(tokens)
    return {t: i for i, t in enumerate(tokens)}, merges  # type: ignore[return-value]


def siglip_unigram_tokenizer() -> Any:
    """A SentencePiece-style Unigram `tokenizers.Tokenizer` built from SIGLIP_CORPUS (the same every run).

    Pieces: `<pad>` (0), `</s>` (1, appended to every sequence), `<unk>` (2), `▁` + each corpus word
    (scored by its frequency), a few suffixes, then every corpus character as a fallback. NFKC,
    Metaspace, case-sensitive, like SigLIP's SentencePiece model. (tokenizers' UnigramTrainer is not
    deterministic: ids of tied pieces change from run to run.)
    """
    from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram

    words = re.findall(r"\w+|[^\w\s]", " ".join(SIGLIP_CORPUS))
    counts = Counter(words)
    total = sum(counts.values())
    pieces: list[tuple[str, float]] = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    pieces += [("▁" + w, math.log(n / total)) for w, n in sorted(counts.items(), key=lambda c: (-c[1], c[0]))]
    pieces += [(suffix, -9.0) for suffix in SIGLIP_SUFFIXES]
    pieces += [("▁", -10.0)] + [(c, -12.0) for c in sorted(set("".join(words)))]
    seen: set[str] = set()
    vocab = [(p, score) for p, score in pieces if not (p in seen or seen.add(p))]
    tokenizer = Tokenizer(Unigram(vocab, unk_id=2, byte_fallback=False))
    tokenizer.add_special_tokens(["<pad>", "</s>", "<unk>"])
    tokenizer.normalizer = normalizers.NFKC()
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", 1)]
    )
    return tokenizer


def _write_layout(tiny: TinyModel, open_clip_config: dict[str, Any], preprocess_cfg: dict[str, Any]) -> None:
    visual = tiny.folder / "visual"
    textual = tiny.folder / "textual"
    visual.mkdir(parents=True, exist_ok=True)
    textual.mkdir(parents=True, exist_ok=True)
    (tiny.folder / "config.json").write_text(json.dumps(open_clip_config, indent=2))
    (visual / "preprocess_cfg.json").write_text(json.dumps(preprocess_cfg, indent=2))
    # Immich's exporter does AutoTokenizer.from_pretrained(...).save_pretrained(textual/): the same call
    # writes tokenizer.json and tokenizer_config.json (pad_token, model_max_length, ...) here.
    tiny.tokenizer.save_pretrained(textual)
    _export_onnx(tiny)


def _export_onnx(tiny: TinyModel) -> None:
    import torch

    class Encoder(torch.nn.Module):
        def __init__(self, model: Any) -> None:
            super().__init__()
            self.model = model  # a submodule, so that its weights export as initializers

    class Visual(Encoder):
        def forward(self, image: torch.Tensor) -> torch.Tensor:
            features = _features(self.model.get_image_features(pixel_values=image))
            return torch.nn.functional.normalize(features, dim=-1)

    class Textual(Encoder):
        def forward(self, text: torch.Tensor) -> torch.Tensor:
            features = _features(self.model.get_text_features(input_ids=text.long()))
            return torch.nn.functional.normalize(features, dim=-1)

    tiny.model.requires_grad_(False)
    image = torch.randn(1, 3, tiny.image_size, tiny.image_size)
    text = torch.ones(1, tiny.context_length, dtype=torch.int32)
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)  # as Immich's exporter does (SigLIP's pooling head)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            for module, example, name, path in (
                (Visual(tiny.model), image, "image", tiny.visual_onnx),
                (Textual(tiny.model), text, "text", tiny.textual_onnx),
            ):
                torch.onnx.export(
                    module.eval(),
                    (example,),
                    path.as_posix(),
                    input_names=[name],
                    output_names=["embedding"],
                    dynamic_axes={name: {0: "batch"}, "embedding": {0: "batch"}},
                    opset_version=OPSET,
                    dynamo=False,
                )
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)


def _features(output: Any) -> Any:
    """transformers 5 returns an output object from get_*_features (the embedding is its pooler_output);
    4.x returned the tensor."""
    import torch

    return output if isinstance(output, torch.Tensor) else output.pooler_output


def _normalised(vector: np.ndarray) -> np.ndarray:
    vector = np.asarray(vector, dtype=np.float32)
    return (vector / np.linalg.norm(vector)).astype(np.float32)


def _open_clip_wheel() -> Path:
    if not OPEN_CLIP_WHEEL.exists():  # scripts/test.sh fetches it; fetch it here too for a bare pytest run
        OPEN_CLIP_WHEEL.parent.mkdir(parents=True, exist_ok=True)
        version = OPEN_CLIP_WHEEL.name.split("-")[1]
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", str(OPEN_CLIP_WHEEL.parent),
             f"open_clip_torch=={version}"],
            check=True,
        )  # fmt: skip
    digest = hashlib.sha256(OPEN_CLIP_WHEEL.read_bytes()).hexdigest()
    if digest != OPEN_CLIP_WHEEL_SHA256:
        raise RuntimeError(f"{OPEN_CLIP_WHEEL}: sha256 {digest}, expected {OPEN_CLIP_WHEEL_SHA256}")
    return OPEN_CLIP_WHEEL


@cache
def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2 / CLIP byte-to-symbol map: printable bytes stand for themselves, the rest map past 255."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    codes = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return {byte: chr(code) for byte, code in zip(printable, codes, strict=True)}
