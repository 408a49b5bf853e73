"""The exact programme on a per-block space (``mcunet``): block tables, stage tables composed from them, and a
lazy walk over every (width multiplier, resolution) in decreasing MACs, confirmed with the full cost model.

A block's latency, Flash, MACs and live-buffer SRAM bound depend only on its option and its input shape
(kernel additivity, the batch coster's rule), so per (width multiplier, resolution) and stage two rows per
option suffice: the first block (strided, width change) and a later one (stride 1, residual). Nine pricings
per sub-space (every stage at depth 2 with one option) fill them. A stage's configurations (7,371 in MCUNet's
space: 9² + 9³ + 9⁴) are then sums of rows, and each sub-space is a :class:`ResolutionTables` with one state per
boundary (the widths are fixed by the multiplier) on which :func:`atomnet.search._exact.descending` runs.
Sub-spaces are merged lazily by their exact bound: one whose best possible MACs cannot beat the confirmed
winner is never walked.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from atomnet.boards import Board
from atomnet.cost import SEG_FLASH, SEG_LATENCY, SEG_MACS, SEG_SRAM, CostReport, LatencyModel, Pricer, cost_model
from atomnet.search._combine import Limits
from atomnet.search._exact import descending
from atomnet.search._exact_pareto import relaxed_best, relaxed_sets
from atomnet.search._run import meets
from atomnet.search._space import BlockSpace
from atomnet.search._tables import FLASH, MACS, SRAM, FloatArray, ResolutionTables, StageTable
from atomnet.spec import BlockSpec, HeadSpec, ModelSpec, StageSpec

Arch = tuple[tuple[int, ...], ...]  # per stage: the option index of each block (its length = the depth)


def block_spec(space: BlockSpace, wm: int, res: int, arch: Arch, name: str = "") -> ModelSpec:
    """The network of one architecture: stem, first block, then per stage one block per option index."""
    stem, first, widths = space.widths(wm)
    act = space.act
    stages = [StageSpec((BlockSpec("conv", stem, 2, 3, 1, False, act),)),
              StageSpec((BlockSpec("mbconv", first, 1, 3, 1, False, act, mid_channels=stem, residual=False),))]
    c_in = first
    for st, w, opts in zip(space.stages, widths, arch, strict=True):
        blocks = []
        for j, o in enumerate(opts):
            opt = st.options[o]
            stride = st.stride if j == 0 else 1
            blocks.append(BlockSpec(opt.block, w, stride, opt.kernel, opt.expand, opt.se, act,
                                    mid_channels=round(c_in * opt.expand), residual=stride == 1 and c_in == w))
            c_in = w
        stages.append(StageSpec(tuple(blocks)))
    r = space.resolutions[res]
    label = "-".join("".join(str(o) for o in s) for s in arch)
    return ModelSpec(name or f"{space.name}-w{space.width_multipliers[wm]:g}-r{r}-{label}", (r, r), space.num_classes,
                     tuple(stages), HeadSpec())


def _rows(space: BlockSpace, pricer: Pricer, wm: int, res: int
          ) -> tuple[FloatArray, list[FloatArray], list[FloatArray]]:
    """(fixed part (4,), per stage first-block rows (n_opt, 4), per stage later-block rows (n_opt, 4)); columns
    (latency, Flash, SRAM bound, MACs) as in the stage tables."""
    n_opt = len(space.stages[0].options)
    first = [np.zeros((len(s.options), 4)) for s in space.stages]
    later = [np.zeros((len(s.options), 4)) for s in space.stages]
    fixed = np.zeros(4)
    for o in range(n_opt):
        arch = tuple((o,) * min(2, max(s.depths)) for s in space.stages)
        spec = block_spec(space, wm, res, arch)
        arr = pricer.price_spec(spec)
        n_st = len(spec.stages)
        sites = [(s.stage, s.index) for s in spec.iter_blocks()] + [(n_st, 0)]
        pos = {site: k for k, site in enumerate(sites)}
        lat_seg = np.array([pos[(s, b if s < n_st else 0)] for s, b in zip(arr.lat_stage, arr.lat_block, strict=True)])
        mem_seg = np.array([pos[(s, b if s < n_st else 0)] for s, b in zip(arr.stage, arr.block, strict=True)])
        seg = arr.segments(lat_seg, mem_seg, len(sites), pricer.planner)
        cols = seg[:, [SEG_LATENCY, SEG_FLASH, SEG_SRAM, SEG_MACS]]
        if o == 0:  # stem, first block and head: the same in every option's network
            fix = cols[[0, 1, len(sites) - 1]]
            fixed = np.array([fix[:, 0].sum(), fix[:, 1].sum(), fix[:, 2].max(), fix[:, 3].sum()])
        k = 2
        for i in range(len(space.stages)):
            first[i][o] = cols[k]
            if len(arch[i]) > 1:
                later[i][o] = cols[k + 1]
            k += len(arch[i])
    return fixed, first, later


def _configs(stage_depths: tuple[int, ...], n_opt: int) -> list[tuple[int, ...]]:
    return [c for d in stage_depths for c in itertools.product(range(n_opt), repeat=d)]


def _stage_table(first: FloatArray, later: FloatArray, depths: tuple[int, ...]) -> StageTable:
    """All configurations of a stage, in the order of :func:`_configs` (depth, then options lexicographically):
    latency, Flash and MACs add over the blocks, the SRAM bound is their maximum."""
    parts = []
    for d in depths:
        acc = first.copy()
        for _ in range(d - 1):
            new = acc[:, None, :] + later[None, :, :]
            new[..., SRAM] = np.maximum(acc[:, None, SRAM], later[None, :, SRAM])
            acc = new.reshape(-1, 4)
        parts.append(acc)
    cost = np.concatenate(parts)
    return StageTable(cost[None], np.zeros(len(cost), dtype=np.int64))


@dataclass(frozen=True)
class BlockSearch:
    """The winner of a per-block space (``spec`` None when nothing fits) with its full cost and the work done."""

    space: str
    spec: ModelSpec | None
    cost: CostReport | None
    arch: Arch | None
    wm_index: int | None
    res_index: int | None
    table_macs: float | None  # the winner's table MACs (= its full-cost MACs)
    confirmed_after: int
    subspaces_walked: int
    table_seconds: float
    search_seconds: float


def tables_for(space: BlockSpace, lm: LatencyModel, runtime: str, wm: int, res: int
               ) -> tuple[ResolutionTables, list[list[tuple[int, ...]]]]:
    """One sub-space's tables: stage 0 is the fixed part (one choice), then one table per stage."""
    pricer = Pricer(runtime, lm)
    fixed, first, later = _rows(space, pricer, wm, res)
    configs = [_configs(s.depths, len(s.options)) for s in space.stages]
    stages = [StageTable(fixed[None, None, :].copy(), np.zeros(1, dtype=np.int64))]
    stages += [_stage_table(first[i], later[i], s.depths) for i, s in enumerate(space.stages)]
    base = np.zeros(4)
    base[FLASH] = pricer.runtime.flash.code_bytes
    return ResolutionTables(space.resolutions[res], tuple(stages), base), configs


