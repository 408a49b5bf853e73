"""Validation of a parsed ``.tflite`` flatbuffer before anything else (our readers, the TFLite Micro
interpreter) touches it. Pure Python on the schema's object API (``ModelT``); collects every problem.

What is checked, in every subgraph:

- tensors: a known type; a buffer index in range; a buffer that lies inside the file; rank ≤ 6 (TFLite
  Micro's ``RuntimeShape`` holds at most 6 dimensions); dimensions ≥ 0 and ≤ :data:`MAX_DIM`; at most
  :data:`MAX_TENSOR_BYTES` bytes; constant data exactly ``elements × element size`` bytes (packed sub-byte
  types: either packing); quantization arrays: zero points as many as scales, per-channel scales as many
  as the quantized dimension has channels;
- operators: opcode index in range; input tensor indices in ``[-1, tensors)``, output and intermediate
  indices in range; options of the right type with strides, dilations and pool filters ≥ 1 (and
  ≤ :data:`MAX_DIM`) for conv and pool operators; the shapes kernels trust without checking: conv /
  depthwise / fully-connected / pool operands of the right rank, agreeing on batch, channels and output
  size (stride, padding, dilation), no empty operand; size-preserving operators (activations, quantize,
  reshape, …) keep the element count; broadcasting operators' outputs match the broadcast shape; subgraph
  indices of control-flow operators in range;
- graph inputs and outputs in range and not empty (the main subgraph has some); metadata and signature
  references in range.

>>> problems, notes = validate_model(model_t, len(data), schema)   # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

#: bytes per element of TFLite tensor types (schema ``TensorType`` names); 0 = no fixed size
ITEMSIZE: dict[str, int] = {"FLOAT32": 4, "FLOAT16": 2, "INT32": 4, "UINT8": 1, "INT64": 8, "STRING": 1,
                            "BOOL": 1, "INT16": 2, "COMPLEX64": 8, "INT8": 1, "FLOAT64": 8, "COMPLEX128": 16,
                            "UINT64": 8, "RESOURCE": 0, "VARIANT": 0, "UINT32": 4, "UINT16": 2, "INT4": 1,
                            "BFLOAT16": 2, "INT2": 1, "UINT4": 1, "FLOAT8_E4M3FN": 1, "FLOAT8_E5M2": 1}
#: sub-byte types: elements per byte when packed (files hold them packed or one per byte)
PACKED: dict[str, int] = {"INT4": 2, "UINT4": 2, "INT2": 4}
#: types whose buffers have no fixed size per element (not size-checked)
_UNSIZED = frozenset({"STRING", "RESOURCE", "VARIANT"})

MAX_RANK = 6
MAX_DIM = 1 << 24
#: TFLite Micro counts elements and bytes in 32-bit ``int``
MAX_TENSOR_BYTES = (1 << 31) - 1
#: problems collected before giving up on a badly damaged file
MAX_PROBLEMS = 50

_CONV = ("CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV")
_POOL = ("AVERAGE_POOL_2D", "MAX_POOL_2D", "L2_POOL_2D")
#: operator → the options table its kernel reads (a missing or different table leaves strides at 0)
_OPTIONS = {"CONV_2D": "Conv2DOptions", "DEPTHWISE_CONV_2D": "DepthwiseConv2DOptions",
            "TRANSPOSE_CONV": "TransposeConvOptions", "AVERAGE_POOL_2D": "Pool2DOptions",
            "MAX_POOL_2D": "Pool2DOptions", "L2_POOL_2D": "Pool2DOptions"}
#: control-flow operators → option fields that name subgraphs
SUBGRAPH_FIELDS = {"IF": ("thenSubgraphIndex", "elseSubgraphIndex"),
                    "WHILE": ("condSubgraphIndex", "bodySubgraphIndex"), "CALL_ONCE": ("initSubgraphIndex",)}


def names(enum_cls: Any) -> dict[int, str]:
    """``{code: name}`` of a schema enum class."""
    return {v: k for k, v in vars(enum_cls).items() if not k.startswith("_") and isinstance(v, int)}


def text(x: Any) -> str:
    """A flatbuffer string (bytes) as text, undecodable bytes replaced."""
    if x is None:
        return ""
    return x.decode(errors="replace") if isinstance(x, bytes) else str(x)


def ints(v: Any) -> list[int]:
    """A flatbuffer vector (list, numpy array or None) as Python ints."""
    return [] if v is None else [int(x) for x in v]


def fmt_shape(shape: list[int]) -> str:
    return "(" + ",".join(str(d) for d in shape) + ")"


def _prod(shape: list[int]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


class _Problems(list[str]):
    def add(self, msg: str) -> None:
        if len(self) < MAX_PROBLEMS:
            self.append(msg)


def buffer_size(b: Any, file_bytes: int) -> int | None:
    """Bytes of constant data in buffer ``b`` (0 = none); ``None`` when it lies outside the file."""
    if b is None:
        return 0
    if b.data is not None and len(b.data):
        return len(b.data)
    off, size = int(b.offset), int(b.size)
    if off > 1:  # large models keep constants after the flatbuffer, at an absolute file offset
        return size if size >= 0 and off + size <= file_bytes else None
    return 0


def validate_model(model: Any, file_bytes: int, fb: Any) -> tuple[list[str], list[str]]:
    """``(problems, notes)`` of a parsed model (``fb.ModelT``); ``problems`` empty = safe to read and to
    load in TFLite Micro as far as the flatbuffer goes; ``notes`` are oddities that are not errors."""
    types, opnames = names(fb.TensorType), names(fb.BuiltinOperator)
    optnames = names(fb.BuiltinOptions)
    out, notes = _Problems(), _Problems()
    buffers = model.buffers or []
    codes = model.operatorCodes or []
    subgraphs = model.subgraphs or []
    if not subgraphs:
        out.add("the model has no subgraph")
    for k, b in enumerate(buffers):
        if b is not None and buffer_size(b, file_bytes) is None:
            out.add(f"buffer {k} lies outside the file (offset {int(b.offset):,}, {int(b.size):,} bytes, "
                    f"file {file_bytes:,} bytes)")
    op_names = []
    for oc in codes:
        code = max(int(oc.builtinCode), int(oc.deprecatedBuiltinCode))
        op_names.append(opnames.get(code, f"BUILTIN_{code}"))
    if subgraphs and not (subgraphs[0].inputs is not None and len(subgraphs[0].inputs) and
                          subgraphs[0].outputs is not None and len(subgraphs[0].outputs)):
        out.add("the main subgraph has no inputs or no outputs")
    for s, sg in enumerate(subgraphs):
        where = "" if s == 0 else f"subgraph {s} "
        shapes = [_check_tensor(out, notes, f"{where}tensor {i} {text(t.name)[:60]!r}", t, types, buffers,
                                file_bytes) for i, t in enumerate(sg.tensors or [])]
        _check_graph_io(out, where, sg, shapes)
        for j, op in enumerate(sg.operators or []):
            _check_operator(out, f"{where}operator {j}", op, op_names, optnames, len(subgraphs), shapes)
    _check_references(out, model, len(buffers), subgraphs)
    return list(out), list(notes)


def _check_graph_io(out: _Problems, where: str, sg: Any, shapes: list[list[int] | None]) -> None:
    """A subgraph's inputs and outputs: in range, not empty."""
    n = len(shapes)
    for what, idx in (("input", ints(sg.inputs)), ("output", ints(sg.outputs))):
        for x in idx:
            if not 0 <= x < n:
                out.add(f"{where}graph {what} refers to tensor {x}, but the subgraph has {n} tensors")
            elif (sh := shapes[x]) is not None and 0 in sh:
                out.add(f"{where}graph {what} tensor {x} has shape {fmt_shape(sh)}, which has no elements")


