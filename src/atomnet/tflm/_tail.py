"""TFLite Micro's persistent arena (the *tail*): every persistent allocation in TFLM's order, replayed on the
counts and records it depends on, for a ``.tflite`` file (:func:`atomnet.export.plan_tflm_arena`) and for the
graph our exporter writes from a spec (:func:`atomnet.tflm.tflm_tail_for_graph`) alike.

Each allocation lands at ``AlignDown(tail - size, alignment)`` below a 16-aligned arena end
(``SingleArenaBufferAllocator``), in this order: the allocator objects, ``MicroBuiltinDataAllocator``,
``SubgraphAllocations``, the ``TfLiteEvalTensor`` array (one per tensor of the subgraph, constants included), the
``NodeAndRegistration`` array (one per operator), each operator's parsed builtin options, each kernel's op data
(``Init``), each kernel's prepare-time buffers (``Prepare``), the scratch-buffer handle array, the variable
tensors' buffers, then the interpreter's input and output ``TfLiteTensor`` structs with their quantization copies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from atomnet.tflm._kernels import ALIGN, TFLM_ITEMSIZE, Abi, ModelLike, OpContext, OpLike, TensorLike, rule

#: sections of the tail, in the names RecordingMicroAllocator prints (plus the parts it does not name)
SECTIONS = ("allocator objects", "MicroBuiltinDataAllocator + SubgraphAllocations", "TfLiteEvalTensor data",
            "NodeAndRegistration struct", "builtin operator options", "Persistent buffer data",
            "scratch buffer handles", "TfLiteTensor variable buffer data", "Persistent TfLiteTensor data",
            "Persistent TfLiteTensor quantization data")

Sections = tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class OpTail:
    """What one operator adds to the tail on one ABI: its parsed builtin options ``(sizeof, alignof)`` (``None``:
    none), the buffers its ``Init`` and its ``Prepare`` allocate (16-aligned each) and how many scratch buffers it
    requests (one handle each)."""

    params: tuple[int, int] | None
    init: tuple[int, ...]
    prepare: tuple[int, ...]
    scratch: int


@dataclass(frozen=True)
class TailRecords:
    """Everything the tail depends on: the subgraph's tensor count (constants included), the operators' records,
    the subgraph count, the bytes of each online-planned variable tensor, and per graph input / output the
    number of quantization scales TFLM copies (0: the tensor has no quantization table it copies)."""

    tensors: int
    ops: tuple[OpTail, ...]
    subgraphs: int = 1
    variables: tuple[int, ...] = ()
    inputs: tuple[int, ...] = ()
    outputs: tuple[int, ...] = ()


class TailTensor(TensorLike, Protocol):
    @property
    def is_variable(self) -> bool: ...

    @property
    def is_quantized(self) -> bool: ...


class TailModel(ModelLike, Protocol):
    """A model as the tail reads it (:class:`atomnet.export.TFLiteModel` is one)."""

    @property
    def tensors(self) -> Sequence[TailTensor]: ...

    @property
    def ops(self) -> Sequence[OpLike]: ...

    @property
    def inputs(self) -> tuple[int, ...]: ...

    @property
    def outputs(self) -> tuple[int, ...]: ...

    @property
    def subgraphs(self) -> int: ...

    @property
    def offline_offsets(self) -> tuple[int, ...] | None: ...

    @property
    def total_tensors(self) -> int: ...


def op_tail(c: OpContext, abi: Abi) -> OpTail:
    """One operator's record from the kernel table (an operator not in the table adds nothing)."""
    r = rule(c.op.name)
    return OpTail(r.params[abi.bits] if r.params else None, tuple(r.init(c, abi)), tuple(r.prepare(c, abi)),
                  len(r.scratch(c)))


def tensor_bytes(t: TensorLike) -> int:
    """Bytes TFLM gives a tensor (``elements × TfLiteTypeSizeOf``); a type TFLM does not support raises
    ``ValueError``."""
    n = TFLM_ITEMSIZE.get(t.dtype)
    if n is None:
        raise ValueError(f"tensor type {t.dtype} is not supported by TensorFlow Lite Micro")
    for d in t.shape:
        n *= d
    return n