def search_block_space(space: BlockSpace, board: Board, lm: LatencyModel, limits: Limits, runtime: str | None = None,
                       max_confirm: int = 2000) -> BlockSearch:
    """The most-MACs architecture of ``space`` meeting ``limits`` with the full cost model, exactly: candidates
    come in decreasing table MACs over all sub-spaces, and the first whose full cost meets the limits wins."""
    rt = runtime or board.runtime
    t0 = time.perf_counter()
    subs = []
    for wm in range(len(space.width_multipliers)):
        for res in range(len(space.resolutions)):
            tables, configs = tables_for(space, lm, rt, wm, res)
            sets = relaxed_sets(tables, limits.latency_ms, limits.flash_bytes, limits.peak_sram_bytes)
            root = relaxed_best(sets[0][0], np.array([limits.latency_ms]), np.array([limits.flash_bytes
                                                                                      - tables.base[FLASH]]))[0]
            if np.isfinite(root):
                subs.append((min(float(root), limits.max_macs), wm, res, tables, configs, sets))
    t1 = time.perf_counter()
    # lazy merge: an entry is (-key, order, sub-space, its generator or None, the candidate it yielded)
    heap: list[tuple[float, int, int, Iterator[tuple[tuple[int, ...], FloatArray]] | None, object]] = []
    for n, (bound, *_rest) in enumerate(subs):
        heap.append((-bound, n, n, None, None))
    heapq.heapify(heap)
    order, checked, walked = len(subs), 0, 0
    while heap and checked < max_confirm:
        _, _, n, gen, cand = heapq.heappop(heap)
        _, wm, res, tables, configs, sets = subs[n]
        if gen is None:
            walked += 1
            gen = descending(tables, limits, relaxed=sets)
        elif cand is not None:
            choices: tuple[int, ...] = cand[0]  # type: ignore[index]
            acc: FloatArray = cand[1]  # type: ignore[index]
            checked += 1
            arch = tuple(configs[i][c] for i, c in enumerate(choices[1:]))
            spec = block_spec(space, wm, res, arch)
            rep = cost_model(spec, board, runtime=rt, latency_model=lm)
            if meets(rep, limits):
                return BlockSearch(space.name, spec, rep, arch, wm, res, float(acc[MACS]), checked, walked,
                                   t1 - t0, time.perf_counter() - t1)
        nxt = next(gen, None)
        if nxt is not None:
            order += 1
            heapq.heappush(heap, (-float(nxt[1][MACS]), order, n, gen, nxt))
    return BlockSearch(space.name, None, None, None, None, None, None, checked, walked, t1 - t0,
                       time.perf_counter() - t1)
