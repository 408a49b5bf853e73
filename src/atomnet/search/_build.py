"""Build per-stage cost tables of a space from the cost model's pricing step (``atomnet.cost.Pricer``).

For every resolution, stage, input width and stage choice, a truncated architecture is lowered and priced
once (the same :class:`~atomnet.cost.LayerArrays` that ``cost_model`` renders), and the layers of that stage
are summed (:meth:`~atomnet.cost.LayerArrays.segments`): latency and Flash add up over stages exactly; MACs
too. For SRAM a stage gets a *lower bound* of the runtime planner's peak: the largest live set of buffers at
any of its layers plus the planner's scratch reduced over the stage (the greedy packing may fragment, so the
true peak can be higher, never lower). Strategies prune with these tables, then confirm candidates with the
full cost model in decreasing order of MACs (:mod:`atomnet.search._run`), so the optimum stays exact.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from atomnet.cost import SEG_FLASH, SEG_LATENCY, SEG_MACS, SEG_SRAM, LatencyModel, LayerArrays, Pricer
from atomnet.runtimes import Runtime
from atomnet.search._space import Space
from atomnet.search._tables import FLASH, LAT, MACS, SRAM, ResolutionTables, StageTable
from atomnet.spec import ModelSpec, from_stage_config

_Job = tuple[int, int, int, int]  # (resolution index, stage, input width index, choice)
_COLUMNS = ((LAT, SEG_LATENCY), (FLASH, SEG_FLASH), (SRAM, SEG_SRAM), (MACS, SEG_MACS))
#: models priced per AtomDB lookup (bounded memory; one lookup per chunk)
_CHUNK = 256


def _jobs(space: Space) -> list[_Job]:
    jobs: list[_Job] = []
    for r in range(len(space.resolutions)):
        for i, st in enumerate(space.stages):
            n_in = 1 if i == 0 else len(space.stages[i - 1].widths)
            jobs += [(r, i, a, j) for a in range(n_in) for j in range(len(st.choices))]
    return jobs


def _job_spec(space: Space, job: _Job) -> ModelSpec:
    """The truncated architecture that prices ``job``: stage ``i`` with choice ``j`` entered at width ``a``."""
    r, i, a, j = job
    n_st = len(space.stages)
    choices = [0] * n_st
    if i > 0:
        prev = space.stages[i - 1]
        w = prev.widths[a]
        choices[i - 1] = next(k for k, c in enumerate(prev.choices) if c.width == w)
    choices[i] = j
    cfg = space.stage_config(r, choices)
    if i < n_st - 1:  # later stages do not change this stage's cost: leave them out (faster)
        cfg["stages"] = cfg["stages"][: i + 1]
    return from_stage_config(cfg)


def _stage_row(arr: LayerArrays, stage: int, last: bool, pricer: Pricer) -> np.ndarray:
    """(lat, flash, sram lower bound, macs) of ``stage`` (with the head when it is the last stage)."""
    n_st = stage + 1

    def seg(st: np.ndarray) -> np.ndarray:
        return np.where((st == stage) | (last & (st == n_st)), 0, -1)

    s = arr.segments(seg(arr.lat_stage), seg(arr.stage), 1, pricer.planner)[0]
    row = np.zeros(4)
    for col, seg_col in _COLUMNS:
        row[col] = s[seg_col]
    return row


def _price_jobs(space: Space, jobs: list[_Job], pricer: Pricer,
                progress: Callable[[int, int], None] | None) -> np.ndarray:
    rows = np.zeros((len(jobs), 4))
    n_st = len(space.stages)
    for start in range(0, len(jobs), _CHUNK):
        part = jobs[start: start + _CHUNK]
        priced = pricer.price_many([pricer.lower(_job_spec(space, job)) for job in part])
        for n, (job, arr) in enumerate(zip(part, priced, strict=True)):
            rows[start + n] = _stage_row(arr, job[1], job[1] == n_st - 1, pricer)
        if progress:
            progress(start + len(part), len(jobs))
    return rows


def _assemble(space: Space, rows: np.ndarray, code_bytes: int) -> list[ResolutionTables]:
    out = []
    n = 0
    for res in space.resolutions:
        stages = []
        for i, st in enumerate(space.stages):
            n_in = 1 if i == 0 else len(space.stages[i - 1].widths)
            cost = rows[n: n + n_in * len(st.choices)].reshape(n_in, len(st.choices), 4)
            n += n_in * len(st.choices)
            stages.append(StageTable(cost.copy(), np.array([st.widths.index(c.width) for c in st.choices])))
        base = np.zeros(4)
        base[FLASH] = code_bytes
        out.append(ResolutionTables(res, tuple(stages), base))
    return out


def build_tables(space: Space, lm: LatencyModel, runtime: Runtime | str,
                 progress: Callable[[int, int], None] | None = None) -> list[ResolutionTables]:
    """One :class:`ResolutionTables` per resolution of ``space`` (head folded into the last stage)."""
    pricer = Pricer(runtime, lm)
    jobs = _jobs(space)
    if progress:
        progress(0, len(jobs))
    rows = _price_jobs(space, jobs, pricer, progress)
    return _assemble(space, rows, pricer.runtime.flash.code_bytes)
