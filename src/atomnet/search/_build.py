"""Build per-stage cost tables of a space from the cost model (lowering, AtomDB pricing, planners).

For every resolution, stage, input width and stage choice, a truncated architecture is lowered and the
layers of that stage are priced: latency and Flash add up over stages exactly; MACs too. For SRAM a
stage gets a *lower bound* of the runtime planner's peak: the largest live set of buffers at any of its
layers plus the planner's scratch reduced over the stage (the greedy packing may fragment, so the true
peak can be higher, never lower). Strategies prune with these tables, then confirm candidates with the
full cost model in decreasing order of MACs (:mod:`atomnet.search._run`), so the optimum stays exact.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from atomnet.cost._flash import CODE_BYTES, layer_flash
from atomnet.cost._latency import LatencyModel
from atomnet.cost._report import MEASURED_LOWERING
from atomnet.cost._sram import get_planner
from atomnet.search._space import Space
from atomnet.search._tables import FLASH, LAT, MACS, SRAM, ResolutionTables, StageTable
from atomnet.spec import from_stage_config, lower


def build_tables(space: Space, lm: LatencyModel, runtime: str,
                 progress: Callable[[int, int], None] | None = None) -> list[ResolutionTables]:
    """One :class:`ResolutionTables` per resolution of ``space`` (head folded into the last stage)."""
    lat_rt = MEASURED_LOWERING[lm.runtime]
    planner = get_planner(runtime)
    n_st = len(space.stages)
    jobs: list[tuple[int, int, int, int]] = []  # (res, stage, input width index, choice)
    for r in range(len(space.resolutions)):
        for i, st in enumerate(space.stages):
            n_in = 1 if i == 0 else len(space.stages[i - 1].widths)
            jobs += [(r, i, a, j) for a in range(n_in) for j in range(len(st.choices))]
    keys: list[tuple[int, ...]] = []
    seg: list[int] = []
    rest = np.zeros((len(jobs), 4))  # flash, sram lower bound, macs (latency filled after pricing)
    for n, (r, i, a, j) in enumerate(jobs):
        choices = [0] * n_st
        if i > 0:
            prev = space.stages[i - 1]
            w = prev.widths[a]
            choices[i - 1] = next(k for k, c in enumerate(prev.choices) if c.width == w)
        choices[i] = j
        cfg = space.stage_config(r, choices)
        last = i == n_st - 1
        if not last:  # later stages do not change this stage's cost: leave them out (faster)
            cfg["stages"] = cfg["stages"][: i + 1]
        spec = from_stage_config(cfg)
        g_lat = lower(spec, lat_rt)
        mine = [ly for ly in g_lat.layers if ly.stage == i or (last and ly.stage == n_st)]
        seg.append(len(keys))
        keys += [ly.op.key for ly in mine]
        g_mem = g_lat if lat_rt == runtime else lower(spec, runtime)
        plan = planner.plan(g_mem)
        idx = [k for k, ly in enumerate(g_mem.layers) if ly.stage == i or (last and ly.stage == n_st)]
        extras = [planner.layer_extra(g_mem.layers[k].op, g_mem.layers[k].inplace) for k in idx]
        live = max(plan.live_bytes[k] - sum(e) for k, e in zip(idx, extras))
        rest[n, SRAM] = live + planner.extra_bytes(extras)
        rest[n, FLASH] = sum(sum(layer_flash(g_mem.layers[k].op, runtime)) for k in idx)
        rest[n, MACS] = sum(g_mem.layers[k].op.macs for k in idx)
        if progress and n % 200 == 0:
            progress(n, len(jobs))
    lat, _ = lm.price_keys(keys)
    sums = np.add.reduceat(lat, np.array(seg)) if keys else np.zeros(len(jobs))
    # reduceat on an empty segment returns the next element: stages always have layers, guard anyway
    empty = np.diff(np.append(seg, len(keys))) == 0
    sums[empty] = 0.0
    rest[:, LAT] = sums
    if progress:
        progress(len(jobs), len(jobs))
    out = []
    n = 0
    for r, res in enumerate(space.resolutions):
        stages = []
        for i, st in enumerate(space.stages):
            n_in = 1 if i == 0 else len(space.stages[i - 1].widths)
            cost = rest[n: n + n_in * len(st.choices)].reshape(n_in, len(st.choices), 4)
            n += n_in * len(st.choices)
            widths = st.widths
            stages.append(StageTable(cost.copy(), np.array([widths.index(c.width) for c in st.choices])))
        base = np.zeros(4)
        base[FLASH] = CODE_BYTES[runtime]
        out.append(ResolutionTables(res, tuple(stages), base))
        del r
    return out
