#!/usr/bin/env bash
# GPU check (issue 21; docs/GPU.md). Three uses:
#
#   bash scripts/gpu_check.sh fetch         # here, with PyPI: wheels for the GPU machine, in loads
#   bash scripts/gpu_check.sh stage         # there, on calls that only carry a load: install it
#   bash scripts/gpu_check.sh [ARGS...]     # anywhere: install what has arrived, run the check
#
# ARGS go to `python -m benchmarks.gpu_check` (--out DIR, --minutes M, --batches 1,16,64, --models
# ..., --no-engine, --no-whisper). The report goes to --out, else $OUT (the device tool's folder),
# else .cache/gpu-check. On a machine without a GPU the check prints "no GPU here" and the CPU
# columns.
#
# The GPU machine (device tool, kinds nvidia-h100-x1 / nvidia-h200) has no package index, Python
# 3.12 in /opt/torch/.venv with torch (CUDA 13), onnxruntime 1.30 (CPU build), numpy, tokenizers,
# pillow, transformers; a call carries at most 64 MiB. `fetch` downloads what is missing there
# (av, pydantic and its three helpers, platformdirs, faster-whisper, ctranslate2, onnxruntime-gpu,
# all for CPython 3.12 manylinux x86_64), adds the open_clip wheel the tiny models read their
# tokenizer from and a tiny CTranslate2 Whisper, and packs it all into loads of at most 56 MiB in
# .cache/gpu-wheels/load1, load2, ... (onnxruntime-gpu's 256 MB wheel is cut into parts). Each
# call carries one load; ignored files stay on the machine while it is warm, so the parts meet
# there and are joined (sha256 checked) by this script. .cache/ is ignored by .gitignore.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
WHEELS="${VIDEMBED_GPU_WHEELS:-$ROOT/.cache/gpu-wheels}"
SITE="${VIDEMBED_GPU_SITE:-$ROOT/.cache/gpu-site}"
OPEN_CLIP="$ROOT/.cache/wheels/open_clip_torch-3.3.0-py3-none-any.whl"
started=$(date +%s)

pick_python() {
    for candidate in "$ROOT/.venv/bin/python" /opt/torch/.venv/bin/python3 python3; do
        if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import numpy' >/dev/null 2>&1; then
            echo "$candidate"
            return
        fi
    done
    echo "python3"
}

fetch() {
    local py="$ROOT/.venv/bin/python"
    [ -x "$py" ] || { echo "fetch needs .venv (bash scripts/setup.sh)" >&2; exit 1; }
    local dl="$WHEELS/download"
    mkdir -p "$dl"
    local platforms=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64
        --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64)
    pin() { "$py" -m pip show "$1" 2>/dev/null | awk '/^Version:/{print $2}'; }
    # The versions of .venv (constraints.txt), for Python 3.12; onnxruntime-gpu 1.31.1 is the newest
    # GPU build on PyPI and is built for CUDA 13 (libcublas.so.13, libcudnn.so.9), as the machine is.
    "$py" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        "${platforms[@]}" -d "$dl" \
        "av==$(pin av)" "pydantic==$(pin pydantic)" "pydantic-core==$(pin pydantic-core)" \
        "annotated-types==$(pin annotated-types)" "typing-inspection==$(pin typing-inspection)" \
        "platformdirs==$(pin platformdirs)" "faster-whisper==$(pin faster-whisper)" \
        "ctranslate2==$(pin ctranslate2)" "onnxruntime-gpu==1.31.1"
    [ -f "$OPEN_CLIP" ] || "$py" -c 'import sys; sys.path.insert(0, "tests"); import tiny_models; tiny_models._open_clip_wheel()'
    if [ ! -f "$dl/tiny-whisper/model.bin" ]; then
        "$py" -c "import sys; sys.path.insert(0, 'tests'); from pathlib import Path; import tiny_whisper; tiny_whisper.make_tiny_whisper(Path('$dl/tiny-whisper'))"
    fi
    # Order: what one call alone can use first (vidembed's imports, the tokenizer wheel, the tiny
    # Whisper), then onnxruntime-gpu (vidembed's CUDA provider), then ctranslate2 (Whisper; its
    # wheel is built for CUDA 12: on the CUDA 13 machine it is expected to fall back to CPU).
    "$py" -m benchmarks.gpu_check pack "$WHEELS" \
        "$dl"/pydantic-*.whl "$dl"/pydantic_core-*.whl "$dl"/annotated_types-*.whl \
        "$dl"/typing_inspection-*.whl "$dl"/platformdirs-*.whl "$dl"/faster_whisper-*.whl \
        "$OPEN_CLIP" "$dl/tiny-whisper" "$dl"/av-*.whl "$dl"/onnxruntime_gpu-*.whl "$dl"/ctranslate2-*.whl
    echo
    echo "On the GPU machine: one device-tool call per load, each started at once after the last"
    echo "(the machine stays warm 30 s), all but the last with the command 'bash scripts/gpu_check.sh stage':"
    local loads=("$WHEELS"/load*)
    local i=0
    for load in "${loads[@]}"; do
        i=$((i + 1))
        local command="bash scripts/gpu_check.sh stage"
        [ "$i" -eq "${#loads[@]}" ] && command="bash scripts/gpu_check.sh"
        echo "  run(carry=[\"${load#"$ROOT"/}\"], command=\"$command\")"
    done
}

