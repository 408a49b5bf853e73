"""Build per-stage cost tables of a space from the cost model's pricing step (``atomnet.cost.Pricer``).

For every resolution, stage, input width and stage choice, a truncated architecture is lowered and priced
once by the same two halves that make the :class:`~atomnet.cost.LayerArrays` ``cost_model`` renders
(``Pricer.price_memory`` and ``Pricer.price_keys``, on the layers of that stage only), and those layers are
summed: latency and Flash add up over stages exactly; MACs too. For SRAM a stage gets a *lower bound* of the
runtime planner's peak: the largest live set of buffers at any of its layers plus the planner's scratch reduced
over the stage (the greedy packing may fragment, so the true peak can be higher, never lower). Strategies prune
with these tables, then confirm candidates with the full cost model in decreasing order of MACs
(:mod:`atomnet.search._run`), so the optimum stays exact.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from atomnet.cost import LatencyModel, Pricer, layer_keys, select_layers
from atomnet.runtimes import Runtime
from atomnet.search._space import Space
from atomnet.search._tables import FLASH, LAT, MACS, SRAM, FloatArray, ResolutionTables, StageTable
from atomnet.spec import ModelSpec, from_stage_config

_Job = tuple[int, int, int, int]  # (resolution index, stage, input width index, choice)
#: jobs between two progress reports
_PROGRESS_EVERY = 200


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


def _job_stages(job: _Job, n_st: int) -> tuple[int, ...]:
    """The stages whose layers make up ``job``'s row: its stage, and the head (stage ``n_st``) after the last."""
    return (job[1], n_st) if job[1] == n_st - 1 else (job[1],)


def _price_jobs(space: Space, jobs: list[_Job], pricer: Pricer,
                progress: Callable[[int, int], None] | None) -> FloatArray:
    """Rows (lat, flash, sram lower bound, macs) per job. Each truncated model is lowered, its memory half
    priced and summed at once (so its graph dies young: no model is kept waiting), its selected operator keys
    kept; then the latency half prices all keys in one AtomDB lookup and sums them per job."""
    rows = np.zeros((len(jobs), 4))
    n_st = len(space.stages)
    keys: list[tuple[int, ...]] = []
    owner: list[int] = []  # the job of each key
    for n, job in enumerate(jobs):
        g_lat, g_mem = pricer.lower(_job_spec(space, job))
        stages = _job_stages(job, n_st)
        sel = select_layers(g_lat, stages)
        mem = pricer.price_memory(g_mem, sel if g_mem is g_lat else select_layers(g_mem, stages))
        rows[n, FLASH], rows[n, SRAM], rows[n, MACS] = mem.totals(pricer.planner)
        job_keys = layer_keys(g_lat, sel)
        keys += job_keys
        owner += [n] * len(job_keys)
        if progress and n % _PROGRESS_EVERY == 0:
            progress(n, len(jobs))
    lat, _ = pricer.price_keys(keys)
    rows[:, LAT] = np.bincount(np.array(owner, dtype=np.int64), weights=lat, minlength=len(jobs))
    if progress:
        progress(len(jobs), len(jobs))
    return rows


def _assemble(space: Space, rows: FloatArray, code_bytes: int) -> list[ResolutionTables]:
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
