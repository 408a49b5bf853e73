"""Exact exhaustive search over stage tables, vectorized (no Python loop per architecture).

Architectures are built stage by stage as numpy arrays of partial sums. Because every metric is
monotone in the stages added (sums of non-negative numbers, a running max), a partial architecture
that already violates a constraint can be dropped with all its completions — without changing the
exact optimum. Counts of evaluated and feasible architectures are exact too: a dropped prefix
accounts for all of its completions at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from atomnet.errors import InputError
from atomnet.search._records import Floats, MetricArrays, Metrics
from atomnet.search._tables import FLASH, LAT, MACS, SRAM, ResolutionTables


@dataclass(frozen=True)
class Limits:
    """Upper bounds on latency, Flash and peak SRAM (``inf`` = none) and a MACs range."""

    latency_ms: float = np.inf
    flash_bytes: float = np.inf
    peak_sram_bytes: float = np.inf
    min_macs: float = 0.0
    max_macs: float = np.inf

    def __post_init__(self) -> None:
        for name in ("latency_ms", "flash_bytes", "peak_sram_bytes", "min_macs", "max_macs"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or np.isnan(v) \
                    or v < 0:
                raise InputError(f"limits: {name} must be a number >= 0, got {v!r}")
        if not np.isfinite(self.min_macs):
            raise InputError(f"limits: min_macs must be finite, got {self.min_macs!r}")
        if self.max_macs < self.min_macs:
            raise InputError(f"limits: max_macs {self.max_macs:g} is below min_macs {self.min_macs:g}")

    def to_dict(self) -> dict[str, float | None]:
        """JSON form; ``None`` where there is no bound."""
        return {k: (float(v) if np.isfinite(v) else None) for k, v in (
            ("latency_ms", self.latency_ms), ("flash_bytes", self.flash_bytes),
            ("peak_sram_bytes", self.peak_sram_bytes), ("min_macs", self.min_macs), ("max_macs", self.max_macs))}

    def as_array(self) -> Floats:
        return np.array([self.latency_ms, self.flash_bytes, self.peak_sram_bytes, self.max_macs])


@dataclass(frozen=True)
class Combined:
    """Survivors of one resolution: their metrics (m of each), choice indices (m, n_stages), and the number of
    architectures of the resolution (``evaluated``: a dropped prefix counts for all its completions)."""

    resolution: int
    metrics: MetricArrays
    choices: NDArray[np.int16]  # (m, n_stages)
    evaluated: int


def _completions(tables: ResolutionTables, after: int) -> NDArray[np.int64]:
    """Number of complete architectures below each output width of stage ``after`` (per width index)."""
    stages = tables.stages
    if after == len(stages) - 1:
        return np.ones(stages[after].out_index.max() + 1, dtype=np.int64)
    nxt = stages[after + 1]
    below = _completions(tables, after + 1)
    valid = ~np.isnan(nxt.cost[:, :, 0])  # (n_in, n_choice)
    counts: NDArray[np.int64] = (valid * below[nxt.out_index][None, :]).sum(axis=1).astype(np.int64)
    return counts


def combine(tables: ResolutionTables, limits: Limits, keep_all: bool = False) -> Combined:
    """All architectures of one resolution that meet ``limits`` (latency, Flash, SRAM, max MACs).

    ``keep_all`` skips the pruning (for Pareto fronts over latency: pass ``latency_ms=inf`` instead)."""
    lim = limits.as_array()
    base = tables.base.astype(np.float64)
    metrics = base[None, :].copy()
    choices = np.zeros((1, 0), dtype=np.int16)
    width = np.zeros(1, dtype=np.int64)
    for t in tables.stages:
        c = t.cost[width]  # (m, n_choice, 4)
        m, n = c.shape[0], c.shape[1]
        new = np.empty((m, n, 4))
        new[..., LAT] = metrics[:, None, LAT] + c[..., LAT]
        new[..., FLASH] = metrics[:, None, FLASH] + c[..., FLASH]
        new[..., MACS] = metrics[:, None, MACS] + c[..., MACS]
        new[..., SRAM] = np.maximum(metrics[:, None, SRAM], c[..., SRAM])
        ok = ~np.isnan(c[..., 0])
        if not keep_all:
            ok &= (new[..., LAT] <= lim[0]) & (new[..., FLASH] <= lim[1]) & (new[..., SRAM] <= lim[2])
            ok &= new[..., MACS] <= lim[3]
        pi, ci = np.nonzero(ok)
        metrics = new[pi, ci]
        choices = np.concatenate([choices[pi], ci[:, None].astype(np.int16)], axis=1)
        width = t.out_index[ci]
    return Combined(tables.resolution, MetricArrays.from_columns(metrics), choices, _count(tables))


def _count(tables: ResolutionTables) -> int:
    """Number of valid architectures of one resolution."""
    first = tables.stages[0]
    below = _completions(tables, 0)
    valid = ~np.isnan(first.cost[0, :, 0])
    return int((valid * below[first.out_index]).sum())


def max_macs(tables: ResolutionTables) -> float:
    """Largest MACs any architecture of this resolution reaches (exact DP over output widths)."""
    best = {0: float(tables.base[MACS])}
    for t in tables.stages:
        nxt: dict[int, float] = {}
        for w, acc in best.items():
            for j in range(t.n_choice):
                c = t.cost[w, j, MACS]
                if np.isnan(c):
                    continue
                o = int(t.out_index[j])
                nxt[o] = max(nxt.get(o, -np.inf), acc + float(c))
        best = nxt
    return max(best.values()) if best else 0.0


def minima(tables: ResolutionTables) -> Metrics:
    """Smallest latency, Flash, peak SRAM and MACs any architecture of this resolution reaches (exact DP)."""
    base = tables.base.astype(np.float64)
    width_best = {0: base.copy()}  # per width index: the minimum of each metric separately
    for t in tables.stages:
        nxt: dict[int, Floats] = {}
        for w, acc in width_best.items():
            for j in range(t.n_choice):
                c = t.cost[w, j]
                if np.isnan(c[0]):
                    continue
                v = acc.copy()
                v[LAT] += c[LAT]
                v[FLASH] += c[FLASH]
                v[MACS] += c[MACS]
                v[SRAM] = max(v[SRAM], c[SRAM])
                o = int(t.out_index[j])
                nxt[o] = np.minimum(nxt[o], v) if o in nxt else v
        width_best = nxt
    return MetricArrays.from_columns(np.stack(list(width_best.values()))).smallest()
