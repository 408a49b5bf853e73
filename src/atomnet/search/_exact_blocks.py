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

import functools
import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from atomnet.boards import Board
from atomnet.cost import (
    SEG_FLASH,
    SEG_LATENCY,
    SEG_MACS,
    SEG_SRAM,
    CostReport,
    LatencyModel,
    LayerArrays,
    Planner,
    Pricer,
    cost_model,
)
from atomnet.search._combine import Limits
from atomnet.search._exact_knapsack import WalkStats, ordered_architectures
from atomnet.search._records import Metrics
from atomnet.search._run import SearchOutcome, meets
from atomnet.search._space import BlockSpace
from atomnet.search._tables import FLASH, MACS, SRAM, FloatArray, IntArray, ResolutionTables, StageTable
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
            mid = round(c_in * opt.expand) if opt.block == "mbconv" else None  # MCUNet's explicit expansion
            blocks.append(BlockSpec(opt.block, w, stride, opt.kernel, opt.expand, opt.se, act,
                                    mid_channels=mid, residual=stride == 1 and c_in == w))
            c_in = w
        stages.append(StageSpec(tuple(blocks)))
    r = space.resolutions[res]
    label = "-".join("".join(str(o) for o in s) for s in arch)
    return ModelSpec(name or f"{space.name}-w{space.width_multipliers[wm]:g}-r{r}-{label}", (r, r), space.num_classes,
                     tuple(stages), HeadSpec())


#: columns of the block rows after (latency, Flash, SRAM bound, MACs): the additive part of the SRAM bound, then
#: its peak parts (the largest live arena, then the planner's extra buffers per kind where they are a sum of
#: per-kind maxima, e.g. TinyEngine's two scratch kinds), each maxed over the network on its own
ADD = 4
PEAKS = slice(5, 5 + 3)
N_COLS = 8
#: TFLM's tail of a run of layers alone overstates its share of a whole model's tail by at most the alignment
#: of the run's few allocations, the option bytes' phase (< 8 per layer) and the shared constants it counts
#: again (module doc of ``atomnet.tflm._parts``): this many bytes per segment, plus _TAIL_SLACK_PER_LAYER per
#: layer, keep the additive share a lower bound (checked against the planner in tests/test_search_exact_blocks.py)
_TAIL_SLACK = 64
_TAIL_SLACK_PER_LAYER = 8


def _sram_parts(arr: LayerArrays, mem_seg: IntArray, seg_sram: FloatArray, planner: Planner
                ) -> tuple[FloatArray, FloatArray]:
    """Per segment, (additive part, peak parts (n, 3)) of a lower bound of the planner's peak; a network's bound
    is the sum over peak columns of their maximum over segments plus the sum of the additive parts.

    Additive: the runtime's per-layer RAM where the planner's extra bytes are a sum (X-CUBE-AI's contexts) and a
    lower bound of each run's share of TFLM's persistent tail. Peak: the largest live arena (with the planner's
    constant extra bytes), and where the extra bytes are a sum of per-kind maxima (TinyEngine) one column per
    kind. Both structures are checked on this network (:meth:`Planner.extra_bytes` of the parts against the
    whole); where neither holds the extras stay in the first peak column (the segment bound, still valid)."""
    mem = arr.memory
    n = len(seg_sram)
    add = np.zeros(n)
    peaks = np.zeros((n, 3))
    base = float(planner.extra_bytes([]))
    layers = [[mem.extra_bytes[i] for i in np.flatnonzero(mem_seg == s)] for s in range(n)]
    seg_extra = np.array([planner.extra_bytes(x) - base for x in layers], dtype=np.float64)
    total = planner.extra_bytes(list(mem.extra_bytes)) - base
    width = max((len(e) for e in mem.extra_bytes), default=0)
    if n and total > 0 and abs(total - seg_extra.sum()) < 0.5 and seg_extra.min() >= 0:
        add += seg_extra  # a sum over layers
        peaks[:, 0] = seg_sram - seg_extra
    elif n and total > 0 and 1 <= width <= 2:
        comps = np.array([[planner.extra_bytes([tuple(v if i == j else 0 for i, v in enumerate(e)) for e in x]) - base
                           for j in range(width)] for x in layers], dtype=np.float64).reshape(n, width)
        if np.allclose(comps.sum(axis=1), seg_extra) and abs(comps.max(axis=0).sum() - total) < 0.5:
            peaks[:, 1: 1 + width] = comps  # a sum of per-kind maxima
            peaks[:, 0] = seg_sram - seg_extra
        else:
            peaks[:, 0] = seg_sram
    else:
        peaks[:, 0] = seg_sram
    parts = planner.persistent_parts(arr.graph_mem)
    if parts is not None:
        one = np.zeros(1, dtype=np.int64)
        t0 = float(planner.persistent_of_parts(planner.combine_parts(parts[:0])[None, :], one)[0][0])
        count = np.bincount(mem_seg[mem_seg >= 0], minlength=n)
        for s in range(n):
            alone = float(planner.persistent_of_parts(planner.combine_parts(parts[mem_seg == s])[None, :], one)[0][0])
            add[s] += max(0.0, alone - t0 - _TAIL_SLACK - _TAIL_SLACK_PER_LAYER * float(count[s]))
        add[0] += t0  # the tail of an empty model, once (segment 0: the stem, in every network)
    return add, peaks


