"""Mutated ``.tflite`` files (fixed seed) through the reader and validator in process, the nastiest through
``atomnet verify`` and ``atomnet cost`` in real subprocesses, and a TFLite Micro crash in the isolated child.

Sources: a few real models from ``/work/shared/models/tflite`` (when present) and a small int8 conv model
built here with the schema, so the test also runs without the shared data."""

from __future__ import annotations

import copy
import os
import random
import struct
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

schema = pytest.importorskip("tflite_micro.tensorflow.lite.micro.python.schema_py_generated",
                             reason="tflite-micro is not installed: pip install -r requirements-ml.txt")
flatbuffers = pytest.importorskip("flatbuffers")

from atomnet.export import TFLiteError, TFLiteModel, int8_problems, parse_tflite, read_tflite  # noqa: E402

SHARED = Path(os.environ.get("ATOMNET_SHARED", "/work/shared")) / "models" / "tflite"
#: small real models (KB): an FC net, one conv, keyword spotting (conv + depthwise), micro speech, a ResNet
REAL = ("tflm_hello_world_int8.tflite", "seanet_conv9.tflite", "mlc_kws_ref_model.tflite",
        "tflm_micro_speech_quantized.tflite", "mlc_ic_pretrainedResnet_quant.tflite")
SEED = 20240610
N_BYTES, N_FIELDS = 1200, 900  # byte-level and field-level mutations (2,100 files in all)
N_CLI = 50  # the nastiest, through `atomnet verify` and `atomnet cost`


# ---- a small int8 model built with the schema: CONV_2D → DEPTHWISE_CONV_2D → MEAN → FULLY_CONNECTED ----------
def _tensor(name: str, shape: list[int], ttype: int, buffer: int = 0, scales: int = 1, qdim: int = 0,
            scale: float = 0.1) -> Any:
    t = schema.TensorT()
    t.name, t.shape, t.type, t.buffer = name, shape, ttype, buffer
    q = schema.QuantizationParametersT()
    q.scale, q.zeroPoint, q.quantizedDimension = [scale] * scales, [0] * scales, qdim
    t.quantization = q
    return t


def _buffer(n: int, seed: int) -> Any:
    b = schema.BufferT()
    b.data = [random.Random(seed + i).randrange(256) for i in range(n)] if n else None
    return b


def conv_model() -> bytes:
    i8, i32 = schema.TensorType.INT8, schema.TensorType.INT32
    ops = ["CONV_2D", "DEPTHWISE_CONV_2D", "MEAN", "FULLY_CONNECTED"]
    codes = []
    for name in ops:
        oc = schema.OperatorCodeT()
        code = getattr(schema.BuiltinOperator, name)
        oc.builtinCode, oc.deprecatedBuiltinCode, oc.version = code, min(code, 127), 1
        codes.append(oc)
    tensors = [
        _tensor("input", [1, 8, 8, 3], i8),
        _tensor("conv/weights", [8, 3, 3, 3], i8, 1, 8, 0, 0.01), _tensor("conv/bias", [8], i32, 2, 8, 0, 0.001),
        _tensor("conv/out", [1, 8, 8, 8], i8),
        _tensor("dw/weights", [1, 3, 3, 8], i8, 3, 8, 3, 0.01), _tensor("dw/bias", [8], i32, 4, 8, 0, 0.001),
        _tensor("dw/out", [1, 8, 8, 8], i8),
        _tensor("mean/axis", [2], i32, 5), _tensor("mean/out", [1, 8], i8),
        _tensor("fc/weights", [4, 8], i8, 6, 1, 0, 0.01), _tensor("fc/bias", [4], i32, 7, 1, 0, 0.001),
        _tensor("output", [1, 4], i8),
    ]
    buffers = [_buffer(0, 0), _buffer(8 * 27, 1), _buffer(32, 2), _buffer(72, 3), _buffer(32, 4),
               _buffer(0, 5), _buffer(32, 6), _buffer(16, 7)]
    buffers[5].data = list(struct.pack("<2i", 1, 2))
    for b in (buffers[2], buffers[4], buffers[7]):
        b.data = [0] * len(b.data)  # int32 biases of 0
    sg = schema.SubGraphT()
    sg.tensors, sg.inputs, sg.outputs = tensors, [0], [11]
    sg.operators = []
    for k, (ins, out) in enumerate((([0, 1, 2], 3), ([3, 4, 5], 6), ([6, 7], 8), ([8, 9, 10], 11))):
        op = schema.OperatorT()
        op.opcodeIndex, op.inputs, op.outputs = k, ins, [out]
        if k == 0:
            op.builtinOptionsType, op.builtinOptions = schema.BuiltinOptions.Conv2DOptions, schema.Conv2DOptionsT()
        elif k == 1:
            op.builtinOptionsType = schema.BuiltinOptions.DepthwiseConv2DOptions
            op.builtinOptions = schema.DepthwiseConv2DOptionsT()
            op.builtinOptions.depthMultiplier = 1
        elif k == 2:
            op.builtinOptionsType, op.builtinOptions = schema.BuiltinOptions.ReducerOptions, schema.ReducerOptionsT()
        else:
            op.builtinOptionsType = schema.BuiltinOptions.FullyConnectedOptions
            op.builtinOptions = schema.FullyConnectedOptionsT()
        if k < 2:
            op.builtinOptions.padding = schema.Padding.SAME
            op.builtinOptions.strideH = op.builtinOptions.strideW = 1
        sg.operators.append(op)
    m = schema.ModelT()
    m.version, m.operatorCodes, m.subgraphs, m.buffers, m.description = 3, codes, [sg], buffers, "atomnet fuzz"
    return _pack(m)


