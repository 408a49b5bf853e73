"""The tail of many specs at once from parts cached per block (batch costing, DESIGN principle 9).

The tail is a walk of aligned allocations, so it is not a plain sum, but nearly: the tensor and operator counts,
the persistent buffers (16-aligned each, after the first) and the scratch handles add up; the constants every
``MEAN`` / SE gate shares are counted once (a bit mask, OR-ed); the builtin options are aligned to at most 8
bytes, so a run of layers consumes a number of option bytes that depends only on the offset modulo 8 it starts
at (eight numbers per run, composed run after run); the first persistent buffer aligns the options' end to 16.
:func:`layer_parts` gives one row per layer, :func:`combine` the row of a run of layers (a block), :func:`tails`
the exact tail of every model from its runs' rows, vectorized over the models. ``tests/test_tflm_spec_tail.py``
holds :func:`tails` to :func:`~atomnet.tflm.tflm_tail_for_graph` on every zoo model split into blocks.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import numpy.typing as npt

from atomnet.ops import Op
from atomnet.spec import Graph
from atomnet.tflm._graph import SHARED_CONSTANTS, check_tflm_graph, layer_record
from atomnet.tflm._kernels import ABI32, ABI64, ALIGN, Abi
from atomnet.tflm._tail import TailRecords, _io_tensors, _Stack

IntArray = npt.NDArray[np.int64]

#: columns of a parts row: shared by both ABIs, then :data:`ABI_COLS` per ABI (64-bit first)
OPS, TENSORS, SHARED, SCRATCH = 0, 1, 2, 3
#: per ABI: Σ persistent buffers (each aligned to 16), the first Init buffer + 1 and the first Prepare buffer + 1
#: (0: none), then the option bytes consumed from each start offset modulo 8
PERSIST, FIRST_INIT, FIRST_PREP, OPT = 0, 1, 2, 3
PHASES = 8
ABI_COLS = 3 + PHASES
N_COLS = 4 + 2 * ABI_COLS


def col(abi: Abi, k: int) -> int:
    """The column of per-ABI part ``k`` for ``abi``."""
    return 4 + abi.bits * ABI_COLS + k


def _up(u: int, a: int) -> int:
    return -(-u // a) * a


@lru_cache(maxsize=1 << 16)
def _layer_row(name: str, op: Op, in_shapes: tuple[tuple[int, int, int], ...], out_shape: tuple[int, int, int],
               fc_bias: bool) -> tuple[int, ...]:
    """The parts row of one operator of the export (memoized as :func:`~atomnet.tflm._graph.layer_record`)."""
    owned, mask, r64, r32 = layer_record(name, op, in_shapes, out_shape, fc_bias)
    row = [0] * N_COLS
    row[OPS], row[TENSORS], row[SHARED] = 1, owned, mask
    for abi, r in ((ABI64, r64), (ABI32, r32)):
        row[SCRATCH] = r.scratch
        row[col(abi, PERSIST)] = sum(_up(s, ALIGN) for s in (*r.init, *r.prepare))
        row[col(abi, FIRST_INIT)] = r.init[0] + 1 if r.init else 0
        row[col(abi, FIRST_PREP)] = r.prepare[0] + 1 if r.prepare else 0
        if r.params:
            size, align = r.params
            row[col(abi, OPT): col(abi, OPT) + PHASES] = [_up(p + size, align) - p for p in range(PHASES)]
    return tuple(row)


def layer_parts(graph: Graph, *, fc_bias: bool = False) -> IntArray:
    """One parts row per layer of ``graph`` (lowered for ``tflm``), shape ``(layers, N_COLS)``."""
    check_tflm_graph(graph)
    ts = graph.tensors
    rows = [_layer_row(ly.tflite_op, ly.op, tuple(ts[i].shape for i in ly.inputs), ts[ly.output].shape, fc_bias)
            for ly in graph.layers]
    return np.array(rows, dtype=np.int64).reshape(len(rows), N_COLS)


def combine(rows: IntArray) -> IntArray:
    """The parts row of consecutive layers (``rows`` in execution order)."""
    out = np.zeros(N_COLS, dtype=np.int64)
    for c in (OPS, TENSORS, SCRATCH):
        out[c] = rows[:, c].sum()
    out[SHARED] = np.bitwise_or.reduce(rows[:, SHARED]) if len(rows) else 0
    for abi in (ABI64, ABI32):
        out[col(abi, PERSIST)] = rows[:, col(abi, PERSIST)].sum()
        for k in (FIRST_INIT, FIRST_PREP):
            nz = np.flatnonzero(rows[:, col(abi, k)])
            out[col(abi, k)] = rows[nz[0], col(abi, k)] if len(nz) else 0
        o = col(abi, OPT)
        u = np.arange(PHASES, dtype=np.int64)  # every start phase at once
        for r in rows[:, o: o + PHASES]:
            u += r[u % PHASES]
        out[o: o + PHASES] = u - np.arange(PHASES)
    return out


def segment_parts(rows: IntArray, seg: IntArray, n: int) -> IntArray:
    """The parts row of each of ``n`` segments, shape ``(n, N_COLS)``; ``seg[i]``: the segment of layer ``i``
    (-1: in none); a segment's layers keep their order."""
    return np.stack([combine(rows[seg == s]) for s in range(n)]) if n else np.zeros((0, N_COLS), dtype=np.int64)


