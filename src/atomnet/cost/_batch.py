"""Batch costing: many specs at once from per-block caches (for search and sweeps).

A block's latency, Flash and MACs depend only on the block spec and its input shape (kernel
additivity), so they are computed once per distinct (block, input shape) — by lowering and pricing the
first model that contains it — and every further model is a sum of cached numbers. Peak SRAM is not
additive: the batch gives the max over blocks of each block's live-buffer lower bound (as the search
tables do); pass ``exact_sram=True`` to run the runtime's planner on every model instead (slower). A runtime
with a persistent part (TFLM's tail) adds it exactly in both cases: its per-block parts are cached too and
composed per model (:mod:`atomnet.tflm._parts`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from atomnet.boards import Board, get_board
from atomnet.cost._arrays import FloatArray, IntArray
from atomnet.cost._latency import LatencyModel
from atomnet.cost._price import SEG_FLASH, SEG_LATENCY, SEG_MACS, SEG_PREDICTED, SEG_SRAM, Pricer
from atomnet.runtimes import Runtime
from atomnet.spec import ModelSpec, lower

_Key = tuple[object, ...]


@dataclass(frozen=True)
class BatchCost:
    """Per-model arrays (index = position in the input sequence)."""

    latency_ms: FloatArray
    flash_bytes: FloatArray
    macs: FloatArray
    peak_sram_bytes: FloatArray
    sram_exact: bool
    ops_predicted: IntArray
    #: the runtime's persistent bytes per model (TFLM's tail, 64-bit), included in ``peak_sram_bytes``
    persistent_bytes: FloatArray | None = None


class BatchCoster:
    """Reusable cost cache for one board, runtime and latency model."""

    def __init__(self, board: Board | str, lm: LatencyModel, runtime: Runtime | str | None = None) -> None:
        self.board = get_board(board) if isinstance(board, str) else board
        self.lm = lm
        self.pricer = Pricer(runtime or self.board.runtime, lm)
        self.runtime = self.pricer.runtime.name
        self.planner = self.pricer.planner
        self._cache: dict[_Key, FloatArray] = {}  # (lat, flash, sram lower bound, macs, n predicted)
        self._parts: dict[_Key, IntArray] = {}  # the planner's persistent parts of the block (tflm)

    @staticmethod
    def _block_keys(spec: ModelSpec) -> list[_Key]:
        """One key per block — (is stem, block spec, input shape) — and one for the head, computed from the
        stages directly (every conv pads k//2, so a stride-s layer maps h to (h-1)//s + 1)."""
        keys: list[_Key] = []
        c, (h, w) = spec.in_channels, spec.resolution
        first = True
        for stage in spec.stages:
            for b in stage.blocks:
                keys.append((first, b, c, h, w))
                first = False
                c, h, w = b.out_channels, (h - 1) // b.stride + 1, (w - 1) // b.stride + 1
        keys.append(("head", spec.head, c, h, w, spec.num_classes))
        return keys

    def _fill(self, spec: ModelSpec, keys: list[_Key]) -> None:
        """Price ``spec`` once (the shared pricing step); cache the sums of every block (and the head)."""
        arr = self.pricer.price_spec(spec)
        n_st = len(spec.stages)
        sites = [(s.stage, s.index) for s in spec.iter_blocks()] + [(n_st, 0)]
        pos = {site: k for k, site in enumerate(sites)}
        lat_seg = np.array([pos[(s, b if s < n_st else 0)] for s, b in zip(arr.lat_stage, arr.lat_block,
                                                                            strict=True)], dtype=np.int64)
        mem_seg = np.array([pos[(s, b if s < n_st else 0)] for s, b in zip(arr.stage, arr.block, strict=True)],
                           dtype=np.int64)
        acc = arr.segments(lat_seg, mem_seg, len(sites), self.planner)
        for k, key in enumerate(keys):
            self._cache.setdefault(key, acc[k])
        parts = self.planner.persistent_parts(arr.graph_mem)
        if parts is not None:
            for k, key in enumerate(keys):
                if key not in self._parts:
                    self._parts[key] = self.planner.combine_parts(parts[mem_seg == k])

    def cost(self, specs: Sequence[ModelSpec], exact_sram: bool = False) -> BatchCost:
        index: dict[_Key, int] = {}
        rows: list[FloatArray] = []
        keys_of_rows: list[_Key] = []
        ids: list[int] = []
        starts: list[int] = []
        for spec in specs:
            keys = self._block_keys(spec)
            if any(k not in self._cache for k in keys):
                self._fill(spec, keys)
            starts.append(len(ids))
            for k in keys:
                i = index.get(k)
                if i is None:
                    i = index[k] = len(rows)
                    rows.append(self._cache[k])
                    keys_of_rows.append(k)
                ids.append(i)
        if not specs:
            z = np.zeros(0)
            return BatchCost(z, z, z, z, exact_sram, z.astype(np.int64))
        table = np.stack(rows)[np.array(ids)]
        st = np.array(starts)
        sums: FloatArray = np.add.reduceat(table, st, axis=0)
        peak: FloatArray = np.maximum.reduceat(table[:, SEG_SRAM], st)
        persistent: FloatArray | None = None
        if self._parts:
            parts = np.stack([self._parts[k] for k in keys_of_rows])[np.array(ids)]
            persistent = self.planner.persistent_of_parts(parts, st)[0].astype(np.float64)
            peak = peak + persistent
        if exact_sram:
            lowering = self.pricer.runtime.lowering
            peak = np.array([self.planner.plan(lower(sp, lowering)).peak_bytes for sp in specs], dtype=float)
        flash: FloatArray = sums[:, SEG_FLASH] + float(self.pricer.runtime.flash.code_bytes)
        return BatchCost(sums[:, SEG_LATENCY], flash, sums[:, SEG_MACS], peak, exact_sram,
                         sums[:, SEG_PREDICTED].astype(np.int64), persistent)
