"""Which onnxruntime execution providers a model runs on: the best one installed, CPU last.

Order of preference as in Immich's ML service (``immich_ml/sessions/ort.py`` with
``SUPPORTED_PROVIDERS`` in ``immich_ml/models/constants.py``): NVIDIA, AMD, Intel, Apple, then CPU.
Sessions are built by :func:`vidembed.models.runtime.session`, which takes this list.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

import onnxruntime as ort

log = logging.getLogger(__name__)

CPU = "CPUExecutionProvider"
COREML = "CoreMLExecutionProvider"
OPENVINO = "OpenVINOExecutionProvider"
PREFERENCE: tuple[str, ...] = (
    "CUDAExecutionProvider",
    "ROCMExecutionProvider",
    "MIGraphXExecutionProvider",  # AMD's successor of ROCm in onnxruntime (Immich lists it)
    OPENVINO,
    COREML,
    CPU,
)
ACCELERATORS = frozenset(PREFERENCE) - {CPU}

_logged: set[tuple[str, ...]] = set()
_log_lock = threading.Lock()


def choose_providers(available: Sequence[str] | None = None) -> list[str]:
    """The execution providers to ask onnxruntime for, best first, always ending with CPU.

    ``available`` defaults to what the installed onnxruntime offers (``ort.get_available_providers()``,
    without OpenVINO when OpenVINO sees no device, as Immich does). Providers this module does not
    know (TensorRT, DirectML, ...) are left out: they need options of their own. Each distinct
    choice is logged once per process.
    """
    if available is None:
        offered = set(ort.get_available_providers())
        if OPENVINO in offered and not _openvino_devices():
            log.warning("OpenVINO execution provider is installed but sees no device: not using it")
            offered.discard(OPENVINO)
    else:
        offered = set(available)
    chosen = [p for p in PREFERENCE if p in offered]
    if CPU not in chosen:
        chosen.append(CPU)
    _log_once(tuple(chosen))
    return chosen


def text_providers(providers: Sequence[str]) -> list[str]:
    """Providers for a text encoder: Immich's textual encoder (``immich_ml/models/clip/textual.py``)
    does not run on CoreML when CoreML is the only accelerator; it falls back to CPU."""
    if COREML in providers and not (set(providers) & (ACCELERATORS - {COREML})):
        return [p for p in providers if p != COREML]
    return list(providers)


def _openvino_devices() -> list[str]:
    try:
        devices: list[str] = ort.capi._pybind_state.get_available_openvino_device_ids()
    except Exception:  # a private onnxruntime call: no answer means "cannot tell"
        return ["unknown"]
    return devices


def _log_once(chosen: tuple[str, ...]) -> None:
    with _log_lock:
        if chosen in _logged:
            return
        _logged.add(chosen)
    if chosen == (CPU,):
        log.info("no GPU execution provider installed: running on CPU")
    else:
        log.info("onnxruntime execution providers, best first: %s (using %s)", ", ".join(chosen), chosen[0])
