"""Writes ``vidembed/models/data/imagenet_hypernyms.tsv``: each ImageNet-1k class's WordNet parents.

ImageNet classes are WordNet 3.0 noun synsets, often rare words ("tabby", "sorrel", "bolete")
whose everyday name is a parent ("cat", "horse", "mushroom"). The table is derived once from
Debian's ``wordnet-base`` (WordNet 3.0 licence: free use with the copyright notice kept) and
committed, so running vidembed needs neither WordNet nor apt.

    python -m vidembed.devtools.imagenet_hypernyms [--data-noun /usr/share/wordnet/data.noun]
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path

DEPTH = 3
OUT = Path(__file__).resolve().parents[1] / "models" / "data" / "imagenet_hypernyms.tsv"
HEADER = (
    "# WordNet 3.0 parents of the ImageNet-1k classes: synset, then one column per level up,\n"
    "# each a |-separated list of lemmas. WordNet 3.0 Copyright 2006 by Princeton University.\n"
)


def read_nouns(data_noun: Path) -> dict[str, tuple[list[str], list[str]]]:
    """offset -> (lemmas, hypernym offsets) from WordNet's data.noun."""
    nouns: dict[str, tuple[list[str], list[str]]] = {}
    for line in data_noun.open(encoding="utf-8", errors="replace"):
        if line.startswith(" "):
            continue  # licence header
        fields = line.split(" | ")[0].split()
        n_words = int(fields[3], 16)
        lemmas = [fields[4 + 2 * i].replace("_", " ") for i in range(n_words)]
        rest = fields[4 + 2 * n_words :]
        n_pointers = int(rest[0])
        pointers = [rest[1 + 4 * i : 5 + 4 * i] for i in range(n_pointers)]
        parents = [p[1] for p in pointers if p[0] in ("@", "@i") and p[2] == "n"]
        nouns[fields[0]] = (lemmas, parents)
    return nouns


def parents(nouns: dict[str, tuple[list[str], list[str]]], synset: str) -> list[list[str]]:
    """The first-parent chain above ``synset`` (n01234567), nearest first, DEPTH levels."""
    chain, offset = [], synset[1:]
    for _ in range(DEPTH):
        hypernyms = nouns[offset][1]
        if not hypernyms:
            break
        offset = hypernyms[0]
        chain.append(nouns[offset][0])
    return chain


def download_data_noun(folder: Path) -> Path:
    subprocess.run(["apt-get", "download", "wordnet-base"], cwd=folder, check=True)
    deb = next(folder.glob("wordnet-base_*.deb"))
    subprocess.run(["dpkg", "-x", str(deb), str(folder / "x")], check=True)
    return folder / "x/usr/share/wordnet/data.noun"


def main() -> None:
    from vidembed.models.weights import IMAGENET_SYNSETS, locate

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-noun", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_noun = args.data_noun or download_data_noun(Path(tmp))
        nouns = read_nouns(data_noun)
    synsets = [s.strip() for s in locate(IMAGENET_SYNSETS).open() if s.strip()]
    rows = ["\t".join([s] + ["|".join(level) for level in parents(nouns, s)]) for s in synsets]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(HEADER + "\n".join(rows) + "\n")
    print(f"wrote {len(rows)} classes to {OUT}")


if __name__ == "__main__":
    main()
