"""all-MiniLM-L6-v2 (int8 ONNX): the text encoder every option of the default stack is anchored on."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from vidembed.models.runtime import l2_normalise, session

MAX_TOKENS = 256
TOKEN_BUDGET = 2048  # tokens per batch (rows x longest row)


class MiniLMTextEncoder:
    dimension = 384

    def __init__(
        self, model_path: Path, tokenizer_path: Path, threads: int = 1, identity: str = "all-MiniLM-L6-v2"
    ) -> None:
        self.identity = identity
        self._session: ort.InferenceSession = session(model_path, threads)
        self._tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self._tokenizer.enable_truncation(MAX_TOKENS)
        self._tokenizer.no_padding()
        self._inputs = {i.name for i in self._session.get_inputs()}

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised mean-pooled sentence vectors, shape (len(texts), 384).

        Texts are batched by length under a token budget: attention memory grows with the square
        of the longest text in a batch (64 texts of 256 tokens took 860 MB more).
        """
        out = np.zeros((len(texts), self.dimension), np.float32)
        encoded = self._tokenizer.encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda i: len(encoded[i].ids))
        batch: list[int] = []
        for index in order + [-1]:
            longest = len(encoded[index].ids) if index >= 0 else 0
            if batch and (index < 0 or (len(batch) + 1) * max(longest, 1) > TOKEN_BUDGET):
                out[batch] = self._run([encoded[i] for i in batch])
                batch = []
            if index >= 0:
                batch.append(index)
        return l2_normalise(out)

    def _run(self, batch: list) -> np.ndarray:
        width = max(len(e.ids) for e in batch)
        ids = np.zeros((len(batch), width), np.int64)
        mask = np.zeros((len(batch), width), np.int64)
        for row, e in enumerate(batch):
            ids[row, : len(e.ids)] = e.ids
            mask[row, : len(e.ids)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = self._session.run(None, {k: v for k, v in feeds.items() if k in self._inputs})[0]
        weights = mask[:, :, None].astype(np.float32)
        return (hidden * weights).sum(1) / np.maximum(weights.sum(1), 1e-9)
