#!/usr/bin/env bash
# Set up and run the default test suite (lint included). Slow benchmarks: add `-m slow`.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v espeak-ng >/dev/null; then
    # The tests speak sentences into their videos with espeak-ng (a Debian package).
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq espeak-ng) >/dev/null
    else
        echo "espeak-ng is needed by the tests: sudo apt-get install espeak-ng" >&2
        exit 1
    fi
fi
bash scripts/setup.sh >/dev/null
# The export extra (torch, transformers: test/export time only) lets tests/tiny_models.py write tiny random
# CLIP / SigLIP models in Immich's ONNX layout. The CLIP BPE vocabulary is read from the open_clip_torch
# wheel, downloaded once and never installed (it pulls torchvision); tests/tiny_models.py checks its sha256.
.venv/bin/python -m pip install --quiet -c constraints.txt -e ".[test,export]" 2>&1 | grep -v '^WARNING: Location' || true
OPEN_CLIP_VERSION=3.3.0
if [ ! -f ".cache/wheels/open_clip_torch-$OPEN_CLIP_VERSION-py3-none-any.whl" ]; then
    .venv/bin/python -m pip download --quiet --no-deps -d .cache/wheels "open_clip_torch==$OPEN_CLIP_VERSION" 2>&1 \
        | grep -v '^WARNING: Location' || true
fi
# Real-world samples from Debian's opencv-doc: a damaged stream and a valid but unusual one (one
# bad AC-3 packet) for the bad-media tests; real footage (pedestrians, a tree) for the search
# check; a photo of a man, a squirrel and a footballer for the face and object detectors.
SAMPLES="Megamind_bugy.avi Megamind.avi vtest.avi tree.avi left06.jpg squirrel_cls.jpg messi5.jpg"
missing=$(for f in $SAMPLES; do [ -f ".cache/media/$f" ] || echo "$f"; done)
if [ -n "$missing" ]; then
    mkdir -p .cache/media
    tmp=$(mktemp -d)
    (cd "$tmp" && { apt-get download opencv-doc >/dev/null 2>&1 \
                    || { apt-get update -qq >/dev/null && apt-get download opencv-doc >/dev/null 2>&1; }; } \
        && dpkg-deb --fsys-tarfile opencv-doc_*.deb | tar -x --wildcards $(printf "*/%s " $missing) \
        && for f in $missing; do find . -name "$f" -exec cp {} "$OLDPWD/.cache/media/" \;; done)
    rm -rf "$tmp"
fi
.venv/bin/ruff check vidembed tests benchmarks
.venv/bin/ruff format --check --quiet vidembed tests benchmarks  # `ruff format` fixes what it names
.venv/bin/mypy  # the package, typed ([tool.mypy] in pyproject.toml)
.venv/bin/lint-imports --no-cache  # the floors and the families ([tool.importlinter]; docs/ARCHITECTURE.md)
.venv/bin/python -m pytest "$@"
