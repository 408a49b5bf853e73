"""The one pricing step: lowered graphs → per-layer arrays (DESIGN: "one pricing step, three ways of summing").

:func:`price_graph` turns the two lowerings of a model — the one latency is priced on (the lowering of the
runtime the AtomDB rows were measured with) and the target runtime's (SRAM, Flash) — into a
:class:`LayerArrays`. The three consumers only sum it: ``cost_model`` renders every layer into a
``CostReport``; ``BatchCoster`` sums it per block; the search's stage tables (``atomnet.search.build_tables``)
per stage, both through :meth:`LayerArrays.segments`. A :class:`Pricer` lowers each spec once per runtime and
memoizes per-operator numbers over one costing call (many models share most operators).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np

from atomnet.cost._arrays import BoolArray, FloatArray, IntArray
from atomnet.cost._latency import LatencyModel
from atomnet.cost._sram import Planner, SramPlan, get_planner
from atomnet.ops import Op
from atomnet.runtimes import Runtime, get_runtime
from atomnet.spec import Graph, ModelSpec, lower

_OpRow = tuple[tuple[int, int, int, int, int], tuple[int, ...]]

#: columns of :meth:`LayerArrays.segments`
SEG_LATENCY, SEG_FLASH, SEG_SRAM, SEG_MACS, SEG_PREDICTED = 0, 1, 2, 3, 4


@dataclass(frozen=True)
class MemoryArrays:
    """The memory half of the pricing step: one entry per priced layer of a memory graph (``index``: its
    position there; every layer unless a selection was given). ``macs``, ``weights_bytes``, ``flash_parts``
    (weights, bias, quant bytes; code excluded), ``live_sram_bytes`` (arena bytes live during the layer, its own
    extra buffers excluded), ``extra_bytes`` (the layer's buffers outside the arena, as the planner counts
    them), ``stage`` / ``block``; ``plan`` is the planner's result over the whole graph."""

    index: IntArray
    macs: IntArray
    weights_bytes: IntArray
    flash_parts: IntArray
    live_sram_bytes: IntArray
    extra_bytes: tuple[tuple[int, ...], ...]
    stage: IntArray
    block: IntArray
    plan: SramPlan

    @property
    def flash_bytes(self) -> IntArray:
        """Flash per priced layer (weights + bias + quant)."""
        out: IntArray = self.flash_parts.sum(axis=1)
        return out

    def sram_bound(self, idx: Sequence[int] | IntArray, planner: Planner) -> int:
        """The lower bound of the planner's peak over the priced layers ``idx`` (positions in these arrays):
        the largest live arena plus the planner's reduction of their extra buffers."""
        return (int(self.live_sram_bytes[idx].max())
                + planner.extra_bytes([self.extra_bytes[int(i)] for i in idx]))

    def totals(self, planner: Planner) -> tuple[int, int, int]:
        """``(Flash, SRAM lower bound, MACs)`` over every priced layer (one segment)."""
        if not len(self.index):
            return 0, 0, 0
        return (int(self.flash_parts.sum()), self.sram_bound(np.arange(len(self.index)), planner),
                int(self.macs.sum()))


