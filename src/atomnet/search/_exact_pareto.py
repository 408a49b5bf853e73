"""Suffix Pareto sets over stage tables: the half of the exact programme that runs backwards.

For stage ``i`` and the width index entering it, :func:`suffix_sets` keeps every non-dominated way to finish
the architecture — points (latency, Flash, MACs) of stages ``i..n-1`` — where a point dominates another when it
is no slower, no larger and has at least as many MACs. Peak SRAM is a maximum over stages, so a limit on it is a
per-stage filter: an entry (input width, choice) whose stage-local buffers exceed the limit never enters a set.
A set therefore answers exactly "the most MACs the rest of the network can add within this latency and Flash
left" (:func:`best_within`), the bound that lets the forward walk (:mod:`atomnet.search._exact`) visit
architectures strictly in decreasing MACs.
"""

from __future__ import annotations

import numpy as np

from atomnet.search._tables import FLASH, LAT, MACS, SRAM, FloatArray, ResolutionTables

#: columns of a suffix point
P_LAT, P_FLASH, P_MACS = 0, 1, 2
#: relative slack on the budgets when querying a set: the suffix sums add in another order than the forward
#: sums (float rounding), so a query allows a hair more than the limit; the forward walk checks exactly.
SLACK = 1e-9
_CHUNK = 256


def prune(points: FloatArray) -> FloatArray:
    """The non-dominated rows of ``points`` (n, 3): minimum latency and Flash, maximum MACs; duplicates once.

    Sorted by latency, a point is dominated exactly when an earlier kept point has no more Flash and at least
    its MACs: a staircase query (prefix maximum of MACs over Flash) per chunk against the kept front, plus the
    pairwise test inside the chunk."""
    if len(points) <= 1:
        return points
    order = np.lexsort((-points[:, P_MACS], points[:, P_FLASH], points[:, P_LAT]))
    pts = points[order]
    kept: list[FloatArray] = []
    front_flash = np.empty(0)
    front_best = np.empty(0)  # prefix maximum of MACs over the front sorted by Flash
    for s in range(0, len(pts), _CHUNK):
        c = pts[s: s + _CHUNK]
        if len(front_flash):
            pos = np.searchsorted(front_flash, c[:, P_FLASH], side="right")
            best = np.where(pos > 0, front_best[np.maximum(pos - 1, 0)], -np.inf)
            alive = best < c[:, P_MACS]
        else:
            alive = np.ones(len(c), dtype=bool)
        # inside the chunk: an earlier point (no slower: sorted) with no more Flash and no fewer MACs
        dom = (c[None, :, P_FLASH] <= c[:, None, P_FLASH]) & (c[None, :, P_MACS] >= c[:, None, P_MACS])
        dom &= np.tri(len(c), k=-1, dtype=bool)  # [a, b]: b earlier than a
        alive &= ~dom.any(axis=1)
        new = c[alive]
        if len(new):
            kept.append(new)
            front = np.concatenate(kept)
            f_order = np.argsort(front[:, P_FLASH], kind="stable")
            front_flash = front[f_order, P_FLASH]
            front_best = np.maximum.accumulate(front[f_order, P_MACS])
    return np.concatenate(kept) if kept else pts[:0]


def suffix_sets(tables: ResolutionTables, latency_ms: float, flash_bytes: float, sram_bytes: float
                ) -> list[list[FloatArray]]:
    """``sets[i][w]``: the Pareto set of ways to finish from stage ``i`` entered at width index ``w``
    (``sets[n]`` holds the single empty finish). Points over the latency or Flash limit (with the base costs,
    e.g. the runtime code in Flash) are dropped; so are stage entries over the SRAM limit."""
    stages = tables.stages
    n = len(stages)
    lat_cap = (latency_ms - float(tables.base[LAT])) * (1 + SLACK) + SLACK
    flash_cap = (flash_bytes - float(tables.base[FLASH])) * (1 + SLACK) + SLACK
    n_out = int(stages[-1].out_index.max()) + 1
    sets: list[list[FloatArray]] = [[] for _ in range(n + 1)]
    sets[n] = [np.zeros((1, 3)) for _ in range(n_out)]
    for i in range(n - 1, -1, -1):
        t = stages[i]
        nxt = sets[i + 1]
        per_in: list[FloatArray] = []
        for w in range(t.n_in):
            parts = []
            for j in range(t.n_choice):
                c = t.cost[w, j]
                if np.isnan(c[LAT]) or not c[SRAM] <= sram_bytes:
                    continue
                tail = nxt[int(t.out_index[j])]
                if not len(tail):
                    continue
                p = tail + np.array([c[LAT], c[FLASH], c[MACS]])
                parts.append(p[(p[:, P_LAT] <= lat_cap) & (p[:, P_FLASH] <= flash_cap)])
            per_in.append(prune(np.concatenate(parts)) if parts else np.zeros((0, 3)))
        sets[i] = per_in
    return sets


def best_within(points: FloatArray, lat_left: FloatArray, flash_left: FloatArray) -> FloatArray:
    """Per budget pair: the most MACs of a point within (latency left, Flash left), ``-inf`` when none."""
    if not len(points):
        return np.full(len(lat_left), -np.inf)
    lat_ok = points[None, :, P_LAT] <= lat_left[:, None] * (1 + SLACK) + SLACK
    fl_ok = points[None, :, P_FLASH] <= flash_left[:, None] * (1 + SLACK) + SLACK
    out: FloatArray = np.where(lat_ok & fl_ok, points[None, :, P_MACS], -np.inf).max(axis=1)
    return out
