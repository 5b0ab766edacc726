"""Class names turned into sentences, and their text vectors cached on disk.

A classifier's classes join the text space through these vectors (ConSE). Each class is the mean
of a few prompts over its synonyms, so a query that names a class by its common name meets it;
ImageNet classes also lean towards their WordNet parent ("sorrel" towards "horse", "tabby"
towards "domestic cat"), because queries name the everyday concept, not the breed.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from vidembed.models.runtime import l2_normalise

MAX_SYNONYMS = 3
# Weight of a class's WordNet parent against its own names; chosen on the quality benchmark's
# development half (0.5: visual R@1 0.40 -> 0.50 there; 1.0 and deeper parents did worse).
PARENT_WEIGHT = 0.5
HYPERNYMS = Path(__file__).parent / "data" / "imagenet_hypernyms.tsv"


def imagenet_names(synsets_path: Path, lemmas_path: Path) -> list[list[str]]:
    """For each of the 1000 classes in model order, its WordNet lemmas ("tabby, tabby cat")."""
    lemmas = dict(line.rstrip("\n").split("\t", 1) for line in lemmas_path.open() if "\t" in line)
    return [
        [n.strip() for n in lemmas[s.strip()].split(",") if n.strip()][:MAX_SYNONYMS]
        for s in synsets_path.open()
        if s.strip()
    ]


def imagenet_parents(names: Sequence[Sequence[str]], hypernyms_path: Path = HYPERNYMS) -> list[list[str]]:
    """For each class in model order, its WordNet parent's lemmas (its own names at the root)."""
    rows = [line.rstrip("\n").split("\t") for line in hypernyms_path.open() if not line.startswith("#")]
    if len(rows) != len(names):
        raise ValueError(f"{hypernyms_path} has {len(rows)} classes, the classifier {len(names)}")
    return [
        row[1].split("|")[:MAX_SYNONYMS] if len(row) > 1 else list(own)
        for row, own in zip(rows, names, strict=True)
    ]


def with_parents(own: np.ndarray, parents: np.ndarray, weight: float = PARENT_WEIGHT) -> np.ndarray:
    return l2_normalise(own + weight * parents)


def phrase_vectors(
    phrases: Sequence[str], encode: Callable[[Sequence[str]], np.ndarray], cache_dir: Path, encoder_id: str
) -> dict[str, np.ndarray]:
    """Whole phrases (the detectors' words) as unit vectors, in the same cached tables."""
    table = label_vectors([[p] for p in phrases], ("{}",), encode, cache_dir, encoder_id)
    return dict(zip(phrases, table, strict=True))


def yamnet_names(class_map_path: Path) -> list[list[str]]:
    with class_map_path.open() as fh:
        rows = list(csv.DictReader(fh))
    return [[n.strip() for n in row["display_name"].split(",") if n.strip()][:MAX_SYNONYMS] for row in rows]


def label_vectors(
    names: Sequence[Sequence[str]],
    templates: Sequence[str],
    encode: Callable[[Sequence[str]], np.ndarray],
    cache_dir: Path,
    encoder_id: str,
) -> np.ndarray:
    """(classes, dim) unit vectors: the mean over synonyms x templates, cached by content hash."""
    sentences = [[t.format(n) for n in synonyms for t in templates] for synonyms in names]
    key = hashlib.sha256(repr((encoder_id, sentences)).encode()).hexdigest()[:16]
    path = cache_dir / f"labels-{key}.npy"
    if path.exists():
        return np.load(path)
    flat = [s for group in sentences for s in group]
    vectors = encode(flat)
    out, i = [], 0
    for group in sentences:
        out.append(vectors[i : i + len(group)].mean(axis=0))
        i += len(group)
    table = l2_normalise(np.stack(out))
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".partial.npy")
    np.save(tmp, table)
    tmp.replace(path)
    return table
