"""The GPU check's own logic (benchmarks/gpu_check.py, docs/GPU.md), with no GPU and no models: the
loads that carry wheels to the GPU machine, the report's "no GPU here" line, the batch summary, and
its real-architecture sizes against the speed benchmark's."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from benchmarks import gpu_check
from benchmarks.gpu_check import Row, assemble, pack


def test_pack_cuts_a_big_file_across_loads_and_assemble_joins_it(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    small = src / "small-1.0-py3-none-any.whl"
    small.write_bytes(b"s" * 300)
    big = src / "big-1.0-cp312-cp312-manylinux_2_28_x86_64.whl"
    big.write_bytes(bytes(range(256)) * 10)  # 2560 bytes: cut into parts
    model = src / "tiny-whisper"
    model.mkdir()
    (model / "model.bin").write_bytes(b"m" * 100)
    dest = tmp_path / "wheels"

    loads = pack([small, model, big], dest, limit=1000)

    # 300 + 100 bytes, then the big file fills load1 and runs over into two more
    assert [p.name for p in loads] == ["load1", "load2", "load3"]
    for load in loads:  # each load fits its limit (its manifest apart)
        assert (
            sum(f.stat().st_size for f in load.rglob("*") if f.is_file() and f.name != "MANIFEST.json")
            <= 1000
        )
        assert json.loads((load / "MANIFEST.json").read_text()) == json.loads(
            (loads[0] / "MANIFEST.json").read_text()
        )
    ready, missing = assemble(dest, tmp_path / "joined")
    assert missing == []
    names = {p.name for p in ready}
    assert names == {small.name, model.name, big.name}
    joined = next(p for p in ready if p.name == big.name)
    assert joined.read_bytes() == big.read_bytes()


def test_assemble_names_what_has_not_arrived_and_refuses_a_corrupt_join(tmp_path: Path) -> None:
    big = tmp_path / "big-1.0-py3-none-any.whl"
    big.write_bytes(b"x" * 2500)
    dest = tmp_path / "wheels"
    pack([big], dest, limit=1000)
    part2 = dest / "load2" / f"{big.name}.part02"
    kept = part2.read_bytes()
    part2.unlink()
    ready, missing = assemble(dest, tmp_path / "joined")
    assert ready == [] and "1 of 3 parts not here" in missing[0]

    part2.write_bytes(b"y" * len(kept))
    ready, missing = assemble(dest, tmp_path / "joined2")
    assert ready == [] and "sha256" in missing[0]
    assert assemble(tmp_path / "nothing", tmp_path / "joined3") == ([], [])


def test_report_says_no_gpu_and_keeps_the_cpu_columns() -> None:
    env = {
        "date_utc": "2026-12-06 00:00 UTC",
        "python": "3.11",
        "machine": "x86_64, 2 CPUs",
        "nvidia_smi": "not found",
        "torch": "2.13.0+cpu",
        "torch_cuda": False,
        "onnxruntime": "1.32.0",
        "ort_available": ["CPUExecutionProvider"],
        "vidembed_providers": ["CPUExecutionProvider"],
        "ctranslate2": "4.8.5",
        "ct2_cuda_devices": 0,
        "faster_whisper": "1.2.1",
        "av": "18.1.0",
        "gpu": False,
    }
    rows = [
        Row("vit-b-32", "onnxruntime CPU", "CPUExecutionProvider", {1: 9.0, 16: 12.0}, "reference", "-"),
        Row("vit-b-32", "onnxruntime GPU", "-", note="not run: no CUDA build installed"),
    ]
    args = argparse.Namespace(batches=[1, 16], threads=2, min_seconds=1.0)
    text = gpu_check.report(env, rows, [], "a video", ([], "not run"), args, 12.0, {"export": 3.0})

    assert gpu_check.NO_GPU_LINE in text
    assert "| vit-b-32 | onnxruntime CPU | CPUExecutionProvider | reference | 9.0 (3.00) | 12 (4) |" in text
    assert "not run: no CUDA build installed" in text
    assert "most images/s at batch 16 (12/s); the smallest batch within 10% of it: 16" in text


def test_real_sizes_are_the_speed_benchmarks() -> None:
    from benchmarks.speed import image_text

    assert gpu_check.REAL_SIZES == {
        image_text.STACK_NAMES[name].removesuffix("-random"): spec for name, spec in image_text.MODELS.items()
    }
