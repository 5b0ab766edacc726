"""Vectors, tasks and ranking checks shared by the clip index and pgvector tests."""

from __future__ import annotations

import numpy as np

from vidembed.records import StoredSegment
from vidembed.search.rank import Hit

DIM = 32


OPTIONS = ("visual", "audio", "transcription")


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=-1, keepdims=True)).astype(np.float32)


def placeholders_for(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Random "silence" and "no speech" vectors: the placeholders of a test index's audio and
    transcription clips."""
    return {"audio": unit(rng.standard_normal(DIM)), "transcription": unit(rng.standard_normal(DIM))}


def make_task(
    rng: np.random.Generator, task_id: str, clips: int, placeholders: dict[str, np.ndarray]
) -> list[StoredSegment]:
    """Clips of 6 s with all three options; a third of the transcription clips and a tenth of the
    audio clips hold their placeholder, and one video-scope vector that search ignores."""
    segments = []
    for option in OPTIONS:
        vectors = unit(rng.standard_normal((clips, DIM)))
        share = {"visual": 0.0, "audio": 0.1, "transcription": 0.33}[option]
        if option in placeholders:
            vectors[rng.random(clips) < share] = placeholders[option]
        segments += [
            StoredSegment(task_id, option, "clip", 6.0 * i, 6.0 * i + 6, v) for i, v in enumerate(vectors)
        ]
    segments.append(
        StoredSegment(task_id, "visual", "video", 0.0, 6.0 * clips, unit(rng.standard_normal(DIM)))
    )
    return segments


def keyed(hits: list[Hit]) -> list[tuple[str, float, float]]:
    return [(h.task_id, h.start, h.end) for h in hits]


def assert_same_ranking(
    found: dict[str, list[Hit]], expected: dict[str, list[Hit]], tolerance: float
) -> None:
    assert list(found) == list(expected)
    for option, hits in expected.items():
        assert keyed(found[option]) == keyed(hits), option
        assert [h.option for h in found[option]] == [option] * len(hits)
        np.testing.assert_allclose([h.score for h in found[option]], [h.score for h in hits], atol=tolerance)