@dataclass(frozen=True)
class LayerArrays:
    """Per-layer cost of one model on one runtime. Units are in the names.

    Latency part, one entry per priced layer of ``graph_lat`` (``lat_index``: its position there; every layer
    unless a selection was given): ``latency_ms`` (scaled to the board), ``exact`` (measured key; else
    predicted), ``lat_stage`` / ``lat_block``. Memory part, ``memory``: one entry per priced layer of
    ``graph_mem`` (the same object when both lowerings agree), also read through the properties ``macs``,
    ``weights_bytes``, ``flash_parts``, ``live_sram_bytes``, ``extra_bytes``, ``stage``, ``block``, ``plan``."""

    runtime: Runtime
    graph_lat: Graph
    graph_mem: Graph
    latency_ms: FloatArray
    exact: BoolArray
    lat_stage: IntArray
    lat_block: IntArray
    lat_index: IntArray
    memory: MemoryArrays
    scaled: bool
    #: priced through the board's transfer for the runtime (docs/transfer.md): sources say ``+transfer``
    transfer: bool = False

    @property
    def complete(self) -> bool:
        """Every layer of both graphs priced (no selection)."""
        return (len(self.lat_index) == len(self.graph_lat.layers)
                and len(self.memory.index) == len(self.graph_mem.layers))

    @property
    def macs(self) -> IntArray:
        return self.memory.macs

    @property
    def weights_bytes(self) -> IntArray:
        return self.memory.weights_bytes

    @property
    def flash_parts(self) -> IntArray:
        return self.memory.flash_parts

    @property
    def flash_bytes(self) -> IntArray:
        """Flash per memory-graph layer (weights + bias + quant)."""
        return self.memory.flash_bytes

    @property
    def live_sram_bytes(self) -> IntArray:
        return self.memory.live_sram_bytes

    @property
    def extra_bytes(self) -> tuple[tuple[int, ...], ...]:
        return self.memory.extra_bytes

    @property
    def stage(self) -> IntArray:
        return self.memory.stage

    @property
    def block(self) -> IntArray:
        return self.memory.block

    @property
    def plan(self) -> SramPlan:
        return self.memory.plan

    @property
    def code_bytes(self) -> int:
        return self.runtime.flash.code_bytes

    def source(self, i: int) -> str:
        """``exact`` | ``predicted`` of layer ``i``, ``+transfer`` when priced through a board/runtime transfer,
        ``+scaled`` on a board scaled from another board's rows."""
        s = "exact" if self.exact[i] else "predicted"
        return s + "+transfer" if self.transfer else s + "+scaled" if self.scaled else s

    def segments(self, lat_seg: IntArray, mem_seg: IntArray, n: int, planner: Planner) -> FloatArray:
        """Sums per segment, shape ``(n, 5)`` with columns ``SEG_*``: latency, Flash (code excluded) and MACs
        add up; SRAM is a lower bound of the planner's peak over the segment's layers
        (:meth:`MemoryArrays.sram_bound`); the count of predicted operators. ``lat_seg`` and ``mem_seg`` give
        each priced layer's segment, -1 for a layer outside every segment."""
        out = np.zeros((n, 5))
        m = lat_seg >= 0
        out[:, SEG_LATENCY] = np.bincount(lat_seg[m], weights=self.latency_ms[m], minlength=n)
        out[:, SEG_PREDICTED] = np.bincount(lat_seg[m], weights=(~self.exact[m]).astype(np.float64), minlength=n)
        k = mem_seg >= 0
        out[:, SEG_FLASH] = np.bincount(mem_seg[k], weights=self.flash_bytes[k].astype(np.float64), minlength=n)
        out[:, SEG_MACS] = np.bincount(mem_seg[k], weights=self.macs[k].astype(np.float64), minlength=n)
        for s in range(n):
            idx = np.nonzero(mem_seg == s)[0]
            if len(idx):
                out[s, SEG_SRAM] = self.memory.sram_bound(idx, planner)
        return out