def _check_operator(out: _Problems, where: str, op: Any, op_names: list[str], optnames: dict[int, str], nsub: int,
                    shapes: list[list[int] | None]) -> None:
    """One operator (``where`` = ``[subgraph s ]operator j``): opcode, tensor indices, options, shapes."""
    n = len(shapes)
    oi = int(op.opcodeIndex)
    if not 0 <= oi < len(op_names):
        out.add(f"{where} has opcode index {oi}, but the model has {len(op_names)} operator codes")
        return
    name = op_names[oi]
    label = f"{where} ({name})"
    ins, outs = ints(op.inputs), ints(op.outputs)
    bad = [x for x in ins if not -1 <= x < n] + [x for x in outs if not 0 <= x < n] + \
          [x for x in ints(op.intermediates) if not -1 <= x < n]
    for x in bad:
        out.add(f"{label} refers to tensor {x}, but the subgraph has {n} tensors")
    if bad:
        return
    before = len(out)
    _check_options(out, label, name, op, optnames, nsub)
    _check_shapes(out, label, name, op if len(out) == before else None, ins, outs, shapes)


def _check_references(out: _Problems, model: Any, nbuf: int, subgraphs: list[Any]) -> None:
    """Metadata buffers and signature subgraphs/tensors in range."""
    for k, md in enumerate(model.metadata or []):
        if not 0 <= int(md.buffer) < nbuf:
            out.add(f"metadata {k} {text(md.name)[:60]!r} refers to buffer {int(md.buffer)}, but the model has "
                    f"{nbuf} buffers")
    for k in ints(model.metadataBuffer):
        if not 0 <= k < nbuf:
            out.add(f"metadata buffer {k} is out of range ({nbuf} buffers)")
    for k, sd in enumerate(model.signatureDefs or []):
        si = int(sd.subgraphIndex)
        if not 0 <= si < len(subgraphs):
            out.add(f"signature {k} refers to subgraph {si}, but the model has {len(subgraphs)}")
            continue
        n = len(subgraphs[si].tensors or [])
        for tm in [*(sd.inputs or []), *(sd.outputs or [])]:
            if not 0 <= int(tm.tensorIndex) < n:
                out.add(f"signature {k} refers to tensor {int(tm.tensorIndex)}, but subgraph {si} has {n} tensors")


