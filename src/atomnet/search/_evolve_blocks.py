"""Regularized evolution over a per-block space (``mcunet``): genome = (width multiplier, resolution, per stage
a depth and one option per block).

The evaluator is the block tables of :func:`atomnet.search._exact_blocks.block_tables` (cached per (width
multiplier, resolution) sub-space): an architecture's latency, Flash and MACs are sums of its stages' table rows
and its SRAM the tables' bound (a lower bound of the planner's peak), so an evaluation is a handful of look-ups.
The rules are those of :class:`atomnet.search.Evolution` (:mod:`atomnet.search._evolve`): ``evaluations``
counts distinct architectures (a repeat is answered from the cache and breeds another child instead of a
clone), an infeasible candidate scores ``MACs · (1 − penalty · violation)``, the tournament grows from
``sample_size`` to ``final_sample_size``, a child differs in one gene plus one more with probability
``extra_mutation`` (repeatedly). A gene is the width multiplier or the resolution (a step to the neighbouring
value), a stage's depth (a block copied or dropped) or a block's option (one attribute moved, to its next value
with probability ``local_moves``). The table-feasible candidates are confirmed with the full cost model in
decreasing MACs, as the other strategies' winners are.

>>> from atomnet.search import get_block_space
>>> space = get_block_space("mcunet")
>>> genes(space, (4, 6, ((0, 1), (2, 2, 2), (0, 0), (1, 1), (3, 3), (8,))))
20
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from atomnet.boards import Board
from atomnet.cost import CostReport, LatencyModel, cost_model
from atomnet.search._combine import Limits
from atomnet.search._exact_blocks import Arch, block_spec, block_tables
from atomnet.search._records import Metrics
from atomnet.search._run import meets
from atomnet.search._space import BlockSpace
from atomnet.search._tables import FLASH, LAT, MACS, SRAM, FloatArray
from atomnet.spec import ModelSpec

Genome = tuple[int, int, Arch]  # (width multiplier index, resolution index, per stage the option of each block)


def genes(space: BlockSpace, genome: Genome) -> int:
    """Number of genes of ``genome``: width multiplier, resolution, one depth per stage, one option per block."""
    return 2 + len(space.stages) + sum(len(s) for s in genome[2])


@dataclass(frozen=True)
class BlockCandidate:
    """One evaluated architecture with its table figures and score (``fitness`` = MACs when feasible, else minus
    the violation, as :class:`atomnet.search.Candidate`)."""

    genome: Genome
    metrics: Metrics
    feasible: bool
    fitness: float


@dataclass(frozen=True)
class BlockEvolution:
    """The result: the winner (``spec`` and ``cost`` None when none was confirmed) and the work done."""

    space: str
    spec: ModelSpec | None
    cost: CostReport | None
    best: BlockCandidate | None  # the winner (its SRAM the planner's when confirmed)
    evaluated: int
    feasible: int  # candidates meeting the limits (by the table figures, or the planner's where confirmed)
    confirmations: int  # full cost-model runs
    seconds: float


class BlockEvaluator:
    """The evaluator: block tables per sub-space (:func:`atomnet.search._exact_blocks.block_tables`, built on
    first use) and the configuration index of a stage.

    The tables' SRAM (the largest peak part of the rows plus their additive parts) is a lower bound of the
    planner's peak. Per sub-space the remaining gap is measured on two networks (every stage at its smallest and
    at its largest depth, option 0) with the full cost model and added as a line in the number of blocks (zero
    on X-CUBE-AI, where the bound is the planner's peak on the networks tested): a guide for the search only —
    every winner is still confirmed with the full model."""

    def __init__(self, space: BlockSpace, board: Board, lm: LatencyModel, runtime: str) -> None:
        self.space, self.board, self.lm, self.runtime = space, board, lm, runtime
        self._tables: dict[tuple[int, int], tuple[FloatArray, list[FloatArray], list[FloatArray], float, float]] = {}
        self._offsets = []
        for s in space.stages:
            n, off, acc = len(s.options), {}, 0
            for d in s.depths:  # the order of _exact_blocks._configs: by depth as listed, then lexicographic
                off[d] = acc
                acc += n ** d
            self._offsets.append(off)

    def _get(self, wm: int, res: int) -> tuple[FloatArray, list[FloatArray], list[FloatArray], float, float]:
        hit = self._tables.get((wm, res))
        if hit is None:
            bt = block_tables(self.space, self.lm, self.runtime, wm, res)
            t = bt.tables
            base = t.base.astype(np.float64) + t.stages[0].cost[0, 0]
            base[SRAM] = t.stages[0].cost[0, 0, SRAM]
            stages = [s.cost[0] for s in t.stages[1:]]
            adds = [np.asarray(a, dtype=np.float64) for a in bt.sram_add]
            hit = base, stages, adds, 0.0, 0.0
            gaps = []
            for pick in (min, max):
                arch = tuple((0,) * pick(s.depths) for s in self.space.stages)
                rep = cost_model(block_spec(self.space, wm, res, arch), self.board, runtime=self.runtime,
                                 latency_model=self.lm)
                gaps.append((sum(len(a) for a in arch), rep.peak_sram_bytes - self._sram(hit, arch)))
            (n0, g0), (n1, g1) = gaps
            slope = (g1 - g0) / (n1 - n0) if n1 > n0 else 0.0
            hit = base, stages, adds, g0 - slope * n0, slope
            self._tables[(wm, res)] = hit
        return hit

    def _sram(self, hit: tuple[FloatArray, list[FloatArray], list[FloatArray], float, float], arch: Arch) -> float:
        """The tables' bound (the largest peak part plus the additive parts) plus the gap line."""
        base, stages, adds, g0, slope = hit
        peak, tot = base[SRAM] - adds[0][0], adds[0][0]
        for i, opts in enumerate(arch):
            c = self.index(i, opts)
            a = adds[i + 1][c]
            peak, tot = max(peak, stages[i][c][SRAM] - a), tot + a
        return float(peak + tot + max(0.0, g0 + slope * sum(len(a) for a in arch)))

    def index(self, stage: int, opts: tuple[int, ...]) -> int:
        n = len(self.space.stages[stage].options)
        i = 0
        for o in opts:
            i = i * n + o
        return self._offsets[stage][len(opts)] + i

    def metrics(self, genome: Genome) -> Metrics:
        """Table figures of one architecture (summed in stage order, as the stage tables' own evaluation); the
        SRAM: the block tables' bound (:meth:`atomnet.search._exact_blocks.BlockTables.sram_bound`) plus the
        measured gap line."""
        wm, res, arch = genome
        hit = self._get(wm, res)
        base, stages = hit[0], hit[1]
        lat, flash, macs = base[LAT], base[FLASH], base[MACS]
        for i, opts in enumerate(arch):
            r = stages[i][self.index(i, opts)]
            lat, flash, macs = lat + r[LAT], flash + r[FLASH], macs + r[MACS]
        return Metrics(float(lat), float(flash), self._sram(hit, arch), float(macs))


def _option_neighbours(space: BlockSpace, stage: int, adjacent: bool) -> list[list[int]]:
    """Per option of the stage: the options differing in exactly one attribute (with ``adjacent``, a numeric
    attribute only moves to the next smaller or larger value); every other option where none does."""
    opts = space.stages[stage].options
    attrs = [(o.block, o.kernel, o.expand, o.se) for o in opts]
    values = [sorted({a[k] for a in attrs}, key=str) for k in range(4)]
    values[1], values[2] = sorted({a[1] for a in attrs}), sorted({a[2] for a in attrs})
    out = []
    for a in attrs:
        hits = []
        for j, b in enumerate(attrs):
            diff = [k for k in range(4) if a[k] != b[k]]
            if len(diff) == 1:
                k = diff[0]
                if adjacent and k in (1, 2) and abs(values[k].index(a[k]) - values[k].index(b[k])) != 1:
                    continue
                hits.append(j)
        out.append(hits or [j for j in range(len(attrs)) if attrs[j] != a])  # no grid: any other option
    return out


def _directed(space: BlockSpace, adjacent: list[list[list[int]]], sign: int) -> list[list[list[int]]]:
    """Per stage and option: its adjacent options with a larger (``sign`` 1) or smaller (-1) kernel or expand."""
    out = []
    for st, per in zip(space.stages, adjacent, strict=True):
        key = [o.kernel + o.expand for o in st.options]
        out.append([[b for b in nbs if (key[b] - key[a]) * sign > 0] for a, nbs in enumerate(per)])
    return out


@dataclass(frozen=True)
class EvolveOptions:
    """Hyper-parameters: those of :class:`atomnet.search.Evolution` where one applies; the others serve the
    sub-space structure (``diagonal``: probability that a width step comes with the opposite resolution step
    or the converse; ``niche``: probability, decaying to 0 at ``niche_until`` of the run, that the tournament is
    held inside one sub-space present in the population; ``rescale``: probability that a width or resolution
    step lightens (or enriches) each block with probability ``rescale_blocks``; ``swap``: probability of a move
    that makes one block richer and another lighter). The defaults were chosen on seeds 0-9 of
    ``benchmarks/bench_evolution.py --space mcunet`` (seeds 10-19 held out)."""

    population: int = 100
    sample_size: int = 5
    final_sample_size: int = 50
    penalty: float = 2.0
    extra_mutation: float = 0.3
    local_moves: float = 0.8
    diagonal: float = 0.5
    niche: float = 0.5
    niche_until: float = 0.7
    rescale: float = 0.0
    rescale_blocks: float = 0.3
    swap: float = 0.0


class _Evolver:
    def __init__(self, space: BlockSpace, tables: BlockEvaluator, limits: Limits, evaluations: int, seed: int,
                 opts: EvolveOptions, confirm: Callable[[Genome], tuple[ModelSpec, CostReport]] | None) -> None:
        self.space, self.tables, self.limits, self.opts, self.confirm = space, tables, limits, opts, confirm
        self.winner: tuple[BlockCandidate, ModelSpec, CostReport] | None = None
        self.confirmations = 0
        self.rng = np.random.default_rng(seed)
        self.left = evaluations
        self.seen: dict[Genome, BlockCandidate] = {}
        self.history: list[BlockCandidate] = []
        self.nb = [[_option_neighbours(space, i, a) for i in range(len(space.stages))] for a in (False, True)]
        self.lighter, self.richer = _directed(space, self.nb[1], -1), _directed(space, self.nb[1], 1)

    def evaluate(self, g: Genome) -> BlockCandidate | None:
        """The candidate of ``g``: from the cache, else evaluated while the budget lasts, else None."""
        hit = self.seen.get(g)
        if hit is not None or self.left <= 0:
            return hit
        self.left -= 1
        m = self.tables.metrics(g)
        ok = m.within(self.limits)
        if ok and self.confirm is not None and (self.winner is None or m.macs > self.winner[0].fitness):
            # it would be the new best: its peak SRAM from the planner (the tables give a lower bound)
            self.confirmations += 1
            spec, rep = self.confirm(g)
            ok = meets(rep, self.limits)
            m = Metrics(m.latency_ms, m.flash_bytes, float(rep.peak_sram_bytes), m.macs)
            if ok:
                self.winner = BlockCandidate(g, m, True, m.macs), spec, rep
        cand = BlockCandidate(g, m, ok, m.macs if ok else -m.violation(self.limits))
        self.seen[g] = cand
        self.history.append(cand)
        return cand

    def score(self, c: BlockCandidate) -> float:
        return c.fitness if c.feasible else c.metrics.macs * max(0.0, 1.0 - self.opts.penalty * -c.fitness)

    def sample(self) -> Genome:
        rng, sp = self.rng, self.space
        arch = []
        for s in sp.stages:
            d = s.depths[int(rng.integers(0, len(s.depths)))]
            arch.append(tuple(int(v) for v in rng.integers(0, len(s.options), d)))
        return (int(rng.integers(0, len(sp.width_multipliers))), int(rng.integers(0, len(sp.resolutions))),
                tuple(arch))

    def mutate(self, g: Genome) -> Genome:
        rng, sp = self.rng, self.space
        wm, res, arch0 = g
        arch = [list(s) for s in arch0]
        if self.opts.swap > 0 and rng.random() < self.opts.swap:
            self._swap(arch)
            return wm, res, tuple(tuple(s) for s in arch)
        n_st = len(sp.stages)
        n_genes = genes(sp, g)
        n_mut = 1
        while n_mut < n_genes and rng.random() < self.opts.extra_mutation:
            n_mut += 1
        sites = [("wm", 0, 0), ("res", 0, 0)] + [("depth", i, 0) for i in range(n_st)] + \
            [("opt", i, j) for i in range(n_st) for j in range(len(arch[i]))]
        for k in rng.choice(len(sites), size=n_mut, replace=False):
            kind, i, j = sites[int(k)]
            step = 1 if rng.random() < 0.5 else -1
            if kind in ("wm", "res"):
                # a step of one; with probability ``diagonal`` the other one steps back (narrower but larger
                # input, or the converse): MACs and latency stay near, so a lineage can cross to another sub-space
                back = -step if rng.random() < self.opts.diagonal else 0
                dw, dr = (step, back) if kind == "wm" else (back, step)
                wm = min(max(wm + dw, 0), len(sp.width_multipliers) - 1)
                res = min(max(res + dr, 0), len(sp.resolutions) - 1)
                if not back and rng.random() < self.opts.rescale:
                    self._rescale(arch, -step)
            elif kind == "depth":
                self._depth(arch[i], i, step)
            elif j < len(arch[i]):  # (an earlier depth move may have dropped the block)
                nb = self.nb[1 if rng.random() < self.opts.local_moves else 0][i][arch[i][j]]
                if nb:
                    arch[i][j] = nb[int(rng.integers(0, len(nb)))]
        return wm, res, tuple(tuple(s) for s in arch)

    def _swap(self, arch: list[list[int]]) -> None:
        """One block one attribute richer and another one lighter: a move along the limits, where the optimum
        lies once a latency or Flash limit binds."""
        sites = [(i, j) for i, blocks in enumerate(arch) for j in range(len(blocks))]
        if len(sites) < 2:
            return
        a, b = self.rng.choice(len(sites), size=2, replace=False)
        for (i, j), nbs in ((sites[int(a)], self.richer), (sites[int(b)], self.lighter)):
            nb = nbs[i][arch[i][j]]
            if nb:
                arch[i][j] = nb[int(self.rng.integers(0, len(nb)))]

    def _rescale(self, arch: list[list[int]], direction: int) -> None:
        """Blocks moved one attribute towards cheaper (``direction`` -1) or richer (+1) options, each with
        probability ``rescale_blocks``: a larger input or width then comes with lighter blocks (and the
        converse), so the child lands near the limits its parent met instead of far beyond them."""
        for i, blocks in enumerate(arch):
            for j, o in enumerate(blocks):
                if self.rng.random() < self.opts.rescale_blocks:
                    nb = self.lighter[i][o] if direction < 0 else self.richer[i][o]
                    if nb:
                        blocks[j] = nb[int(self.rng.integers(0, len(nb)))]

    def _depth(self, blocks: list[int], stage: int, step: int) -> None:
        """A neighbouring depth: a copy of a random block inserted beside it, or a random block dropped."""
        depths = sorted(self.space.stages[stage].depths)
        k = depths.index(len(blocks)) + step
        if not 0 <= k < len(depths):
            return
        while len(blocks) < depths[k]:
            j = int(self.rng.integers(0, len(blocks)))
            blocks.insert(j, blocks[j])
        while len(blocks) > depths[k]:
            blocks.pop(int(self.rng.integers(0, len(blocks))))

    def run(self) -> None:
        pop: deque[BlockCandidate] = deque()
        total = self.left
        for _ in range(min(self.opts.population, total)):
            c = self.evaluate(self.sample())
            if c is not None:
                pop.append(c)
        repeats = 0
        while self.left > 0 and repeats < 10 * total and pop:
            lo, hi = self.opts.sample_size, self.opts.final_sample_size
            k = lo + int((hi - lo) * (total - self.left) / total)
            pool: list[BlockCandidate] | deque[BlockCandidate] = pop
            done = (total - self.left) / total
            niche = self.opts.niche * max(0.0, 1.0 - done / self.opts.niche_until)
            if self.opts.niche > 0 and self.rng.random() < niche:
                # a sub-space's own tournament: lineages of other (width, resolution) pairs keep breeding while
                # they catch up with the leading one (without it, a seed could stay in a neighbouring sub-space)
                subs = sorted({c.genome[:2] for c in pop})
                sub = subs[int(self.rng.integers(0, len(subs)))]
                pool = [c for c in pop if c.genome[:2] == sub]
            picks = self.rng.choice(len(pool), size=min(max(k, 1), len(pool)), replace=False)
            parent = max((pool[int(i)] for i in picks), key=self.score)
            before = self.left
            g = parent.genome
            for _ in range(100):  # a move that changes nothing (a step past the end of a range) is no child
                g = self.mutate(parent.genome)
                if g != parent.genome:
                    break
            child = self.evaluate(g)
            if child is None or self.left == before:
                repeats += 1
                continue
            pop.append(child)
            pop.popleft()


def evolve_blocks(space: BlockSpace, board: Board, runtime: str | None, latency_model: LatencyModel, limits: Limits,
                  evaluations: int = 20_000, seed: int = 0, options: EvolveOptions | None = None,
                  tables: BlockEvaluator | None = None, confirm: bool = True) -> BlockEvolution:
    """Regularized evolution over ``space`` for the most MACs under ``limits`` in ``evaluations`` distinct
    architectures, reproducible per ``seed``. With ``confirm`` (the default) a table-feasible candidate that
    would be the new best is costed with the full cost model at once (its planner peak replaces the table's
    SRAM lower bound; if it fails a limit it ranks as infeasible), so the winner is always confirmed and the
    population learns where the real SRAM limit lies; without, the table figures decide (``cost`` None).
    Pass the same ``tables`` to several runs to price each sub-space once (``benchmarks/bench_evolution.py
    --space mcunet`` runs it on MCUNet's space)."""
    t0 = time.perf_counter()
    rt = runtime or board.runtime
    tab = tables if tables is not None else BlockEvaluator(space, board, latency_model, rt)

    def full(g: Genome) -> tuple[ModelSpec, CostReport]:
        spec = block_spec(space, *g)
        return spec, cost_model(spec, board, runtime=rt, latency_model=latency_model)

    evo = _Evolver(space, tab, limits, evaluations, seed, options or EvolveOptions(), full if confirm else None)
    evo.run()
    n_feas = sum(c.feasible for c in evo.history)
    if confirm:
        spec, rep = (evo.winner[1], evo.winner[2]) if evo.winner else (None, None)
        best = evo.winner[0] if evo.winner else None
    else:
        feas = [c for c in evo.history if c.feasible]
        best = max(feas, key=lambda c: c.fitness) if feas else None
        spec, rep = None, None
    return BlockEvolution(space.name, spec, rep, best, len(evo.history), n_feas, evo.confirmations,
                          time.perf_counter() - t0)
