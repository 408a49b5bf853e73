"""A ``.tflite`` file as each runtime executes it: :func:`file_graph` → :class:`FileGraph` (an
:class:`atomnet.spec.Graph` the runtime's planner plans and whose keys the AtomDB prices, plus where each of the
file's operators went).

Per runtime (the registered lowering names; the same conventions as :func:`atomnet.spec.lower` for a spec):

``tflm`` — every operator of the file, one layer each, nothing fused or dropped (TFLite Micro runs each builtin
    kernel). Convolutions keep SAME padding folded in (their keys store the unpadded input), a PAD operator is an
    ``Op.pad``. The arena TFLM needs is not planned on this graph: it is :func:`atomnet.export.plan_tflm_arena`.
``xcube-ai`` — the AtomDB conventions (``../shared/atomdb/README.md``), i.e. the graph latency is priced on:
    every SAME-padded depthwise and k×k conv (k > 1) runs as a *valid* conv after an explicit ``Op.pad`` this
    module inserts (symmetric ``k//2`` when that gives the file's output size, else the file's own padding),
    except the stem (an ordinary k×k conv reading the model input, which keeps its unpadded input); a PAD
    operator of the file stays an ``Op.pad`` before its VALID conv; RELU / RELU6 / RELU_N1_TO_1 / HARD_SWISH
    operators right after a conv, depthwise or fully-connected operator that only they read are fused into it
    (activations cost nothing on their own in the AtomDB); a squeeze-excitation module (MEAN → 1×1 conv
    C→mid → 1×1 conv mid→C with activations or constant scalings in between → MUL with the map, ``mid =
    make_divisible(C/4, 8)``) is one ``Op.se`` computed in place; RESHAPE / SQUEEZE / EXPAND_DIMS are dropped
    (views of their input); QUANTIZE / DEQUANTIZE stay (X-CUBE-AI runs them as converter layers).
``tinyengine`` — TinyEngine's code generator: a PAD operator is fused into the conv that reads it (the conv's key
    stores the unpadded input), SAME padding likewise; depthwise runs **in place** (channel multiplier 1);
    activations right after a conv (RELU, RELU6, RELU_N1_TO_1, HARD_SWISH, and a MUL / ADD / SUB by a constant:
    the ``/6`` of a hard-sigmoid) are fused into it; RESHAPE / SQUEEZE / EXPAND_DIMS and QUANTIZE / DEQUANTIZE
    are dropped (the generated code reads and writes int8 tensors in place); SE stays MEAN → 1×1 → 1×1 → MUL.

Everything else keeps its own layer. An operator the atom vocabulary cannot express (softmax, LSTM, SVDF,
windowed pools, custom operators, a non-square kernel or stride, a fully-connected layer over several rows) keeps
a placeholder layer for its tensors (``FileLayer.atom`` None) and is unpriced; so is any operator on float or
int16 tensors (the AtomDB holds int8 kernels), whatever its key; so is a dilated convolution. An average pool
is the atom ``pool`` only when its window covers the whole input (a global pool).

Tensors: one graph tensor per activation tensor of the file, sized in bytes (its channel count × element size,
so a float32 tensor takes 4 bytes per element in every planner). Several model inputs: the first is
``Graph.input``, the others become live at their first reader. Model outputs beyond the first and the extra
outputs of a multi-output operator are listed after the layer's own inputs (``FileLayer.inputs`` has the real
ones), so that the planners keep them live from that layer on.

>>> from atomnet.export import read_tflite
>>> fg = file_graph(read_tflite("model.tflite"), "tinyengine")      # doctest: +SKIP
>>> get_planner("tinyengine").plan(fg.graph).peak_bytes             # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from atomnet.errors import UnknownNameError
from atomnet.export._tflite import TFLiteModel, TFLOp, TFLTensor
from atomnet.ops import ELTWISE_FN_ID, Op, se_mid
from atomnet.spec import Graph, Layer, Tensor, legal_inplace

__all__ = ["FILE_RUNTIMES", "FileGraph", "FileLayer", "file_graph"]

#: the lowerings a file can be turned into
FILE_RUNTIMES: tuple[str, ...] = ("tflm", "tinyengine", "xcube-ai")

_CONVS = ("CONV_2D", "DEPTHWISE_CONV_2D")
_WEIGHTED = (*_CONVS, "FULLY_CONNECTED")
_VIEWS = ("RESHAPE", "SQUEEZE", "EXPAND_DIMS")
_ACT_NAMES = {"RELU": "relu", "RELU6": "relu6", "RELU_N1_TO_1": "relu_n1_to_1", "HARD_SWISH": "hswish"}
_ACTS = tuple(_ACT_NAMES)
_SCALINGS = ("MUL", "ADD", "SUB")  # by a constant: folded into the conv before them (TinyEngine)
_SE_CHAIN = (*_CONVS, "FULLY_CONNECTED", *_ACTS, *_SCALINGS, *_VIEWS, "LOGISTIC", "HARD_SIGMOID")
_INT8 = "INT8"


@dataclass(frozen=True)
class FileLayer:
    """One layer of a :class:`FileGraph` (parallel to ``graph.layers``).

    ``primary``: the index of the file operator it is reported under; ``covers``: the file operators it executes
    (primary first: a conv and its fused activation, a whole SE module); ``atom``: the atom operator (None:
    nothing in the vocabulary, a placeholder keeps the tensors); ``unpriced``: why no latency is priced whatever
    the AtomDB holds ("" when its key may be priced); ``inputs``: its real input tensors (graph ids);
    ``inserted``: a layer the runtime adds (X-CUBE-AI's explicit pad before a SAME conv)."""

    name: str
    primary: int
    covers: tuple[int, ...]
    atom: Op | None
    unpriced: str
    inputs: tuple[int, ...]
    inserted: bool = False


@dataclass(frozen=True)
class FileGraph:
    """A file lowered for ``graph.runtime``. ``placement[i]`` says where file operator ``i`` went: ``""`` (its own
    layer), ``"fused into NAME"`` or ``"dropped: WHY"``; ``tensor_ids`` maps file tensor indices to graph ids."""

    graph: Graph
    layers: tuple[FileLayer, ...]
    placement: tuple[str, ...]
    tensor_ids: dict[int, int]

    @property
    def runtime(self) -> str:
        return self.graph.runtime

    def layers_of(self, op_index: int) -> list[int]:
        """Positions of the layers reported under file operator ``op_index`` (an inserted pad, then the op)."""
        return [k for k, ly in enumerate(self.layers) if ly.primary == op_index]

    def layer_running(self, op_index: int) -> int | None:
        """Position of the layer that executes file operator ``op_index`` (its own or the one it is fused into;
        None when the runtime drops it)."""
        for k, ly in enumerate(self.layers):
            if op_index in ly.covers and not ly.inserted:
                return k
        return None


def file_graph(model: TFLiteModel, runtime: str) -> FileGraph:
    """``model`` as runtime ``runtime`` (a lowering name of :data:`FILE_RUNTIMES`) executes it."""
    if runtime not in FILE_RUNTIMES:
        raise UnknownNameError(f"runtime: no .tflite lowering for {runtime!r}; known: {', '.join(FILE_RUNTIMES)}")
    return _Builder(model, runtime).build()


def _chw(shape: Sequence[int]) -> tuple[int, int, int]:
    """NHWC (or [N, C], or scalar) → (c, h, w), batch folded into h: sizes are what matter."""
    dims = [max(int(d), 1) for d in shape]
    if len(dims) >= 4:
        n = 1
        for d in dims[:-3]:
            n *= d
        return dims[-1], dims[-3] * n, dims[-2]
    if len(dims) == 3:
        return dims[2], dims[0], dims[1]
    if len(dims) == 2:
        return dims[1] * dims[0], 1, 1
    return (dims[0] if dims else 1), 1, 1


def _hw(shape: Sequence[int]) -> tuple[int, int]:
    return (int(shape[1]), int(shape[2])) if len(shape) == 4 else (1, 1)


class _Builder:
    """Builds one :class:`FileGraph`: per-op rules (drop, fuse, fold), then layers in file order."""

    def __init__(self, m: TFLiteModel, runtime: str) -> None:
        self.m, self.rt = m, runtime
        self.act = {t.index for t in m.tensors if not t.is_constant}
        self.consumers: dict[int, list[int]] = {}
        self.producer: dict[int, int] = {}
        for op in m.ops:
            for t in set(self.ins(op)):
                self.consumers.setdefault(t, []).append(op.index)
            for t in op.outputs:
                self.producer[t] = op.index
        self.rep: dict[int, int] = {}  # tensor → the tensor it is merged into (dropped views, fused activations)
        self.placement = [""] * len(m.ops)
        self.fused_into: dict[int, int] = {}  # op → the op whose layer executes it
        self.se: dict[int, list[int]] = {}  # MUL op → the SE module's operators, MEAN first, MUL last
        self.in_se: set[int] = set()

    # ---- helpers ---------------------------------------------------------------------------
    def ins(self, op: TFLOp) -> list[int]:
        """Activation inputs (constants and absent optional inputs excluded)."""
        return [i for i in op.inputs if i >= 0 and i in self.act]

    def t(self, i: int) -> TFLTensor:
        return self.m.tensors[i]

    def find(self, t: int) -> int:
        while t in self.rep:
            t = self.rep[t]
        return t

    def only_reader(self, t: int, op: int) -> bool:
        return self.consumers.get(t, []) == [op] and t not in self.m.outputs

    def is_int8(self, op: TFLOp) -> str:
        """"" when every activation tensor of ``op`` is int8, else the reason it is not priced."""
        types = sorted({self.t(i).dtype for i in (*self.ins(op), *op.outputs) if i in self.act} - {_INT8})
        return "" if not types else f"{'/'.join(types)} tensors: the AtomDB holds int8 kernels only"

    # ---- rules -----------------------------------------------------------------------------
    def plan_rules(self) -> None:
        if self.rt == "tflm":
            return
        if self.rt == "xcube-ai":
            self.find_se()
        drop = (*_VIEWS, "QUANTIZE", "DEQUANTIZE") if self.rt == "tinyengine" else _VIEWS
        for op in self.m.ops:
            if self.placement[op.index] or op.index in self.in_se:
                continue
            ins = self.ins(op)
            if op.name in drop and len(ins) == 1 and len(op.outputs) == 1:
                self.drop(op, ins[0])
            elif self.fusable_act(op, ins):
                self.fuse(op, ins[0])
            elif self.rt == "tinyengine" and op.name == "PAD" and len(ins) == 1:
                self.fold_pad(op, ins[0])

    def drop(self, op: TFLOp, src: int) -> None:
        out = op.outputs[0]
        a, b = self.find(src), self.find(out)
        # the survivor is the smaller tensor (a QUANTIZE at the input keeps the int8 one); equal: the input
        if self.t(b).nbytes < self.t(a).nbytes:
            self.rep[a] = b
        else:
            self.rep[b] = a
        what = "a view of its input" if op.name in _VIEWS else "int8 in and out of the generated code"
        self.placement[op.index] = f"dropped: {op.name} has no kernel in {self.rt} ({what})"

    def fusable_act(self, op: TFLOp, ins: list[int]) -> bool:
        if len(ins) != 1 or len(op.outputs) != 1 or ins[0] not in self.producer:
            return False
        prev = self.m.ops[self._host(self.producer[ins[0]])]
        if prev.name not in _WEIGHTED or not self.only_reader(ins[0], op.index):
            return False
        if op.name in _ACTS:
            return True
        const_operand = len([i for i in op.inputs if i >= 0]) == 2  # x and a constant
        return self.rt == "tinyengine" and op.name in _SCALINGS and const_operand

    def fuse(self, op: TFLOp, src: int) -> None:
        host = self.producer[src]
        while host in self.fused_into:
            host = self.fused_into[host]
        self.fused_into[op.index] = host
        self.rep[self.find(op.outputs[0])] = self.find(src)
        self.placement[op.index] = f"fused into {host}.{self.m.ops[host].name}"

    def fold_pad(self, op: TFLOp, src: int) -> None:
        out = op.outputs[0]
        readers = self.consumers.get(out, [])
        if len(readers) != 1 or out in self.m.outputs or self.m.ops[readers[0]].name not in _CONVS:
            return
        conv = readers[0]
        self.fused_into[op.index] = conv
        self.rep[self.find(out)] = self.find(src)
        self.placement[op.index] = f"fused into {conv}.{self.m.ops[conv].name}"

    def find_se(self) -> None:
        for op in self.m.ops:
            if op.name == "MUL":
                chain = self.se_chain(op)
                if chain:
                    self.se[op.index] = chain
                    for j in chain[1:]:
                        self.placement[j] = f"fused into {chain[0]}.SE"
                    self.in_se.update(chain)

    def se_chain(self, mul: TFLOp) -> list[int]:
        """The operators of an SE module ending in ``mul`` (MEAN first), or [] when it is not one."""
        ins = self.ins(mul)
        if len(ins) != 2 or self.is_int8(mul):
            return []
        for x, g in (ins, ins[::-1]):
            c, h, w = _chw(self.t(x).shape)
            if h * w == 1 or _chw(self.t(g).shape) != (c, 1, 1):
                continue
            chain = self.walk_gate(g, x)
            convs = [self.m.ops[j] for j in chain if self.m.ops[j].name in ("CONV_2D", "FULLY_CONNECTED")]
            mids = [_chw(self.t(o.outputs[0]).shape)[0] for o in convs]
            if len(convs) == 2 and mids == [se_mid(c), c] and not any(self.is_int8(o) for o in convs):
                return [*chain, mul.index]
        return []

    def walk_gate(self, g: int, x: int) -> list[int]:
        """From the gate tensor back to a MEAN of ``x`` through single-reader SE operators ([] if none)."""
        chain: list[int] = []
        t = g
        for _ in range(10):
            j = self.producer.get(t)
            if j is None or len(self.m.ops[j].outputs) != 1:
                return []
            op = self.m.ops[j]
            ins = self.ins(op)
            if op.name in ("MEAN", "AVERAGE_POOL_2D") and ins == [x]:
                return [j, *chain[::-1]]
            if op.name not in _SE_CHAIN or len(ins) != 1 or len(self.consumers.get(t, [])) != 1:
                return []
            chain.append(j)
            t = ins[0]
        return []

    # ---- layers ----------------------------------------------------------------------------
    def build(self) -> FileGraph:
        self.plan_rules()
        self.gids: dict[int, int] = {}
        self.tensors: list[Tensor] = []
        for t in sorted(self.act):  # graph ids in file tensor order (TFLM's planner lists buffers so)
            r = self.find(t)
            if r == t:
                c, h, w = _chw(self.t(t).shape)
                item = max(self.t(t).nbytes // max(c * h * w, 1), 1) if self.t(t).nbytes else 1
                self.gids[t] = len(self.tensors)
                self.tensors.append(Tensor(len(self.tensors), (c * item, h, w)))
        for t in self.act:
            self.gids[t] = self.gids[self.find(t)]
        self.layers: list[Layer] = []
        self.flayers: list[FileLayer] = []
        for op in self.m.ops:
            if op.index in self.se:
                self.emit_se(op)
            elif not self.placement[op.index] and op.index not in self.in_se:
                self.emit(op)
        if not self.layers:  # every operator dropped: keep them (a graph needs a layer)
            return _Builder(self.m, "tflm").build_as(self.rt)
        self.extend_outputs()
        out = self.gid(self.m.outputs[0])
        g = Graph(Path(self.m.path).stem, self.rt, tuple(self.tensors),
                  legal_inplace(self.layers, out), self.gid(self.m.inputs[0]), out)
        return FileGraph(g, tuple(self.flayers), tuple(self.placement), dict(self.gids))

    def build_as(self, runtime: str) -> FileGraph:
        fg = self.build()
        g = fg.graph
        return FileGraph(Graph(g.name, runtime, g.tensors, g.layers, g.input, g.output), fg.layers, fg.placement,
                         fg.tensor_ids)

    def gid(self, t: int) -> int:
        if t not in self.gids:  # a constant model input or output: give it a tensor of its own
            c, h, w = _chw(self.t(t).shape)
            self.gids[t] = len(self.tensors)
            self.tensors.append(Tensor(len(self.tensors), (c, h, w)))
        return self.gids[t]

    def extend_outputs(self) -> None:
        """Model outputs beyond the first stay live to the end: list them as inputs of the last layer."""
        extra = [self.gid(t) for t in self.m.outputs[1:]]
        extra = [t for t in dict.fromkeys(extra) if t != self.gid(self.m.outputs[0])]
        if extra:
            ly = self.layers[-1]
            self.layers[-1] = Layer(ly.name, ly.op, (*ly.inputs, *extra), ly.output, ly.stage, ly.block, ly.act,
                                    ly.inplace, ly.tflite_op)

    def add(self, fl: FileLayer, op: Op, out: int, *, act: str = "none", inplace: bool = False, tflite_op: str = "",
            extra: Sequence[int] = ()) -> None:
        ins = (*fl.inputs, *(t for t in extra if t not in fl.inputs and t != out))
        self.layers.append(Layer(fl.name, op, ins, out, 0, fl.primary, act, inplace, tflite_op))
        self.flayers.append(fl)

    def emit(self, op: TFLOp) -> None:
        ins = tuple(self.gid(i) for i in self.ins(op))
        outs = [self.gid(o) for o in op.outputs]
        if not outs:
            self.placement[op.index] = "dropped: the operator has no outputs"
            return
        covers = (op.index, *sorted(k for k, v in self.fused_into.items() if self._host(k) == op.index))
        atom, why, pad = _atom(self, op)
        name = f"{op.index}.{op.name}"
        if pad is not None and ins:  # X-CUBE-AI's explicit pad before a SAME conv
            padded = len(self.tensors)
            self.tensors.append(Tensor(padded, (self.tensors[ins[0]].shape[0] // max(pad.c_in, 1) * pad.c_out,
                                                pad.h_out, pad.w_out)))
            self.add(FileLayer(f"{name}.pad", op.index, (op.index,), pad, why, ins[:1], inserted=True), pad, padded)
            ins = (padded, *ins[1:])
        fl = FileLayer(name, op.index, covers, atom, why, ins)
        placeholder = atom or Op.eltwise(*self.tensors[outs[0]].shape)
        acts = [_ACT_NAMES[self.m.ops[k].name] for k in covers[1:] if self.m.ops[k].name in _ACTS]
        fused = acts[-1] if acts else op.fused_act.lower() if op.fused_act not in ("", "NONE") else "none"
        inplace = self.rt == "tinyengine" and atom is not None and atom.kind == "depthwise" and \
            atom.c_out == atom.c_in and bool(ins)
        self.add(fl, placeholder, outs[0], act=fused, inplace=inplace, tflite_op=op.name, extra=outs[1:])

    def _host(self, k: int) -> int:
        while k in self.fused_into:
            k = self.fused_into[k]
        return k

    def emit_se(self, mul: TFLOp) -> None:
        chain = self.se[mul.index]
        mean = self.m.ops[chain[0]]
        x = self.gid(self.ins(mean)[0])
        c, h, w = _chw(self.t(self.ins(mean)[0]).shape)
        se = Op.se(c, h, w)
        fl = FileLayer(f"{mean.index}.SE", mean.index, tuple(chain), se, "", (x,))
        self.add(fl, se, self.gid(mul.outputs[0]), inplace=True, tflite_op="MUL")


def _atom(b: _Builder, op: TFLOp) -> tuple[Op | None, str, Op | None]:
    """``(atom operator or None, why unpriced or "", X-CUBE-AI's pad before it or None)`` of a file operator."""
    ins = b.ins(op)
    if not op.outputs or op.outputs[0] not in b.act:
        return None, f"{op.name}: its output is a constant", None
    cout, hout, wout = _chw(b.t(op.outputs[0]).shape)
    cin, hin, win = _chw(b.t(ins[0]).shape) if ins else (cout, hout, wout)
    dtype = b.is_int8(op)
    if op.name in _CONVS:
        return _conv(b, op, ins, dtype)
    if op.name == "FULLY_CONNECTED":
        w = b.t(op.inputs[1]).shape
        rows = max(_chw(b.t(op.outputs[0]).shape)[0] * hout * wout // max(int(w[0]), 1), 1)
        if rows > 1:
            return None, f"FULLY_CONNECTED over {rows} rows: the atom vocabulary has single-row dense only", None
        return Op.dense(max(int(w[1]), 1), max(int(w[0]), 1)), _weights_int8(b, op, dtype), None
    if op.name in ("MEAN", "AVERAGE_POOL_2D") and (hout, wout) == (1, 1) and cout == cin and hin * win > 1:
        window = (int(op.option("filterHeight", hin)), int(op.option("filterWidth", win)))
        if op.name == "MEAN" or window == (hin, win):
            return Op.pool(cin, hin, win), dtype, None
    if op.name == "PAD" and ins:
        return Op.pad(cin, hin, win, hout, wout), dtype or _pad_channels(cin, cout), None
    fn = op.name.lower()
    if fn in ELTWISE_FN_ID:
        return Op.eltwise(cout, hout, wout, fn=fn), dtype, None
    what = f"custom operator {op.name[7:]}" if op.name.startswith("CUSTOM:") else op.name
    return None, f"no atom operator for {what}", None


def _weights_int8(b: _Builder, op: TFLOp, dtype: str) -> str:
    w = b.t(op.inputs[1]).dtype
    return dtype or ("" if w == _INT8 else f"{w} weights: the AtomDB holds int8 kernels only")


def _pad_channels(cin: int, cout: int) -> str:
    return "" if cin == cout else "PAD of the channel dimension: the atom pad pads height and width only"


def _conv(b: _Builder, op: TFLOp, ins: list[int], dtype: str) -> tuple[Op | None, str, Op | None]:
    w = b.t(op.inputs[1]).shape
    kh, kw = int(w[1]), int(w[2])
    cout, hout, wout = _chw(b.t(op.outputs[0]).shape)
    if not ins:
        return None, f"{op.name} on a constant input", None
    src = b.find(ins[0])
    cin, hin, win = _chw(b.t(ins[0]).shape)
    if kh != kw or op.stride[0] != op.stride[1]:
        return None, (f"kernel {kh}x{kw} stride {op.stride[0]}x{op.stride[1]}: the atom vocabulary has square "
                      "kernels and strides only"), None
    dil = (int(op.option("dilationHFactor", 1)), int(op.option("dilationWFactor", 1)))
    if dil != (1, 1):
        return None, f"dilation {dil[0]}x{dil[1]}: the atom vocabulary has undilated kernels only", None
    k, s = kh, op.stride[0]
    pad_op = b.producer.get(ins[0])
    if pad_op is not None and b.fused_into.get(pad_op) == op.index:  # a PAD fused in: the key stores its input
        cin, hin, win = _chw(b.t(src).shape)
    dtype = _weights_int8(b, op, dtype)
    dw = op.name == "DEPTHWISE_CONV_2D"
    if not dw and k == 1 and s == 1 and (hin, win) == (hout, wout):
        return Op.pointwise(cin, hin, win, cout), dtype, None
    groups = cin if dw else max(1, cin // max(int(w[3]), 1))
    kind = "depthwise" if dw else "conv"
    stem = not dw and b.find(ins[0]) == b.find(b.m.inputs[0])
    if b.rt != "xcube-ai" or op.padding != "SAME" or k == 1 or stem:
        return Op(kind, cin, hin, win, cout, hout, wout, k, s, groups), dtype, None
    ph, pw = _padded(hin, k, s, hout), _padded(win, k, s, wout)
    pad = Op.pad(cin, hin, win, ph, pw) if (ph, pw) != (hin, win) else None
    return Op(kind, cin, ph, pw, cout, hout, wout, k, s, groups), dtype, pad


def _padded(n: int, k: int, s: int, out: int) -> int:
    """The padded size X-CUBE-AI's explicit pad produces: ``n + 2·(k//2)`` when a valid conv on it gives ``out``
    (the AtomDB convention), else TFLite's SAME padding ``(out-1)·s + k``."""
    sym = n + 2 * (k // 2)
    return sym if (sym - k) // s + 1 == out else max((out - 1) * s + k, n)