class Pricer:
    """Prices models for one runtime and latency model; lowers each spec once per runtime and memoizes
    per-operator numbers for the lifetime of the object (one costing call, one table build, one batch)."""

    def __init__(self, runtime: Runtime | str, latency_model: LatencyModel) -> None:
        self.runtime = get_runtime(runtime)
        self.lm = latency_model
        self.latency_lowering = get_runtime(latency_model.runtime).lowering
        self.planner = get_planner(self.runtime.planner)
        self._mem: dict[tuple[Op, bool], _OpRow] = {}
        self._lat: dict[tuple[int, ...], tuple[float, bool]] = {}

    def lower(self, spec: ModelSpec) -> tuple[Graph, Graph]:
        """``(latency graph, memory graph)`` of ``spec``: one lowering when both runtimes lower alike."""
        g_lat = lower(spec, self.latency_lowering)
        g_mem = g_lat if self.runtime.lowering == self.latency_lowering else lower(spec, self.runtime.lowering)
        return g_lat, g_mem

    def price_spec(self, spec: ModelSpec) -> LayerArrays:
        return self.price(*self.lower(spec))

    def price(self, graph_lat: Graph, graph_mem: Graph) -> LayerArrays:
        return self.price_many([(graph_lat, graph_mem)])[0]

    def price_many(self, graphs: Sequence[tuple[Graph, Graph]],
                   stages: Sequence[Collection[int]] | None = None) -> list[LayerArrays]:
        """Price many models with one AtomDB lookup over all their operator keys. ``stages``, one collection
        per model, selects the layers to price: those of the stages named (the head is stage
        ``len(spec.stages)``); the planner still plans the whole memory graph. ``None``: every layer."""
        if stages is not None and len(stages) != len(graphs):
            raise ValueError(f"price_many: {len(graphs)} models but {len(stages)} layer selections")
        sels = [None if stages is None else select_layers(g_lat, stages[n]) for n, (g_lat, _) in enumerate(graphs)]
        keys: list[tuple[int, ...]] = []
        for (g_lat, _), sel in zip(graphs, sels, strict=True):
            keys += layer_keys(g_lat, sel)
        lat, exact = self.price_keys(keys)
        out = []
        n = 0
        for i, ((g_lat, g_mem), sel) in enumerate(zip(graphs, sels, strict=True)):
            m = len(g_lat.layers) if sel is None else len(sel)
            same = g_mem is g_lat
            memory = self.price_memory(g_mem, sel if same or stages is None else select_layers(g_mem, stages[i]))
            where = np.stack([memory.stage, memory.block], axis=1) if same else _where(g_lat, sel)
            out.append(LayerArrays(
                runtime=self.runtime, graph_lat=g_lat, graph_mem=g_mem, latency_ms=lat[n: n + m],
                exact=exact[n: n + m], lat_stage=where[:, 0], lat_block=where[:, 1],
                lat_index=memory.index if same else _positions(g_lat, sel), memory=memory,
                scaled=self.lm.board.is_scaled, transfer=self.lm.transfer is not None))
            n += m
        return out

    def price_keys(self, keys: Sequence[tuple[int, ...]]) -> tuple[FloatArray, BoolArray]:
        """The latency half: latency (ms, scaled to the board) and exact mask per operator key, in one AtomDB
        lookup; keys priced earlier by this object come from its memo."""
        memo = self._lat
        new = [k for k in keys if k not in memo]  # in order, repeats kept: one model prices as one AtomDB call
        if new:
            lat_new, exact_new = self.lm.price_keys(new)
            for k, v, e in zip(new, lat_new.tolist(), exact_new.tolist(), strict=True):
                memo.setdefault(k, (v, e))
            if len(new) == len(keys):
                return lat_new, exact_new
        lat = np.fromiter((memo[k][0] for k in keys), dtype=np.float64, count=len(keys))
        exact = np.fromiter((memo[k][1] for k in keys), dtype=bool, count=len(keys))
        return lat, exact

    def price_memory(self, graph: Graph, sel: Sequence[int] | None = None) -> MemoryArrays:
        """The memory half: plan ``graph`` (lowered for this runtime) whole, then the per-layer numbers of the
        layers at positions ``sel`` (every layer when None; :func:`select_layers` picks stages)."""
        if graph.runtime != self.runtime.lowering:
            raise ValueError(f"runtime {self.runtime.name}: the memory graph must be lowered for "
                             f"{self.runtime.lowering!r}, got {graph.runtime!r}")
        plan = self.planner.plan(graph)
        layers = graph.layers if sel is None else [graph.layers[k] for k in sel]
        live = plan.live_bytes if sel is None else [plan.live_bytes[k] for k in sel]
        rows = [self._layer(ly.op, ly.inplace) for ly in layers]
        num = np.array([r[0] for r in rows], dtype=np.int64).reshape(len(rows), 5)
        where = _where(graph, sel)
        return MemoryArrays(
            index=_positions(graph, sel), macs=num[:, 3], weights_bytes=num[:, 0], flash_parts=num[:, :3],
            live_sram_bytes=np.array(live, dtype=np.int64) - num[:, 4], extra_bytes=tuple(r[1] for r in rows),
            stage=where[:, 0], block=where[:, 1], plan=plan)

    def _layer(self, op: Op, inplace: bool) -> _OpRow:
        """``((weights, bias, quant, macs, Σ extra buffers), extra buffers)`` of one operator, memoized."""
        v = self._mem.get((op, inplace))
        if v is None:
            w, b, q = self.runtime.flash.layer(op)
            e = self.planner.layer_extra(op, inplace)
            v = self._mem[(op, inplace)] = ((w, b, q, op.macs, sum(e)), e)
        return v


def select_layers(graph: Graph, stages: Collection[int]) -> list[int]:
    """Positions of the layers of ``graph`` in ``stages`` (the head is stage ``len(spec.stages)``)."""
    return [k for k, ly in enumerate(graph.layers) if ly.stage in stages]


def layer_keys(graph: Graph, sel: Sequence[int] | None = None) -> list[tuple[int, ...]]:
    """The operator keys (what latency is priced on) of the layers at positions ``sel`` (None: all)."""
    layers = graph.layers
    return [ly.op.key for ly in layers] if sel is None else [layers[k].op.key for k in sel]


def _positions(graph: Graph, sel: Sequence[int] | None) -> IntArray:
    return np.arange(len(graph.layers), dtype=np.int64) if sel is None else np.array(sel, dtype=np.int64)


def _where(graph: Graph, sel: Sequence[int] | None) -> IntArray:
    """``(stage, block)`` per selected layer, shape ``(n, 2)``."""
    layers = graph.layers if sel is None else [graph.layers[k] for k in sel]
    return np.array([(ly.stage, ly.block) for ly in layers], dtype=np.int64).reshape(-1, 2)


def price_graph(graph_lat: Graph, graph_mem: Graph, runtime: Runtime | str,
                latency_model: LatencyModel) -> LayerArrays:
    """Per-layer arrays of one model: ``graph_lat`` lowered for the measured runtime's lowering,
    ``graph_mem`` for ``runtime``'s (pass the same graph twice when they agree).

    >>> from atomnet.boards import get_board
    >>> from atomnet.cost import load_latency_model
    >>> from atomnet.zoo import get_zoo
    >>> g = lower(get_zoo("atomnet-256kb"), "xcube-ai")
    >>> a = price_graph(g, g, "xcube-ai", load_latency_model(get_board("stm32h743")))
    >>> int(a.flash_parts[:, :2].sum()), int(a.plan.peak_bytes), len(a.latency_ms) == len(g.layers)
    (803840, 238969, True)
    """
    return Pricer(runtime, latency_model).price(graph_lat, graph_mem)
