"""Scores of text queries against embedded clips, per option and for every fusion method, with the
placeholder rule of `vidembed.search.rank` (a "no speech" / "silence" clip does not compete)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from vidembed.engine.engine import EmbeddingResult
from vidembed.models.catalog import BUILTIN, StackCatalog
from vidembed.models.stack import ModelStack, StackSettings
from vidembed.search.rank import FUSION, FUSION_METHODS, fuse, is_placeholder


class ClipTable:
    """Clip vectors of several embedded videos, per option, with each clip's video."""

    def __init__(self, stack: ModelStack) -> None:
        self.stack = stack
        self.vectors: dict[str, list[np.ndarray]] = {o: [] for o in stack.options}
        self.video_of: list[str] = []

    def add(self, video: str, result: EmbeddingResult) -> None:
        for option in self.stack.options:
            self.vectors[option] += [
                s.vector for s in result.segments if s.option == option and s.scope == "clip"
            ]
        self.video_of += [video] * len(result.plan.clips)

    def scores(self, queries: Sequence[str]) -> dict[str, np.ndarray]:
        """(queries, clips) scores per option (placeholder clips score -inf) and per fusion."""
        q = self.stack.encode_text(list(queries))
        placeholder = self.stack.placeholder_vectors()
        cosines, valid, baselines = [], [], []
        out: dict[str, np.ndarray] = {}
        for option, vectors in self.vectors.items():
            matrix = np.stack(vectors)
            real = ~is_placeholder(matrix, placeholder.get(option))
            cosine = q @ matrix.T
            cosines.append(cosine)
            valid.append(real)
            baselines.append(q @ placeholder[option] if option in placeholder else None)
            out[option] = np.where(real, cosine, -np.inf)
        for method in FUSION_METHODS:
            label = f"fused ({method}{', default' if method == FUSION else ''})"
            out[label] = fuse(cosines, valid, method, baselines)
        # the steps of the default rule, for comparison: without the empty-clip baseline, and
        # the rule before placeholders were set aside
        out["fused (z-max, no baseline)"] = fuse(cosines, valid, "z-max")
        out["fused (z-max, placeholders competing)"] = fuse(cosines, None, "z-max")
        return out


def recall(scores: np.ndarray, truth: np.ndarray, k: int) -> float:
    """scores (queries, clips); truth (queries,) the index of each query's clip; a clip that
    cannot be ranked (a placeholder) is a miss."""
    own = scores[np.arange(len(truth)), truth]
    ranks = (scores > own[:, None]).sum(axis=1)
    return float(((ranks < k) & np.isfinite(own)).mean())


def add_stack_arguments(parser: argparse.ArgumentParser) -> None:
    """``--stack NAME`` and ``--stacks FILE``: measure any stack, e.g. one with real weights."""
    parser.add_argument("--stack", default="marengo3.0", help="stack name or alias (default marengo3.0)")
    parser.add_argument("--stacks", type=Path, default=None, help="a TOML stacks file defining it")


def stack_from_arguments(args: argparse.Namespace) -> ModelStack:
    catalog = StackCatalog(StackSettings(stacks_file=args.stacks)) if args.stacks else BUILTIN
    return catalog.load(args.stack)