def _rows(space: BlockSpace, pricer: Pricer, wm: int, res: int
          ) -> tuple[FloatArray, list[FloatArray], list[FloatArray]]:
    """(fixed part (8,), per stage first-block rows (n_opt, 8), per stage later-block rows (n_opt, 8)); columns
    (latency, Flash, SRAM bound, MACs, additive SRAM part, three peak parts): a row's SRAM bound is the sum of
    its parts; a network's is the sum over peak columns of their maxima plus the sum of the additive parts (the
    fixed part's additive part holds the runtime's constant RAM)."""
    n_opt = max(len(s.options) for s in space.stages)
    first = [np.zeros((len(s.options), N_COLS)) for s in space.stages]
    later = [np.zeros((len(s.options), N_COLS)) for s in space.stages]
    fixed = np.zeros(N_COLS)
    for o in range(n_opt):
        arch = tuple((min(o, len(s.options) - 1),) * min(2, max(s.depths)) for s in space.stages)
        spec = block_spec(space, wm, res, arch)
        arr = pricer.price_spec(spec)
        n_st = len(spec.stages)
        sites = [(s.stage, s.index) for s in spec.iter_blocks()] + [(n_st, 0)]
        pos = {site: k for k, site in enumerate(sites)}
        lat_seg = np.array([pos[(s, b if s < n_st else 0)] for s, b in zip(arr.lat_stage, arr.lat_block, strict=True)])
        mem_seg = np.array([pos[(s, b if s < n_st else 0)] for s, b in zip(arr.stage, arr.block, strict=True)],
                           dtype=np.int64)
        seg = arr.segments(lat_seg, mem_seg, len(sites), pricer.planner)
        add, peaks = _sram_parts(arr, mem_seg, seg[:, SEG_SRAM], pricer.planner)
        cols = np.concatenate([seg[:, [SEG_LATENCY, SEG_FLASH, SEG_SRAM, SEG_MACS]], add[:, None], peaks], axis=1)
        cols[:, SRAM] = peaks.sum(axis=1) + add
        if o == 0:  # stem, first block and head: the same in every option's network
            fix = cols[[0, 1, len(sites) - 1]]
            fixed = np.concatenate([[fix[:, 0].sum(), fix[:, 1].sum(), 0.0, fix[:, 3].sum(),
                                     fix[:, ADD].sum() + pricer.runtime.ram_overhead_bytes], fix[:, PEAKS].max(axis=0)])
            fixed[SRAM] = fixed[PEAKS].sum() + fixed[ADD]
        k = 2
        for i in range(len(space.stages)):
            if o < len(space.stages[i].options):
                first[i][o] = cols[k]
                if len(arch[i]) > 1:
                    later[i][o] = cols[k + 1]
            k += len(arch[i])
    return fixed, first, later


def _configs(stage_depths: tuple[int, ...], n_opt: int) -> list[tuple[int, ...]]:
    return list(_configs_cached(tuple(stage_depths), n_opt))


@functools.lru_cache(maxsize=64)
def _configs_cached(stage_depths: tuple[int, ...], n_opt: int) -> tuple[tuple[int, ...], ...]:
    return tuple(c for d in stage_depths for c in itertools.product(range(n_opt), repeat=d))


@functools.lru_cache(maxsize=64)
def _conf_array(n_opt: int, d: int) -> IntArray:
    """The configurations of depth ``d`` as rows of option indices (lexicographic), later blocks sorted."""
    conf = np.array(list(itertools.product(range(n_opt), repeat=d)), dtype=np.int64).reshape(-1, d)
    conf[:, 1:] = np.sort(conf[:, 1:], axis=1)
    conf.setflags(write=False)
    return conf


