"""An image-text model (CLIP, SigLIP, ...) in the stack's roles: its text tower embeds every text,
its image tower the frames, so visual vectors and queries meet natively.

Text longer than the model's context (a whole video's transcript) is embedded in chunks of words
that fit it, and the chunks' vectors are averaged: CLIP's tokenizer would otherwise keep only the
first 77 tokens.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from vidembed.models.openclip import ImageTextModel
from vidembed.models.roles import FrameSpec
from vidembed.models.runtime import l2_normalise, timed

# English averages about 1.3 BPE tokens per word; two start/end tokens. 77 tokens -> 50 words.
TOKENS_PER_WORD = 1.5


class ImageTextTextEncoder:
    """The text role, by the image-text model's text tower."""

    def __init__(self, model: ImageTextModel) -> None:
        self.model = model

    @property
    def dimension(self) -> int:
        return self.model.dimension

    @property
    def identity(self) -> str:
        return f"{self.model.identity} (text)"

    @property
    def max_words(self) -> int:
        return max(1, int((self.model.context_length - 2) / TOKENS_PER_WORD))

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        chunks: list[str] = []
        owner: list[int] = []
        for i, text in enumerate(texts):
            words = text.split()
            pieces = [" ".join(words[k : k + self.max_words]) for k in range(0, len(words), self.max_words)]
            for piece in pieces or [text]:
                chunks.append(piece)
                owner.append(i)
        vectors = self.model.encode_text(chunks)
        out = np.zeros((len(texts), self.dimension), np.float32)
        np.add.at(out, np.array(owner, dtype=np.int64), vectors)
        return l2_normalise(out)


class ImageTextVisualEncoder:
    """The visual role: the mean of the image embeddings of a clip's sampled frames.

    Frames are decoded fitted inside twice the model's input size and preprocessed by the model's
    own rules (its ``preprocess_cfg.json``: resize mode, interpolation, mean and std), so the
    picture the model sees is the one its reference preprocessing would give it.
    """

    detail = None

    def __init__(self, model: ImageTextModel) -> None:
        self.model = model
        self._busy: dict[str, float] = {"image_text": 0.0}

    @property
    def frames(self) -> FrameSpec:
        return FrameSpec(2 * self.model.image_size, crop_square=False)

    @property
    def identity(self) -> str:
        return f"{self.model.identity} (image)"

    def encode_clip(self, frames: np.ndarray, detail: np.ndarray | None) -> np.ndarray:
        with timed(self._busy, "image_text"):
            return l2_normalise(self.model.encode_images(list(frames)).mean(axis=0))

    def busy_seconds(self) -> Mapping[str, float]:
        return dict(self._busy)
