"""Image-text models (CLIP, SigLIP, SigLIP 2) in Immich's ONNX export layout.

A model folder, as published under ``immich-app/`` on the Hugging Face hub (see /work/shared/MODELS.md):

    config.json                    open_clip model config: embed_dim, vision_cfg, text_cfg
    visual/model.onnx              image float32 [N, 3, S, S] -> embedding [N, embed_dim]
    visual/preprocess_cfg.json     size, mean, std, interpolation, resize_mode, fill_color
    textual/model.onnx             text int32 [N, context_length] -> embedding [N, embed_dim]
    textual/tokenizer.json         a ``tokenizers`` file
    textual/tokenizer_config.json  pad_token

The semantics follow Immich's ML service (``machine-learning/immich_ml/models/clip/visual.py``,
``clip/textual.py``, ``models/transforms.py``, ``models/base.py``): images are resized with Pillow
in uint8, then scaled to [0, 1] and normalised; text is whitespace-collapsed (and, when
``text_cfg.tokenizer_kwargs.clean`` is ``canonicalize`` as in open_clip's SigLIP configs, stripped of
punctuation and lowercased), tokenized, padded with ``pad_token``'s id to ``context_length`` and
truncated. Immich's exporter fixes the batch dimension at 1, so the batch size is read from each
graph's input. Only onnxruntime, tokenizers, numpy, Pillow and (for downloads) huggingface_hub are used.
"""

from __future__ import annotations

import logging
import string
import threading
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from tokenizers import Tokenizer

from vidembed.errors import ModelUnavailableError
from vidembed.models import onnx_folder
from vidembed.models.onnx_folder import OnnxModelFolder, fixed_batch, output_name, read_tokenizer
from vidembed.models.runtime import l2_normalise

log = logging.getLogger(__name__)

BATCH = 16
REQUIRED_FILES = (
    "config.json",
    "visual/model.onnx",
    "visual/preprocess_cfg.json",
    "textual/model.onnx",
    "textual/tokenizer.json",
    "textual/tokenizer_config.json",
)
HUB_PATTERNS = ["config.json", "visual/*", "textual/*"]
# Immich's repositories also hold ARM NN and RKNN builds next to the ONNX files (models/base.py skips them)
HUB_IGNORED = ["*.armnn", "*.rknn"]
RESIZE_MODES = ("shortest", "squash", "longest")
_PUNCTUATION = str.maketrans("", "", string.punctuation)
_INT_TYPES = {"tensor(int32)": np.int32, "tensor(int64)": np.int64}
_FLOAT_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16}
_download_lock = threading.Lock()