def _stage_table(first: FloatArray, later: FloatArray, depths: tuple[int, ...]
                 ) -> tuple[StageTable, FloatArray, FloatArray]:
    """All configurations of a stage, in the order of :func:`_configs` (depth, then options lexicographically),
    with their additive and peak SRAM parts: latency, Flash, MACs and the additive part add over the blocks, each
    peak part is their maximum (the SRAM column: the sum of the parts). The later blocks are summed in ascending
    option order, so the permutations of a stage's later blocks (the same blocks at the same shapes) get
    bit-identical rows and the exact walk treats them as one class."""
    parts = []
    n_opt = len(first)
    for d in depths:
        conf = _conf_array(n_opt, d)
        acc = first[conf[:, 0]].copy()
        rest = conf[:, 1:]
        for j in range(d - 1):
            row = later[rest[:, j]]
            peak = np.maximum(acc[:, PEAKS], row[:, PEAKS])
            acc += row
            acc[:, PEAKS] = peak
        acc[:, SRAM] = acc[:, PEAKS].sum(axis=1) + acc[:, ADD]
        parts.append(acc)
    cost = np.concatenate(parts)
    return (StageTable(np.ascontiguousarray(cost[None, :, :4]), np.zeros(len(cost), dtype=np.int64)),
            cost[:, ADD].copy(), np.ascontiguousarray(cost[:, PEAKS]))


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
    nodes: int = 0  # branch-and-bound nodes expanded in the last round

    @property
    def seconds(self) -> float:
        return self.table_seconds + self.search_seconds


@dataclass(frozen=True)
class BlockTables:
    """One sub-space's tables (stage 0 the fixed part, one choice), the configurations of each stage (block
    option indices, in table order) and each row's additive SRAM part (a network's SRAM bound: the largest
    ``SRAM - add`` of its rows plus the sum of their ``add``)."""

    tables: ResolutionTables
    configs: list[list[tuple[int, ...]]]
    sram_add: tuple[FloatArray, ...]  # per table stage, shape (n_choice,)
    sram_peaks: tuple[FloatArray, ...]  # per table stage, shape (n_choice, 3)

    def sram_bound(self, choices: IntArray) -> FloatArray:
        """The SRAM lower bound of architectures given as choice indices (m, n_stages): the sum over peak columns
        of their maxima over stages plus the sum of the additive parts."""
        choices = np.asarray(choices, dtype=np.int64)
        peak = np.zeros((len(choices), 3))
        tot = np.zeros(len(choices))
        for i, (a, p) in enumerate(zip(self.sram_add, self.sram_peaks, strict=True)):
            peak = np.maximum(peak, p[choices[:, i]])
            tot += a[choices[:, i]]
        out: FloatArray = peak.sum(axis=1) + tot
        return out


def block_tables(space: BlockSpace, lm: LatencyModel, runtime: str, wm: int, res: int) -> BlockTables:
    """One sub-space's :class:`BlockTables`: nine pricings (one per option) give every block's rows."""
    pricer = Pricer(runtime, lm)
    fixed, first, later = _rows(space, pricer, wm, res)
    configs = [_configs(s.depths, len(s.options)) for s in space.stages]
    stages = [StageTable(fixed[None, None, :4].copy(), np.zeros(1, dtype=np.int64))]
    adds = [np.array([fixed[ADD]])]
    peaks = [fixed[None, PEAKS].copy()]
    for i, s in enumerate(space.stages):
        st, ad, pk = _stage_table(first[i], later[i], s.depths)
        stages.append(st)
        adds.append(ad)
        peaks.append(pk)
    base = np.zeros(4)
    base[FLASH] = pricer.runtime.flash.code_bytes
    return BlockTables(ResolutionTables(space.resolutions[res], tuple(stages), base), configs, tuple(adds),
                       tuple(peaks))


def tables_for(space: BlockSpace, lm: LatencyModel, runtime: str, wm: int, res: int
               ) -> tuple[ResolutionTables, list[list[tuple[int, ...]]]]:
    """One sub-space's tables: stage 0 is the fixed part (one choice), then one table per stage. Their SRAM
    column is a lower bound of the planner's peak as a maximum over stages (tighter with
    :meth:`BlockTables.sram_bound`)."""
    bt = block_tables(space, lm, runtime, wm, res)
    return bt.tables, bt.configs


