"""Still pictures in a stack's visual space: an image is embedded as a clip that shows only it.

The picture is prepared exactly as the engine prepares a video's sampled frames for the same
encoder (its ``frames`` spec, and the ``detail`` frame when the encoder reads one), so an image and
a still video of the same picture give (nearly) the same visual vector: an image query finds the
clips that show it. Pure: no HTTP, no storage.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from vidembed.engine.engine import MAX_PIXELS  # the video path's limit (8192 x 8192)
from vidembed.errors import MediaError
from vidembed.models.roles import FrameSpec, VisualEncoder

MAX_SIDE = math.isqrt(MAX_PIXELS)
NOT_AN_IMAGE = (
    "The file is not an image that can be decoded (unknown or damaged format). "
    "Upload an image file such as JPEG, PNG, WebP, GIF or BMP."
)


def embed_image(visual: VisualEncoder, rgb: np.ndarray) -> np.ndarray:
    """An RGB uint8 picture (h, w, 3) -> the visual vector (dim,) of a clip showing only it."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8 or min(rgb.shape[:2]) < 1:
        raise ValueError(f"expected an RGB uint8 array (h, w, 3), got {rgb.dtype} {rgb.shape}")
    frames = prepare_frame(rgb, visual.frames)[None]
    detail = prepare_frame(rgb, visual.detail) if visual.detail is not None else None
    return visual.encode_clip(frames, detail)


def prepare_frame(rgb: np.ndarray, spec: FrameSpec) -> np.ndarray:
    """The picture as ``spec`` says: short side to ``size`` and centre-cropped to a square
    (``crop_square``), else fitted inside ``size`` x ``size`` and never enlarged; the sizes and
    the crop are those of the engine's frame requests (``media.FrameRequest``)."""
    h, w = rgb.shape[:2]
    if spec.crop_square:
        scale = spec.size / min(w, h)
    else:
        scale = min(1.0, spec.size / w, spec.size / h)
    target = (max(1, round(w * scale)), max(1, round(h * scale)))
    out = rgb
    if target != (w, h):
        out = np.asarray(Image.fromarray(rgb).resize(target, Image.Resampling.BILINEAR))
    if spec.crop_square:
        top, left = (target[1] - spec.size) // 2, (target[0] - spec.size) // 2
        out = out[top : top + spec.size, left : left + spec.size]
    return np.ascontiguousarray(out)


def load_image(path: Path) -> np.ndarray:
    """An image file -> RGB uint8 (h, w, 3), turned as its EXIF orientation says; transparent
    parts on white. Raises MediaError with a reason a person can act on."""
    if path.is_file() and path.stat().st_size == 0:
        raise MediaError("The file is empty (0 bytes).")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                _check_size(*image.size)
                upright = ImageOps.exif_transpose(image)
                return _rgb(upright)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise MediaError(_too_large_message(None)) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        # OSError: truncated or damaged data; SyntaxError/ValueError: malformed headers (Pillow)
        raise MediaError(NOT_AN_IMAGE) from None


def _check_size(width: int, height: int) -> None:
    if width * height > MAX_PIXELS:
        raise MediaError(_too_large_message((width, height)))


def _too_large_message(size: tuple[int, int] | None) -> str:
    resolution = f" ({size[0]}x{size[1]})" if size else ""
    return (
        f"The image's resolution{resolution} is larger than this service decodes "
        f"(at most {MAX_SIDE}x{MAX_SIDE} pixels); scale it down first."
    )


def _rgb(image: Image.Image) -> np.ndarray:
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return np.ascontiguousarray(np.asarray(image.convert("RGB")))