def _pack(m: Any) -> bytes:
    b = flatbuffers.Builder(4096)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def sources() -> dict[str, bytes]:
    out = {"conv_model": conv_model()}
    for name in REAL:
        if (SHARED / name).is_file():
            out[name.removesuffix(".tflite")] = (SHARED / name).read_bytes()
    return out


# ---- mutations --------------------------------------------------------------------------------------------------
NASTY_INTS = (0, 1, -1, 2, 255, 0x7FFF, 0xFFFF, 0x7FFFFFFF, -0x80000000, 0x01000000, 9633795)


def byte_mutation(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    b = bytearray(data)
    kind = rng.choice(("flip", "flip", "int32", "int32", "truncate", "zero-range"))
    if kind == "flip":
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
    elif kind == "int32":
        at = rng.randrange(0, len(b) - 4) & ~3
        b[at:at + 4] = struct.pack("<i", rng.choice((*NASTY_INTS, len(b), rng.randrange(-(1 << 31), 1 << 31))))
    elif kind == "truncate":
        del b[rng.randrange(8, len(b)):]
    else:
        at = rng.randrange(len(b))
        b[at:at + rng.randint(1, 64)] = bytes(min(64, len(b) - at))[: len(b[at:at + 64])]
    return f"bytes-{kind}", bytes(b)


def _lst(v: Any) -> list[Any]:
    return [] if v is None else list(v)


def _weights(m: Any) -> list[int]:
    """Tensors with constant data (by buffer) — the ones whose shape/buffer mismatch the issue found."""
    return [i for i, t in enumerate(m.subgraphs[0].tensors)
            if len(_lst(t.shape)) and len(_lst(m.buffers[t.buffer].data))]


FIELD_KINDS = ("weight-dim-huge", "weight-dim-huge", "weight-dim-neg", "weight-dim-zero", "act-dim-huge",
               "act-dim-large",
               "buffer-truncated", "buffer-index", "op-tensor-index", "graph-tensor-index", "opcode-index",
               "rank-7", "scales-length", "zero-points-length", "quant-dimension", "stride", "dilation",
               "options-missing", "type-code", "buffer-offset")


def field_mutation(m: Any, rng: random.Random) -> str:
    """Damage one field of the unpacked model ``m`` in place; returns the kind (nastiest kinds first). A kind
    that the model has nothing for (no per-channel quantization, no conv) draws again."""
    kind = rng.choice(FIELD_KINDS)
    if not _MUTATORS[kind](m, kind, rng):
        return field_mutation(m, rng)
    return f"field-{kind}"


def _mutate_weight(m: Any, kind: str, rng: random.Random) -> bool:
    sg = m.subgraphs[0]
    t = sg.tensors[rng.choice(_weights(m))]
    shape = [int(d) for d in t.shape]
    k = rng.randrange(len(shape))
    if kind == "weight-dim-huge":
        shape[k] = rng.choice((9633795, 1 << 20, 1 << 24, (1 << 31) - 1, shape[k] * 1000 + 1))
    elif kind == "weight-dim-neg":
        shape[k] = rng.choice((-1, -5, -(1 << 31)))
    elif kind == "weight-dim-zero":
        shape[k] = 0
    if kind == "buffer-truncated":
        b = m.buffers[t.buffer]
        b.data = b.data[: rng.randrange(1, len(b.data))] if len(b.data) > 1 else None
    t.shape = shape
    return True


def _mutate_act(m: Any, kind: str, rng: random.Random) -> bool:
    """huge: past any limit; large: may be consistent (then TFLM gets it)."""
    sg = m.subgraphs[0]
    n = len(sg.tensors)
    t = sg.tensors[rng.choice([i for i in range(n) if not len(_lst(m.buffers[sg.tensors[i].buffer].data))])]
    shape = [int(d) for d in _lst(t.shape)] or [1]
    shape[rng.randrange(len(shape))] = rng.choice((1 << 25, 1 << 30, (1 << 31) - 1) if kind == "act-dim-huge"
                                                  else (1 << 16, 46341, 12345))
    t.shape = shape
    return True


def _mutate_buffer_index(m: Any, kind: str, rng: random.Random) -> bool:
    sg = m.subgraphs[0]
    sg.tensors[rng.randrange(len(sg.tensors))].buffer = rng.choice((len(m.buffers), len(m.buffers) + 7, 1 << 30))
    return True


def _mutate_op_tensor_index(m: Any, kind: str, rng: random.Random) -> bool:
    sg = m.subgraphs[0]
    n = len(sg.tensors)
    op = rng.choice(sg.operators)
    vec = list(op.inputs) if rng.random() < 0.6 or op.outputs is None else list(op.outputs)
    vec[rng.randrange(len(vec))] = rng.choice((n, n + 3, -2, 33554432, -(1 << 31)))
    if op.inputs is not None and len(vec) == len(op.inputs) and list(op.inputs) != vec and rng.random() < 0.6:
        op.inputs = vec
    else:
        op.outputs = vec
    return True


def _mutate_graph_tensor_index(m: Any, kind: str, rng: random.Random) -> bool:
    sg = m.subgraphs[0]
    n = len(sg.tensors)
    if rng.random() < 0.5:
        sg.inputs = [rng.choice((n, -1, 33554432))]
    else:
        sg.outputs = [rng.choice((n, -1, 1 << 30))]
    return True


def _mutate_opcode_index(m: Any, kind: str, rng: random.Random) -> bool:
    rng.choice(m.subgraphs[0].operators).opcodeIndex = rng.choice((len(m.operatorCodes), 255, 1 << 20))
    return True


def _mutate_rank(m: Any, kind: str, rng: random.Random) -> bool:
    sg = m.subgraphs[0]
    sg.tensors[rng.randrange(len(sg.tensors))].shape = [1] * 7
    return True


def _mutate_quantization(m: Any, kind: str, rng: random.Random) -> bool:
    tensors = m.subgraphs[0].tensors
    cands = [t for t in tensors if t.quantization is not None and t.quantization.scale is not None
             and len(t.quantization.scale) > 1] or [t for t in tensors if t.quantization is not None
                                                    and t.quantization.scale is not None]
    if not cands:
        return False
    q = rng.choice(cands).quantization
    if kind == "scales-length":
        q.scale = _lst(q.scale) + [0.5] * rng.randint(1, 3)
        q.zeroPoint = [0] * len(q.scale)
    elif kind == "zero-points-length":
        q.zeroPoint = [0] * (len(q.scale) + rng.randint(1, 5)) if rng.random() < 0.5 else [0] * 2 * len(q.scale)
    else:
        q.quantizedDimension = rng.choice((5, 9, 1 << 20))
        q.scale = [*_lst(q.scale), 0.1]
        q.zeroPoint = [0] * len(q.scale)
    return True


def _mutate_options(m: Any, kind: str, rng: random.Random) -> bool:
    convs = [op for op in m.subgraphs[0].operators if isinstance(op.builtinOptions, (
        schema.Conv2DOptionsT, schema.DepthwiseConv2DOptionsT, schema.Pool2DOptionsT))]
    if not convs:
        return False
    op = rng.choice(convs)
    if kind == "options-missing":
        op.builtinOptionsType, op.builtinOptions = 0, None
    elif kind == "stride":
        setattr(op.builtinOptions, rng.choice(("strideH", "strideW")), rng.choice((0, -1, -(1 << 31))))
    elif isinstance(op.builtinOptions, schema.Pool2DOptionsT):
        setattr(op.builtinOptions, rng.choice(("filterHeight", "filterWidth")), rng.choice((0, -3)))
    else:
        setattr(op.builtinOptions, rng.choice(("dilationHFactor", "dilationWFactor")), rng.choice((0, -2)))
    return True


def _mutate_type_code(m: Any, kind: str, rng: random.Random) -> bool:
    sg = m.subgraphs[0]
    sg.tensors[rng.randrange(len(sg.tensors))].type = rng.choice((99, 127, -1))
    return True


def _mutate_buffer_offset(m: Any, kind: str, rng: random.Random) -> bool:
    """Constant data that points past the end of the file."""
    t = m.subgraphs[0].tensors[rng.choice(_weights(m))]
    b = m.buffers[t.buffer]
    size = len(b.data)
    b.data, b.offset, b.size = None, rng.choice((1 << 20, 1 << 40)), size
    return True


#: field-mutation kind -> what damages the model (False: nothing to damage of that kind, draw again)
_MUTATORS: dict[str, Callable[[Any, str, random.Random], bool]] = {
    "weight-dim-huge": _mutate_weight, "weight-dim-neg": _mutate_weight, "weight-dim-zero": _mutate_weight,
    "buffer-truncated": _mutate_weight, "act-dim-huge": _mutate_act, "act-dim-large": _mutate_act,
    "buffer-index": _mutate_buffer_index, "op-tensor-index": _mutate_op_tensor_index,
    "graph-tensor-index": _mutate_graph_tensor_index, "opcode-index": _mutate_opcode_index, "rank-7": _mutate_rank,
    "scales-length": _mutate_quantization, "zero-points-length": _mutate_quantization,
    "quant-dimension": _mutate_quantization, "stride": _mutate_options, "dilation": _mutate_options,
    "options-missing": _mutate_options, "type-code": _mutate_type_code, "buffer-offset": _mutate_buffer_offset,
}
assert set(_MUTATORS) == set(FIELD_KINDS)


def mutations() -> Iterator[tuple[str, str, bytes]]:
    """``(file name, kind, bytes)``, deterministic for :data:`SEED`."""
    rng = random.Random(SEED)
    src = sources()
    unpacked = {k: schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(v, 0)) for k, v in src.items()}
    names = sorted(src)
    for k in range(N_BYTES):
        s = names[k % len(names)]
        kind, data = byte_mutation(src[s], rng)
        yield f"b{k:04d}-{s}.tflite", kind, data
    for k in range(N_FIELDS):
        s = names[k % len(names)]
        m = copy.deepcopy(unpacked[s])
        kind = field_mutation(m, rng)
        yield f"f{k:04d}-{s}.tflite", kind, _pack(m)


