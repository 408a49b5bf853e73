"""The exact TensorFlow Lite Micro arena of a ``.tflite`` file: the non-persistent head (greedy planner over
the activations and every kernel's scratch buffers) and the persistent tail (TFLM's allocation sequence),
without running the interpreter.

The rules follow TFLM's ``MicroAllocator`` / ``MicroInterpreter`` (pinned ``tflite-micro`` wheel, see
:data:`atomnet.tflm.TFLM_VERSION`):

head
    ``AllocationInfoBuilder`` + ``GreedyMemoryPlanner``: one buffer per tensor without constant data that is
    not a variable (offline-planned variables excepted), ``bytes = elements × TFLM element size`` aligned up
    to 16; lifetimes in *allocation scopes*: graph inputs and outputs are created at scope 0, operator ``i``
    runs at scope ``i + 1`` (its outputs are created there, its inputs last used there), graph outputs live
    to the last scope, a tensor no operator touches has the lifetime ``[-1, -1]`` (all such tensors overlap
    each other); then each kernel's scratch requests (``RequestScratchBufferInArena``) for its own scope.
    Buffers are added in tensor order then request order; offline-planned ones keep their offset and are
    placed first, the others largest first, ties in reverse add order (TFLM fills its sort array from the
    back and bubble-sorts it stably), each at the lowest gap free over its lifetime. The head is the
    highest end offset.
tail
    Every persistent allocation in TFLM's order, each at ``AlignDown(tail - size, alignment)``: the
    allocator objects, ``MicroBuiltinDataAllocator``, ``SubgraphAllocations``, the ``TfLiteEvalTensor``
    array, the ``NodeAndRegistration`` array, each operator's parsed builtin options, each kernel's op data
    (``Init``) and prepare-time buffers (``Prepare``), the scratch-buffer handle array, the variable tensors'
    buffers, and the interpreter's input/output ``TfLiteTensor`` structs with their quantization copies.
    Sizes of TFLM structures and of every kernel's op data live in one table and the tail is replayed by
    :mod:`atomnet.tflm` (which gives the same tail for a spec's export: :func:`atomnet.tflm.tflm_tail_for_graph`);
    the 64-bit values reproduce the Python interpreter (a 64-bit host build) byte for byte, the 32-bit ones
    (Cortex-M) are *derived* from the same structures with 4-byte pointers and are not measured.

The table of the public corpus, ours against the interpreter: ``python -m atomnet.export._arena_table
--corpus ../shared/models/tflite``.

>>> a = plan_tflm_arena(read_tflite("person_detect.tflite"))      # doctest: +SKIP
>>> a.head_bytes, a.tail_bytes, a.total_bytes                       # doctest: +SKIP
(55296, 29968, 85264)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from atomnet.export._errors import TFLiteError
from atomnet.export._tflite import TFLiteModel
from atomnet.tflm import (
    ABI32,
    ABI64,
    ALIGN,
    SECTIONS,
    TFLM_ITEMSIZE,
    TFLM_VERSION,
    Abi,
    OpContext,
    rule,
    tail_records,
    tflm_tail,
)

__all__ = ["SECTIONS", "TFLMArena", "plan_tflm_arena", "tflm_head_plan"]


@dataclass(frozen=True)
class TFLMArena:
    """The arena TFLite Micro allocates for a model: ``head_bytes`` (non-persistent: activations and
    scratch buffers, planned) + ``tail_bytes`` (persistent: TFLM's structures, kernels' op data, variable
    tensors) = ``total_bytes``, the arena size to give TFLM (an arena whose start and end are 16-byte
    aligned). ``tail_bytes`` is for a 64-bit build (the Python interpreter, exact); ``tail_bytes_32`` is
    derived for a 32-bit Cortex-M build from the same rules with 4-byte pointers. ``live_bytes[i]``: head
    bytes live while operator ``i`` runs. ``unknown_ops``: operators whose op data or scratch sizes are not
    in the table (the estimate is then a lower bound, ``exact`` is false)."""

    path: str
    head_bytes: int
    tail_bytes: int
    tail_bytes_32: int
    head_bytes_32: int
    tail_sections: tuple[tuple[str, int], ...]
    tail_sections_32: tuple[tuple[str, int], ...]
    live_bytes: tuple[int, ...]
    scratch_bytes: tuple[int, ...]
    unknown_ops: tuple[str, ...] = ()
    tflm_version: str = TFLM_VERSION
    notes: tuple[str, ...] = field(default=())

    @property
    def total_bytes(self) -> int:
        return self.head_bytes + self.tail_bytes

    @property
    def total_bytes_32(self) -> int:
        return self.head_bytes_32 + self.tail_bytes_32

    @property
    def exact(self) -> bool:
        """Whether every operator's sizes are in the table (the 64-bit figures are then exact)."""
        return not self.unknown_ops

    def to_dict(self) -> dict[str, object]:
        return {"path": self.path, "head_bytes": self.head_bytes, "tail_bytes": self.tail_bytes,
                "total_bytes": self.total_bytes, "tail_bytes_32_derived": self.tail_bytes_32,
                "total_bytes_32_derived": self.total_bytes_32, "tail_sections": dict(self.tail_sections),
                "tail_sections_32_derived": dict(self.tail_sections_32), "live_bytes": list(self.live_bytes),
                "unknown_ops": list(self.unknown_ops), "exact": self.exact, "tflm_version": self.tflm_version,
                "notes": list(self.notes)}


# ---- the head: AllocationInfoBuilder + GreedyMemoryPlanner ---------------------------------------------
@dataclass(frozen=True)
class _Buf:
    size: int
    first: int
    last: int
    offline: int  # -1 = planned online


def _align(n: int, a: int) -> int:
    return (n + a - 1) // a * a