def _check_tensor(out: _Problems, notes: _Problems, label: str, t: Any, types: dict[int, str], buffers: list[Any],
                  file_bytes: int) -> list[int] | None:
    """Check one tensor; returns its shape when sane (else ``None``)."""
    if int(t.type) not in types:
        out.add(f"{label} has an unknown type code {int(t.type)}")
        return None
    dtype = types[int(t.type)]
    shape = ints(t.shape)
    bi = int(t.buffer)
    if not 0 <= bi < len(buffers):
        out.add(f"{label} refers to buffer {bi}, but the model has {len(buffers)} buffers")
        return None
    if len(shape) > MAX_RANK:
        out.add(f"{label} has {len(shape)} dimensions {fmt_shape(shape)}; TFLite Micro supports at most {MAX_RANK}")
        return None
    if any(d < 0 or d > MAX_DIM for d in shape):
        out.add(f"{label} has shape {fmt_shape(shape)}: dimensions must lie in 0..{MAX_DIM:,}")
        return None
    if not _check_tensor_bytes(out, notes, label, t, dtype, shape, buffers[bi], bi, file_bytes):
        return None
    if t.quantization is not None:
        _check_quantization(out, label, t.quantization, shape)
    return shape


def _check_tensor_bytes(out: _Problems, notes: _Problems, label: str, t: Any, dtype: str, shape: list[int],
                        buffer: Any, bi: int, file_bytes: int) -> bool:
    """The constant data's size agrees with the shape and the tensor is addressable; ``False`` when not."""
    count = _prod(shape)
    nbytes = count * max(ITEMSIZE.get(dtype, 1), 1)
    size = buffer_size(buffer, file_bytes) or 0
    if size and dtype not in _UNSIZED:
        if t.sparsity is not None:
            notes.add(f"{label} is sparse; its data size is not checked")
        elif size != nbytes and not (dtype in PACKED and size == -(-count // PACKED[dtype])):
            out.add(f"{label} has shape {fmt_shape(shape)} {dtype} = {nbytes:,} bytes but its buffer {bi} "
                    f"holds {size:,}")
            return False
    if nbytes > MAX_TENSOR_BYTES:
        out.add(f"{label} has shape {fmt_shape(shape)} {dtype} = {nbytes:,} bytes, more than TFLite Micro can "
                f"address ({MAX_TENSOR_BYTES:,})")
        return False
    return True


def _check_quantization(out: _Problems, label: str, q: Any, shape: list[int]) -> None:
    """Zero points as many as scales; per-channel scales as many as the quantized dimension's channels."""
    scales = 0 if q.scale is None else len(q.scale)
    zps = 0 if q.zeroPoint is None else len(q.zeroPoint)
    if scales and zps and zps != scales:
        out.add(f"{label} has {scales} quantization scales but {zps} zero points")
    if scales <= 1:
        return
    qd = int(q.quantizedDimension)
    if 0 <= qd < len(shape):
        if shape[qd] != scales:
            out.add(f"{label} has {scales} per-channel scales, but its quantized dimension {qd} of shape "
                    f"{fmt_shape(shape)} has {shape[qd]} channels")
    elif len(shape) == 1 and qd >= 0 and shape[0] == scales:
        pass  # 1-D biases written with the filter's quantized dimension (old converters): one per element
    else:
        out.add(f"{label} has {scales} per-channel scales on dimension {qd}, but its shape is "
                f"{fmt_shape(shape)}")


def _check_options(out: _Problems, label: str, name: str, op: Any, optnames: dict[int, str], nsub: int) -> None:
    want = _OPTIONS.get(name)
    opts = op.builtinOptions
    if want is not None:
        got = optnames.get(int(op.builtinOptionsType), str(int(op.builtinOptionsType)))
        if opts is None or got != want:
            out.add(f"{label} has {got if opts is not None else 'no'} options, expected {want}")
            return
        fields = ["strideH", "strideW"]
        fields += ["dilationHFactor", "dilationWFactor"] if name in ("CONV_2D", "DEPTHWISE_CONV_2D") else []
        fields += ["filterHeight", "filterWidth"] if name in _POOL else []
        for f in fields:
            v = int(getattr(opts, f))
            if not 1 <= v <= MAX_DIM:
                out.add(f"{label} has {f} {v}, expected 1..{MAX_DIM:,}")
        if name == "DEPTHWISE_CONV_2D" and int(opts.depthMultiplier) < 0:
            out.add(f"{label} has depthMultiplier {int(opts.depthMultiplier)}, expected ≥ 0")
    for f in SUBGRAPH_FIELDS.get(name, ()):
        sub = getattr(opts, f, None) if opts is not None else None
        if sub is None:
            out.add(f"{label} has no {f}")
        elif not 0 <= int(sub) < nsub:
            out.add(f"{label} has {f} {int(sub)}, but the model has {nsub} subgraphs")


#: operators whose output has exactly the elements of their first input (kernels size the loop by the input)
_SAME_SIZE = frozenset({"SOFTMAX", "LOGISTIC", "TANH", "RELU", "RELU6", "RELU_N1_TO_1", "RELU_0_TO_1", "HARD_SWISH",
                        "LEAKY_RELU", "PRELU", "QUANTIZE", "DEQUANTIZE", "ABS", "NEG", "ELU", "LOG_SOFTMAX", "EXP",
                        "SQRT", "RSQRT", "SQUARE", "LOG", "SIN", "COS", "FLOOR", "CEIL", "ROUND", "RESHAPE",
                        "SQUEEZE", "EXPAND_DIMS", "L2_NORMALIZATION", "CAST", "GELU"})
_BROADCAST = frozenset({"ADD", "MUL", "SUB", "DIV", "MAXIMUM", "MINIMUM", "SQUARED_DIFFERENCE", "POW",
                        "FLOOR_DIV", "FLOOR_MOD"})


def _broadcast(a: list[int], b: list[int]) -> list[int] | None:
    r = max(len(a), len(b))
    a, b = [1] * (r - len(a)) + a, [1] * (r - len(b)) + b
    out = []
    for x, y in zip(a, b, strict=True):  # both padded to rank r
        if x != y and 1 not in (x, y):
            return None
        out.append(y if x == 1 else x)
    return out


def _window_out(size: int, k: int, stride: int, dilation: int, padding: int) -> int:
    """TFLite's output size: SAME (0) ⌈size/stride⌉, VALID (1) ⌈(size − (k−1)·dilation)/stride⌉."""
    if padding == 0:
        return -(-size // stride)
    return max(0, -(-(size - (k - 1) * dilation) // stride))


def _check_shapes(out: _Problems, label: str, name: str, op: Any | None, ins: list[int], outs: list[int],
                  shapes: list[list[int] | None]) -> None:
    """Shapes the kernels trust: conv / depthwise / fully-connected / pool operand ranks, channel, batch and
    spatial sizes; element counts of size-preserving and broadcasting operators. ``op`` is ``None`` when its
    options are broken (already reported): the output size is then not checked."""
    if name in _SAME_SIZE or name in _BROADCAST:
        _check_elementwise(out, label, name, ins, outs, shapes)
        return
    if name not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", *_POOL):
        return
    need = 1 if name in _POOL else 2
    if len(ins) < need or any(i < 0 for i in ins[:need]) or not outs:
        out.add(f"{label} needs an input{', weights' if need == 2 else ''} and an output tensor, has inputs {ins} "
                f"and outputs {outs}")
        return
    operands = [shapes[i] for i in ins[:need]] + [shapes[outs[0]]]
    if any(s is None for s in operands):
        return  # already reported
    x, y = operands[0], operands[-1]
    w = operands[1] if need == 2 else None
    assert x is not None and y is not None
    for what, sh in (("input", x), ("weights", w), ("output", y)):
        if sh is not None and 0 in sh:
            out.add(f"{label} has {what} of shape {fmt_shape(sh)}, which has no elements")
            return
    if name == "FULLY_CONNECTED":
        assert w is not None
        _check_fully_connected(out, label, x, w, y)
    else:
        _check_window(out, label, name, op, x, w, y)


def _check_elementwise(out: _Problems, label: str, name: str, ins: list[int], outs: list[int],
                       shapes: list[list[int] | None]) -> None:
    """Size-preserving operators keep the element count; broadcasting ones give the broadcast shape."""
    if not ins or ins[0] < 0 or not outs:
        return
    x, y = shapes[ins[0]], shapes[outs[0]]
    if x is None or y is None:
        return
    if name in _SAME_SIZE and _prod(x) != _prod(y):
        out.add(f"{label} turns {fmt_shape(x)} ({_prod(x):,} elements) into {fmt_shape(y)} ({_prod(y):,})")
    if name not in _BROADCAST or len(ins) < 2 or ins[1] < 0 or (z := shapes[ins[1]]) is None:
        return
    b = _broadcast(x, z)
    if b is None:
        out.add(f"{label}: shapes {fmt_shape(x)} and {fmt_shape(z)} do not broadcast")
    elif _prod(b) != _prod(y):
        out.add(f"{label} of {fmt_shape(x)} and {fmt_shape(z)} gives {fmt_shape(b)}, but its output has "
                f"shape {fmt_shape(y)}")


def _check_fully_connected(out: _Problems, label: str, x: list[int], w: list[int], y: list[int]) -> None:
    if len(w) != 2:
        out.add(f"{label} has weights of shape {fmt_shape(w)}, expected 2 dimensions")
    elif _prod(x) % w[1] or _prod(y) != _prod(x) // w[1] * w[0]:
        out.add(f"{label}: input {fmt_shape(x)} times weights {fmt_shape(w)} does not give output "
                f"{fmt_shape(y)}")


def _check_window(out: _Problems, label: str, name: str, op: Any | None, x: list[int], w: list[int] | None,
                  y: list[int]) -> None:
    """Conv / depthwise (``w`` given) and pool operators: 4-D operands, channels, output size."""
    for what, sh in (("input", x), ("weights", w), ("output", y)):
        if sh is not None and len(sh) != 4:
            out.add(f"{label} has {what} of shape {fmt_shape(sh)}, expected 4 dimensions")
            return
    if w is not None and (y[3] != w[0] or x[3] % w[3] if name == "CONV_2D" else y[3] != w[3] or y[3] % x[3]):
        out.add(f"{label}: input {fmt_shape(x)}, weights {fmt_shape(w)} and output {fmt_shape(y)} disagree on "
                "channels")
        return
    if w is None and y[3] != x[3]:
        out.add(f"{label}: input {fmt_shape(x)} and output {fmt_shape(y)} disagree on channels")
        return
    if op is None:
        return
    o = op.builtinOptions
    if w is not None:
        k, dil = (w[1], w[2]), (int(o.dilationHFactor), int(o.dilationWFactor))
    else:
        k, dil = (int(o.filterHeight), int(o.filterWidth)), (1, 1)
    stride, pad = (int(o.strideH), int(o.strideW)), int(o.padding)
    want = [x[0], *(_window_out(x[1 + a], k[a], stride[a], dil[a], pad) for a in (0, 1)), y[3]]
    if y != want:
        out.add(f"{label} on input {fmt_shape(x)} (kernel {k[0]}×{k[1]}, stride {stride[0]}×{stride[1]}) gives "
                f"{fmt_shape(want)}, but its output has shape {fmt_shape(y)}")
