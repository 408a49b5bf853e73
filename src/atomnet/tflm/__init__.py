"""TensorFlow Lite Micro's memory rules, shared by a ``.tflite`` file and a spec: the size table of TFLM's
structures and kernels for the pinned ``tflite-micro`` (:data:`TFLM_VERSION`), the persistent *tail* replayed
from the counts and records it depends on, and the tail of the file our int8 exporter writes for a spec.

Plain data and arithmetic (imports :mod:`atomnet.spec` and numpy only), so that both ``atomnet.cost`` (a spec,
without torch) and ``atomnet.export`` (a file: :func:`~atomnet.export.plan_tflm_arena`) use the same rules.

>>> from atomnet.spec import lower
>>> from atomnet.zoo import get_zoo
>>> tflm_tail_for_graph(lower(get_zoo("mcunet-in2"), "tflm")).tail_bytes
86032
"""

from __future__ import annotations

from atomnet.tflm._graph import (
    SHARED_CONSTANTS,
    ExportModel,
    ExportOp,
    ExportTensor,
    GraphTail,
    LayerRecord,
    check_tflm_graph,
    export_model,
    graph_records,
    layer_constants,
    layer_record,
    layer_records,
    tflm_tail_for_graph,
)
from atomnet.tflm._kernels import (
    ABI32,
    ABI64,
    ALIGN,
    KERNELS,
    TFLM_ITEMSIZE,
    TFLM_VERSION,
    Abi,
    Kernel,
    ModelLike,
    OpContext,
    OpLike,
    TensorLike,
    rule,
)
from atomnet.tflm._parts import N_COLS, combine, layer_parts, segment_parts, tails
from atomnet.tflm._tail import (
    SECTIONS,
    OpTail,
    Sections,
    TailModel,
    TailRecords,
    op_tail,
    tail_records,
    tensor_bytes,
    tflm_tail,
)

__all__ = [
    "ABI32",
    "ABI64",
    "ALIGN",
    "KERNELS",
    "N_COLS",
    "SECTIONS",
    "SHARED_CONSTANTS",
    "TFLM_ITEMSIZE",
    "TFLM_VERSION",
    "Abi",
    "ExportModel",
    "ExportOp",
    "ExportTensor",
    "GraphTail",
    "Kernel",
    "LayerRecord",
    "ModelLike",
    "OpContext",
    "OpLike",
    "OpTail",
    "Sections",
    "TailModel",
    "TailRecords",
    "TensorLike",
    "check_tflm_graph",
    "combine",
    "export_model",
    "graph_records",
    "layer_constants",
    "layer_parts",
    "layer_record",
    "layer_records",
    "op_tail",
    "rule",
    "segment_parts",
    "tail_records",
    "tails",
    "tensor_bytes",
    "tflm_tail",
    "tflm_tail_for_graph",
]
