"""Peak-SRAM planners, one per runtime (``register_planner`` / ``get_planner``), and MCUNet's "Act".

Every planner turns a lowered :class:`~atomnet.spec.Graph` into buffers (a tensor, or tensors sharing one
buffer through in-place layers) with a lifetime ``[first, last]`` in layer indices (inclusive) and a size,
then packs them with the same greedy rule: largest first (stable: ties keep the order the buffers were
listed in), each at the lowest offset that is free over its whole lifetime among the buffers already
placed. The arena is the highest end offset.

``tinyengine`` — TinyEngine's code generator (FACTS §3; MIT-licensed ``GeneralMemoryScheduler`` and
    ``allocator/firstFit.py``): buffers listed in order of first appearance (a layer's inputs, then its
    output); depthwise in place (its output shares the input's buffer, sized by the input); sizes rounded
    up to 4 bytes; peak = arena + max im2col buffer (conv: ``k·k·C_in·2·2``; pointwise and the classifier,
    run as a 1×1 conv: ``4·C_in``; in-place depthwise: ``2·(H+2p)·(W+2p)``) + max kernel buffer (conv with
    k > 1: ``k·k·C_in·C_out·2``). Reproduces the 9 published TinyEngine peaks byte for byte.
``tflm`` — TFLite Micro's ``GreedyMemoryPlanner`` (our code, same rules): every non-constant tensor is a
    buffer from its producer to its last consumer (graph input from the start, graph output to the end),
    listed in tensor-id order, then the kernels' scratch buffers (reference int8 MEAN: ``4·C_out`` bytes
    for one layer), ties among equal sizes broken in *reverse* add order (TFLM fills its sort array back to
    front); sizes aligned up to 16 bytes; the arena = the non-persistent ("head") arena. Equal to the real
    interpreter's head arena byte for byte on all 18 zoo models (tests/test_export*.py). Plus the persistent
    ("tail") arena of the file our exporter writes for the graph (:func:`atomnet.tflm.tflm_tail_for_graph`:
    TFLM's structures per tensor and operator, the kernels' op data and per-channel quantization buffers,
    the interpreter's I/O tensors), 64-bit as the Python interpreter allocates it (exact on the exports of
    tests/test_export.py) with the 32-bit Cortex-M tail derived beside it: the peak is head + tail, the arena
    to give TFLM.
``xcube-ai`` — X-CUBE-AI's memory per version family (:mod:`atomnet.cost._xcube`): lifetime-based reuse, the
    uint8 input and float output in the pool ("I/O allocated"), pads folded into convolutions, fused
    depthwise→pointwise and strided convolutions overlapping their dying input a few (fitted) rows ahead, an
    SE scratch; peak = activation pool + the runtime's own RAM. Constants fitted per family on the public ST
    model zoo rows (``atomnet/data/xcube_memory.json``, ``docs/xcube-memory.md``); ``xcube-ai@8.x`` /
    ``xcube-ai@10.x`` select another family (:meth:`Planner.variant`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, TypeVar

import numpy as np

from atomnet.cost._arrays import IntArray
from atomnet.errors import UnknownNameError
from atomnet.ops import LINEAR_KINDS, Op
from atomnet.runtimes import get_runtime
from atomnet.spec import Graph, ModelSpec, lower
from atomnet.tflm import combine, layer_parts, tails, tflm_tail_for_graph


@dataclass(frozen=True)
class Buffer:
    """One planned rectangle: ``size`` bytes at ``offset`` over layers ``first..last`` (inclusive);
    ``tensors`` are the tensor ids sharing it (empty for a scratch buffer); offset -1 = not placed."""

    size: int
    first: int
    last: int
    offset: int
    tensors: tuple[int, ...]
    label: str = ""


@dataclass(frozen=True)
class SramPlan:
    """Result of a planner. ``peak_bytes = arena_bytes + extra_bytes + persistent_bytes``; ``extra_bytes`` are
    buffers outside the arena (TinyEngine's im2col and kernel buffers; 0 where scratch lives in the arena);
    ``persistent_bytes`` what the runtime keeps for the whole run beside the planned buffers (TFLM's persistent
    tail, 64-bit host build; ``persistent_bytes_32`` the same on a 32-bit build, derived; 0 for the others);
    ``live_bytes[i]`` the arena bytes live during layer ``i`` plus that layer's own extra buffers (the
    persistent bytes excluded); ``tensor_offsets[t]`` the arena offset of tensor ``t`` (-1 where it needs no
    buffer)."""

    runtime: str
    peak_bytes: int
    arena_bytes: int
    extra_bytes: int
    live_bytes: tuple[int, ...]
    tensor_offsets: tuple[int, ...]
    buffers: tuple[Buffer, ...]
    persistent_bytes: int = 0
    persistent_bytes_32: int = 0


def _align(n: int, a: int) -> int:
    return (n + a - 1) // a * a


def first_fit(sizes: list[int], firsts: list[int], lasts: list[int]) -> list[int]:
    """Offsets for buffers placed largest first (stable), each at the lowest offset free over its lifetime.

    >>> first_fit([10, 10, 5], [0, 1, 3], [1, 2, 3])
    [0, 10, 0]
    """
    order = sorted(range(len(sizes)), key=lambda i: -sizes[i])
    offsets = [-1] * len(sizes)
    placed: list[tuple[int, int, int, int]] = []  # (first, last, start, end) of the buffers placed so far
    for i in order:
        fi, la, size = firsts[i], lasts[i], sizes[i]
        busy = sorted([(start, end) for f, last, start, end in placed if f <= la and fi <= last])
        x = 0
        for start, end in busy:  # sweep in offset order; take the first gap that fits
            if start - x >= size:
                break
            if end > x:
                x = end
        offsets[i] = x
        placed.append((fi, la, x, x + size))
    return offsets


class Planner:
    """Base class: subclasses set the rules; :meth:`plan` is shared."""

    #: the planner's registered name (``register_planner`` sets it)
    runtime: ClassVar[str] = ""
    #: the lowering whose graphs it plans (default: the lowering of the same name)
    lowering: ClassVar[str] = ""
    alignment: ClassVar[int] = 1
    #: what :attr:`SramPlan.extra_bytes` holds for this planner: ``"scratch"`` (kernel buffers outside the arena,
    #: TinyEngine's im2col) or ``"runtime"`` (the runtime's own RAM: X-CUBE-AI's contexts, fitted per family)
    extra_label: ClassVar[str] = "scratch"

    def plan(self, graph: Graph) -> SramPlan:
        if graph.runtime != self.lowering:
            raise ValueError(f"the {self.runtime} planner needs a graph lowered for {self.lowering!r}, "
                             f"got one for {graph.runtime!r}: use lower(spec, {self.lowering!r})")
        bufs = self.buffers(graph)
        todo = [k for k, b in enumerate(bufs) if b.first <= b.last and b.size > 0]  # empty lifetimes: no buffer
        offsets = first_fit([bufs[k].size for k in todo], [bufs[k].first for k in todo], [bufs[k].last for k in todo])
        at = [-1] * len(bufs)
        for k, x in zip(todo, offsets, strict=True):
            at[k] = x
        out = tuple(Buffer(b.size, b.first, b.last, at[k], b.tensors, b.label) for k, b in enumerate(bufs))
        n = len(graph.layers)
        arena = 0
        delta = [0] * (n + 1)  # live arena bytes per layer as a running sum of buffer starts and ends: O(n + b)
        for k in todo:
            b = bufs[k]
            arena = max(arena, at[k] + b.size)
            delta[b.first] += b.size
            delta[b.last + 1] -= b.size
        extras = [self.layer_extra(layer.op, layer.inplace) for layer in graph.layers]
        extra = self.extra_bytes(extras)
        live, per = 0, []
        for i in range(n):
            live += delta[i]
            per.append(live + sum(extras[i]))
        t_off = [-1] * len(graph.tensors)
        for b in out:
            for t in b.tensors:
                t_off[t] = b.offset
        pers, pers32 = self.persistent(graph)
        return SramPlan(self.runtime, arena + extra + pers, arena, extra, tuple(per), tuple(t_off), out, pers, pers32)

    # ---- rules -----------------------------------------------------------------------------
    def buffers(self, graph: Graph) -> list[Buffer]:
        """One buffer per group of tensors joined by in-place layers, listed in first-appearance order."""
        return [Buffer(size, first, last, -1, tensors) for size, first, last, tensors in self.groups(graph)]

    def groups(self, graph: Graph) -> list[tuple[int, int, int, tuple[int, ...]]]:
        """``(size, first, last, tensors)`` of each group of tensors joined by in-place layers, in
        first-appearance order: the default :meth:`buffers` (a rule may start from these)."""
        root = list(range(len(graph.tensors)))
        for layer in graph.layers:
            if layer.inplace:
                root[layer.output] = root[layer.inputs[0]]
        first: dict[int, int] = {}
        last: dict[int, int] = {}
        members: dict[int, list[int]] = {}
        for i, layer in enumerate(graph.layers):
            for t in layer.inputs:
                r = root[t]
                m = members.get(r)
                if m is None:
                    first[r], members[r] = i, [t]
                elif t not in m:
                    m.append(t)
                last[r] = i
            t = layer.output
            r = root[t]
            m = members.get(r)
            if m is None:
                first[r], last[r], members[r] = i, i, [t]
            elif t not in m:
                m.append(t)
        last[root[graph.output]] = len(graph.layers) - 1
        nbytes = [c * h * w for c, h, w in (t.shape for t in graph.tensors)]
        a = self.alignment
        return [(_align(max(map(nbytes.__getitem__, m)), a), first[r], last[r], tuple(m)) for r, m in members.items()]

    def layer_extra(self, op: Op, inplace: bool) -> tuple[int, ...]:
        """Bytes of buffers a layer needs outside the arena (e.g. im2col, kernel)."""
        return ()

    def extra_bytes(self, extras: list[tuple[int, ...]]) -> int:
        return 0

    def persistent(self, graph: Graph) -> tuple[int, int]:
        """``(bytes, bytes on a 32-bit build)`` the runtime keeps for the whole run beside the planned buffers
        (TFLM's persistent tail); ``(0, 0)`` where the plan is the whole peak."""
        return 0, 0

    def persistent_parts(self, graph: Graph) -> IntArray | None:
        """Per-layer parts of :meth:`persistent` that runs of layers can be cached by (batch costing), shape
        ``(layers, k)``; ``None``: the planner has no persistent bytes."""
        return None

    def persistent_of_parts(self, parts: IntArray, starts: IntArray) -> tuple[IntArray, IntArray]:
        """:meth:`persistent` of many models, model ``i`` made of the runs ``parts[starts[i]:starts[i+1]]``."""
        z = np.zeros(len(starts), dtype=np.int64)
        return z, z

    def combine_parts(self, parts: IntArray) -> IntArray:
        """The parts row of a run of consecutive layers (``parts``: their rows in order)."""
        raise NotImplementedError(f"the {self.runtime} planner has no persistent parts")

    def variant(self, version: str) -> Planner:
        """The planner of another version of this runtime (``get_planner("xcube-ai@8.x")``); planners without
        versions raise :class:`~atomnet.errors.UnknownNameError`."""
        raise UnknownNameError(f"runtime: the {self.runtime} SRAM planner has no version variants "
                               f"(asked for {self.runtime}@{version})")


_PLANNERS: dict[str, Planner] = {}
P = TypeVar("P", bound=type[Planner])


def register_planner(name: str, lowering: str | None = None) -> Callable[[P], P]:
    """Class decorator registering a :class:`Planner` under ``name``, planning graphs of ``lowering``
    (default: the lowering called ``name``); duplicates raise."""

    def deco(cls: P) -> P:
        if name in _PLANNERS:
            raise ValueError(f"an SRAM planner for runtime {name!r} is already registered")
        cls.runtime = name
        cls.lowering = lowering or name
        _PLANNERS[name] = cls()
        return cls

    return deco


def unregister_planner(name: str) -> None:
    """Remove planner ``name`` from the registry (tests, experiments)."""
    get_planner(name)
    del _PLANNERS[name]


def list_planners() -> list[str]:
    return sorted(_PLANNERS)


def get_planner(runtime: str) -> Planner:
    """The planner registered as ``runtime``; ``name@version`` asks that planner for a version variant."""
    base, at, version = runtime.partition("@")
    if at and base in _PLANNERS:
        return _PLANNERS[base].variant(version)
    try:
        return _PLANNERS[runtime]
    except KeyError:
        raise UnknownNameError(f"runtime: no SRAM planner for {runtime!r}; known: "
                               f"{', '.join(list_planners())}") from None


def plan_sram(spec: ModelSpec, runtime: str) -> SramPlan:
    """Lower ``spec`` for ``runtime`` (a registered runtime, or alias) and plan its SRAM with its planner.

    >>> from atomnet.zoo import get_zoo
    >>> plan_sram(get_zoo("mcunet-in2"), "tinyengine").peak_bytes
    219776
    """
    rt = get_runtime(runtime)
    return get_planner(rt.planner).plan(lower(spec, rt.lowering))


@register_planner("tinyengine")
class TinyEnginePlanner(Planner):
    alignment = 4

    def layer_extra(self, op: Op, inplace: bool) -> tuple[int, ...]:
        """``(im2col bytes, kernel bytes)`` of TinyEngine's kernels (FACTS §3)."""
        if op.kind == "depthwise":
            p = op.kernel // 2
            im2col = 2 * (op.h_in + 2 * p) * (op.w_in + 2 * p) if inplace else 2 * op.kernel * op.kernel * op.c_in
            return im2col, 0
        if op.kind in ("conv", "pointwise"):
            kbuf = op.kernel * op.kernel * op.c_in * op.c_out * 2 if op.kernel > 1 else 0
            return op.kernel * op.kernel * op.c_in * 2 * 2, kbuf
        if op.kind == "dense":  # FULLY_CONNECTED runs as a 1×1 conv
            return op.c_in * 2 * 2, 0
        return 0, 0

    def extra_bytes(self, extras: list[tuple[int, ...]]) -> int:
        return max((e[0] for e in extras), default=0) + max((e[1] for e in extras), default=0)


@register_planner("tflm")
class TFLMPlanner(Planner):
    alignment = 16

    def buffers(self, graph: Graph) -> list[Buffer]:
        by_id = sorted(super().buffers(graph), key=lambda b: b.tensors[0])  # AddBuffer order = tensor index
        scratch = [Buffer(_align(4 * layer.op.c_out, self.alignment), i, i, -1, (), f"{layer.name}.scratch")
                   for i, layer in enumerate(graph.layers) if layer.tflite_op == "MEAN"]
        # TFLM's GreedyMemoryPlanner fills its sort array back to front and sorts it stably by size, so among
        # equal sizes the buffer added *last* is placed first: reverse the add order before the stable sort
        return (by_id + scratch)[::-1]

    def persistent(self, graph: Graph) -> tuple[int, int]:
        """The TFLM tail of the file our int8 exporter writes for ``graph`` (64-bit, 32-bit derived)."""
        t = tflm_tail_for_graph(graph)
        return t.tail_bytes, t.tail_bytes_32

    def persistent_parts(self, graph: Graph) -> IntArray | None:
        return layer_parts(graph)

    def persistent_of_parts(self, parts: IntArray, starts: IntArray) -> tuple[IntArray, IntArray]:
        return tails(parts, starts)

    def combine_parts(self, parts: IntArray) -> IntArray:
        return combine(parts)


def act_bytes(spec: ModelSpec) -> int:
    """MCUNet's "Act" (FACTS §3): the largest int8 input + output of any conv/linear layer, plus, on a
    depthwise layer, the activations kept alive across it for a later residual add.

    >>> from atomnet.zoo import get_zoo
    >>> act_bytes(get_zoo("mcunet-in2"))
    332800
    """
    return graph_act_bytes(lower(spec, "tinyengine"))


def graph_act_bytes(g: Graph) -> int:
    """:func:`act_bytes` of a graph lowered for ``tinyengine`` (pads fused: convs store unpadded inputs)."""
    cons = g.consumers()
    prod = g.producers()
    best = 0
    for i, layer in enumerate(g.layers):
        if layer.op.kind not in LINEAR_KINDS:
            continue
        b = sum(g.tensors[t].nbytes for t in layer.inputs) + g.tensors[layer.output].nbytes
        if layer.op.kind == "depthwise":
            b += sum(t.nbytes for t in g.tensors
                     if t.id not in layer.inputs and prod.get(t.id, -1) < i and any(c > i for c in cons[t.id]))
        best = max(best, b)
    return best


def sram_breakdown(plan: SramPlan, runtime: str) -> dict[str, int]:
    """``{activations, scratch, [persistent,] runtime}`` bytes of ``plan`` made by ``runtime``'s planner (their sum is
    the peak a cost report gives): the planner's extra bytes are ``scratch`` or ``runtime`` RAM as the planner says
    (:attr:`Planner.extra_label`), ``runtime`` adds the runtime record's ``ram_overhead_bytes``."""
    rt = get_runtime(runtime)
    extra = int(plan.extra_bytes)
    as_runtime = get_planner(rt.planner).extra_label == "runtime"
    out = {"activations": int(plan.arena_bytes), "scratch": 0 if as_runtime else extra}
    if plan.persistent_bytes or plan.persistent_bytes_32:
        out["persistent"] = int(plan.persistent_bytes)
    out["runtime"] = rt.ram_overhead_bytes + (extra if as_runtime else 0)
    return out
