"""The tail of a spec: the ``.tflite`` our int8 exporter writes for a graph lowered for ``tflm``, rebuilt as the
records TFLite Micro's persistent allocations depend on (:mod:`atomnet.tflm._tail`), without exporting.

What the exporter writes (``export_int8``: onnx2tf 1.29.16 + the TFLite converter, full-integer int8 with
per-channel weights; read off the exports of ``tests/test_export.py``'s specs):

- one int8 tensor per activation of the graph (one scale, one zero point each; model input and output too);
- ``CONV_2D`` / ``DEPTHWISE_CONV_2D``: an int8 filter (``[C_out, k, k, C_in]`` / ``[1, k, k, C_out]``) and an int32
  bias, both with ``C_out`` scales;
- ``FULLY_CONNECTED``: an int8 filter ``[classes, C_in]`` with one scale per class; **no bias tensor** when the
  classifier's bias is zero (the random initialization ``export_int8(spec)`` uses: the converter drops an all-zero
  bias), one int32 bias tensor when it is not (a trained model: ``fc_bias=True``);
- ``MEAN``: its axis operand, an int32 ``[2]`` tensor that every ``MEAN`` of the model shares (the converter
  deduplicates equal constants);
- ``MUL`` / ``ADD`` with a single activation input (the SE gate's ×1/6): an int8 scalar, one per model, shared.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from atomnet.ops import Op
from atomnet.spec import Graph
from atomnet.tflm._kernels import ABI32, ABI64, OpContext, rule
from atomnet.tflm._tail import OpTail, Sections, TailRecords, op_tail, tflm_tail

#: shared constants: the bit of each in :data:`SHARED_CONSTANTS`' mask
SHARED_CONSTANTS = ("MEAN axis", "scalar operand")


@dataclass(frozen=True)
class ExportTensor:
    """A tensor of the exported file, as the tail reads it."""

    shape: tuple[int, ...]
    dtype: str
    scales: int
    is_variable: bool = False

    @property
    def is_quantized(self) -> bool:
        return self.scales > 0


@dataclass(frozen=True)
class ExportOp:
    """An operator of the exported file: builtin name and tensor indices (-1: optional input absent)."""

    name: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    custom_options: bytes = b""

    def option(self, name: str, default: int | float | bool = 0) -> int | float | bool:
        return default  # no kernel of the exported operators sizes anything from its options


@dataclass(frozen=True)
class ExportModel:
    """The file the exporter writes for a graph (tensor order aside: the tail does not depend on it).
    ``shared[i]``: the constants of :data:`SHARED_CONSTANTS` operator ``i`` reads (a bit mask); ``owned[i]``: the
    tensors operator ``i`` adds (its output and its own constants)."""

    tensors: tuple[ExportTensor, ...]
    ops: tuple[ExportOp, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    owned: tuple[int, ...]
    shared: tuple[int, ...]
    subgraphs: int = 1
    offline_offsets: tuple[int, ...] | None = None

    @property
    def total_tensors(self) -> int:
        return len(self.tensors)


def _nhwc(shape: tuple[int, int, int]) -> tuple[int, ...]:
    c, h, w = shape
    return (1, c) if (h, w) == (1, 1) else (1, h, w, c)


def check_tflm_graph(graph: Graph) -> None:
    """Raise ``ValueError`` unless ``graph`` is lowered for ``tflm`` (the lowering of our export)."""
    if graph.runtime != "tflm":
        raise ValueError(f"the TFLM tail needs a graph lowered for 'tflm', got one for {graph.runtime!r}: "
                         "use lower(spec, 'tflm')")


def layer_constants(name: str, op: Op, n_inputs: int, fc_bias: bool = False
                    ) -> tuple[tuple[ExportTensor | None, ...], tuple[int, ExportTensor] | None]:
    """The constant inputs the exporter writes for one operator: its own, after its activation inputs (``None``:
    an optional input left out), and the shared one it reads (``(bit, tensor)`` of :data:`SHARED_CONSTANTS`)."""
    if name == "CONV_2D":
        return (ExportTensor((op.c_out, op.kernel, op.kernel, op.c_in // op.groups), "INT8", op.c_out),
                ExportTensor((op.c_out,), "INT32", op.c_out)), None
    if name == "DEPTHWISE_CONV_2D":
        return (ExportTensor((1, op.kernel, op.kernel, op.c_out), "INT8", op.c_out),
                ExportTensor((op.c_out,), "INT32", op.c_out)), None
    if name == "FULLY_CONNECTED":
        return (ExportTensor((op.c_out, op.c_in), "INT8", op.c_out),
                ExportTensor((op.c_out,), "INT32", op.c_out) if fc_bias else None), None
    if name == "MEAN":
        return (), (0, ExportTensor((2,), "INT32", 0))
    if name in ("MUL", "ADD") and n_inputs == 1:
        return (), (1, ExportTensor((), "INT8", 1))
    return (), None


def export_model(graph: Graph, *, fc_bias: bool = False) -> ExportModel:
    """The records of the file ``export_int8`` writes for ``graph`` (lowered for ``tflm``); ``fc_bias``: the
    classifier has a nonzero bias (a trained model), which the file then stores."""
    check_tflm_graph(graph)
    tensors = [ExportTensor(_nhwc(t.shape), "INT8", 1) for t in graph.tensors]
    shared: dict[int, int] = {}  # bit → tensor index
    ops, owned, masks = [], [], []
    for ly in graph.layers:
        own, common = layer_constants(ly.tflite_op, ly.op, len(ly.inputs), fc_bias)
        ins = list(ly.inputs)
        if common is not None:
            bit, one = common
            if bit not in shared:
                shared[bit] = len(tensors)
                tensors.append(one)
            ins.append(shared[bit])
        for c in own:
            ins.append(-1 if c is None else len(tensors))
            if c is not None:
                tensors.append(c)
        ops.append(ExportOp(ly.tflite_op, tuple(ins), (ly.output,)))
        owned.append(1 + sum(c is not None for c in own))
        masks.append(0 if common is None else 1 << common[0])
    return ExportModel(tuple(tensors), tuple(ops), (graph.input,), (graph.output,), tuple(owned), tuple(masks))


#: one layer's records: (tensors it adds, shared-constant mask, 64-bit record, 32-bit record)
LayerRecord = tuple[int, int, OpTail, OpTail]


@lru_cache(maxsize=1 << 16)
def layer_record(name: str, op: Op, in_shapes: tuple[tuple[int, int, int], ...], out_shape: tuple[int, int, int],
                 fc_bias: bool = False) -> LayerRecord:
    """The tail records of one operator of the export (memoized: a search's models share most operators), from a
    one-operator model of its activations and constants."""
    own, common = layer_constants(name, op, len(in_shapes), fc_bias)
    tensors = [ExportTensor(_nhwc(s), "INT8", 1) for s in (*in_shapes, out_shape)]
    consts = [common[1]] if common is not None else []
    ins = [*range(len(in_shapes)), *range(len(tensors), len(tensors) + len(consts))]
    tensors += consts
    for t in own:
        ins.append(-1 if t is None else len(tensors))
        if t is not None:
            tensors.append(t)
    m = ExportModel(tuple(tensors), (ExportOp(name, tuple(ins), (len(in_shapes),)),), (), (), (), ())
    c = OpContext(m, m.ops[0])
    return 1 + sum(t is not None for t in own), 0 if common is None else 1 << common[0], op_tail(c, ABI64), \
        op_tail(c, ABI32)


def layer_records(graph: Graph, *, fc_bias: bool = False) -> list[LayerRecord]:
    """:func:`layer_record` of every layer of ``graph`` (lowered for ``tflm``), in order."""
    check_tflm_graph(graph)
    ts = graph.tensors
    return [layer_record(ly.tflite_op, ly.op, tuple(ts[i].shape for i in ly.inputs), ts[ly.output].shape, fc_bias)
            for ly in graph.layers]


def graph_records(graph: Graph, *, fc_bias: bool = False) -> tuple[TailRecords, TailRecords]:
    """The tail records of the export of ``graph`` on the 64-bit and the 32-bit ABI (what
    ``tail_records(export_model(graph), abi)`` gives, from memoized per-layer records)."""
    recs = layer_records(graph, fc_bias=fc_bias)
    mask = 0
    for r in recs:
        mask |= r[1]
    n = 1 + sum(r[0] for r in recs) + bin(mask).count("1")  # the graph input, each layer's tensors, the shared
    io = (1,)  # one int8 input and output, one scale each
    return (TailRecords(n, tuple(r[2] for r in recs), 1, (), io, io),
            TailRecords(n, tuple(r[3] for r in recs), 1, (), io, io))


@dataclass(frozen=True)
class GraphTail:
    """The persistent tail TFLite Micro allocates for the file our exporter writes from a graph: ``tail_bytes``
    for a 64-bit build (the Python interpreter; exact where every operator is in the kernel table),
    ``tail_bytes_32`` for a 32-bit Cortex-M build (derived from the same rules, not measured), bytes per section,
    the file's tensor count, and the operators the kernel table does not have (their op data are not counted)."""

    tail_bytes: int
    tail_bytes_32: int
    sections: Sections
    sections_32: Sections
    tensors: int
    unknown_ops: tuple[str, ...] = field(default=())

    @property
    def exact(self) -> bool:
        return not self.unknown_ops


def tflm_tail_for_graph(graph: Graph, *, fc_bias: bool = False) -> GraphTail:
    """The TFLM tail of the file ``export_int8`` writes for ``graph`` (``lower(spec, "tflm")``), 64-bit (the
    Python interpreter) and 32-bit (derived), by the rules :func:`~atomnet.export.plan_tflm_arena` applies to a
    file. ``fc_bias``: count the classifier's bias tensor (a trained model; ``export_int8(spec)``'s random
    initialization has a zero bias, which the converter drops).

    >>> from atomnet.spec import lower
    >>> from atomnet.zoo import get_zoo
    >>> t = tflm_tail_for_graph(lower(get_zoo("mcunet-in2"), "tflm"))
    >>> t.tail_bytes, t.tail_bytes_32
    (86032, 80540)
    """
    r64, r32 = graph_records(graph, fc_bias=fc_bias)
    t64, s64 = tflm_tail(r64, ABI64)
    t32, s32 = tflm_tail(r32, ABI32)
    unknown = tuple(sorted({ly.tflite_op for ly in graph.layers if not rule(ly.tflite_op).known}))
    return GraphTail(t64, t32, s64, s32, r64.tensors, unknown)
