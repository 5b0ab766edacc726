#!/usr/bin/env bash
# Set up and run the default test suite (lint included). Slow benchmarks: add `-m slow`.
set -euo pipefail
cd "$(dirname "$0")/.."
# pip with this machine's harmless "WARNING: Location '...' is ignored" lines left out (scripts/setup.sh);
# pip's status is kept (pipefail): a failed download stops the script with pip's own error.
venv_pip() { .venv/bin/python -m pip --quiet "$@" 2>&1 | { grep -v "^WARNING: Location '.*' is ignored" || true; }; }
if ! command -v espeak-ng >/dev/null; then
    # The tests speak sentences into their videos with espeak-ng (a Debian package).
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "installing espeak-ng with apt-get (Debian's text-to-speech: the tests speak sentences into their videos)"
        log=$(mktemp)
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq espeak-ng) >"$log" 2>&1 \
            || { cat "$log" >&2; echo "scripts/test.sh: installing espeak-ng failed" >&2; exit 1; }
        rm -f "$log"
    else
        echo "espeak-ng is needed by the tests: sudo apt-get install espeak-ng" >&2
        exit 1
    fi
fi
# The test extra (pytest, ruff, mypy, Ray, PostgreSQL, moto, ...) and the export extra (torch, transformers:
# test/export time only; tests/tiny_models.py writes tiny random CLIP / SigLIP models in Immich's ONNX layout).
bash scripts/setup.sh test,export
# The legacy official SDK (0.4.x) shares the import name of 1.3.x: the tests run it from its own folder.
if [ ! -d .sdk/twelvelabs-0.4.11/twelvelabs ]; then
    echo "fetching twelvelabs 0.4.11 into .sdk/ (the legacy SDK's tests)"
    venv_pip install --no-deps --target .sdk/twelvelabs-0.4.11 twelvelabs==0.4.11
fi
# The CLIP BPE vocabulary is read from the open_clip_torch wheel, downloaded once and never installed (it
# pulls torchvision); tests/tiny_models.py checks its sha256.
OPEN_CLIP_VERSION=3.3.0
if [ ! -f ".cache/wheels/open_clip_torch-$OPEN_CLIP_VERSION-py3-none-any.whl" ]; then
    echo "fetching the open_clip_torch $OPEN_CLIP_VERSION wheel into .cache/wheels (its CLIP vocabulary)"
    venv_pip download --no-deps -d .cache/wheels "open_clip_torch==$OPEN_CLIP_VERSION"
fi
# Real-world samples from Debian's opencv-doc: a damaged stream and a valid but unusual one (one
# bad AC-3 packet) for the bad-media tests; real footage (pedestrians, a tree) for the search
# check; a photo of a man, a squirrel and a footballer for the face and object detectors.
SAMPLES="Megamind_bugy.avi Megamind.avi vtest.avi tree.avi left06.jpg squirrel_cls.jpg messi5.jpg"
missing=$(for f in $SAMPLES; do [ -f ".cache/media/$f" ] || echo "$f"; done)
if [ -n "$missing" ]; then
    echo "fetching Debian's opencv-doc samples into .cache/media ($(echo $missing))"
    mkdir -p .cache/media
    tmp=$(mktemp -d)
    (cd "$tmp" && { apt-get download opencv-doc >/dev/null 2>&1 \
                    || { apt-get update -qq >/dev/null && apt-get download opencv-doc >/dev/null 2>&1; }; } \
        && dpkg-deb --fsys-tarfile opencv-doc_*.deb | tar -x --wildcards $(printf "*/%s " $missing) \
        && for f in $missing; do find . -name "$f" -exec cp {} "$OLDPWD/.cache/media/" \;; done)
    rm -rf "$tmp"
fi
echo "ruff, mypy, lint-imports, then pytest"
.venv/bin/ruff check vidembed tests benchmarks
.venv/bin/ruff format --check --quiet vidembed tests benchmarks  # `ruff format` fixes what it names
# The package, typed ([tool.mypy] in pyproject.toml). mypy 1.19 can crash on a cache written before
# the code changed (a traceback ending "Cannot find module for google", seen 2026-12-06): then it
# checks again without the cache; type errors stop the run as usual.
if ! checked=$(.venv/bin/mypy 2>&1); then
    if grep -q "^Traceback" <<<"$checked"; then
        echo "mypy crashed on its cache (.mypy_cache): checking again from scratch"
        rm -rf .mypy_cache
        .venv/bin/mypy
    else
        echo "$checked"
        exit 1
    fi
else
    echo "$checked"
fi
.venv/bin/lint-imports --no-cache  # the floors and the families ([tool.importlinter]; docs/ARCHITECTURE.md)
.venv/bin/python -m pytest "$@"