# ---- in process -------------------------------------------------------------------------------------------------
def _exercise(m: TFLiteModel) -> None:
    """What atomnet computes from a parsed file: each may refuse it, only with TFLiteError."""
    for f in (lambda: m.macs, lambda: m.weight_bytes, lambda: m.const_bytes, lambda: int8_problems(m),
              lambda: m.float_ops(), m.to_graph):
        try:
            f()
        except TFLiteError as e:
            assert e.path == m.path and str(e).startswith(m.path + ": "), str(e)


@pytest.fixture(scope="module")
def fuzzed() -> list[tuple[str, str, bytes, str]]:
    """Every mutation with its outcome in process: ``(name, kind, bytes, "" if it parses else the message)``."""
    out = []
    for name, kind, data in mutations():
        try:
            m = parse_tflite(data, name)
        except TFLiteError as e:  # never another exception type
            msg = str(e)
            assert msg.startswith(f"{name}: ") and "\n" not in msg, msg
            assert e.problems and all(p for p in e.problems)
            out.append((name, kind, data, msg))
            continue
        _exercise(m)
        out.append((name, kind, data, ""))
    return out


def test_at_least_2000_mutations_parse_or_raise_the_one_error_class(fuzzed: list[tuple[str, str, bytes, str]]) -> None:
    assert len(fuzzed) >= 2000
    kinds = Counter(k for _, k, _, _ in fuzzed)
    refused = Counter(k for _, k, _, msg in fuzzed if msg)
    # every field-level mutation is an inconsistency the validator must catch (none may reach TFLite Micro)
    missed = [(n, k) for n, k, _, msg in fuzzed if k.startswith("field-") and k != "field-act-dim-large" and not msg]
    assert not missed, missed[:10]
    assert sum(v for k, v in kinds.items() if k.startswith("field-")) == N_FIELDS
    assert refused["bytes-truncate"] == kinds["bytes-truncate"]  # a truncated flatbuffer never parses
    assert 0 < sum(refused.values()) < len(fuzzed)
    # never a bare number or key: every message names the file and then says what is wrong in words
    for _, _, _, msg in fuzzed:
        if msg:
            what = msg.split(": ", 1)[1]
            assert any(c.isalpha() for c in what.split("(")[0]), msg