def tail_records(m: TailModel, abi: Abi) -> TailRecords:
    """The records of ``m`` on ``abi``: operators from the kernel table, online-planned variables, I/O scales."""
    offline = m.offline_offsets if m.offline_offsets is not None and len(m.offline_offsets) == m.total_tensors \
        else None
    variables = tuple(tensor_bytes(t) for k, t in enumerate(m.tensors)
                      if t.is_variable and (offline is None or offline[k] == -1))

    def scales(i: int) -> int:
        t = m.tensors[i]
        return t.scales if t.is_quantized else 0

    return TailRecords(len(m.tensors), tuple(op_tail(OpContext(m, op), abi) for op in m.ops), m.subgraphs,
                       variables, tuple(map(scales, m.inputs)), tuple(map(scales, m.outputs)))


class _Stack:
    """A stack growing down from a 16-aligned arena end, as ``SingleArenaBufferAllocator``."""

    def __init__(self) -> None:
        self.top = 0
        self.sections: dict[str, int] = dict.fromkeys(SECTIONS, 0)

    def alloc(self, section: str, size: int, align: int) -> None:
        new = (self.top - size) // align * align  # AlignPointerDown(tail - size, align), addresses below 0
        self.sections[section] += self.top - new
        self.top = new


def tflm_tail(r: TailRecords, abi: Abi) -> tuple[int, Sections]:
    """Replay TFLM's persistent allocations of ``r`` on ``abi``: ``(tail bytes, bytes per section)`` (sections
    with no bytes left out)."""
    t = _Stack()
    for size, align in abi.allocator_objects:  # RecordingMicroAllocator::Create
        t.alloc("allocator objects", size, align)
    t.alloc("MicroBuiltinDataAllocator + SubgraphAllocations", *abi.builtin_data_allocator)  # StartModelAllocation
    size, align = abi.subgraph_allocations
    t.alloc("MicroBuiltinDataAllocator + SubgraphAllocations", size * r.subgraphs, align)
    size, align = abi.eval_tensor
    t.alloc("TfLiteEvalTensor data", size * r.tensors, align)
    size, align = abi.node_and_registration
    t.alloc("NodeAndRegistration struct", size * len(r.ops), align)
    for op in r.ops:  # PrepareNodeAndRegistrationDataFromFlatbuffer: the builtin options structs
        if op.params:
            t.alloc("builtin operator options", *op.params)
    for op in r.ops:  # InitSubgraphs
        for size in op.init:
            t.alloc("Persistent buffer data", size, ALIGN)
    for op in r.ops:  # PrepareSubgraphs
        for size in op.prepare:
            t.alloc("Persistent buffer data", size, ALIGN)
    n_scratch = sum(op.scratch for op in r.ops)
    if n_scratch:  # FinishModelAllocation: the handles of every scratch request
        size, align = abi.scratch_handle
        t.alloc("scratch buffer handles", size * n_scratch, align)
    for size in r.variables:  # AllocateVariables (online-planned variables only)
        t.alloc("TfLiteTensor variable buffer data", size, ALIGN)
    _io_tensors(t, r, abi)
    return -t.top, tuple((k, v) for k, v in t.sections.items() if v)


def _io_tensors(t: _Stack, r: TailRecords, abi: Abi) -> None:
    """The interpreter's input then output ``TfLiteTensor`` structs (a pointer array each, 16-aligned), with the
    quantization copies of quantized ones."""
    for ios in (r.inputs, r.outputs):
        t.alloc("Persistent buffer data", abi.ptr * len(ios), ALIGN)
        for scales in ios:
            t.alloc("Persistent TfLiteTensor data", *abi.tflite_tensor)
            if scales:
                t.alloc("Persistent TfLiteTensor quantization data", *abi.affine_quantization)
                t.alloc("Persistent TfLiteTensor quantization data", 4 + 4 * scales, 4)
