"""The one pricing step: lowered graphs → per-layer arrays (DESIGN: "one pricing step, three ways of summing").

:func:`price_graph` turns the two lowerings of a model — the one latency is priced on (the lowering of the
runtime the AtomDB rows were measured with) and the target runtime's (SRAM, Flash) — into a
:class:`LayerArrays`. The three consumers only sum it: ``cost_model`` renders every layer into a
``CostReport``; ``BatchCoster`` sums it per block; the search's stage tables (``atomnet.search.build_tables``)
per stage, both through :meth:`LayerArrays.segments`. A :class:`Pricer` lowers each spec once per runtime and
memoizes per-operator numbers over one costing call (many models share most operators).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from atomnet.cost._latency import LatencyModel
from atomnet.cost._sram import Planner, SramPlan, get_planner
from atomnet.ops import Op
from atomnet.runtimes import Runtime, get_runtime
from atomnet.spec import Graph, ModelSpec, lower

_OpRow = tuple[tuple[int, int, int, int, int], tuple[int, ...]]

#: columns of :meth:`LayerArrays.segments`
SEG_LATENCY, SEG_FLASH, SEG_SRAM, SEG_MACS, SEG_PREDICTED = 0, 1, 2, 3, 4


@dataclass(frozen=True)
class LayerArrays:
    """Per-layer cost of one model on one runtime. Units are in the names.

    Latency part, one entry per layer of ``graph_lat``: ``latency_ms`` (scaled to the board), ``exact``
    (measured key; else predicted), ``lat_stage`` / ``lat_block``. Memory part, one entry per layer of
    ``graph_mem`` (the same object when both lowerings agree): ``macs``, ``weights_bytes``,
    ``flash_parts`` (weights, bias, quant bytes; code excluded), ``live_sram_bytes`` (arena bytes live
    during the layer, its own extra buffers excluded), ``extra_bytes`` (the layer's buffers outside the
    arena, as the planner counts them), ``stage`` / ``block``. ``plan`` is the planner's result."""

    runtime: Runtime
    graph_lat: Graph
    graph_mem: Graph
    latency_ms: np.ndarray
    exact: np.ndarray
    lat_stage: np.ndarray
    lat_block: np.ndarray
    macs: np.ndarray
    weights_bytes: np.ndarray
    flash_parts: np.ndarray
    live_sram_bytes: np.ndarray
    extra_bytes: tuple[tuple[int, ...], ...]
    stage: np.ndarray
    block: np.ndarray
    plan: SramPlan
    scaled: bool

    @property
    def flash_bytes(self) -> np.ndarray:
        """Flash per memory-graph layer (weights + bias + quant)."""
        return self.flash_parts.sum(axis=1)

    @property
    def code_bytes(self) -> int:
        return self.runtime.flash.code_bytes

    def source(self, i: int) -> str:
        """``exact`` | ``predicted`` (``+scaled`` on a board priced from another board's rows) of layer ``i``."""
        s = "exact" if self.exact[i] else "predicted"
        return s + "+scaled" if self.scaled else s

    def segments(self, lat_seg: np.ndarray, mem_seg: np.ndarray, n: int, planner: Planner) -> np.ndarray:
        """Sums per segment, shape ``(n, 5)`` with columns ``SEG_*``: latency, Flash (code excluded) and MACs
        add up; SRAM is a lower bound of the planner's peak over the segment's layers (the largest live arena
        plus the planner's reduction of their extra buffers); the count of predicted operators. ``lat_seg``
        and ``mem_seg`` give each layer's segment, -1 for a layer outside every segment."""
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
                out[s, SEG_SRAM] = (float(self.live_sram_bytes[idx].max())
                                    + planner.extra_bytes([self.extra_bytes[i] for i in idx]))
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

    def price_many(self, graphs: Sequence[tuple[Graph, Graph]]) -> list[LayerArrays]:
        """Price many models with one AtomDB lookup over all their operator keys."""
        keys = [ly.op.key for g_lat, _ in graphs for ly in g_lat.layers]
        lat, exact = self._price_keys(keys)
        out = []
        n = 0
        for g_lat, g_mem in graphs:
            m = len(g_lat.layers)
            out.append(self._arrays(g_lat, g_mem, lat[n: n + m], exact[n: n + m]))
            n += m
        return out

    def _price_keys(self, keys: list[tuple[int, ...]]) -> tuple[np.ndarray, np.ndarray]:
        """Latency and exact mask per key; keys priced earlier by this object come from its memo."""
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

    def _layer(self, op: Op, inplace: bool) -> _OpRow:
        """``((weights, bias, quant, macs, Σ extra buffers), extra buffers)`` of one operator, memoized."""
        v = self._mem.get((op, inplace))
        if v is None:
            w, b, q = self.runtime.flash.layer(op)
            e = self.planner.layer_extra(op, inplace)
            v = self._mem[(op, inplace)] = ((w, b, q, op.macs, sum(e)), e)
        return v

    def _arrays(self, g_lat: Graph, g_mem: Graph, lat: np.ndarray, exact: np.ndarray) -> LayerArrays:
        if g_mem.runtime != self.runtime.lowering:
            raise ValueError(f"runtime {self.runtime.name}: the memory graph must be lowered for "
                             f"{self.runtime.lowering!r}, got {g_mem.runtime!r}")
        plan = self.planner.plan(g_mem)
        rows = [self._layer(ly.op, ly.inplace) for ly in g_mem.layers]
        num = np.array([r[0] for r in rows], dtype=np.int64).reshape(len(rows), 5)
        where_lat = np.array([(ly.stage, ly.block) for ly in g_lat.layers], dtype=np.int64).reshape(-1, 2)
        where_mem = where_lat if g_mem is g_lat else np.array(
            [(ly.stage, ly.block) for ly in g_mem.layers], dtype=np.int64).reshape(-1, 2)
        return LayerArrays(
            runtime=self.runtime, graph_lat=g_lat, graph_mem=g_mem, latency_ms=lat, exact=exact,
            lat_stage=where_lat[:, 0], lat_block=where_lat[:, 1], macs=num[:, 3], weights_bytes=num[:, 0],
            flash_parts=num[:, :3], live_sram_bytes=np.array(plan.live_bytes, dtype=np.int64) - num[:, 4],
            extra_bytes=tuple(r[1] for r in rows), stage=where_mem[:, 0], block=where_mem[:, 1],
            plan=plan, scaled=self.lm.board.is_scaled)


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
    (803840, 230400, True)
    """
    return Pricer(runtime, latency_model).price(graph_lat, graph_mem)