def search_block_space(space: BlockSpace, board: Board, lm: LatencyModel, limits: Limits, runtime: str | None = None,
                       max_confirm: int = 2000, subspaces: Sequence[tuple[int, int]] | None = None,
                       k: int = 16) -> BlockSearch:
    """The most-MACs architecture of ``space`` meeting ``limits`` with the full cost model, exactly: candidates
    come from :func:`atomnet.search._exact_knapsack.ordered_architectures` in its total order (most table MACs,
    lowest latency, lowest Flash, sub-space (width multiplier, resolution) index, configuration indices), and
    the first whose full cost (the planner's peak SRAM) meets the limits wins. ``subspaces`` restricts the
    search to those (width multiplier index, resolution index) pairs (default: all)."""
    rt = runtime or board.runtime
    t0 = time.perf_counter()
    pairs = list(subspaces) if subspaces is not None else [
        (w, r) for w in range(len(space.width_multipliers)) for r in range(len(space.resolutions))]
    built = [block_tables(space, lm, rt, w, r) for w, r in pairs]
    t1 = time.perf_counter()
    stats: list[WalkStats] = []
    checked = 0
    for cand in ordered_architectures([b.tables for b in built], limits, k=k, stats=stats,
                                      sram_add=[b.sram_add for b in built], sram_peaks=[b.sram_peaks for b in built]):
        if checked >= max_confirm:
            break
        checked += 1
        wm, res = pairs[cand.sub]
        configs = built[cand.sub].configs
        arch = tuple(configs[i][c] for i, c in enumerate(cand.choices[1:]))
        spec = block_spec(space, wm, res, arch)
        rep = cost_model(spec, board, runtime=rt, latency_model=lm)
        if meets(rep, limits):
            return BlockSearch(space.name, spec, rep, arch, wm, res, cand.figures[MACS], checked,
                               max(st.walked for st in stats), t1 - t0, time.perf_counter() - t1,
                               sum(st.nodes for st in stats))
    return BlockSearch(space.name, None, None, None, None, None, None, checked,
                       max((st.walked for st in stats), default=0), t1 - t0, time.perf_counter() - t1,
                       sum(st.nodes for st in stats))


def exact_block_search(space: BlockSpace, board: Board, runtime: str | None, latency_model: LatencyModel,
                       limits: Limits, **options: object) -> BlockSearch:
    """:func:`search_block_space` with the argument order of the other helpers' comparisons."""
    return search_block_space(space, board, latency_model, limits, runtime, **options)  # type: ignore[arg-type]


def _minima(built: Sequence[BlockTables]) -> Metrics:
    """The smallest latency, Flash and SRAM bound any architecture reaches (each on its own) and the fewest MACs."""
    best = np.full(4, np.inf)
    for b in built:
        t = b.tables
        mins = np.array([s.cost[0].min(axis=0) for s in t.stages])
        peak = float(np.max([p.min(axis=0) for p in b.sram_peaks], axis=0).sum())
        add = sum(float(a.min()) for a in b.sram_add)
        row = np.array([mins[:, 0].sum() + t.base[0], mins[:, 1].sum() + t.base[1], peak + add,
                        mins[:, 3].sum() + t.base[3]])
        best = np.minimum(best, row)
    return Metrics(*(float(v) for v in best))


def run_block_search(space: BlockSpace, board: Board, lm: LatencyModel, limits: Limits, *,
                     runtime: str | None = None, max_confirm: int = 2000) -> SearchOutcome:
    """``atomnet search --strategy exact`` on a per-block space: :func:`search_block_space` as a
    :class:`~atomnet.search.SearchOutcome` (the winner's spec and full cost report; ``stage_config`` None: a
    per-block architecture is not a stage configuration; ``evaluated`` the space's size, decided exactly)."""
    rt = runtime or board.runtime
    t0 = time.perf_counter()
    res = search_block_space(space, board, lm, limits, rt, max_confirm=max_confirm)
    reason = None
    mins = None
    if res.spec is None:
        built = [block_tables(space, lm, rt, w, r) for w in range(len(space.width_multipliers))
                 for r in range(len(space.resolutions))]
        mins = _minima(built)
        kb = 1024.0
        smallest = (f"The smallest any architecture reaches: latency {mins.latency_ms:.1f} ms, Flash "
                    f"{mins.flash_bytes / kb:.0f} KB, peak SRAM {mins.peak_sram_bytes / kb:.0f} KB (each on its own, "
                    "SRAM a lower bound).")
        reason = (f"none of the {res.confirmed_after:,} best architectures on the tables met the full cost model's "
                  f"limits (stopped at max_confirm={max_confirm}: no optimum claimed). " if res.confirmed_after
                  else "no architecture of the space meets the limits (on the tables). ") + smallest
    return SearchOutcome(space.name, "exact", board.name, rt, limits, None, res.spec, None, res.cost, space.size(),
                         res.confirmed_after, res.confirmed_after, res.table_seconds, res.search_seconds,
                         time.perf_counter() - t0, mins, None, space.num_classes, reason, {})
