"""Ranking stored clips against a query vector: per option, and fused across options.

Two rules shape the ranking:

- **Placeholders do not compete.** A clip with no speech holds the vector of "no speech", a clip
  with no audible sound the vector of "silence": they say that an option has nothing, not what it
  has. They are left out of their option's ranking and of the statistics fusion computes over the
  candidates (one clip in which Whisper heard "hmm" among 24 identical "no speech" vectors got a
  z-score of sqrt(N-1) = 4.9 for every query and topped every fused list).
- **Fusion** (``FUSION``, "z-max") puts each option's cosines over the candidate clips on one
  scale (z-scores, with a floor on the spread so that a near-constant option stays quiet, and with
  empty clips' scores filling a sample of fewer than ``MIN_SAMPLE`` real ones), weighs an option by
  the square root of the share of candidates it has something for (three clips with speech among
  24 give z-scores from three samples), and lets each clip keep its best option: the option that
  recognises the query speaks, whether the moment is seen, heard or said.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

from vidembed.records import StoredSegment

FUSED = "fused"
# A stored vector this close (cosine) to its option's placeholder vector is that placeholder.
PLACEHOLDER_COSINE = 0.9999
# The spread of an option's cosines is taken as at least this much when z-scoring, so that an
# option whose clips are all nearly alike (every clip hears the same hum) cannot turn tiny
# differences into large z-scores. Typical spreads here are 0.03-0.07, so in practice a score is
# the cosine minus the option's mean over the candidates, over 0.1. Measured on the quality
# benchmark (README, "Fusion"): floors 0, 0.02, 0.05, 0.07, 0.1, 0.15, 0.2; 0.1 was best on the
# crossed set (R@1 0.31 -> 0.39) with the matched set unchanged (0.90 / 0.83).
MIN_SPREAD = 0.1
RRF_K = 60  # reciprocal rank fusion's usual constant (Cormack et al., 2009)
FUSION_METHODS = ("z-max", "z-mean", "cosine-mean", "rrf")
# Below this many valid candidates, the option's statistics are filled up with empty clips'
# scores (see zscores); 4, 8 and 12 measured alike on the quality benchmark.
MIN_SAMPLE = 8
# Chosen on the quality benchmark (README, "Fusion"): both of its sets and the real-footage check,
# where it alone matched the best single option (top hit right 8 of 10; the means 6, RRF 3).
FUSION = "z-max"

ClipKey = tuple[str, float, float]  # task id, start, end


@dataclass(frozen=True)
class Hit:
    task_id: str
    option: str
    start: float
    end: float
    score: float


def zscores(
    scores: np.ndarray, valid: np.ndarray | None = None, baseline: np.ndarray | None = None
) -> np.ndarray:
    """Per row (one query), scores relative to the mean and spread over the valid candidates.

    Invalid candidates get 0 and should be masked by the caller; the spread is at least
    ``MIN_SPREAD``. ``baseline`` (one score per query) is what a clip with nothing for this option
    scores (the query against the placeholder): with fewer than ``MIN_SAMPLE`` valid candidates,
    copies of it fill the sample, so that three clips with words among 24 are compared with empty
    clips, not only with each other.
    """
    scores = np.atleast_2d(scores)
    mask = np.ones(scores.shape[-1], bool) if valid is None else np.asarray(valid, bool)
    chosen = scores[:, mask]
    fill = MIN_SAMPLE - chosen.shape[-1]
    if baseline is not None and fill > 0:
        chosen = np.concatenate([chosen, np.repeat(np.reshape(baseline, (-1, 1)), fill, axis=1)], axis=1)
    if chosen.shape[-1] < 2:
        return np.zeros_like(scores)
    mean = chosen.mean(axis=-1, keepdims=True)
    spread = np.maximum(chosen.std(axis=-1, keepdims=True), MIN_SPREAD)
    return np.where(mask, (scores - mean) / spread, 0.0)


def fuse(
    per_option: Sequence[np.ndarray],
    valid: Sequence[np.ndarray] | None = None,
    method: str = FUSION,
    baselines: Sequence[np.ndarray | None] | None = None,
) -> np.ndarray:
    """Combines (queries, clips) cosine matrices of several options into one ranking score.

    ``valid[i]`` marks the clips that option ``i`` has something for (not a placeholder); a clip
    is scored over its valid options only, and a clip valid in none scores lowest. ``baselines[i]``
    is the queries' cosine with option ``i``'s placeholder (see ``zscores``).
    """
    if method not in FUSION_METHODS:
        raise ValueError(f"unknown fusion method {method!r}; use one of {', '.join(FUSION_METHODS)}")
    scores = np.stack([np.atleast_2d(s) for s in per_option])  # (options, queries, clips)
    masks = (
        np.ones((len(per_option), scores.shape[-1]), bool)
        if valid is None
        else np.stack([np.asarray(v, bool) for v in valid])
    )
    base = list(baselines) if baselines is not None else [None] * len(per_option)
    present = masks[:, None, :]  # broadcast over queries
    counts = masks.sum(axis=0)
    if method in ("z-max", "z-mean"):
        z = np.stack([zscores(s, m, b) for s, m, b in zip(scores, masks, base, strict=True)])
        if method == "z-max":
            # An option that has something for few of the candidates (speech in 3 clips of 24)
            # counts in proportion to the square root of that share: its z-scores rest on a
            # small sample. Measured: real-footage top hits 6 -> 8 of 10, matched set unchanged.
            share = masks.sum(axis=-1) / masks.shape[-1]
            z = z * np.sqrt(share)[:, None, None]
            fused = np.where(present, z, -np.inf).max(axis=0)
        else:
            fused = np.where(present, z, 0.0).sum(axis=0) / np.maximum(counts, 1)
    elif method == "cosine-mean":
        fused = np.where(present, scores, 0.0).sum(axis=0) / np.maximum(counts, 1)
    else:  # rrf
        fused = np.stack([_reciprocal_ranks(s, m) for s, m in zip(scores, masks, strict=True)]).sum(axis=0)
    return np.where(counts > 0, fused, -np.inf)


def _reciprocal_ranks(scores: np.ndarray, valid: np.ndarray) -> np.ndarray:
    masked = np.where(valid, scores, -np.inf)
    ranks = np.argsort(np.argsort(-masked, axis=-1, kind="stable"), axis=-1, kind="stable")
    return np.where(valid, 1.0 / (RRF_K + ranks + 1), 0.0)


def is_placeholder(vectors: np.ndarray, placeholder: np.ndarray | None) -> np.ndarray:
    """Which rows of ``vectors`` are the option's placeholder vector."""
    if placeholder is None:
        return np.zeros(len(vectors), bool)
    return (vectors @ placeholder) >= PLACEHOLDER_COSINE


