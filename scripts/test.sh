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
.venv/bin/ruff check vidembed tests benchmarks
.venv/bin/python -m pytest "$@"
