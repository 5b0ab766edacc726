"""A TensorFlow.js graph model (model.json + weight shards) written as an ONNX graph, without
TensorFlow: the ops of the convolutional detectors we use, nothing more.

Tensors stay in TensorFlow's NHWC layout; each convolution is wrapped in two Transposes
(onnxruntime's optimiser removes the pairs that cancel). Only the part of the graph that feeds the
requested output is converted, so post-processing ops (TopK, NMS) are left out.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 15  # Shape(end=) needs 15; ReduceMean keeps its axes attribute until 18
_TO_NCHW, _TO_NHWC = [0, 3, 1, 2], [0, 2, 3, 1]
_DTYPES = {"float32": np.float32, "int32": np.int32}


class UnsupportedGraphError(ValueError):
    pass


def _weights(model_dir: Path, manifest: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for group in manifest:
        data = b"".join((model_dir / p).read_bytes() for p in group["paths"])
        offset = 0
        for spec in group["weights"]:
            shape = [int(d) for d in spec["shape"]]
            count = int(np.prod(shape)) if shape else 1
            quantised = spec.get("quantization", {}).get("dtype")
            stored = np.float16 if quantised == "float16" else _DTYPES[spec["dtype"]]
            if quantised not in (None, "float16"):
                raise UnsupportedGraphError(f"weight quantisation {quantised} is not supported")
            size = count * np.dtype(stored).itemsize
            array = np.frombuffer(data[offset : offset + size], stored).reshape(shape)
            out[spec["name"]] = array.astype(_DTYPES[spec["dtype"]])
            offset += size
    return out


def _attr_strings(node: dict[str, Any], name: str) -> list[str]:
    attr = node.get("attr", {}).get(name, {})
    if "s" in attr:
        return [base64.b64decode(attr["s"]).decode()]
    return [base64.b64decode(s).decode() for s in attr.get("list", {}).get("s", [])]


def _attr_ints(node: dict[str, Any], name: str) -> list[int]:
    return [int(i) for i in node.get("attr", {}).get(name, {}).get("list", {}).get("i", [])]


def _source(name: str) -> str:
    return name.lstrip("^").split(":")[0]


class _Writer:
    def __init__(self, nodes: dict[str, dict[str, Any]], weights: dict[str, np.ndarray]) -> None:
        self.nodes, self.weights = nodes, weights
        self.onnx_nodes: list[onnx.NodeProto] = []
        self.initializers: dict[str, np.ndarray] = {}
        self.inputs: list[onnx.ValueInfoProto] = []
        self._count = 0

    def const(self, name: str) -> np.ndarray:
        if name not in self.weights:
            raise UnsupportedGraphError(f"{name} is not a constant of the model")
        return self.weights[name]

    def add(self, op: str, inputs: list[str], output: str | None = None, **attrs: Any) -> str:
        for name in inputs:  # constants become initializers only where an op reads them as tensors
            if self.nodes.get(name, {}).get("op") == "Const" and name not in self.initializers:
                self.initializers[name] = self.const(name)
        self._count += 1
        out = output or f"_t{self._count}"
        self.onnx_nodes.append(helper.make_node(op, inputs, [out], name=f"{op}_{self._count}", **attrs))
        return out

    def initializer(self, array: np.ndarray) -> str:
        self._count += 1
        name = f"_c{self._count}"
        self.initializers[name] = array
        return name

    def conv(self, node: dict[str, Any], depthwise: bool) -> None:
        x, w = _source(node["input"][0]), self.const(_source(node["input"][1]))
        if depthwise:  # (H, W, C, multiplier) -> (C * multiplier, 1, H, W)
            h, k, c, m = w.shape
            kernel, group = w.transpose(2, 3, 0, 1).reshape(c * m, 1, h, k), c
        else:  # (H, W, in, out) -> (out, in, H, W)
            kernel, group = w.transpose(3, 2, 0, 1), 1
        padding = _attr_strings(node, "padding")[0]
        if padding not in ("SAME", "VALID"):
            raise UnsupportedGraphError(f"padding {padding} is not supported")
        strides = _attr_ints(node, "strides")[1:3] or [1, 1]
        dilations = _attr_ints(node, "dilations")[1:3] or [1, 1]
        inputs = [self.add("Transpose", [x], perm=_TO_NCHW), self.initializer(np.ascontiguousarray(kernel))]
        fused = _attr_strings(node, "fused_ops")
        if fused and fused[0] == "BiasAdd":
            inputs.append(_source(node["input"][2]))
            fused = fused[1:]
        elif fused:
            raise UnsupportedGraphError(f"fused ops {fused} are not supported")
        y = self.add(
            "Conv",
            inputs,
            auto_pad="SAME_UPPER" if padding == "SAME" else "VALID",
            strides=strides,
            dilations=dilations,
            group=group,
        )
        for activation in fused:
            y = self.activation(activation, y)
        self.add("Transpose", [y], node["name"], perm=_TO_NHWC)

    def activation(self, op: str, x: str, output: str | None = None) -> str:
        if op == "Relu":
            return self.add("Relu", [x], output)
        if op == "Relu6":
            zero, six = self.initializer(np.array(0, np.float32)), self.initializer(np.array(6, np.float32))
            return self.add("Clip", [x, zero, six], output)
        if op == "Sigmoid":
            return self.add("Sigmoid", [x], output)
        raise UnsupportedGraphError(f"activation {op} is not supported")

    def write(self, node: dict[str, Any]) -> None:
        op, name = node["op"], node["name"]
        inputs = [_source(i) for i in node.get("input", []) if not i.startswith("^")]
        if op == "Const":
            pass  # written when an op reads it (see add); kernels are written transposed by conv
        elif op == "Placeholder":
            dims = node["attr"]["shape"]["shape"]["dim"]
            shape = [int(d["size"]) if int(d["size"]) > 0 else None for d in dims]
            self.inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, shape))
        elif op in ("Conv2D", "_FusedConv2D"):
            self.conv(node, depthwise=False)
        elif op in ("DepthwiseConv2dNative", "FusedDepthwiseConv2dNative"):
            self.conv(node, depthwise=True)
        elif op in ("Relu", "Relu6", "Sigmoid"):
            self.activation(op, inputs[0], name)
        elif op in ("Add", "AddV2", "Mul", "Sub"):
            self.add({"AddV2": "Add"}.get(op, op), inputs[:2], name)
        elif op == "Identity":
            self.add("Identity", inputs[:1], name)
        elif op == "Mean":
            axes = [int(a) for a in np.atleast_1d(self.const(inputs[1]))]
            keep = int(node.get("attr", {}).get("keep_dims", {}).get("b", False))
            self.add("ReduceMean", [inputs[0]], name, axes=axes, keepdims=keep)
        elif op == "ConcatV2":
            axis = int(self.const(inputs[-1]))
            self.add("Concat", inputs[:-1], name, axis=axis)
        elif op == "ResizeBilinear":
            attrs = node.get("attr", {})
            if attrs.get("align_corners", {}).get("b") or attrs.get("half_pixel_centers", {}).get("b"):
                raise UnsupportedGraphError("ResizeBilinear with align_corners/half_pixel_centers")
            size = self.const(inputs[1]).astype(np.int64)
            x = self.add("Transpose", [inputs[0]], perm=_TO_NCHW)
            sizes = self.add("Concat", [self.add("Shape", [x], end=2), self.initializer(size)], axis=0)
            y = self.add(
                "Resize",
                [x, "", "", sizes],
                mode="linear",
                coordinate_transformation_mode="asymmetric",
            )
            self.add("Transpose", [y], name, perm=_TO_NHWC)
        else:
            raise UnsupportedGraphError(f"TF op {op} ({name}) is not supported")


def convert(model_json: Path, output: str, target: Path) -> None:
    """Writes the part of ``model_json`` that computes ``output`` as an ONNX model at ``target``."""
    spec = json.loads(model_json.read_text())
    nodes = {n["name"]: n for n in spec["modelTopology"]["node"]}
    weights = _weights(model_json.parent, spec["weightsManifest"])
    order: list[str] = []
    seen: set[str] = set()

    def visit(name: str) -> None:  # depth-first post-order: inputs before their users
        stack = [(name, False)]
        while stack:
            current, expanded = stack.pop()
            if expanded:
                order.append(current)
                continue
            if current in seen:
                continue
            seen.add(current)
            stack.append((current, True))
            inputs = (_source(i) for i in nodes[current].get("input", []))
            stack.extend((i, False) for i in inputs if i not in seen)

    visit(output)
    writer = _Writer(nodes, weights)
    for name in order:
        writer.write(nodes[name])
    graph = helper.make_graph(
        writer.onnx_nodes,
        Path(model_json).stem,
        writer.inputs,
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, [None, None, None, None])],
        [numpy_helper.from_array(v, k) for k, v in writer.initializers.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    onnx.checker.check_model(model)
    partial = target.with_name(target.name + ".partial")
    onnx.save(model, str(partial))
    partial.replace(target)
