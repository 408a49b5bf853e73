"""Batch costing: many specs at once from per-block caches (for search and sweeps).

A block's latency, Flash and MACs depend only on the block spec and its input shape (kernel
additivity), so they are computed once per distinct (block, input shape) — by lowering and pricing the
first model that contains it — and every further model is a sum of cached numbers. Peak SRAM is not
additive: the batch gives the max over blocks of each block's live-buffer lower bound (as the search
tables do); pass ``exact_sram=True`` to run the runtime's planner on every model instead (slower).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from atomnet.boards import Board, get_board
from atomnet.cost._flash import CODE_BYTES, layer_flash
from atomnet.cost._latency import LatencyModel
from atomnet.cost._report import MEASURED_LOWERING
from atomnet.cost._sram import get_planner
from atomnet.spec import ModelSpec, lower

_Key = tuple[object, ...]


@dataclass(frozen=True)
class BatchCost:
    """Per-model arrays (index = position in the input sequence)."""

    latency_ms: np.ndarray
    flash_bytes: np.ndarray
    macs: np.ndarray
    peak_sram_bytes: np.ndarray
    sram_exact: bool
    ops_predicted: np.ndarray


class BatchCoster:
    """Reusable cost cache for one board, runtime and latency model."""

    def __init__(self, board: Board | str, lm: LatencyModel, runtime: str | None = None) -> None:
        self.board = get_board(board) if isinstance(board, str) else board
        self.lm = lm
        self.runtime = runtime or self.board.runtime
        self.lat_rt = MEASURED_LOWERING[lm.runtime]
        self.planner = get_planner(self.runtime)
        self._cache: dict[_Key, np.ndarray] = {}  # (lat, flash, sram lower bound, macs, n predicted)

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
        """Lower and price ``spec`` once; cache every block (and the head) it contains."""
        g_lat = lower(spec, self.lat_rt)
        lat, exact = self.lm.price_keys([ly.op.key for ly in g_lat.layers])
        g_mem = g_lat if self.lat_rt == self.runtime else lower(spec, self.runtime)
        plan = self.planner.plan(g_mem)
        sites = [(s.stage, s.index) for s in spec.iter_blocks()] + [(len(spec.stages), 0)]
        pos = {site: k for k, site in enumerate(sites)}
        acc = np.zeros((len(sites), 5))
        for i, ly in enumerate(g_lat.layers):
            k = pos[(ly.stage, ly.block if ly.stage < len(spec.stages) else 0)]
            acc[k, 0] += lat[i]
            acc[k, 4] += 0 if exact[i] else 1
        live: dict[int, list[float]] = {}
        extras: dict[int, list[tuple[int, ...]]] = {}
        for i, ly in enumerate(g_mem.layers):
            k = pos[(ly.stage, ly.block if ly.stage < len(spec.stages) else 0)]
            e = self.planner.layer_extra(ly.op, ly.inplace)
            acc[k, 1] += sum(layer_flash(ly.op, self.runtime))
            acc[k, 3] += ly.op.macs
            live.setdefault(k, []).append(plan.live_bytes[i] - sum(e))
            extras.setdefault(k, []).append(e)
        for k in live:
            acc[k, 2] = max(live[k]) + self.planner.extra_bytes(extras[k])
        for k, key in enumerate(keys):
            self._cache.setdefault(key, acc[k])

    def cost(self, specs: Sequence[ModelSpec], exact_sram: bool = False) -> BatchCost:
        index: dict[_Key, int] = {}
        rows: list[np.ndarray] = []
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
                ids.append(i)
        if not specs:
            z = np.zeros(0)
            return BatchCost(z, z, z, z, exact_sram, z.astype(np.int64))
        table = np.stack(rows)[np.array(ids)]
        st = np.array(starts)
        sums = np.add.reduceat(table, st, axis=0)
        peak = np.maximum.reduceat(table[:, 2], st)
        if exact_sram:
            peak = np.array([self.planner.plan(lower(sp, self.runtime)).peak_bytes for sp in specs], dtype=float)
        return BatchCost(sums[:, 0], sums[:, 1] + CODE_BYTES[self.runtime], sums[:, 3], peak, exact_sram,
                         sums[:, 4].astype(np.int64))
