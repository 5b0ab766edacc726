"""all-MiniLM-L6-v2 (int8 ONNX): the text encoder every option of the default stack is anchored on."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from vidembed.models.runtime import l2_normalise, session

MAX_TOKENS = 256


class MiniLMTextEncoder:
    dimension = 384

    def __init__(self, model_path: Path, tokenizer_path: Path, threads: int = 1) -> None:
        self._session: ort.InferenceSession = session(model_path, threads)
        self._tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self._tokenizer.enable_truncation(MAX_TOKENS)
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self._inputs = {i.name for i in self._session.get_inputs()}

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """L2-normalised mean-pooled sentence vectors, shape (len(texts), 384)."""
        if not texts:
            return np.zeros((0, self.dimension), np.float32)
        out = []
        for i in range(0, len(texts), batch_size):
            batch = self._tokenizer.encode_batch(list(texts[i : i + batch_size]))
            ids = np.array([e.ids for e in batch], dtype=np.int64)
            mask = np.array([e.attention_mask for e in batch], dtype=np.int64)
            feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            hidden = self._session.run(None, {k: v for k, v in feeds.items() if k in self._inputs})[0]
            weights = mask[:, :, None].astype(np.float32)
            pooled = (hidden * weights).sum(1) / np.maximum(weights.sum(1), 1e-9)
            out.append(pooled)
        return l2_normalise(np.concatenate(out).astype(np.float32))
