"""The search family's interface: what the core ranks clips with, whatever holds the vectors."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

import numpy as np

from vidembed.records import TaskRecord
from vidembed.search.rank import Hit


class ClipSearch(Protocol):
    """What the task service searches with: the data folder's indexes or pgvector."""

    def rank(
        self,
        stack: str,
        query: np.ndarray,
        top: int,
        placeholders: Mapping[str, np.ndarray],
        *,
        owner: str | None,
        tasks: Sequence[TaskRecord],
        options: Sequence[str] | None,
    ) -> dict[str, list[Hit]]:
        """What ``search.rank_clips`` gives over ``tasks``' clips: per option, and fused."""
        ...

    def close(self) -> None: ...