install_carried() {
    local py="$1"
    [ -d "$WHEELS" ] || return 0
    local ready
    ready=$("$py" -m benchmarks.gpu_check assemble "$WHEELS" "$WHEELS/joined")
    mkdir -p "$SITE"
    local todo=()
    while IFS= read -r path; do
        [ -n "$path" ] || continue
        case "$path" in
            *open_clip_torch-*.whl)
                mkdir -p "$(dirname "$OPEN_CLIP")"
                [ -f "$OPEN_CLIP" ] || cp "$path" "$OPEN_CLIP" ;;
            *.whl)
                [ -f "$SITE/.installed-$(basename "$path")" ] || todo+=("$path") ;;
        esac
    done <<<"$ready"
    if [ "${#todo[@]}" -gt 0 ]; then
        echo "[gpu-check] installing into $SITE: ${todo[*]##*/}" >&2
        "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
            --target "$SITE" "${todo[@]}"
        for path in "${todo[@]}"; do touch "$SITE/.installed-$(basename "$path")"; done
    fi
}

case "${1:-}" in
    fetch)
        fetch
        exit 0 ;;
esac

PY="${VIDEMBED_GPU_PYTHON:-$(pick_python)}"
if [ "$PY" != "$ROOT/.venv/bin/python" ]; then
    # Not this project's venv (the GPU machine): vidembed from the source tree, carried wheels first
    # (onnxruntime-gpu then shadows the CPU build of the machine's venv).
    install_carried "$PY"
    export PYTHONPATH="$SITE:$ROOT${PYTHONPATH:+:$PYTHONPATH}"
fi
# CUDA libraries of the nvidia-* wheels beside torch (cuBLAS, cuDNN, cuFFT, cuRAND for CUDA 13),
# for onnxruntime-gpu's CUDA provider (onnxruntime.preload_dlls() is tried as well).
libs=$("$PY" - <<'EOF' 2>/dev/null || true
import glob, os, site, sys
dirs = set()
for base in site.getsitepackages() + [p for p in sys.path if p.endswith("site-packages")]:
    for lib in glob.glob(os.path.join(base, "nvidia", "**", "lib*.so*"), recursive=True):
        dirs.add(os.path.dirname(lib))
print(":".join(sorted(dirs)))
EOF
)
[ -n "$libs" ] && export LD_LIBRARY_PATH="$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

if [ "${1:-}" = "stage" ]; then
    "$PY" -m benchmarks.gpu_check assemble "$WHEELS" "$WHEELS/joined" >/dev/null
    echo "[gpu-check] staged in $(( $(date +%s) - started )) s; site: $(ls "$SITE" 2>/dev/null | grep -c . || true) entries"
    exit 0
fi

command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L || true
# The report's folder: --out, else $OUT (the device tool's), else .cache/gpu-check; the log goes there too.
out_dir="${OUT:-$ROOT/.cache/gpu-check}"
out_given=0
previous=""
for arg in "$@"; do
    [ "$previous" = "--out" ] && { out_dir="$arg"; out_given=1; }
    case "$arg" in --out=*) out_dir="${arg#--out=}"; out_given=1 ;; esac
    previous="$arg"
done
out_args=()
[ "$out_given" -eq 1 ] || out_args=(--out "$out_dir")
mkdir -p "$out_dir"
export PYTHONUNBUFFERED=1
# 460 s: the check must end well inside the device tool's 8-minute budget for it.
set +e
timeout 460 "$PY" -m benchmarks.gpu_check "${out_args[@]}" "$@" 2>&1 | tee "$out_dir/gpu_check.log"
rc=${PIPESTATUS[0]}
set -e
echo "[gpu-check] exit $rc after $(( $(date +%s) - started )) s (scripts/gpu_check.sh, install included)"
exit "$rc"
