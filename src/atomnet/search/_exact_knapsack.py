"""The exact optimum of a per-block space without enumeration: a multiple-choice knapsack per sub-space, solved
by depth-first branch and bound with Lagrangian bounds; candidates come out in one total order.

Within one sub-space (one width multiplier, one resolution) the widths are fixed, so every stage is a *group*
of configurations and an architecture picks one per group: MACs, latency and Flash add up, the SRAM bound is a
maximum (a per-configuration filter). Maximise Σ MACs subject to Σ latency ≤ L and Σ Flash ≤ F.

* **Groups.** Configurations whose table rows are identical (the permutations of a stage's later blocks, whose
  rows :func:`atomnet.search._exact_blocks.tables_for` sums in a permutation-free order) form one *class*; the
  walk runs over classes and expands a class into its members only when it confirms candidates.
* **Bounds.** For multipliers λ, μ ≥ 0 and any set of remaining groups,
  ``Σ_g max_i (MACs_i − λ·lat_i − μ·Flash_i) + λ·L_rem + μ·F_rem`` bounds the MACs the groups can add within
  ``(L_rem, F_rem)`` (Lagrangian relaxation; valid for every pair). Per sub-space the pair minimising the root
  bound is found by a grid search, refined twice; a handful of good pairs (and the best latency-only and
  Flash-only ones) are kept and every node takes the minimum over them.
* **Walk.** Depth first over the groups, children in decreasing bound; the last two groups are merged into one
  table sorted by MACs, so a leaf is one vectorized query (remaining latency and Flash). The walk keeps the
  ``k`` best class combinations found so far (ties kept) and prunes a node whose bound is below the k-th best.
  Sub-spaces are walked in decreasing root bound and skipped once their bound is below it.
* **Order.** Candidates are re-summed with :meth:`ResolutionTables.evaluate` (the canonical figures) and
  ordered by (most MACs, lowest latency, lowest Flash, sub-space index, configuration indices); when the ``k``
  best are used up, the walk runs again with ``4k`` and continues where the previous list ended, so
  :func:`ordered_architectures` yields *every* table-feasible architecture in that order, lazily.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from atomnet.search._combine import Limits
from atomnet.search._tables import FLASH, LAT, MACS, SRAM, FloatArray, IntArray, ResolutionTables

#: a stand-in for an absent latency or Flash limit (keeps λ·L finite; a zero multiplier then ignores it)
_BIG = 1e30
#: the tables' latency is the full cost model's to ~1e-12 relative: candidates are kept with this slack and
#: confirmed exactly, so the table-feasible set is a superset of the truly feasible one
_REL, _ABS = 1e-9, 1e-9
#: merge the last two groups into one leaf table when it has at most this many rows
_MERGE_MAX = 400_000


@dataclass(frozen=True)
class Candidate:
    """A table-feasible architecture: its sub-space index, one configuration index per table stage (stage 0,
    the fixed part, included) and its canonical table figures (lat, Flash, SRAM bound, MACs)."""

    sub: int
    choices: tuple[int, ...]
    figures: tuple[float, float, float, float]


def _slack(v: float, scale: float = 1.0) -> float:
    return v + scale * (_ABS + _REL * v) if np.isfinite(v) else v


#: columns of a group's rows: latency, Flash, (unused), MACs, additive part of the SRAM bound, then its peak parts
#: (each maxed over the network on its own; the bound: the sum of those maxima plus the sum of the additive parts)
_ADD = 4
_PEAK = slice(5, None)


@dataclass
class _Group:
    cost: FloatArray  # (n, 5) distinct rows
    idx: IntArray  # configuration indices, grouped by row, ascending within a row
    bounds: IntArray  # (n + 1,): row u's configurations are idx[bounds[u]:bounds[u + 1]]

    def members(self, u: int) -> IntArray:
        out: IntArray = self.idx[self.bounds[u]: self.bounds[u + 1]]
        return out

    def first(self, u: int) -> int:
        return int(self.idx[self.bounds[u]])

    def subset(self, keep: IntArray) -> _Group:
        lengths = np.diff(self.bounds)
        mask = np.zeros(len(lengths), dtype=bool)
        mask[keep] = True
        return _Group(self.cost[keep], self.idx[np.repeat(mask, lengths)],
                      np.concatenate([[0], np.cumsum(lengths[keep])]).astype(np.int64))


def _group(rows: FloatArray, add: FloatArray, peaks: FloatArray, sram: float) -> _Group:
    full = np.concatenate([rows, add[:, None], peaks], axis=1)
    full[:, SRAM] = 0.0
    ok = np.flatnonzero(rows[:, SRAM] <= sram)
    if len(ok) == 0:
        return _Group(np.zeros((0, full.shape[1])), np.zeros(0, dtype=np.int64), np.zeros(1, dtype=np.int64))
    sub = full[ok]
    order = np.lexsort(sub.T[::-1])  # stable: equal rows keep ascending configuration indices
    srt = sub[order]
    new = np.ones(len(srt), dtype=bool)
    new[1:] = (srt[1:] != srt[:-1]).any(axis=1)
    starts = np.flatnonzero(new)
    return _Group(srt[starts], ok[order], np.append(starts, len(srt)).astype(np.int64))


def _grid(current: float, scale: float, width: float, on: bool) -> FloatArray:
    """1-D candidate multipliers around ``current`` (and 0)."""
    if not on:
        return np.zeros(1)
    if current > 0:
        out: FloatArray = np.unique(np.concatenate([[0.0], current * np.geomspace(1 / width, width, 13)]))
        return out
    return np.concatenate([[0.0], np.geomspace(1e-5, 10.0, 13) * scale])


def _front(c: FloatArray) -> FloatArray:
    """The rows of ``c`` no other row beats in (latency, Flash, MACs) (SRAM ignored: for upper bounds only)."""
    order = np.lexsort((-c[:, MACS], c[:, FLASH], c[:, LAT]))
    c = c[order]
    keep = np.ones(len(c), dtype=bool)
    for lo in range(0, len(c), 512):  # blocks keep the comparison matrix small
        blk = c[lo: lo + 512]
        dom = ((c[None, :, LAT] <= blk[:, None, LAT]) & (c[None, :, FLASH] <= blk[:, None, FLASH])
               & (c[None, :, MACS] >= blk[:, None, MACS]))
        dom[np.arange(len(blk)), np.arange(lo, lo + len(blk))] = False
        # a duplicate is beaten only by an earlier copy, so one copy stays
        same = ((c[None, :, LAT] == blk[:, None, LAT]) & (c[None, :, FLASH] == blk[:, None, FLASH])
                & (c[None, :, MACS] == blk[:, None, MACS]))
        later = np.arange(len(c))[None, :] > np.arange(lo, lo + len(blk))[:, None]
        keep[lo: lo + len(blk)] = ~(dom & ~(same & later)).any(axis=1)
    out: FloatArray = c[keep]
    return out


class _Grid:
    """An upper bound of the most MACs a set of rows can give within (latency, Flash): exact on a grid, read at
    the next grid point up (a larger budget, so never below the truth); SRAM ignored."""

    def __init__(self, x: FloatArray, y: FloatArray, best: FloatArray) -> None:
        self.x, self.y, self.best = x, y, best
        self.x0 = x[0] - 1e-9 * (1 + abs(x[0]))
        self.y0 = y[0] - 1e-9 * (1 + abs(y[0]))

    @staticmethod
    def _axis(lo: float, hi: float, n: int) -> FloatArray:
        return np.linspace(lo, hi, n) if hi > lo else np.array([lo])

    @classmethod
    def of_rows(cls, c: FloatArray, n: int) -> _Grid:
        x = cls._axis(float(c[:, LAT].min()), float(c[:, LAT].max()), n)
        y = cls._axis(float(c[:, FLASH].min()), float(c[:, FLASH].max()), n)
        best = np.full((len(x), len(y)), -np.inf)
        ix = np.minimum(np.searchsorted(x, c[:, LAT], "left"), len(x) - 1)
        iy = np.minimum(np.searchsorted(y, c[:, FLASH], "left"), len(y) - 1)
        np.maximum.at(best, (ix, iy), c[:, MACS])
        return cls(x, y, np.maximum.accumulate(np.maximum.accumulate(best, axis=0), axis=1))

    def query(self, lat: FloatArray, flash: FloatArray) -> FloatArray:
        ix = np.minimum(np.searchsorted(self.x, lat, "left"), len(self.x) - 1)
        iy = np.minimum(np.searchsorted(self.y, flash, "left"), len(self.y) - 1)
        out: FloatArray = self.best[ix, iy]
        return np.where((lat < self.x0) | (flash < self.y0), -np.inf, out)

    def compose(self, c: FloatArray, n: int) -> _Grid:
        """The grid of one row of ``c`` plus the rows of this grid."""
        f = _front(c)
        x = self._axis(float(f[:, LAT].min()) + self.x[0], float(f[:, LAT].max()) + self.x[-1], n)
        y = self._axis(float(f[:, FLASH].min()) + self.y[0], float(f[:, FLASH].max()) + self.y[-1], n)
        best = np.full((len(x), len(y)), -np.inf)
        for lat, fl, m in f[:, [LAT, FLASH, MACS]].tolist():
            qx, qy = x - lat, y - fl
            ix = np.minimum(np.searchsorted(self.x, qx, "left"), len(self.x) - 1)
            iy = np.minimum(np.searchsorted(self.y, qy, "left"), len(self.y) - 1)
            vals = self.best[ix[:, None], iy[None, :]]
            vals[qx < self.x0, :] = -np.inf
            vals[:, qy < self.y0] = -np.inf
            np.maximum(best, vals + m, out=best)
        return _Grid(x, y, best)


#: grid points per axis of the leaf's bound table and of the composed ones
_LEAF_GRID, _GRID = 2048, 160


class _Sub:
    """One sub-space prepared for the walk: its groups (classes); :meth:`prepare` adds the leaf table, the
    multipliers and the suffix bounds (only for the sub-spaces a walk reaches)."""

    def __init__(self, index: int, tables: ResolutionTables, sram_add: Sequence[FloatArray] | None,
                 sram_peaks: Sequence[FloatArray] | None, limits: Limits) -> None:
        self.index, self.tables = index, tables
        adds = list(sram_add) if sram_add is not None else [np.zeros(t.n_choice) for t in tables.stages]
        peaks = list(sram_peaks) if sram_peaks is not None else [
            (t.cost[0, :, SRAM] - a)[:, None] for t, a in zip(tables.stages, adds, strict=True)]
        self.adds, self.peaks = adds, peaks
        fixed = tables.base + tables.stages[0].cost[0, 0]
        self.fixed_lat, self.fixed_flash, self.fixed_macs = float(fixed[LAT]), float(fixed[FLASH]), float(fixed[MACS])
        self.fixed_add = float(adds[0][0]) + float(tables.base[SRAM])
        self.fixed_pool = peaks[0][0].astype(np.float64)
        self.lat_lim = _slack(limits.latency_ms, 2.0) if np.isfinite(limits.latency_ms) else _BIG
        self.flash_lim = float(limits.flash_bytes) if np.isfinite(limits.flash_bytes) else _BIG
        self.sram_lim = float(limits.peak_sram_bytes) if np.isfinite(limits.peak_sram_bytes) else _BIG
        self.groups = [_group(t.cost[0], a, p, self.sram_lim)
                       for t, a, p in zip(tables.stages[1:], adds[1:], peaks[1:], strict=True)]
        self.root_bound = self.quick_bound = -np.inf
        self.prepared = False
        self.feasible = (float(self.fixed_pool.sum()) + self.fixed_add <= self.sram_lim
                         and all(len(g.cost) for g in self.groups))
        for _ in range(2):  # drop rows that cannot fit beside the other stages' smallest rows
            if not self.feasible:
                return
            mins = np.array([g.cost.min(axis=0) for g in self.groups])
            tot = mins.sum(axis=0)
            for i, g in enumerate(self.groups):
                c = g.cost
                ok = ((c[:, LAT] + self.fixed_lat + tot[LAT] - mins[i, LAT] <= self.lat_lim)
                      & (c[:, FLASH] + self.fixed_flash + tot[FLASH] - mins[i, FLASH] <= self.flash_lim)
                      & (np.maximum(c[:, _PEAK], self.fixed_pool[None, :]).sum(axis=1) + c[:, _ADD] + self.fixed_add
                         + tot[_ADD] - mins[i, _ADD] <= self.sram_lim))
                if not ok.all():
                    keep = np.flatnonzero(ok)
                    self.groups[i] = g.subset(keep)
            self.feasible = all(len(g.cost) for g in self.groups)
        if not self.feasible:
            return
        self.quick_bound = self.fixed_macs + float(self._dual(*(x.reshape(-1) for x in np.meshgrid(
            *self._axes(9), np.zeros(1), indexing="ij"))).min())

    def prepare(self) -> None:
        """The leaf table, the multipliers, the grids and the suffix minima; the refined root bound."""
        if self.prepared:
            return
        self.prepared = True
        n = len(self.groups)
        if n >= 2 and len(self.groups[-2].cost) * len(self.groups[-1].cost) <= _MERGE_MAX:
            a, b = self.groups[-2].cost, self.groups[-1].cost
            leaf = (a[:, None, :] + b[None, :, :]).reshape(-1, a.shape[1])
            leaf[:, _PEAK] = np.maximum(a[:, None, _PEAK], b[None, :, _PEAK]).reshape(len(leaf), -1)
            ia, ib = np.divmod(np.arange(len(leaf)), len(b))
            self.levels = self.groups[:-2]
            leaf_classes = np.stack([ia, ib], axis=1)
        else:
            leaf = self.groups[-1].cost
            self.levels = self.groups[:-1]
            leaf_classes = np.arange(len(leaf))[:, None]
        order = np.argsort(-leaf[:, MACS], kind="stable")
        self.leaf, self.leaf_classes = leaf[order], leaf_classes[order]
        self.leaf_neg_macs = -self.leaf[:, MACS]
        # lower bounds of what the levels from k on (and the leaf) need: latency, Flash, additive part (summed),
        # peak parts (maxed)
        lm = self.leaf.min(axis=0)
        mins = [np.concatenate([[lm[LAT], lm[FLASH], lm[_ADD]], lm[_PEAK]])]
        for g in reversed(self.levels):
            m = g.cost.min(axis=0)
            prev = mins[-1]
            mins.append(np.concatenate([[prev[0] + m[LAT], prev[1] + m[FLASH], prev[2] + m[_ADD]],
                                        np.maximum(prev[3:], m[_PEAK])]))
        self.suffix_min = mins[::-1]  # suffix_min[k]: levels k.. plus the leaf
        self._multipliers()
        grids = [_Grid.of_rows(self.leaf, _LEAF_GRID)]
        for g in reversed(self.levels[1:]):
            grids.append(grids[-1].compose(g.cost, _GRID))
        self.grids = grids[::-1]  # grids[k]: levels k+1.. plus the leaf, the bound of level k's children
        if self.levels:
            g0 = self.levels[0].cost
            grid_root = float((g0[:, MACS] + self.grids[0].query(self.lat_lim - self.fixed_lat - g0[:, LAT],
                                                                 self.flash_lim - self.fixed_flash - g0[:, FLASH])
                               ).max()) + self.fixed_macs
            self.root_bound = min(self.root_bound, grid_root)

    def _axes(self, n: int) -> tuple[FloatArray, FloatArray]:
        scale = sum(float(g.cost[:, MACS].max()) for g in self.groups)
        axis = np.concatenate([[0.0], np.geomspace(1e-4, 1e2, n - 1) * scale])
        return (axis if self.lat_lim < _BIG else np.zeros(1), axis if self.flash_lim < _BIG else np.zeros(1))

    def sram_bound(self, choices: IntArray) -> FloatArray:
        """The canonical SRAM bound of architectures (m, n_stages): the sum over peak columns of their maxima
        plus the sum of the additive parts (and the tables' base SRAM)."""
        peak = np.zeros((len(choices), self.peaks[0].shape[1]))
        tot = np.full(len(choices), float(self.tables.base[SRAM]))
        for i, (a, p) in enumerate(zip(self.adds, self.peaks, strict=True)):
            peak = np.maximum(peak, p[choices[:, i]])
            tot += a[choices[:, i]]
        out: FloatArray = peak.sum(axis=1) + tot
        return out

    # ---- Lagrangian multipliers ------------------------------------------------------------------------------
    def _budgets(self) -> tuple[float, float, float]:
        pool = np.max([self.fixed_pool, *(g.cost[:, _PEAK].min(axis=0) for g in self.groups)], axis=0).sum()
        return (max(self.lat_lim - self.fixed_lat, 1e-12), max(self.flash_lim - self.fixed_flash, 1e-12),
                max(self.sram_lim - float(pool) - self.fixed_add, 1e-12))

    def _dual(self, lam: FloatArray, mu: FloatArray, nu: FloatArray) -> FloatArray:
        """Root bound (without the fixed MACs) for every triple (λ, μ, ν) in normalized units."""
        lr, fr, sr = self._budgets()
        tot = lam + mu + nu
        for g in self.groups:
            c = g.cost
            s = (c[:, MACS, None] - (c[:, LAT, None] / lr) * lam[None, :] - (c[:, FLASH, None] / fr) * mu[None, :]
                 - (c[:, _ADD, None] / sr) * nu[None, :])
            tot = tot + s.max(axis=0)
        return tot

    def _multipliers(self) -> None:
        lr, fr, sr = self._budgets()
        scale = sum(float(g.cost[:, MACS].max()) for g in self.groups)
        on = (self.lat_lim < _BIG, self.flash_lim < _BIG,
              self.sram_lim < _BIG and any(float(g.cost[:, _ADD].max()) > 0 for g in self.groups))
        grids = [*self._axes(24), np.zeros(1)]
        tried = []
        lam, mu, nu = (x.reshape(-1) for x in np.meshgrid(*grids, indexing="ij"))
        d = self._dual(lam, mu, nu)
        tried.append(np.stack([lam, mu, nu, d], axis=1))
        best = tried[0][np.argmin(d)]
        for width in (8.0, 8.0, 2.0, 2.0, 1.2, 1.2):  # coordinate passes: ν, λ, μ, narrowing
            for c in (2, 0, 1):
                vals = _grid(float(best[c]), scale, width, on[c])
                pts = np.tile(best[:3], (len(vals), 1))
                pts[:, c] = vals
                d = self._dual(pts[:, 0], pts[:, 1], pts[:, 2])
                tried.append(np.concatenate([pts, d[:, None]], axis=1))
                if d.min() < best[3]:
                    best = tried[-1][np.argmin(d)]
        allp = np.unique(np.concatenate(tried), axis=0)
        keep = list(np.argsort(allp[:, 3])[:8])
        for sel in (allp[:, 1] + allp[:, 2] == 0, allp[:, 0] + allp[:, 2] == 0, allp[:, 0] + allp[:, 1] == 0):
            if sel.any():  # the best latency-only, Flash-only and SRAM-only multipliers
                keep.append(int(np.flatnonzero(sel)[np.argmin(allp[sel, 3])]))
        p = allp[sorted(set(int(i) for i in keep))]
        self.lam, self.mu, self.nu = p[:, 0] / lr, p[:, 1] / fr, p[:, 2] / sr  # raw: MACs per ms, per byte, per byte
        self.root_bound = self.fixed_macs + float(p[:, 3].min())
        # per B&B level: the penalty matrix λ·lat + μ·flash + ν·add of its rows, and the suffix maxima after it
        self.penalty = [self._pen(g.cost) for g in self.levels]
        suffix = [(self.leaf[:, MACS, None] - self._pen(self.leaf)).max(axis=0)]
        for g, pen in zip(reversed(self.levels), reversed(self.penalty), strict=True):
            suffix.append(suffix[-1] + (g.cost[:, MACS, None] - pen).max(axis=0))
        self.suffix = suffix[::-1]  # suffix[k]: levels k.. plus the leaf

    def _pen(self, c: FloatArray) -> FloatArray:
        out: FloatArray = (c[:, LAT, None] * self.lam[None, :] + c[:, FLASH, None] * self.mu[None, :]
                           + c[:, _ADD, None] * self.nu[None, :])
        return out


class _Store:
    """The k best class combinations found so far (all ties at the k-th MACs kept)."""

    def __init__(self, k: int, limits: Limits, low: float, cap: float) -> None:
        self.k, self.limits, self.cap = k, limits, cap
        self.macs: list[FloatArray] = []
        self.rows: list[tuple[int, IntArray]] = []  # (sub index, classes (r, n_groups))
        self.size = 0
        self.threshold = low
        self.full = False

    def add(self, sub: int, macs: FloatArray, classes: IntArray) -> None:
        ok = (macs <= self.limits.max_macs) & (macs < self.cap)
        if not ok.all():
            macs, classes = macs[ok], classes[ok]
        if len(macs) > self.k:  # only this leaf's k best can enter the k best
            kth = -np.partition(-macs, self.k - 1)[self.k - 1]
            keep = macs >= kth
            macs, classes = macs[keep], classes[keep]
        if not len(macs):
            return
        self.macs.append(macs)
        self.rows.append((sub, classes))
        self.size += len(macs)
        if self.size >= 2 * self.k:
            self._trim()

    def _trim(self) -> None:
        allm = np.concatenate(self.macs)
        if len(allm) < self.k:
            return
        kth = float(-np.partition(-allm, self.k - 1)[self.k - 1])
        self.full = True
        self.threshold = max(self.threshold, kth)
        macs, rows = [], []
        for m, (s, c) in zip(self.macs, self.rows, strict=True):
            keep = m >= kth
            if keep.any():
                macs.append(m[keep])
                rows.append((s, c[keep]))
        self.macs, self.rows = macs, rows
        self.size = sum(len(m) for m in macs)

    def finish(self) -> None:
        if self.size >= self.k:
            self._trim()


def _walk(sub: _Sub, store: _Store) -> int:
    """Depth-first branch and bound over one sub-space; returns the number of nodes expanded."""
    levels, n_lev = sub.levels, len(sub.levels)
    chosen = np.zeros(n_lev, dtype=np.int64)
    nodes = 0
    s_lim = sub.sram_lim

    def leaf(lat: float, flash: float, macs: float, pool: FloatArray, add: float) -> None:
        need = store.threshold - macs
        cnt = int(np.searchsorted(sub.leaf_neg_macs, -need, side="right"))
        if cnt == 0:
            return
        head = sub.leaf[:cnt]
        ok = np.flatnonzero((head[:, LAT] <= sub.lat_lim - lat) & (head[:, FLASH] <= sub.flash_lim - flash)
                            & (np.maximum(head[:, _PEAK], pool[None, :]).sum(axis=1) + head[:, _ADD]
                               <= s_lim - add))
        if len(ok):
            cls = np.concatenate([np.broadcast_to(chosen, (len(ok), n_lev)), sub.leaf_classes[ok]], axis=1)
            store.add(sub.index, macs + head[ok, MACS], cls)

    def dfs(k: int, lat: float, flash: float, macs: float, pool: FloatArray, add: float) -> None:
        nonlocal nodes
        nodes += 1
        if k == n_lev:
            leaf(lat, flash, macs, pool, add)
            return
        g = levels[k].cost
        lr, fr = sub.lat_lim - lat, sub.flash_lim - flash
        nxt = sub.suffix_min[k + 1]
        pool_c = np.maximum(g[:, _PEAK], np.maximum(pool, nxt[3:])[None, :]).sum(axis=1)
        s_rem = s_lim - add - g[:, _ADD] - pool_c  # SRAM left for the later additive parts
        ok = (g[:, LAT] + nxt[0] <= lr) & (g[:, FLASH] + nxt[1] <= fr) & (s_rem >= nxt[2])
        const = sub.suffix[k + 1] + sub.lam * lr + sub.mu * fr
        ub = macs + g[:, MACS] + (const[None, :] - sub.penalty[k] + s_rem[:, None] * sub.nu[None, :]
                                  + g[:, _ADD, None] * sub.nu[None, :]).min(axis=1)
        ok &= ub >= store.threshold
        if ok.any():
            ub = np.minimum(ub, macs + g[:, MACS] + sub.grids[k].query(lr - g[:, LAT], fr - g[:, FLASH]))
            ok &= ub >= store.threshold
        idx = np.flatnonzero(ok)
        if not len(idx):
            return
        idx = idx[np.argsort(-ub[idx], kind="stable")]
        for i, u in zip(idx.tolist(), ub[idx].tolist(), strict=True):
            if u < store.threshold:
                break
            chosen[k] = i
            dfs(k + 1, lat + g[i, LAT], flash + g[i, FLASH], macs + g[i, MACS], np.maximum(pool, g[i, _PEAK]),
                add + g[i, _ADD])

    dfs(0, sub.fixed_lat, sub.fixed_flash, sub.fixed_macs, sub.fixed_pool, sub.fixed_add)
    return nodes


@dataclass(frozen=True)
class WalkStats:
    """Work of one round of :func:`ordered_architectures`: the MACs window [low, cap), the sub-spaces walked,
    the nodes expanded and the class combinations found."""

    low: float
    cap: float
    walked: int
    nodes: int
    found: int


_Combo = tuple[tuple[float, ...], "_Sub", IntArray]


def _round(subs: Sequence[_Sub], limits: Limits, low: float, cap: float, k: int
           ) -> tuple[list[_Combo], float, WalkStats]:
    """Every class combination with ``low <= MACs < cap`` that meets the limits on the tables, except that
    once ``k`` are found only the ``k`` best (with ties) are kept: returns them in the total order and the
    MACs down to which the list is complete."""
    store = _Store(k, limits, low, cap)
    walked = nodes = 0
    for sub in sorted((s for s in subs if s.feasible), key=lambda s: (-s.quick_bound, s.index)):
        if sub.quick_bound < store.threshold:
            break
        sub.prepare()
        if sub.root_bound < store.threshold:
            continue
        walked += 1
        nodes += _walk(sub, store)
    store.finish()
    by_sub = {s.index: s for s in subs}
    combos: list[_Combo] = []
    lat_lim, flash_lim = _slack(limits.latency_ms), limits.flash_bytes
    for si, cls in store.rows:
        sub = by_sub[si]
        first = np.array([[0] + [sub.groups[g].first(c) for g, c in enumerate(row)]
                          for row in cls.tolist()])
        fig = sub.tables.evaluate(first)
        fig[:, SRAM] = sub.sram_bound(first)
        for row, f in zip(cls, fig, strict=True):
            if f[LAT] <= lat_lim and f[FLASH] <= flash_lim and f[SRAM] <= limits.peak_sram_bytes \
                    and limits.min_macs <= f[MACS] <= limits.max_macs and store.threshold <= f[MACS] < cap:
                combos.append(((-float(f[MACS]), float(f[LAT]), float(f[FLASH]), float(sub.index), float(f[SRAM])),
                               sub, row))
    combos.sort(key=lambda c: (c[0][:4], [c[1].groups[g].first(x) for g, x in enumerate(c[2].tolist())]))
    return combos, store.threshold, WalkStats(low, cap, walked, nodes, store.size)


def _members(combos: list[tuple[tuple[float, ...], _Sub, IntArray]]) -> Iterator[Candidate]:
    """Every architecture of the ordered class combinations, in the total order: combinations with equal
    (MACs, latency, Flash, sub-space) interleave by configuration indices."""
    for _, grp in itertools.groupby(combos, key=lambda c: c[0][:4]):
        items = list(grp)
        gens = [itertools.product(*(c[1].groups[g].members(x).tolist() for g, x in enumerate(c[2].tolist())))
                for c in items]
        key = items[0][0]
        fig = (key[1], key[2], key[4], -key[0])
        sub = items[0][1].index
        for ch in heapq.merge(*gens) if len(gens) > 1 else gens[0]:
            yield Candidate(sub, (0, *ch), fig)


def ordered_architectures(tables: Sequence[ResolutionTables], limits: Limits, k: int = 16,
                          stats: list[WalkStats] | None = None,
                          sram_add: Sequence[Sequence[FloatArray] | None] | None = None,
                          sram_peaks: Sequence[Sequence[FloatArray] | None] | None = None) -> Iterator[Candidate]:
    """Every architecture of the sub-spaces ``tables`` (stage 0 the fixed part, one choice) that meets
    ``limits`` on the tables (latency with a 1e-9 relative slack), in the total order (most MACs, lowest
    latency, lowest Flash, sub-space index, configuration indices), lazily, in rounds: a round collects the
    class combinations of a MACs window [low, cap) below everything yielded so far (the ``k`` best of it once
    ``k`` are found); each window is twice as wide as the last (the first 0.1 % of the best bound). ``stats``
    collects each round's work.

    ``sram_add`` (per sub-space, per table stage, one value per choice): the additive part of each row's SRAM
    bound; an architecture's bound is then the largest ``SRAM - add`` of its rows plus the sum of their ``add``
    (:class:`atomnet.search._exact_blocks.BlockTables`); without it the bound is the largest ``SRAM``.
    ``sram_peaks`` (per sub-space, per table stage, shape (n_choice, m)): the peak parts, each maxed over the
    network on its own (default: one, ``SRAM - add``); the bound is then the sum of those maxima plus the sum of
    the additive parts."""
    adds = list(sram_add) if sram_add is not None else [None] * len(tables)
    peaks = list(sram_peaks) if sram_peaks is not None else [None] * len(tables)
    subs = [_Sub(i, t, a, p, limits) for i, (t, a, p) in enumerate(zip(tables, adds, peaks, strict=True))]
    bounds = [s.quick_bound for s in subs if s.feasible]
    if not bounds:
        return
    floor = max(float(limits.min_macs), 0.0)
    top = min(max(bounds), float(limits.max_macs))
    step0 = max(1e-3 * top, 1.0)
    cap, step = np.inf, step0
    while True:
        low = max(min(top, cap) - step, floor)
        combos, covered, st = _round(subs, limits, low, cap, k)
        if stats is not None:
            stats.append(st)
        yield from _members(combos)
        if not combos and low <= floor:
            return
        cap = covered  # everything in [covered, cap) is yielded (covered = low unless k capped the round)
        step *= 2  # windows grow geometrically: a full enumeration takes O(log) rounds


def root_bounds(tables: Sequence[ResolutionTables], limits: Limits,
                sram_add: Sequence[Sequence[FloatArray] | None] | None = None,
                sram_peaks: Sequence[Sequence[FloatArray] | None] | None = None) -> list[float]:
    """Each sub-space's quick root bound on MACs (``-inf`` where nothing can fit)."""
    adds = list(sram_add) if sram_add is not None else [None] * len(tables)
    peaks = list(sram_peaks) if sram_peaks is not None else [None] * len(tables)
    return [_Sub(i, t, a, p, limits).quick_bound for i, (t, a, p) in enumerate(zip(tables, adds, peaks, strict=True))]
