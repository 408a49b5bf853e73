"""Single-operator full-int8 ``.tflite`` models: one atom op of the ``tflm`` lowering, as TFLite Micro runs it.

Two builders (registered, :func:`get_builder`):

``direct`` (default) writes the flatbuffer itself with the TFLite schema's object API (milliseconds per op,
    no TensorFlow): the same operator, options and quantization our export produces — int8 activations,
    per-channel int8 weights (zero point 0), int32 biases, SAME padding folded into the conv (the ``tflm``
    lowering has no PAD ops, so "the pad it needs" is the conv's own SAME padding), fused ReLU/ReLU6.
``export`` runs the real export path (torch module → ONNX → onnx2tf → int8, :func:`atomnet.export.export_int8`)
    for conv, pointwise, depthwise and dense ops: about 10 s per op, used to cross-check ``direct``.

Batch writes go to a folder with ``manifest.jsonl`` (one line per model: op, variant, file, SHA-256, bytes).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from atomnet.errors import InputError
from atomnet.ops import Op

#: activation → TFLite fused activation name
_FUSED = {"none": "NONE", "relu": "RELU", "relu6": "RELU6", "": "NONE"}


@dataclass(frozen=True)
class Variant:
    """Which TFLite operator realises an op key (``eltwise`` keys stand for ADD, MUL or HARD_SWISH)."""

    tflite_op: str
    act: str = "none"

    def to_dict(self) -> dict[str, str]:
        return {"tflite_op": self.tflite_op, "act": self.act}


def default_variant(op: Op) -> Variant:
    return Variant({"conv": "CONV_2D", "pointwise": "CONV_2D", "depthwise": "DEPTHWISE_CONV_2D", "eltwise": "ADD",
                    "pool": "MEAN", "dense": "FULLY_CONNECTED"}.get(op.kind, ""), "none")


def _schema() -> Any:
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated

    return schema_py_generated


class _Builder:
    """Accumulates tensors and buffers of one subgraph (buffer 0 is the empty sentinel)."""

    def __init__(self, seed: int) -> None:
        self.s = _schema()
        self.rng = np.random.default_rng(seed)
        self.tensors: list[Any] = []
        self.buffers: list[Any] = [self.s.BufferT()]

    def tensor(self, name: str, shape: tuple[int, ...], dtype: str, scale: Any = None, zp: Any = None,
               data: np.ndarray | None = None, qdim: int = 0) -> int:
        s = self.s
        t = s.TensorT()
        t.name = name.encode()
        t.shape = np.asarray(shape, np.int32)
        t.type = getattr(s.TensorType, dtype)
        if data is not None:
            b = s.BufferT()
            b.data = np.frombuffer(np.ascontiguousarray(data).tobytes(), np.uint8)
            self.buffers.append(b)
            t.buffer = len(self.buffers) - 1
        else:
            t.buffer = 0
        if scale is not None:
            q = s.QuantizationParametersT()
            q.scale = np.atleast_1d(np.asarray(scale, np.float32))
            q.zeroPoint = np.atleast_1d(np.asarray(zp if zp is not None else 0, np.int64))
            q.quantizedDimension = qdim
            t.quantization = q
        self.tensors.append(t)
        return len(self.tensors) - 1

    def act(self, name: str, shape: tuple[int, ...], scale: float = 0.05, zp: int = -3) -> int:
        return self.tensor(name, shape, "INT8", scale, zp)

    def weights(self, name: str, shape: tuple[int, ...], qdim: int, in_scale: float) -> tuple[int, np.ndarray]:
        n = shape[qdim]
        w = self.rng.integers(-127, 128, size=shape, dtype=np.int8)
        ws = (self.rng.uniform(0.5, 1.5, n) * 0.004).astype(np.float32)
        return self.tensor(name, shape, "INT8", ws, np.zeros(n, np.int64), w, qdim), ws * in_scale

    def bias(self, name: str, scales: np.ndarray) -> int:
        n = len(scales)
        b = self.rng.integers(-1000, 1000, size=n, dtype=np.int32)
        return self.tensor(name, (n,), "INT32", scales, np.zeros(n, np.int64), b)

    def finish(self, opname: str, inputs: list[int], outputs: list[int], graph_in: list[int], opts_type: str,
               opts: Any) -> bytes:
        import flatbuffers

        s = self.s
        code = getattr(s.BuiltinOperator, opname)
        oc = s.OperatorCodeT()
        oc.builtinCode = code
        oc.deprecatedBuiltinCode = min(code, 127)
        oc.version = 1
        op = s.OperatorT()
        op.opcodeIndex = 0
        op.inputs = np.asarray(inputs, np.int32)
        op.outputs = np.asarray(outputs, np.int32)
        op.builtinOptionsType = getattr(s.BuiltinOptions, opts_type)
        op.builtinOptions = opts
        sg = s.SubGraphT()
        sg.tensors, sg.operators = self.tensors, [op]
        sg.inputs, sg.outputs = np.asarray(graph_in, np.int32), np.asarray(outputs, np.int32)
        sg.name = b"main"
        m = s.ModelT()
        m.version = 3
        m.operatorCodes, m.subgraphs, m.buffers = [oc], [sg], self.buffers
        m.description = b"atomnet single-op model"
        fb = flatbuffers.Builder(1024)
        fb.Finish(m.Pack(fb), file_identifier=b"TFL3")
        return bytes(fb.Output())


def build_direct(op: Op, variant: Variant | None = None, seed: int = 0) -> bytes:
    """The flatbuffer bytes of a one-operator int8 model for ``op`` (see the module docstring).

    >>> len(build_direct(Op.pointwise(8, 4, 4, 16))) > 0
    True
    """
    v = variant or default_variant(op)
    b = _Builder(seed)
    s = b.s
    fused = getattr(s.ActivationFunctionType, _FUSED.get(v.act, "NONE"))
    k = op.kind
    if k in ("conv", "pointwise", "depthwise"):
        x = b.act("input", (1, op.h_in, op.w_in, op.c_in))
        if k == "depthwise":
            w, sc = b.weights("weights", (1, op.kernel, op.kernel, op.c_out), 3, 0.05)
            o: Any = s.DepthwiseConv2DOptionsT()
            o.depthMultiplier = op.c_out // op.c_in
            name, otype = "DEPTHWISE_CONV_2D", "DepthwiseConv2DOptions"
        else:
            w, sc = b.weights("weights", (op.c_out, op.kernel, op.kernel, op.c_in), 0, 0.05)
            o = s.Conv2DOptionsT()
            name, otype = "CONV_2D", "Conv2DOptions"
        bias = b.bias("bias", sc)
        y = b.act("output", (1, op.h_out, op.w_out, op.c_out), 0.1, 5)
        o.padding = s.Padding.SAME
        o.strideH = o.strideW = op.stride
        o.dilationHFactor = o.dilationWFactor = 1
        o.fusedActivationFunction = fused
        return b.finish(name, [x, w, bias], [y], [x], otype, o)
    if k == "dense":
        x = b.act("input", (1, op.c_in))
        w, sc = b.weights("weights", (op.c_out, op.c_in), 0, 0.05)
        bias = b.bias("bias", sc)
        y = b.act("output", (1, op.c_out), 0.1, 5)
        o = s.FullyConnectedOptionsT()
        o.fusedActivationFunction = fused
        return b.finish("FULLY_CONNECTED", [x, w, bias], [y], [x], "FullyConnectedOptions", o)
    if k == "pool":
        x = b.act("input", (1, op.h_in, op.w_in, op.c_in))
        axis = b.tensor("axis", (2,), "INT32", data=np.array([1, 2], np.int32))
        y = b.act("output", (1, op.c_out))
        o = s.ReducerOptionsT()
        o.keepDims = False
        return b.finish("MEAN", [x, axis], [y], [x], "ReducerOptions", o)
    if k == "eltwise":
        shape = (1, op.h_in, op.w_in, op.c_in)
        x = b.act("input", shape)
        y = b.act("output", shape, 0.1, 5)
        if v.tflite_op == "HARD_SWISH":
            return b.finish("HARD_SWISH", [x], [y], [x], "HardSwishOptions", s.HardSwishOptionsT())
        if v.tflite_op not in ("ADD", "MUL"):
            raise InputError(f"eltwise op {op.describe()}: variant {v.tflite_op!r}; expected ADD, MUL or HARD_SWISH")
        # the SE multiply scales a C×H×W map by a C×1×1 gate (broadcast); ADD is a residual of two full maps
        x2 = b.act("input2", (1, 1, 1, op.c_in) if v.tflite_op == "MUL" and op.h_in * op.w_in > 1 else shape,
                   0.04, 2)
        oa: Any = s.AddOptionsT() if v.tflite_op == "ADD" else s.MulOptionsT()
        oa.fusedActivationFunction = fused
        return b.finish(v.tflite_op, [x, x2], [y], [x, x2], "AddOptions" if v.tflite_op == "ADD" else "MulOptions",
                        oa)
    raise InputError(f"op kind {k!r} has no single-op TFLite model in the tflm lowering (it has no {k} operator)")


def build_export(op: Op, variant: Variant | None = None, seed: int = 0) -> bytes:
    """The same operator through the real export path (torch → ONNX → onnx2tf int8); about 10 s per op."""
    import tempfile

    import torch
    from torch import nn

    from atomnet.export import export_int8

    v = variant or default_variant(op)
    torch.manual_seed(seed)
    act: nn.Module = {"relu": nn.ReLU(), "relu6": nn.ReLU6()}.get(v.act, nn.Identity())
    if op.kind in ("conv", "pointwise", "depthwise"):
        groups = op.groups if op.kind == "depthwise" else 1
        mod: nn.Module = nn.Sequential(nn.Conv2d(op.c_in, op.c_out, op.kernel, op.stride, op.kernel // 2,
                                                 groups=groups), act)
        shape = (op.c_in, op.h_in, op.w_in)
    else:
        raise InputError(f"the export builder makes conv, pointwise and depthwise ops; {op.kind} needs 'direct'")
    calib = torch.rand(8, *shape) * 2 - 1
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "op.tflite"
        export_int8(mod, calib, out, seed=seed)
        return out.read_bytes()


_BUILDERS: dict[str, Callable[[Op, Variant | None, int], bytes]] = {}


def register_builder(name: str, fn: Callable[[Op, Variant | None, int], bytes]) -> None:
    if name in _BUILDERS:
        raise ValueError(f"a single-op model builder {name!r} is already registered")
    _BUILDERS[name] = fn


def list_builders() -> list[str]:
    return sorted(_BUILDERS)


def get_builder(name: str) -> Callable[[Op, Variant | None, int], bytes]:
    try:
        return _BUILDERS[name]
    except KeyError:
        raise InputError(f"builder: unknown {name!r}; known: {', '.join(sorted(_BUILDERS))}") from None


register_builder("direct", build_direct)
register_builder("export", build_export)


def model_name(op: Op, variant: Variant) -> str:
    return "_".join(str(v) for v in op.key) + f"_{variant.tflite_op.lower()}_{variant.act}"


def write_models(items: Iterable[tuple[Op, Variant]], folder: str | Path, *, builder: str = "direct",
                 seed: int = 0) -> Path:
    """Write one ``.tflite`` per (op, variant) into ``folder`` with ``manifest.jsonl``; returns the manifest.
    Files already listed in the manifest are kept (a re-run only adds the missing ones)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    manifest = folder / "manifest.jsonl"
    done = {json.loads(line)["file"] for line in manifest.read_text().splitlines() if line.strip()} \
        if manifest.exists() else set()
    build = get_builder(builder)
    with open(manifest, "a") as f:
        for op, v in items:
            name = model_name(op, v) + ".tflite"
            if name in done:
                continue
            data = build(op, v, seed)
            (folder / name).write_bytes(data)
            f.write(json.dumps({"schema": 1, "op": op.to_dict(), "variant": v.to_dict(), "file": name,
                                "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                                "builder": builder, "seed": seed}) + "\n")
            f.flush()
            done.add(name)
    return manifest