class ImageTextModel(OnnxModelFolder):
    """One image-text model folder; its ONNX sessions and tokenizer load on first use, once.

    ``identity`` is ``name visual:<sha256[:12]> textual:<sha256[:12]>`` of the two ONNX files."""

    kind = "image-text"
    towers = ("visual", "textual")
    required_files = REQUIRED_FILES
    _log = log

    # --- what config.json and preprocess_cfg.json say (no ONNX needed) ---------------------------

    @cached_property
    def config(self) -> dict[str, Any]:
        return self._json("config.json")

    @cached_property
    def preprocess_cfg(self) -> dict[str, Any]:
        return self._json("visual/preprocess_cfg.json")

    @property
    def dimension(self) -> int:
        if "embed_dim" not in self.config:
            raise ModelUnavailableError(f"{self.folder / 'config.json'} has no embed_dim")
        return int(self.config["embed_dim"])

    @cached_property
    def image_size(self) -> int:
        size = self.preprocess_cfg.get("size", self.config.get("vision_cfg", {}).get("image_size"))
        if isinstance(size, list | tuple):
            if len(set(size)) != 1:
                raise ModelUnavailableError(
                    f"{self.folder / 'visual/preprocess_cfg.json'}: size {size} is not square (not supported)"
                )
            size = size[0]
        if not isinstance(size, int):
            raise ModelUnavailableError(f"{self.folder / 'visual/preprocess_cfg.json'} has no image size")
        return size

    @property
    def context_length(self) -> int:
        return int(self.config.get("text_cfg", {}).get("context_length", 77))

    @property
    def provider(self) -> str:
        """The execution provider the image tower actually runs on."""
        self.load()
        return str(self._visual.get_providers()[0])

    @property
    def text_provider(self) -> str:
        """The execution provider the text tower actually runs on (CPU where Immich avoids CoreML)."""
        self.load()
        return str(self._textual.get_providers()[0])

    # --- loading --------------------------------------------------------------------------------

    def _incomplete_message(self, missing: Sequence[str]) -> str:
        return _incomplete(self.folder, missing)

    def _reload_hint(self) -> str:
        return f"{_copy_hint(self.folder)} again"

    def _load(self) -> None:
        self._check_complete()
        _ = self._transform  # reads and checks preprocess_cfg.json before the sessions load
        self._visual, self._textual = self._open_towers()

        image = self._visual.get_inputs()[0]
        if image.type not in _FLOAT_TYPES or len(image.shape) != 4:
            raise ModelUnavailableError(
                f"{self.folder / 'visual/model.onnx'} takes {image.type} {image.shape}; "
                "expected float [N, 3, S, S]"
            )
        if any(isinstance(d, int) and d != self.image_size for d in image.shape[2:]):
            raise ModelUnavailableError(
                f"{self.folder / 'visual/model.onnx'} takes {image.shape[2:]} pixels but "
                f"visual/preprocess_cfg.json says size {self.image_size}"
            )
        self._image_input, self._image_dtype = image.name, _FLOAT_TYPES[image.type]
        self._image_batch = fixed_batch(image.shape)

        text = self._textual.get_inputs()
        names = [i.name for i in text]
        # M-CLIP exports (Immich's MClipTextualEncoder) take input_ids + attention_mask
        self._text_input = "input_ids" if "input_ids" in names else names[0]
        self._mask_input = "attention_mask" if "attention_mask" in names else None
        ids = next(i for i in text if i.name == self._text_input)
        if ids.type not in _INT_TYPES:
            raise ModelUnavailableError(
                f"{self.folder / 'textual/model.onnx'} takes {ids.type}; expected int32 or int64 token ids"
            )
        if len(ids.shape) == 2 and isinstance(ids.shape[1], int) and ids.shape[1] != self.context_length:
            raise ModelUnavailableError(
                f"{self.folder / 'textual/model.onnx'} takes {ids.shape[1]} tokens but config.json says "
                f"text_cfg.context_length {self.context_length}"
            )
        self._text_dtype = _INT_TYPES[ids.type]
        self._text_batch = fixed_batch(ids.shape)
        self._visual_output = output_name(self._visual)
        self._textual_output = output_name(self._textual)
        self._tokenizer = self._load_tokenizer()
        log.info(
            "image-text model %s: %d-d, %d px, %d tokens, on %s",
            self.name,
            self.dimension,
            self.image_size,
            self.context_length,
            self._visual.get_providers()[0],
        )

    def _load_tokenizer(self) -> Tokenizer:
        tokenizer = read_tokenizer(self.folder / "textual" / "tokenizer.json")
        pad_token = self._json("textual/tokenizer_config.json").get("pad_token")
        if isinstance(pad_token, dict):  # an AddedToken as transformers serialises it
            pad_token = pad_token.get("content")
        pad_id = tokenizer.token_to_id(pad_token) if isinstance(pad_token, str) else None
        if pad_id is None:
            raise ModelUnavailableError(
                f"{self.folder / 'textual/tokenizer_config.json'}: pad_token {pad_token!r} is not in "
                "textual/tokenizer.json"
            )
        tokenizer.enable_padding(length=self.context_length, pad_id=pad_id, pad_token=pad_token)
        tokenizer.enable_truncation(max_length=self.context_length)
        return tokenizer

    @cached_property
    def _transform(self) -> tuple[str, Image.Resampling, np.ndarray, np.ndarray, tuple[int, int, int]]:
        cfg = self.preprocess_cfg
        where = self.folder / "visual/preprocess_cfg.json"
        mode = cfg.get("resize_mode", "shortest")  # open_clip's default for older configs
        if mode not in RESIZE_MODES:
            raise ModelUnavailableError(
                f"{where}: resize_mode {mode!r} is not one of {', '.join(RESIZE_MODES)}"
            )
        interpolation = str(cfg.get("interpolation", "bicubic")).lower()
        if interpolation == "random":  # open_clip uses bicubic at inference for "random"
            interpolation = "bicubic"
        names = {r.name.lower(): r for r in Image.Resampling}
        if interpolation not in names:
            raise ModelUnavailableError(
                f"{where}: interpolation {interpolation!r} is not one of {sorted(names)}"
            )
        mean = np.broadcast_to(np.asarray(cfg.get("mean", 0.0), np.float32), (3,)).copy()
        std = np.broadcast_to(np.asarray(cfg.get("std", 1.0), np.float32), (3,)).copy()
        fill = np.broadcast_to(np.asarray(cfg.get("fill_color", 0), np.int64), (3,))
        fill_rgb = (int(fill[0]), int(fill[1]), int(fill[2]))
        return mode, names[interpolation], mean, std, fill_rgb

    # --- images ---------------------------------------------------------------------------------

    def preprocess(self, frames: Sequence[np.ndarray]) -> np.ndarray:
        """RGB uint8 frames (H, W, 3), any size -> float32 [N, 3, S, S] as preprocess_cfg.json says."""
        size = self.image_size
        if len(frames) == 0:
            return np.zeros((0, 3, size, size), np.float32)
        return np.stack([self._pixels(frame) for frame in frames])

    def _pixels(self, frame: np.ndarray) -> np.ndarray:
        mode, resample, mean, std, fill = self._transform
        image = _to_image(frame)
        size = self.image_size
        if mode == "squash":
            image = image.resize((size, size), resample=resample)
        elif mode == "shortest":  # Immich's resize_pil + crop_pil
            if image.width < image.height:
                scaled = (size, int((image.height / image.width) * size))
            else:
                scaled = (int((image.width / image.height) * size), size)
            image = image.resize(scaled, resample=resample)
            left = int(image.width / 2 - size / 2)
            top = int(image.height / 2 - size / 2)
            image = image.crop((left, top, left + size, top + size))
        else:  # longest: open_clip's ResizeKeepRatio(longest=1) + CenterCropOrPad(fill=fill_color)
            ratio = max(image.height / size, image.width / size)
            width, height = round(image.width / ratio), round(image.height / ratio)
            resized = image.resize((width, height), resample=resample)
            image = Image.new("RGB", (size, size), fill)
            image.paste(resized, ((size - width) // 2, (size - height) // 2))
        pixels = np.asarray(image, dtype=np.float32) / 255.0
        pixels *= 1.0 / std  # Immich's normalize(): in place, float32
        pixels -= mean / std
        return np.ascontiguousarray(pixels.transpose(2, 0, 1))

    def encode_images(self, frames: Sequence[np.ndarray]) -> np.ndarray:
        """Unit vectors (N, dimension), one per RGB uint8 frame."""
        if len(frames) == 0:
            return np.zeros((0, self.dimension), np.float32)
        self.load()
        step = self._image_batch or BATCH
        out = []
        for start in range(0, len(frames), step):
            pixels = self.preprocess(frames[start : start + step]).astype(self._image_dtype, copy=False)
            out.append(self._run(self._visual, self._visual_output, {self._image_input: pixels}))
        return l2_normalise(np.concatenate(out))

    # --- text -----------------------------------------------------------------------------------

    def clean(self, text: str) -> str:
        """Immich's clean_text: collapse whitespace; open_clip's ``canonicalize`` (SigLIP) also strips
        punctuation and lowercases. CLIP tokenizers lowercase in their own normaliser."""
        text = " ".join(text.split())
        if self._canonicalize:
            text = text.translate(_PUNCTUATION).lower()
        return text

    @cached_property
    def _canonicalize(self) -> bool:
        kwargs = self.config.get("text_cfg", {}).get("tokenizer_kwargs") or {}
        return bool(kwargs.get("clean") == "canonicalize")

    def tokenize(self, texts: Sequence[str]) -> np.ndarray:
        """Token ids [N, context_length] in the text graph's integer type, padded and truncated."""
        return self._encode_tokens(texts)[0]

    def _encode_tokens(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        self.load()
        if len(texts) == 0:
            empty = np.zeros((0, self.context_length), self._text_dtype)
            return empty, empty.copy()
        encodings = self._tokenizer.encode_batch([self.clean(t) for t in texts])
        ids = np.array([e.ids for e in encodings], dtype=self._text_dtype)
        mask = np.array([e.attention_mask for e in encodings], dtype=self._text_dtype)
        return ids, mask

    def encode_text(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors (N, dimension), one per text."""
        if len(texts) == 0:
            return np.zeros((0, self.dimension), np.float32)
        ids, mask = self._encode_tokens(texts)
        step = self._text_batch or BATCH
        out = []
        for start in range(0, len(texts), step):
            feeds = {self._text_input: ids[start : start + step]}
            if self._mask_input is not None:
                feeds[self._mask_input] = mask[start : start + step]
            out.append(self._run(self._textual, self._textual_output, feeds))
        return l2_normalise(np.concatenate(out))


def missing_files(folder: Path) -> list[str]:
    """The files of Immich's layout that ``folder`` lacks, relative to it."""
    return onnx_folder.missing_files(folder, REQUIRED_FILES)


def resolve_model_folder(
    spec: str, models_dir: Path, *, allow_download: bool = True, hf_endpoint: str | None = None
) -> Path:
    """The complete model folder ``spec`` names: a local folder, or a hub id fetched once.

    ``spec`` is a local folder if it exists or starts with ``/``, ``.`` or ``~``; otherwise ``org/name``
    on the Hugging Face hub (from ``hf_endpoint``, else huggingface_hub's default), downloaded to
    ``models_dir/hub/org__name`` and reused from there once complete.
    Raises ModelUnavailableError saying what is missing and where to put it.
    """
    return onnx_folder.resolve_model_folder(
        spec,
        models_dir,
        REQUIRED_FILES,
        fetch=lambda repo_id, folder: _download(repo_id, folder, hf_endpoint),
        lock=_download_lock,
        not_a_folder=lambda local: (
            f"No image-text model folder at {local.absolute()}: {_copy_hint(local)}, "
            "or give a Hugging Face hub id such as immich-app/ViT-B-32__openai."
        ),
        not_a_hub_id=(
            f"{spec!r} is neither an existing folder nor a Hugging Face hub id (org/name, "
            "e.g. immich-app/ViT-B-32__openai)."
        ),
        incomplete=_incomplete,
        downloads_off=lambda folder, missing: (
            f"{spec} is not downloaded (missing in {folder}: {', '.join(missing)}) and downloads are "
            f"off: {_copy_hint(folder)}."
        ),
        incomplete_download=lambda folder, missing: (
            f"{spec} is not an image-text model in Immich's layout: after the download {folder} lacks "
            f"{', '.join(missing)}. Pick another model, or {_copy_hint(folder)}."
        ),
        allow_download=allow_download,
    )


def _download(repo_id: str, folder: Path, endpoint: str | None) -> None:
    onnx_folder.fetch_from_hub(
        repo_id,
        folder,
        HUB_PATTERNS,
        HUB_IGNORED,
        hint=_copy_hint(folder),
        token_for="a private or gated repository",
        endpoint=endpoint,
        logger=log,
    )


def _copy_hint(folder: Path) -> str:
    return f"copy the model folder (config.json, visual/, textual/) to {Path(folder).absolute()}"


def _incomplete(folder: Path, missing: Sequence[str]) -> str:
    return onnx_folder.incomplete_message("image-text", folder, missing, _copy_hint(folder))


def _to_image(frame: np.ndarray) -> Image.Image:
    array = np.asarray(frame)
    if array.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 RGB arrays, got {array.dtype}")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim == 2:
        return Image.fromarray(np.ascontiguousarray(array)).convert("RGB")
    if array.ndim != 3 or array.shape[2] not in (3, 4):
        raise ValueError(f"frames must be (H, W, 3) RGB arrays, got shape {array.shape}")
    image = Image.fromarray(np.ascontiguousarray(array))
    return image if image.mode == "RGB" else image.convert("RGB")
