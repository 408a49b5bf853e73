"""Reading ``.tflite`` files: operators, tensor shapes and types, constant sizes → MACs and weight bytes,
and the activation graph that the SRAM planners price (:meth:`TFLiteModel.to_graph`).

The flatbuffer is parsed with the TFLite schema that ships inside the ``tflite-micro`` wheel
(``schema_py_generated``, needs only ``flatbuffers``), so reading needs neither TensorFlow nor torch.

>>> m = read_tflite("model.tflite")                      # doctest: +SKIP
>>> m.op_counts()["CONV_2D"], m.macs, m.weight_bytes     # doctest: +SKIP
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from atomnet.export._errors import TFLiteError
from atomnet.export._validate import ITEMSIZE, SUBGRAPH_FIELDS, buffer_size, ints, names, text, validate_model
from atomnet.ops import Op
from atomnet.spec import Graph, Layer, Tensor

__all__ = ["ITEMSIZE", "TFLOp", "TFLTensor", "TFLiteModel", "parse_tflite", "read_tflite"]

_FLOAT = frozenset({"FLOAT32", "FLOAT16", "FLOAT64", "BFLOAT16"})


def _schema() -> Any:
    try:
        from tflite_micro.tensorflow.lite.micro.python import schema_py_generated
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("reading .tflite files needs the tflite-micro package: "
                          ".venv/bin/pip install -r requirements-ml.txt") from e
    return schema_py_generated


@dataclass(frozen=True)
class TFLTensor:
    """A tensor of the (first) subgraph. ``const_bytes`` is the size of its constant data (0 for
    activations); ``scales`` the number of quantization scales (per-channel > 1)."""

    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str
    const_bytes: int
    scales: int
    is_variable: bool = False
    #: zero points in the quantization table (TFLM allocates its per-tensor copy only when both scales and zero
    #: points are present); ``quantized_dim`` the axis of per-channel scales
    zero_points: int = 0
    quantized_dim: int = 0

    @property
    def is_quantized(self) -> bool:
        """Whether the tensor has a quantization table TFLite Micro copies (scales and zero points)."""
        return self.scales > 0 and self.zero_points > 0

    @property
    def is_constant(self) -> bool:
        return self.const_bytes > 0

    @property
    def nbytes(self) -> int:
        n = ITEMSIZE.get(self.dtype, 0)
        for d in self.shape:
            n *= d
        return n


@dataclass(frozen=True)
class TFLOp:
    """One operator: builtin name, tensor indices (-1 = optional input absent), and the options that
    size it (strides, padding name) where the operator has them."""

    index: int
    name: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    stride: tuple[int, int] = (1, 1)
    padding: str = ""
    fused_act: str = ""
    #: the scalar fields of the operator's builtin options table (schema field names: ``rank``,
    #: ``timeMajor``, ...); empty for custom operators
    options: tuple[tuple[str, int | float | bool], ...] = ()
    #: the raw ``custom_options`` bytes of a custom operator (flexbuffer)
    custom_options: bytes = b""
    intermediates: tuple[int, ...] = ()

    @property
    def is_custom(self) -> bool:
        return self.name.startswith("CUSTOM:")

    def option(self, name: str, default: int | float | bool = 0) -> int | float | bool:
        """One scalar field of the builtin options (``default`` when the table or field is absent)."""
        return dict(self.options).get(name, default)


@dataclass(frozen=True)
class TFLiteModel:
    """A parsed ``.tflite`` file (first subgraph)."""

    path: str
    file_bytes: int
    version: int
    description: str
    tensors: tuple[TFLTensor, ...]
    ops: tuple[TFLOp, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    subgraphs: int = 1
    notes: tuple[str, ...] = ()  # oddities the validator found that are not errors
    #: ``OfflineMemoryAllocation`` metadata: one arena offset per tensor (-1 = planned online), ``None``
    #: when the file has no offline plan
    offline_offsets: tuple[int, ...] | None = None
    #: tensors in every subgraph together (TFLM checks an offline plan against this count)
    total_tensors: int = 0
    #: ``(operator index, operator name, subgraph indices)`` of control-flow operators of the main subgraph
    control_flow: tuple[tuple[int, str, tuple[int, ...]], ...] = ()

    # ---- summaries -------------------------------------------------------------------------
    def op_counts(self) -> Counter[str]:
        return Counter(op.name for op in self.ops)

    def activation_inputs(self, op: TFLOp) -> tuple[int, ...]:
        """Non-constant input tensors of ``op`` (what an SRAM planner keeps alive)."""
        return tuple(i for i in op.inputs if i >= 0 and not self.tensors[i].is_constant)

    def float_ops(self) -> list[TFLOp]:
        """Operators that read or write a floating-point activation tensor."""
        return [op for op in self.ops
                if any(self.tensors[i].dtype in _FLOAT for i in (*self.activation_inputs(op), *op.outputs))]

    def op_macs(self, op: TFLOp) -> int:
        """MACs of a conv / depthwise / fully-connected operator (0 for the others): weights × output pixels."""
        if op.name not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            return 0
        w = self.tensors[op.inputs[1]].shape
        out = self.tensors[op.outputs[0]].shape
        if op.name == "FULLY_CONNECTED":
            return _prod(w) * (_prod(out) // max(w[0], 1))
        oh, ow = out[1], out[2]
        if op.name == "CONV_2D":  # weights [c_out, kh, kw, c_in / groups]
            return _prod(w) * oh * ow
        return w[1] * w[2] * w[3] * oh * ow  # depthwise weights [1, kh, kw, c_out]

    @cached_property
    def macs(self) -> int:
        """Conv + depthwise + fully-connected MACs (no bias) — the convention of :func:`atomnet.spec.spec_macs`."""
        return sum(self.op_macs(op) for op in self.ops)

    @cached_property
    def weight_bytes(self) -> int:
        """Bytes of the filters of conv / depthwise / fully-connected operators (int8: one byte each)."""
        seen = {op.inputs[1] for op in self.ops if op.name in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")}
        return sum(self.tensors[i].const_bytes for i in seen)

    @cached_property
    def const_bytes(self) -> int:
        """All constant data (weights, biases, shape and axis operands, constant operands)."""
        return sum(t.const_bytes for t in self.tensors)

    def check_single_subgraph(self) -> None:
        """Raise :class:`~atomnet.export.TFLiteError` naming the control-flow operators when the main subgraph
        calls other subgraphs (WHILE, IF, CALL_ONCE): atomnet plans the main subgraph only."""
        if self.control_flow:
            calls = "; ".join(f"operator {j} ({name}) runs subgraph{'s' if len(sub) > 1 else ''} "
                              + ", ".join(map(str, sub)) for j, name, sub in self.control_flow)
            raise TFLiteError(self.path, [f"control flow is not supported: {calls} (the model has "
                                          f"{self.subgraphs} subgraphs; atomnet plans the main subgraph only)"])

    # ---- the planner's view ----------------------------------------------------------------
    def to_graph(self, name: str | None = None) -> Graph:
        """The activation graph: every non-constant tensor as ``(c, h, w)`` and every operator as a
        :class:`~atomnet.spec.Layer` named ``{index}.{OPNAME}`` with its TFLite name in ``tflite_op``.
        Sizes are exact (a ``[1, n]`` tensor is ``(n, 1, 1)``); ``op`` is the closest atom operator."""
        act = [t for t in self.tensors if not t.is_constant]
        ids = {t.index: i for i, t in enumerate(act)}
        tensors = tuple(Tensor(i, _chw(t.shape)) for i, t in enumerate(act))

        def act_id(t: int, what: str) -> int:
            if t not in ids:
                raise TFLiteError(self.path, [f"{what} is tensor {t} {self.tensors[t].name[:60]!r}, which holds "
                                              "constant data; expected an activation"])
            return ids[t]

        layers = []
        for op in self.ops:
            ins = tuple(ids[i] for i in self.activation_inputs(op))
            if len(op.outputs) != 1:
                raise TFLiteError(self.path, [f"operator {op.index} ({op.name}) has {len(op.outputs)} outputs; "
                                              "only single-output operators are supported"])
            out = act_id(op.outputs[0], f"the output of operator {op.index} ({op.name})")
            try:
                atom = self._atom(op)
            except (ValueError, IndexError, ZeroDivisionError) as e:
                raise TFLiteError(self.path, [f"operator {op.index} ({op.name}) has no atom operator ({e})"]) from None
            layers.append(Layer(f"{op.index}.{op.name}", atom, ins, out, 0, op.index,
                                act=op.fused_act.lower() if op.fused_act not in ("", "NONE") else "none",
                                tflite_op=op.name))
        if len(self.inputs) != 1 or len(self.outputs) != 1:
            raise TFLiteError(self.path, [f"expected one input and one output, got {len(self.inputs)} and "
                                          f"{len(self.outputs)}"])
        try:
            return Graph(name or Path(self.path).stem, "tflm", tensors, tuple(layers),
                         act_id(self.inputs[0], "the model input"), act_id(self.outputs[0], "the model output"))
        except TFLiteError:
            raise
        except ValueError as e:
            raise TFLiteError(self.path, [f"not a graph atomnet can plan ({e})"]) from None

    def _atom(self, op: TFLOp) -> Op:
        i = self.activation_inputs(op)
        cin, hin, win = _chw(self.tensors[i[0]].shape) if i else (1, 1, 1)
        cout, hout, wout = _chw(self.tensors[op.outputs[0]].shape)
        if op.name == "CONV_2D":
            w = self.tensors[op.inputs[1]].shape
            k = w[1]
            if k == 1 and op.stride == (1, 1) and (hin, win) == (hout, wout):
                return Op.pointwise(cin, hin, win, cout)
            return Op("conv", cin, hin, win, cout, hout, wout, k, op.stride[0], max(1, cin // max(w[3], 1)))
        if op.name == "DEPTHWISE_CONV_2D":
            k = self.tensors[op.inputs[1]].shape[1]
            return Op("depthwise", cin, hin, win, cout, hout, wout, k, op.stride[0], cin)
        if op.name == "FULLY_CONNECTED":
            w = self.tensors[op.inputs[1]].shape
            return Op.dense(max(w[1], 1), max(w[0], 1))
        if op.name == "MEAN":
            return Op.pool(cin, hin, win) if (hout, wout) == (1, 1) else Op.eltwise(cout, hout, wout)
        if op.name == "PAD":
            return Op.pad(cin, hin, win, hout, wout)
        return Op.eltwise(cout, hout, wout)


def _prod(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _chw(shape: tuple[int, ...]) -> tuple[int, int, int]:
    """NHWC (or [N, C], or scalar) → (c, h, w), batch folded away; sizes are what matter."""
    dims = [max(int(d), 1) for d in shape]
    if len(dims) == 4:
        return dims[3], dims[1] * dims[0], dims[2]
    if len(dims) == 3:
        return dims[2], dims[0], dims[1]
    if len(dims) == 2:
        return dims[1] * dims[0], 1, 1
    return (dims[0] if dims else 1), 1, 1


def read_tflite(path: str | Path) -> TFLiteModel:
    """Parse and validate a ``.tflite`` file. A missing, truncated, corrupt or inconsistent file raises
    :class:`~atomnet.export.TFLiteError` (a ``ValueError``) naming it and every problem found."""
    p = Path(path)
    try:
        buf = p.read_bytes()
    except OSError as e:
        raise TFLiteError(str(p), [f"cannot read the file ({e.strerror or e})"]) from None
    return parse_tflite(buf, str(p))


def parse_tflite(buf: bytes, source: str = "<bytes>") -> TFLiteModel:
    """Parse and validate the bytes of a ``.tflite`` flatbuffer (see :func:`read_tflite`)."""
    model, fb = _unpack(buf, source)
    problems, notes = validate_model(model, len(buf), fb)
    if problems:
        raise TFLiteError(source, problems)
    try:
        return _convert(model, fb, buf, source, tuple(notes))
    except TFLiteError:
        raise
    except Exception as e:  # pragma: no cover - validation makes this unreachable; a message, never a traceback
        raise TFLiteError(source, [f"cannot read the model ({type(e).__name__}: {e})"]) from None


def validate_tflite(path: str | Path) -> list[str]:
    """Every problem :func:`read_tflite` would refuse ``path`` for (empty = valid); never raises for a bad file."""
    try:
        read_tflite(path)
    except TFLiteError as e:
        return list(e.problems)
    return []


def _unpack(buf: bytes, source: str) -> tuple[Any, Any]:
    if len(buf) < 8 or buf[4:8] != b"TFL3":
        raise TFLiteError(source, [f"not a TFLite model (no 'TFL3' file identifier; {len(buf):,} bytes)"])
    fb = _schema()
    try:
        return fb.ModelT.InitFromObj(fb.Model.GetRootAsModel(buf, 0)), fb
    except Exception as e:  # flatbuffers reports damage as IndexError, struct.error, UnicodeError, ValueError ...
        kind = type(e).__name__ if type(e).__module__ == "builtins" else f"{type(e).__module__}.{type(e).__name__}"
        why = f"{kind}: {e}" if str(e) else kind
        raise TFLiteError(source, [f"corrupt or truncated TFLite file ({why})"]) from None


def _convert(model: Any, fb: Any, buf: bytes, source: str, notes: tuple[str, ...]) -> TFLiteModel:
    """The validated model as a :class:`TFLiteModel` (first subgraph)."""
    types, opnames = names(fb.TensorType), names(fb.BuiltinOperator)
    pads, acts = names(fb.Padding), names(fb.ActivationFunctionType)
    sg = model.subgraphs[0]
    buffers = model.buffers or []
    tensors = []
    for i, t in enumerate(sg.tensors or []):
        size = buffer_size(buffers[int(t.buffer)], len(buf)) or 0
        q = t.quantization
        nscales = 0 if q is None or q.scale is None else len(q.scale)
        nzp = 0 if q is None or q.zeroPoint is None else len(q.zeroPoint)
        tensors.append(TFLTensor(i, text(t.name), tuple(ints(t.shape)), types[int(t.type)], size, nscales,
                                 bool(t.isVariable), nzp, int(q.quantizedDimension) if q is not None else 0))
    ops = []
    flow = []
    codes = model.operatorCodes or []
    for j, op in enumerate(sg.operators or []):
        oc = codes[int(op.opcodeIndex)]
        code = max(int(oc.builtinCode), int(oc.deprecatedBuiltinCode))
        name = opnames.get(code, f"BUILTIN_{code}")
        if name == "CUSTOM":
            name = f"CUSTOM:{text(oc.customCode)}"
        opts = op.builtinOptions
        stride = (int(getattr(opts, "strideH", 1) or 1), int(getattr(opts, "strideW", 1) or 1))
        pad = pads.get(getattr(opts, "padding", -1), "")
        fused = acts.get(getattr(opts, "fusedActivationFunction", -1), "")
        custom = bytes(ints(op.customOptions)) if op.customOptions is not None else b""
        ops.append(TFLOp(j, name, tuple(ints(op.inputs)), tuple(ints(op.outputs)), stride, pad, fused,
                         _scalar_options(opts), custom, tuple(ints(op.intermediates))))
        if name in SUBGRAPH_FIELDS:  # the validator checked the fields are there and in range
            flow.append((j, name, tuple(int(getattr(opts, f)) for f in SUBGRAPH_FIELDS[name])))
    return TFLiteModel(source, len(buf), int(model.version), text(model.description), tuple(tensors), tuple(ops),
                       tuple(ints(sg.inputs)), tuple(ints(sg.outputs)), len(model.subgraphs), notes,
                       _offline_plan(model, buffers), sum(len(g.tensors or []) for g in model.subgraphs),
                       tuple(flow))


def _scalar_options(opts: Any) -> tuple[tuple[str, int | float | bool], ...]:
    """The scalar fields of a builtin options object (``rank``, ``timeMajor`` ...), sorted by name."""
    if opts is None:
        return ()
    out = []
    for k, v in sorted(vars(opts).items()):
        if isinstance(v, bool | int | float) and not k.startswith("_"):
            out.append((k, v))
    return tuple(out)


#: the metadata entry of an offline memory plan (TFLM ``kOfflineMemAllocMetadata``): int32 words
#: ``[version, subgraph, tensor count, offset of tensor 0, ...]``, offset -1 = planned online
OFFLINE_PLAN = "OfflineMemoryAllocation"


def _offline_plan(model: Any, buffers: list[Any]) -> tuple[int, ...] | None:
    for md in model.metadata or []:
        if text(md.name) != OFFLINE_PLAN:
            continue
        b = buffers[int(md.buffer)]
        raw = bytes(ints(b.data)) if b is not None and b.data is not None else b""
        words = [int.from_bytes(raw[k:k + 4], "little", signed=True) for k in range(0, len(raw) - 3, 4)]
        if len(words) < 3:
            return ()
        return tuple(words[3:3 + max(words[2], 0)])
    return None