def test_the_issue_s_weight_shape_is_named_with_its_bytes(tmp_path: Path) -> None:
    """A conv weight of shape (64,3,3,9633795) on a 1,728-byte buffer: the message says both sizes."""
    m = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(conv_model(), 0))
    t = m.subgraphs[0].tensors[1]
    m.buffers[t.buffer].data = list(range(256)) * 6 + list(range(192))  # 1,728 bytes = 64·3·3·3
    t.shape = [64, 3, 3, 9633795]
    p = tmp_path / "model.tflite"
    p.write_bytes(_pack(m))
    with pytest.raises(TFLiteError) as e:
        read_tflite(p)
    assert str(e.value) == (f"{p}: tensor 1 'conv/weights' has shape (64,3,3,9633795) INT8 = 5,549,065,920 bytes "
                            "but its buffer 1 holds 1,728")


def test_every_problem_is_collected(tmp_path: Path) -> None:
    m = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(conv_model(), 0))
    sg = m.subgraphs[0]
    sg.tensors[4].quantization.scale = [0.1] * 5                 # dw weights: 5 scales for 8 channels
    sg.tensors[4].quantization.zeroPoint = [0] * 5
    sg.operators[0].builtinOptions.strideW = 0                   # conv stride 0
    sg.operators[3].inputs = [8, 9, 12]                          # FC bias index past the 12 tensors
    sg.outputs = [33554432]
    p = tmp_path / "bad.tflite"
    p.write_bytes(_pack(m))
    with pytest.raises(TFLiteError) as e:
        read_tflite(p)
    assert e.value.problems == (
        "tensor 4 'dw/weights' has 5 per-channel scales, but its quantized dimension 3 of shape (1,3,3,8) has 8 "
        "channels",
        "graph output refers to tensor 33554432, but the subgraph has 12 tensors",
        "operator 0 (CONV_2D) has strideW 0, expected 1..16,777,216",
        "operator 3 (FULLY_CONNECTED) refers to tensor 12, but the subgraph has 12 tensors")
    assert str(e.value).startswith(f"{p}: 4 problems: tensor 4 'dw/weights' has 5 per-channel scales")


