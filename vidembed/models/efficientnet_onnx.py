"""Convert the EfficientNet-Lite0 PyTorch checkpoint to ONNX without torch.

The carrier package ships a torch zip checkpoint. Rather than install torch to export it, we read
the zip's pickle with a restricted unpickler that turns storages into numpy arrays, fold each
BatchNorm into the preceding convolution, and write the (small, fixed) Lite0 graph with
``onnx.helper``. The graph follows ``efficientnet_lite_pytorch``: TF "SAME" static padding,
ReLU6, no squeeze-excitation, residuals where stride is 1 and channels match.
"""

from __future__ import annotations

import math
import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

IMAGE_SIZE = 224
BN_EPS = 1e-3
# (repeats, kernel, stride, expand ratio, in channels, out channels) of Lite0.
BLOCKS = [
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
]
_DTYPES = {"FloatStorage": np.float32, "LongStorage": np.int64, "HalfStorage": np.float16}


class _StorageType:
    def __init__(self, name: str) -> None:
        self.dtype = _DTYPES[name]


class _Storage:
    """A storage named in the pickle; its bytes arrive later (legacy format) or on demand (zip)."""

    def __init__(self, key: str, dtype: Any) -> None:
        self.key, self.dtype = key, dtype
        self.array: np.ndarray | None = None


class _LazyTensor:
    def __init__(self, storage: _Storage, offset: int, size: tuple, stride: tuple, *_: Any) -> None:
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride

    def materialise(self) -> np.ndarray:
        data = self.storage.array
        assert data is not None, f"storage {self.storage.key} was never read"
        if not self.size:
            return data[self.offset : self.offset + 1].reshape(())
        view = np.lib.stride_tricks.as_strided(
            data[self.offset :], shape=self.size, strides=[s * data.itemsize for s in self.stride]
        )
        return np.array(view, dtype=np.float32)


