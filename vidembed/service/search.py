"""Ranking stored clips against a text query, per option (cosine; all vectors are unit length)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vidembed.service.store import StoredSegment


@dataclass(frozen=True)
class Hit:
    task_id: str
    option: str
    start: float
    end: float
    score: float


def rank_clips(query: np.ndarray, segments: Sequence[StoredSegment], top: int) -> dict[str, list[Hit]]:
    """The ``top`` best clip segments for each option, best first."""
    by_option: dict[str, list[StoredSegment]] = {}
    for segment in segments:
        if segment.scope == "clip":
            by_option.setdefault(segment.option, []).append(segment)
    ranked: dict[str, list[Hit]] = {}
    for option, items in by_option.items():
        scores = np.stack([s.vector for s in items]) @ query
        best = np.argsort(-scores, kind="stable")[:top]
        ranked[option] = [
            Hit(items[i].task_id, option, items[i].start, items[i].end, float(scores[i])) for i in best
        ]
    return ranked
