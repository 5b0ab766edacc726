"""Small helpers shared by the encoders: onnxruntime sessions and vector maths."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, MutableMapping, Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort


def session(path: Path, threads: int = 1, providers: Sequence[str] | None = None) -> ort.InferenceSession:
    """An onnxruntime session on ``providers`` (in order of preference; CPU only by default)."""
    options = ort.SessionOptions()
    # Each encoder gets few threads: stages run side by side and must not fight for 2 cores.
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    chosen = list(providers) if providers is not None else ["CPUExecutionProvider"]
    return ort.InferenceSession(str(path), options, providers=chosen)


@contextlib.contextmanager
def timed(totals: MutableMapping[str, float], key: str) -> Iterator[None]:
    """Adds the wall time of the block to ``totals[key]`` (the speed benchmark's per-model profile;
    one thread per key)."""
    started = time.perf_counter()
    try:
        yield
    finally:
        totals[key] = totals.get(key, 0.0) + time.perf_counter() - started


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


def conse(probabilities: np.ndarray, label_vectors: np.ndarray, top_k: int) -> np.ndarray:
    """ConSE: each row's probability-weighted mix of its top-k label vectors, L2-normalised.

    Norouzi et al. 2014. ``probabilities`` (n, classes), ``label_vectors`` (classes, dim).
    """
    top = np.argsort(-probabilities, axis=1)[:, :top_k]
    weights = np.take_along_axis(probabilities, top, axis=1)
    weights = weights / np.maximum(weights.sum(axis=1, keepdims=True), 1e-12)
    mixed = np.einsum("nk,nkd->nd", weights, label_vectors[top])
    return l2_normalise(mixed)


def ramped(score: float, low: float, full: float) -> float:
    """A detector score as a weight: 0 up to ``low``, the score itself from ``full``, linear
    between, so a detection near the threshold adds little and crossing it is no jump."""
    return score * min(1.0, max(0.0, (score - low) / (full - low)))