class _CheckpointUnpickler(pickle.Unpickler):
    """Unpickles only tensors, storages and ordered dicts: nothing else may be constructed."""

    def __init__(self, file: Any) -> None:
        super().__init__(file)
        self.storages: dict[str, _Storage] = {}

    def find_class(self, module: str, name: str) -> Any:
        if module == "collections" and name == "OrderedDict":
            return OrderedDict
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _LazyTensor
        if module == "torch" and name in _DTYPES:
            return _StorageType(name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a checkpoint")

    def persistent_load(self, pid: tuple) -> _Storage:
        storage_type, key = pid[1], str(pid[2])
        return self.storages.setdefault(key, _Storage(key, storage_type.dtype))


def load_torch_checkpoint(path: Path) -> dict[str, np.ndarray]:
    """Reads both torch formats: the zip archive (torch >= 1.6) and the legacy pickle stream."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            pkl = next(n for n in archive.namelist() if n.endswith("data.pkl"))
            prefix = pkl.rsplit("/", 1)[0]
            with archive.open(pkl) as fh:
                unpickler = _CheckpointUnpickler(fh)
                state = unpickler.load()
            for st in unpickler.storages.values():
                st.array = np.frombuffer(archive.read(f"{prefix}/data/{st.key}"), dtype=st.dtype)
    else:
        with open(path, "rb") as fh:
            for _ in range(3):  # magic number, protocol version, system info
                pickle.load(fh)
            unpickler = _CheckpointUnpickler(fh)
            state = unpickler.load()
            for key in pickle.load(fh):
                st = unpickler.storages[str(key)]
                count = int(np.frombuffer(fh.read(8), dtype="<i8")[0])
                itemsize = np.dtype(st.dtype).itemsize
                st.array = np.frombuffer(fh.read(count * itemsize), dtype=st.dtype)
    return {k: v.materialise() for k, v in state.items() if "num_batches" not in k}


def _same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class _GraphBuilder:
    def __init__(self, weights: dict[str, np.ndarray]) -> None:
        self.w = weights
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self._n = 0

    def _name(self, hint: str) -> str:
        self._n += 1
        return f"{hint}_{self._n}"

    def conv_bn(self, x: str, conv: str, bn: str, size: int, stride: int, groups: int, relu6: bool) -> str:
        weight = self.w[f"{conv}.weight"]
        scale = self.w[f"{bn}.weight"] / np.sqrt(self.w[f"{bn}.running_var"] + BN_EPS)
        folded_w = (weight * scale[:, None, None, None]).astype(np.float32)
        folded_b = (self.w[f"{bn}.bias"] - self.w[f"{bn}.running_mean"] * scale).astype(np.float32)
        wn, bname = self._name(conv + ".w"), self._name(conv + ".b")
        self.inits += [numpy_helper.from_array(folded_w, wn), numpy_helper.from_array(folded_b, bname)]
        k = weight.shape[-1]
        lo, hi = _same_pads(size, k, stride)
        out = self._name(conv)
        self.nodes.append(
            helper.make_node(
                "Conv",
                [x, wn, bname],
                [out],
                kernel_shape=[k, k],
                strides=[stride, stride],
                pads=[lo, lo, hi, hi],
                group=groups,
            )
        )
        if not relu6:
            return out
        clipped = self._name(conv + ".relu6")
        lo_c, hi_c = self._name("zero"), self._name("six")
        self.inits += [
            numpy_helper.from_array(np.array(0, np.float32), lo_c),
            numpy_helper.from_array(np.array(6, np.float32), hi_c),
        ]
        self.nodes.append(helper.make_node("Clip", [out, lo_c, hi_c], [clipped]))
        return clipped


def build_lite0_onnx(weights: dict[str, np.ndarray]) -> onnx.ModelProto:
    """Returns a graph with input ``image`` (N,3,224,224, already scaled as (x-127)/128) and
    outputs ``logits`` (N,1000) and ``features`` (N,1280, pooled)."""
    g = _GraphBuilder(weights)
    size = IMAGE_SIZE
    x = g.conv_bn("image", "_conv_stem", "_bn0", size, 2, 1, True)
    size = math.ceil(size / 2)
    index = 0
    for repeats, kernel, stride, expand, cin, cout in BLOCKS:
        for r in range(repeats):
            s, inp = (stride, cin) if r == 0 else (1, cout)
            prefix = f"_blocks.{index}"
            h = x
            if expand != 1:
                h = g.conv_bn(h, f"{prefix}._expand_conv", f"{prefix}._bn0", size, 1, 1, True)
            channels = inp * expand
            assert weights[f"{prefix}._depthwise_conv.weight"].shape[-1] == kernel
            h = g.conv_bn(h, f"{prefix}._depthwise_conv", f"{prefix}._bn1", size, s, channels, True)
            size = math.ceil(size / s)
            h = g.conv_bn(h, f"{prefix}._project_conv", f"{prefix}._bn2", size, 1, 1, False)
            if s == 1 and inp == cout:
                added = g._name(prefix + ".add")
                g.nodes.append(helper.make_node("Add", [h, x], [added]))
                h = added
            x = h
            index += 1
    x = g.conv_bn(x, "_conv_head", "_bn1", size, 1, 1, True)
    g.nodes.append(helper.make_node("GlobalAveragePool", [x], ["pooled"]))
    g.nodes.append(helper.make_node("Flatten", ["pooled"], ["features"], axis=1))
    g.inits += [
        numpy_helper.from_array(weights["_fc.weight"], "fc.w"),
        numpy_helper.from_array(weights["_fc.bias"], "fc.b"),
    ]
    g.nodes.append(helper.make_node("Gemm", ["features", "fc.w", "fc.b"], ["logits"], transB=1))
    graph = helper.make_graph(
        g.nodes,
        "efficientnet_lite0",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, IMAGE_SIZE, IMAGE_SIZE])],
        [
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 1000]),
            helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", 1280]),
        ],
        g.inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def convert(checkpoint: Path, target: Path) -> None:
    model = build_lite0_onnx(load_torch_checkpoint(checkpoint))
    tmp = target.with_suffix(".tmp")
    onnx.save(model, tmp)
    tmp.replace(target)