def test_real_models_pass_validation() -> None:
    for name in REAL:
        if (SHARED / name).is_file():
            m = read_tflite(SHARED / name)
            assert m.ops and m.notes == ()
    m = parse_tflite(conv_model(), "conv.tflite")
    assert [op.name for op in m.ops] == ["CONV_2D", "DEPTHWISE_CONV_2D", "MEAN", "FULLY_CONNECTED"]
    assert (m.macs, m.weight_bytes, int8_problems(m)) == (8 * 27 * 64 + 72 * 64 + 32, 8 * 27 + 72 + 32, [])


# ---- real subprocesses -------------------------------------------------------------------------------------------
NASTY = ("field-weight-dim-huge", "field-weight-dim-neg", "field-buffer-truncated", "field-act-dim-huge",
         "field-buffer-index", "field-op-tensor-index", "field-graph-tensor-index", "field-opcode-index",
         "field-rank-7", "field-weight-dim-zero")


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "atomnet", *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, **(env or {})}, check=False)


def _assert_clean_error(r: subprocess.CompletedProcess[str], name: str) -> None:
    assert r.returncode in (1, 2), (r.returncode, r.stderr[-500:])  # never a signal (negative)
    assert "Traceback" not in r.stderr + r.stdout, r.stderr[-2000:]
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("atomnet: error: ") and name in lines[0], r.stderr