def rank_clips(
    query: np.ndarray,
    segments: Sequence[StoredSegment],
    top: int,
    placeholders: Mapping[str, np.ndarray] | None = None,
    fused: bool = True,
) -> dict[str, list[Hit]]:
    """The ``top`` best clips for each option, best first, and (with several options) fused.

    ``placeholders`` maps an option to its "nothing here" vector ("no speech", "silence"): clips
    holding it are left out of that option's ranking and count as missing for fusion.
    """
    by_option: dict[str, dict[ClipKey, np.ndarray]] = {}
    for segment in segments:
        if segment.scope == "clip":
            by_option.setdefault(segment.option, {})[(segment.task_id, segment.start, segment.end)] = (
                segment.vector
            )
    placeholders = placeholders or {}
    keys = sorted({key for clips in by_option.values() for key in clips})
    position = {key: i for i, key in enumerate(keys)}
    ranked: dict[str, list[Hit]] = {}
    all_scores, all_valid, baselines = [], [], []
    for option, clips in by_option.items():
        vectors = np.stack(list(clips.values()))
        own = vectors @ query
        placeholder = placeholders.get(option)
        real = ~is_placeholder(vectors, placeholder)
        option_keys = list(clips)
        ranked[option] = _top(
            [k for k, r in zip(option_keys, real, strict=True) if r], own[real], option, top
        )
        scores, valid = np.zeros(len(keys)), np.zeros(len(keys), bool)
        index = [position[k] for k in option_keys]
        scores[index], valid[index] = own, real
        all_scores.append(scores)
        all_valid.append(valid)
        baselines.append(None if placeholder is None else np.array([placeholder @ query]))
    if fused and len(by_option) > 1 and keys:
        scores = fuse(all_scores, all_valid, baselines=baselines)[0]
        candidates = np.isfinite(scores)
        ranked[FUSED] = _top(
            [k for k, c in zip(keys, candidates, strict=True) if c], scores[candidates], FUSED, top
        )
    return ranked


def _top(keys: list[ClipKey], scores: np.ndarray, option: str, top: int) -> list[Hit]:
    best = np.argsort(-scores, kind="stable")[:top]
    return [Hit(keys[i][0], option, keys[i][1], keys[i][2], float(scores[i])) for i in best]


# The int8 scan keeps at least this many candidates for exact rescoring: the int8 rounding moves a
# 384-dimensional score by 5e-4 (standard deviation, measured) and the 10th and 100th best of 1M
# random unit vectors differ by about 0.03 (order statistics of N(0, 1/384): 0.217 and 0.190), so
# 100 candidates gave recall@10 1.000 at 1M (4x ``top`` when more results are asked for).
MIN_CANDIDATES = 100


@dataclass
class OptionScan:
    """An option's best clips (task, start, end, exact score) over every allowed partition,
    best first, and the count, sum and sum of squares of all the allowed clips' scores."""

    clips: list[tuple[str, float, float, float]]
    count: int
    total: float
    squares: float


