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
        ok_all = ~np.isnan(t.cost[:, :, LAT]) & (t.cost[:, :, SRAM] <= sram_bytes)
        for w in range(t.n_in):
            parts = []
            for o in np.unique(t.out_index):
                tail = nxt[int(o)]
                js = np.nonzero(ok_all[w] & (t.out_index == o))[0]
                if not len(tail) or not len(js):
                    continue
                # a choice dominated by another of the same output width never raises the best completion
                heads = prune(t.cost[w, js][:, [LAT, FLASH, MACS]])
                p = (heads[:, None, :] + tail[None, :, :]).reshape(-1, 3)
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


# ---- relaxed sets: two 2-D staircases per state (for spaces whose 3-D sets grow large) ---------------------------
Stairs = tuple[FloatArray, FloatArray]  # (latency, MACs) and (Flash, MACs) staircases, cost ascending


def _stair(cost: FloatArray, macs: FloatArray) -> FloatArray:
    """The 2-D front of (cost, MACs) points: cost ascending, MACs strictly rising."""
    order = np.lexsort((-macs, cost))
    c, m = cost[order], macs[order]
    prev = np.concatenate([[-np.inf], np.maximum.accumulate(m)[:-1]])
    keep = m > prev
    return np.stack([c[keep], m[keep]], axis=1)


def relaxed_sets(tables: ResolutionTables, latency_ms: float, flash_bytes: float, sram_bytes: float
                 ) -> list[list[Stairs]]:
    """Per stage and input width: the most MACs a finish can add within a latency left (Flash ignored), and
    within a Flash left (latency ignored). The smaller of the two is still an upper bound of the exact one, so a
    best-first walk with it still pops architectures in decreasing MACs; it only may open more nodes."""
    stages = tables.stages
    n = len(stages)
    caps = ((latency_ms - float(tables.base[LAT])) * (1 + SLACK) + SLACK,
            (flash_bytes - float(tables.base[FLASH])) * (1 + SLACK) + SLACK)
    n_out = int(stages[-1].out_index.max()) + 1
    zero = np.zeros((1, 2))
    sets: list[list[Stairs]] = [[] for _ in range(n + 1)]
    sets[n] = [(zero, zero) for _ in range(n_out)]
    for i in range(n - 1, -1, -1):
        t = stages[i]
        ok_all = ~np.isnan(t.cost[:, :, LAT]) & (t.cost[:, :, SRAM] <= sram_bytes)
        per_in: list[Stairs] = []
        for w in range(t.n_in):
            out: list[FloatArray] = []
            for k, col in enumerate((LAT, FLASH)):
                parts = []
                for o in np.unique(t.out_index):
                    tail = sets[i + 1][int(o)][k]
                    js = np.nonzero(ok_all[w] & (t.out_index == o))[0]
                    if not len(tail) or not len(js):
                        continue
                    head = _stair(t.cost[w, js, col], t.cost[w, js, MACS])
                    p = (head[:, None, :] + tail[None, :, :]).reshape(-1, 2)
                    parts.append(p[p[:, 0] <= caps[k]])
                pts = np.concatenate(parts) if parts else np.zeros((0, 2))
                out.append(_stair(pts[:, 0], pts[:, 1]) if len(pts) else pts)
            per_in.append((out[0], out[1]))
        sets[i] = per_in
    return sets


def relaxed_best(stairs: Stairs, lat_left: FloatArray, flash_left: FloatArray) -> FloatArray:
    """Upper bound of the most MACs a finish adds within (latency left, Flash left); ``-inf`` when none fits."""
    res = np.full(len(lat_left), np.inf)
    for st, left in zip(stairs, (lat_left, flash_left), strict=True):
        if not len(st):
            return np.full(len(lat_left), -np.inf)
        pos = np.searchsorted(st[:, 0], left * (1 + SLACK) + SLACK, side="right")
        res = np.minimum(res, np.where(pos > 0, st[np.maximum(pos - 1, 0), 1], -np.inf))
    return res