def _io_table(abi: Abi, inputs: tuple[int, ...], outputs: tuple[int, ...]) -> list[int]:
    """Bytes the interpreter's I/O tensor structs take from each start offset modulo 16 (their first
    allocation is 16-aligned: nothing after depends on more), replayed by the tail's own walk."""
    out = []
    for p in range(ALIGN):
        t = _Stack()
        t.top = -p
        _io_tensors(t, TailRecords(0, (), inputs=inputs, outputs=outputs), abi)
        out.append(-t.top - p)
    return out


def _prefix(abi: Abi, subgraphs: int = 1) -> int:
    u = 0
    for size, align in abi.allocator_objects:
        u = _up(u + size, align)
    u = _up(u + abi.builtin_data_allocator[0], abi.builtin_data_allocator[1])
    return _up(u + abi.subgraph_allocations[0] * subgraphs, abi.subgraph_allocations[1])


def _upv(u: IntArray, a: int) -> IntArray:
    out: IntArray = -(-u // a) * a
    return out


def tails(parts: IntArray, starts: IntArray, inputs: tuple[int, ...] = (1,),
          outputs: tuple[int, ...] = (1,)) -> tuple[IntArray, IntArray]:
    """``(64-bit tails, 32-bit tails)`` of the models whose runs are the rows ``parts[starts[i]:starts[i+1]]``
    (in order; the last model's run to the end), one graph input plus the runs' tensors, I/O quantized with
    ``inputs`` / ``outputs`` scales (our exports: one int8 input and output, one scale each)."""
    n, m = len(starts), len(parts)
    if not n:
        z = np.zeros(0, dtype=np.int64)
        return z, z
    lengths = np.diff(np.append(starts, m))
    ops = np.add.reduceat(parts[:, OPS], starts)
    shared = np.bitwise_or.reduceat(parts[:, SHARED], starts)
    n_shared = sum(((shared >> b) & 1) for b in range(len(SHARED_CONSTANTS)))
    tensors = 1 + np.add.reduceat(parts[:, TENSORS], starts) + n_shared
    scratch = np.add.reduceat(parts[:, SCRATCH], starts)
    big = np.iinfo(np.int64).max
    pos = np.arange(m, dtype=np.int64)
    out = []
    for abi in (ABI64, ABI32):
        u = np.full(n, _prefix(abi), dtype=np.int64)
        u = _upv(u + abi.eval_tensor[0] * tensors, abi.eval_tensor[1])
        u = _upv(u + abi.node_and_registration[0] * ops, abi.node_and_registration[1])
        o = col(abi, OPT)
        for j in range(int(lengths.max())):  # the options, run after run (vectorized over the models)
            on = np.flatnonzero(lengths > j)
            u[on] += parts[starts[on] + j, o + u[on] % PHASES]
        first = np.zeros(n, dtype=np.int64)
        for k in (FIRST_PREP, FIRST_INIT):  # the first Init buffer if any, else the first Prepare buffer
            c = parts[:, col(abi, k)]
            at = np.minimum.reduceat(np.where(c > 0, pos, big), starts)
            has = at < big
            first = np.where(has, c[np.where(has, at, 0)], first)
        size = first - 1
        persist = np.add.reduceat(parts[:, col(abi, PERSIST)], starts)
        u = np.where(first > 0, _upv(u + size, ALIGN) + persist - _upv(size, ALIGN), u)
        handle, align = abi.scratch_handle
        u = np.where(scratch > 0, _upv(u + handle * scratch, align), u)
        u = u + np.array(_io_table(abi, inputs, outputs), dtype=np.int64)[u % ALIGN]
        out.append(u)
    return out[0], out[1]