@pytest.mark.slow  # > 20 s on 2 shared cores (pytest --durations)
def test_nastiest_mutations_through_verify_and_cost(fuzzed: list[tuple[str, str, bytes, str]],
                                                    tmp_path: Path) -> None:
    by_kind: dict[str, list[tuple[str, bytes]]] = {k: [] for k in NASTY}
    for name, kind, data, msg in fuzzed:
        if kind in by_kind and msg:
            by_kind[kind].append((name, data))
    picked: list[tuple[str, bytes]] = []
    while len(picked) < N_CLI and any(by_kind.values()):  # round robin over the nasty kinds
        for k in NASTY:
            if by_kind[k] and len(picked) < N_CLI:
                picked.append(by_kind[k].pop(0))
    assert len(picked) == N_CLI
    for name, data in picked:
        (tmp_path / name).write_bytes(data)

    def both(name: str) -> list[tuple[str, subprocess.CompletedProcess[str]]]:
        path = str(tmp_path / name)
        return [("verify", _cli("verify", path)), ("cost", _cli("cost", path))]

    with ThreadPoolExecutor(2) as ex:
        results = list(ex.map(lambda nd: (nd[0], both(nd[0])), picked))
    for name, runs in results:
        for _, r in runs:
            _assert_clean_error(r, name)
            assert r.returncode == 2


def test_files_that_pass_validation_reach_tflm_without_killing_verify(fuzzed: list[tuple[str, str, bytes, str]],
                                                                      tmp_path: Path) -> None:
    """Byte-level damage the validator cannot see (weights, scales, names) goes to TFLite Micro in the child:
    whatever the interpreter makes of it, `atomnet verify` exits 0, 1 or 2 with a message, never by a signal."""
    valid = [(n, d) for n, k, d, msg in fuzzed if k.startswith("bytes-") and not msg][:8]
    assert len(valid) == 8
    for name, data in valid:
        (tmp_path / name).write_bytes(data)
    with ThreadPoolExecutor(2) as ex:
        runs = list(ex.map(lambda nd: (nd[0], _cli("verify", str(tmp_path / nd[0]))), valid))
    for name, r in runs:
        assert r.returncode in (0, 1, 2), (name, r.returncode, r.stderr[-500:])
        assert "Traceback" not in r.stderr + r.stdout, r.stderr[-2000:]
        if r.returncode == 2:
            _assert_clean_error(r, name)
        else:
            assert r.stdout.startswith(str(tmp_path / name)), r.stdout[:300]