def greedy_plan(bufs: list[_Buf]) -> list[int]:
    """Offsets of ``bufs`` (in add order) as TFLM's ``GreedyMemoryPlanner`` places them."""
    n = len(bufs)
    if not n:
        return []
    offline = [k for k in range(n) if bufs[k].offline != -1]
    online = [k for k in range(n) if bufs[k].offline == -1][::-1]  # filled from the back of the sort array
    online.sort(key=lambda k: -bufs[k].size)  # stable: ties keep the reversed add order
    order = offline + online
    offsets = [-1] * n
    placed: list[tuple[int, int]] = []  # (offset, buffer) sorted by offset; equal offsets in insertion order
    for k in order:
        b = bufs[k]
        if b.offline != -1:
            at = b.offline
        else:
            at = 0
            for off, j in placed:  # offset order: the first gap wide enough among buffers live at the same time
                o = bufs[j]
                if o.first > b.last or b.first > o.last:
                    continue
                if off - at >= b.size:
                    break
                at = max(at, off + o.size)
        offsets[k] = at
        pos = len(placed)
        for p, (off, _) in enumerate(placed):
            if off > at:
                pos = p
                break
        placed.insert(pos, (at, k))
    return offsets


def _plan_buffers(m: TFLiteModel, scratch: list[tuple[int, int]]) -> tuple[list[_Buf], list[str]]:
    """The planner's buffers in TFLM's add order (tensors, then scratch ``(op, bytes)`` requests)."""
    n_ops = len(m.ops)
    first = [-1] * len(m.tensors)
    last = [-1] * len(m.tensors)
    for t in (*m.inputs, *m.outputs):
        first[t] = last[t] = 0
    for i, op in enumerate(m.ops):
        scope = i + 1
        for t in op.outputs:
            first[t] = last[t] = scope
        for t in op.inputs:
            if t >= 0:
                last[t] = scope
        for t in op.outputs:
            last[t] = scope
    for t in m.outputs:
        last[t] = n_ops
    offline = m.offline_offsets
    problems: list[str] = []
    if offline is not None and len(offline) != m.total_tensors:
        problems.append(f"the offline memory plan has {len(offline)} offsets but the model has {m.total_tensors} "
                        "tensors (TFLite Micro refuses the model)")
        offline = None
    bufs = []
    for tensor in m.tensors:
        k = tensor.index
        off = offline[k] if offline is not None else -1
        size = _tflm_bytes(m, k)
        if tensor.is_constant or size == 0 or (tensor.is_variable and off == -1):
            continue
        bufs.append(_Buf(_align(size, ALIGN), first[k], last[k], off))
    for op_index, nbytes in scratch:
        bufs.append(_Buf(_align(nbytes, ALIGN), op_index + 1, op_index + 1, -1))
    return bufs, problems


def _tflm_bytes(m: TFLiteModel, t: int) -> int:
    tensor = m.tensors[t]
    n = TFLM_ITEMSIZE.get(tensor.dtype)
    if n is None:
        raise TFLiteError(m.path, [f"tensor {t} {tensor.name[:60]!r} has type {tensor.dtype}, which TFLite Micro "
                                   "does not support"])
    for d in tensor.shape:
        n *= d
    return n


def tflm_head_plan(m: TFLiteModel, scratch: list[tuple[int, int]] | None = None) -> tuple[int, tuple[int, ...]]:
    """``(head bytes, live head bytes per operator)`` of the greedy plan; ``scratch``: ``(operator, bytes)``
    requests (default: the kernel table's)."""
    if scratch is None:
        scratch = [(op.index, s) for op in m.ops for s in rule(op.name).scratch(OpContext(m, op))]
    bufs, problems = _plan_buffers(m, scratch)
    if problems:
        raise TFLiteError(m.path, problems)
    offsets = greedy_plan(bufs)
    head = max((o + b.size for o, b in zip(offsets, bufs, strict=True)), default=0)
    live = tuple(sum(b.size for b in bufs if b.first <= i + 1 <= b.last) for i in range(len(m.ops)))
    return head, live


# ---- the tail: TFLM's persistent allocations in order (atomnet.tflm) ------------------------------------
def _tail(m: TFLiteModel, abi: Abi) -> tuple[int, tuple[tuple[str, int], ...]]:
    """Replay TFLM's persistent allocations for ``m`` on ``abi``: ``(tail bytes, bytes per section)``."""
    return tflm_tail(tail_records(m, abi), abi)


def plan_tflm_arena(model: TFLiteModel) -> TFLMArena:
    """The arena TFLite Micro (the pinned ``tflite-micro``) allocates for ``model``: head, tail (64-bit,
    exact where every operator is in the kernel table; 32-bit derived) and total. A model whose main
    subgraph calls other subgraphs, or with a tensor type TFLM does not support, raises
    :class:`~atomnet.export.TFLiteError` naming it.

    >>> a = plan_tflm_arena(read_tflite("model.tflite"))     # doctest: +SKIP
    >>> print(a.total_bytes)                                   # doctest: +SKIP
    """
    model.check_single_subgraph()
    unknown = tuple(sorted({op.name for op in model.ops if not rule(op.name).known}))
    head, live = tflm_head_plan(model)
    scratch = tuple(sum(rule(op.name).scratch(OpContext(model, op))) for op in model.ops)
    tail64, sec64 = _tail(model, ABI64)
    tail32, sec32 = _tail(model, ABI32)
    notes: tuple[str, ...] = ()
    if unknown:
        notes = (f"operators not in the TFLM kernel table ({', '.join(unknown)}): their op data and scratch "
                 "buffers are not counted, the arena is a lower bound",)
    return TFLMArena(model.path, head, tail64, tail32, head, sec64, sec32, live, scratch, unknown, TFLM_VERSION,
                     notes)
