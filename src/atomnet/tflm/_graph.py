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

from atomnet.spec import Graph
from atomnet.tflm._kernels import ABI32, ABI64, rule
from atomnet.tflm._tail import Sections, TailRecords, tail_records, tflm_tail

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


def export_model(graph: Graph, *, fc_bias: bool = False) -> ExportModel:
    """The records of the file ``export_int8`` writes for ``graph`` (lowered for ``tflm``); ``fc_bias``: the
    classifier has a nonzero bias (a trained model), which the file then stores."""
    if graph.runtime != "tflm":
        raise ValueError(f"the TFLM tail needs a graph lowered for 'tflm', got one for {graph.runtime!r}: "
                         "use lower(spec, 'tflm')")
    tensors = [ExportTensor(_nhwc(t.shape), "INT8", 1) for t in graph.tensors]
    shared: dict[int, int] = {}  # bit → tensor index

    def const(shape: tuple[int, ...], dtype: str, scales: int) -> int:
        tensors.append(ExportTensor(shape, dtype, scales))
        return len(tensors) - 1

    def shared_const(bit: int, shape: tuple[int, ...], dtype: str, scales: int) -> int:
        if bit not in shared:
            shared[bit] = const(shape, dtype, scales)
        return shared[bit]

    ops, owned, masks = [], [], []
    for ly in graph.layers:
        op, name, ins = ly.op, ly.tflite_op, list(ly.inputs)
        mine: list[int] = []  # the operator's own constants
        mask = 0
        if name == "CONV_2D":
            mine = [const((op.c_out, op.kernel, op.kernel, op.c_in // op.groups), "INT8", op.c_out),
                    const((op.c_out,), "INT32", op.c_out)]
        elif name == "DEPTHWISE_CONV_2D":
            mine = [const((1, op.kernel, op.kernel, op.c_out), "INT8", op.c_out), const((op.c_out,), "INT32", op.c_out)]
        elif name == "FULLY_CONNECTED":
            mine = [const((op.c_out, op.c_in), "INT8", op.c_out)]
            mine.append(const((op.c_out,), "INT32", op.c_out) if fc_bias else -1)
        elif name == "MEAN":
            mask = 1
            ins.append(shared_const(0, (2,), "INT32", 0))
        elif name in ("MUL", "ADD") and len(ins) == 1:
            mask = 2
            ins.append(shared_const(1, (), "INT8", 1))
        ops.append(ExportOp(name, (*ins, *mine), (ly.output,)))
        owned.append(1 + sum(k >= 0 for k in mine))
        masks.append(mask)
    return ExportModel(tuple(tensors), tuple(ops), (graph.input,), (graph.output,), tuple(owned), tuple(masks))


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
    m = export_model(graph, fc_bias=fc_bias)
    r64, r32 = tail_records(m, ABI64), tail_records(m, ABI32)
    t64, s64 = tflm_tail(r64, ABI64)
    t32, s32 = tflm_tail(r32, ABI32)
    unknown = tuple(sorted({op.name for op in m.ops if not rule(op.name).known}))
    return GraphTail(t64, t32, s64, s32, len(m.tensors), unknown)


def graph_records(graph: Graph, *, fc_bias: bool = False) -> tuple[ExportModel, TailRecords, TailRecords]:
    """The exported model of ``graph`` and its tail records on the 64-bit and the 32-bit ABI."""
    m = export_model(graph, fc_bias=fc_bias)
    return m, tail_records(m, ABI64), tail_records(m, ABI32)