@dataclass
class TaskInfo:
    owner: str
    options: list[str]  # in the order of the task's segments
    # per subset of the task's options (sorted, comma-joined), how many distinct clips it has
    clips: dict[str, int] = field(default_factory=dict)


def fuse_candidates(
    query: np.ndarray,
    present: Sequence[str],
    scans: Mapping[str, OptionScan],
    tasks: Mapping[str, TaskInfo],
    placeholders: Mapping[str, np.ndarray],
    top: int,
    scores_of: Callable[[Sequence[ClipKey]], Iterable[tuple[np.ndarray, str, np.ndarray]]],
    clips: int | None = None,
) -> list[Hit]:
    """The fused top ``top`` (``search.fuse``'s z-max) over the union of the options' candidates
    in ``scans``: ``scores_of(candidates)`` gives, in batches, candidates' exact scores in the
    options where they have a real vector (positions in ``candidates``, the option, the scores;
    the embedded index reads its partitions, pgvector search its table); a clip of the fused top
    k is in the top k of its best option, so the union holds the fused top k. Shared by
    ``ClipIndex`` and ``pg_vectors.PgVectorIndex``. ``clips``, when the caller has it, is
    ``clips_in`` summed over ``tasks`` for the options ``present``."""
    if clips is None:
        subset = set(present)
        clips = sum(clips_in(info, subset) for info in tasks.values())
    # option -> mean, spread, sqrt(share)
    weights = {o: z_scale(scans[o], clips, placeholders.get(o), query) for o in present}
    candidates = sorted({(t, a, b) for o in present for t, a, b, _ in scans[o].clips})
    if not candidates:
        return []
    best = np.full(len(candidates), -np.inf)
    for positions, option, scores in scores_of(candidates):
        mean, spread, weight = weights[option]
        z = (scores.astype(np.float64) - mean) / spread if spread else np.zeros(len(scores))
        np.maximum.at(best, positions, z * weight)
    # best first, ties in the candidates' (sorted) order; in numpy: a Python pass over the
    # candidates and their scores took ~8 ms of a search at 1M clips (2026-12-06)
    order = np.argsort(-best, kind="stable")[:top]
    ranked = [(candidates[i], float(best[i])) for i in order.tolist()]
    return [Hit(t, FUSED, a, b, score) for (t, a, b), score in ranked]


def z_scale(
    scan: OptionScan, clips: int, placeholder: np.ndarray | None, query: np.ndarray
) -> tuple[float, float, float]:
    """The mean and spread that ``search.zscores`` takes over an option's valid clips (the count,
    sum and sum of squares of their scores in ``scan``, with the placeholder's score filling a
    sample of fewer than MIN_SAMPLE), and the weight ``search.fuse`` gives the option (square root
    of its share of the ``clips``). A spread of 0 stands for zscores' "too few to tell": every z
    is 0. Shared by the embedded index and the pgvector search (pg_vectors)."""
    count, total, squares = scan.count, scan.total, scan.squares
    fill = MIN_SAMPLE - count if placeholder is not None and count < MIN_SAMPLE else 0
    if fill and placeholder is not None:
        baseline = float(placeholder @ query)
        total, squares = total + fill * baseline, squares + fill * baseline**2
    n = count + fill
    weight = float(np.sqrt(count / clips)) if clips else 0.0
    if n < 2:
        return 0.0, 0.0, weight
    mean = total / n
    spread = max(float(np.sqrt(max(squares / n - mean**2, 0.0))), MIN_SPREAD)
    return mean, spread, weight


def score_moments(scores: np.ndarray) -> tuple[float, float]:
    wide = scores.astype(np.float64)
    return float(wide.sum()), float(wide @ wide)


def hits_of(found: OptionScan, option: str, top: int) -> list[Hit]:
    return [Hit(t, option, a, b, s) for t, a, b, s in found.clips[:top]]


def clip_counts(by_option: Mapping[str, Mapping[tuple[float, float], np.ndarray]]) -> dict[str, int]:
    options = sorted(by_option)
    counts = {}
    for size in range(1, len(options) + 1):
        for chosen in combinations(options, size):
            counts[",".join(chosen)] = len(set().union(*(by_option[o].keys() for o in chosen)))
    return counts


def clips_in(info: TaskInfo, options: set[str]) -> int:
    chosen = ",".join(sorted(options & set(info.options)))
    return info.clips.get(chosen, 0)


def options_in_order(tasks: Mapping[str, TaskInfo], options: Sequence[str] | None) -> list[str]:
    """The options that the tasks have clips for, in the order rank_clips meets them: tasks by
    id, each task's options in segment order."""
    present: list[str] = []
    for task_id in sorted(tasks):
        for option in tasks[task_id].options:
            if option not in present and (not options or option in options):
                present.append(option)
    return present