def _crashers() -> dict[str, bytes]:
    """Files that really crash this TFLite Micro build (the validator refuses both): a model whose subgraph is
    empty (SIGSEGV while loading) and hello-world with an input of shape (0,1) (SIGSEGV while running)."""
    m = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(conv_model(), 0))
    m.subgraphs[0] = schema.SubGraphT()
    out = {"empty-subgraph.tflite": _pack(m)}
    hello = SHARED / "tflm_hello_world_int8.tflite"
    if hello.is_file():
        m = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(hello.read_bytes(), 0))
        m.subgraphs[0].tensors[0].shape = [0, 1]
        out["empty-input.tflite"] = _pack(m)
    return out


def test_a_real_tflm_crash_in_the_child_becomes_an_error(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    from atomnet.export import run_tflm_isolated

    stages = {"empty-subgraph.tflite": "loading", "empty-input.tflite": "running"}
    refused = {"empty-subgraph.tflite": "the main subgraph has no inputs or no outputs",
               "empty-input.tflite": "2 problems: graph input tensor 0 has shape (0,1), which has no elements; "
                                     "operator 0 (FULLY_CONNECTED) has input of shape (0,1), which has no elements"}
    for name, data in _crashers().items():
        p = tmp_path / name
        p.write_bytes(data)
        with pytest.raises(TFLiteError) as e:  # the validator sees what is wrong before TFLM does
            read_tflite(p)
        assert str(e.value) == f"{p}: {refused[name]}"
        with pytest.raises(TFLiteError) as e:  # given to TFLM unvalidated, in the child: a signal, reported
            run_tflm_isolated(p)
        assert str(e.value) == f"{p}: TFLite Micro crashed while {stages[name]} the model (signal SIGSEGV)"
    os.write(2, b"parent stderr is still connected\n")
    assert "parent stderr is still connected" in capfd.readouterr().err


def test_crash_inside_tflm_is_reported_by_verify_with_the_signal(tmp_path: Path) -> None:
    """The child that loads the model is killed (test hook ATOMNET_TFLM_TEST_CRASH): one line naming the file,
    the stage and the signal; exit status 2."""
    p = tmp_path / "conv.tflite"
    p.write_bytes(conv_model())
    ok = _cli("verify", str(p))
    assert ok.returncode == 0 and "loads in TFLite Micro" in ok.stdout, ok.stdout + ok.stderr
    for hook, stage, sig in (("SIGSEGV", "loading", "SIGSEGV"), ("SIGFPE:run", "running", "SIGFPE"),
                             ("SIGABRT", "loading", "SIGABRT")):
        r = _cli("verify", str(p), env={"ATOMNET_TFLM_TEST_CRASH": hook})
        _assert_clean_error(r, str(p))
        assert r.stderr.strip() == (f"atomnet: error: {p}: TFLite Micro crashed while {stage} the model (signal "
                                    f"{sig}); the file passed atomnet's validation")
        assert r.returncode == 2 and r.stdout == ""


def test_validation_comes_before_tflm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capfd: pytest.CaptureFixture[str]) -> None:
    from atomnet.export import verify

    p = tmp_path / "conv.tflite"
    p.write_bytes(conv_model())
    r = verify(p)
    assert r.loaded and r.ok and r.tflm_head_bytes == r.file_plan_bytes, r.problems
    monkeypatch.setenv("ATOMNET_TFLM_TEST_CRASH", "SEGV")
    with pytest.raises(TFLiteError, match=r"conv\.tflite: TFLite Micro crashed while loading the model \(signal "
                                          r"SIGSEGV\); the file passed atomnet's validation$"):
        verify(p)
    os.write(2, b"parent stderr is still connected\n")
    assert "parent stderr is still connected" in capfd.readouterr().err
    m = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(conv_model(), 0))
    m.subgraphs[0].tensors[1].name = "evil\nname"
    m.subgraphs[0].tensors[1].shape = [8, 3, 3, 4]
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(_pack(m))
    with pytest.raises(TFLiteError) as e:  # refused by the validator: TFLM (and the crash hook) never runs
        verify(bad)
    assert str(e.value) == (f"{bad}: tensor 1 'evil\\nname' has shape (8,3,3,4) INT8 = 288 bytes but its buffer 1 "
                            "holds 216")
