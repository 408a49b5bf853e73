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
with probability ``local_moves``). At fixed points of the run the leading sub-spaces are re-optimised
(memetic steps, :class:`EvolveOptions`); every architecture they cost counts. The table-feasible candidates
are confirmed with the full cost model in
decreasing MACs, as the other strategies' winners are.

>>> from atomnet.search import get_block_space
>>> space = get_block_space("mcunet")
>>> genes(space, (4, 6, ((0, 1), (2, 2, 2), (0, 0), (1, 1), (3, 3), (8,))))
20
"""

from __future__ import annotations

import contextlib
import dataclasses
import heapq
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from atomnet.boards import Board
from atomnet.cost import CostReport, LatencyModel, cost_model
from atomnet.search._combine import Limits
from atomnet.search._exact_blocks import Arch, _configs, block_spec, block_tables
from atomnet.search._records import Metrics
from atomnet.search._run import SearchOutcome, meets
from atomnet.search._space import BlockSpace
from atomnet.search._tables import FLASH, LAT, MACS, SRAM, FloatArray, IntArray
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
        # per (width multiplier, resolution, stage): its non-dominated configurations (:meth:`_Evolver.front`)
        self.fronts: dict[tuple[int, int, int], tuple[IntArray, FloatArray]] = {}
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

    def base(self, wm: int, res: int) -> FloatArray:
        """The figures outside the stage rows (stem, first block, head) of sub-space (``wm``, ``res``)."""
        return self._get(wm, res)[0]

    def stage_rows(self, wm: int, res: int, stage: int) -> tuple[FloatArray, FloatArray]:
        """A stage's table rows (one per configuration, in table order) and their additive SRAM parts."""
        hit = self._get(wm, res)
        return hit[1][stage], hit[2][stage + 1]

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
    that makes one block richer and another lighter; ``meme``: probability that a child is the best of a
    stage re-chosen among its non-dominated configurations, see :meth:`_Evolver.meme_move`). The memetic
    steps: at each fraction ``polish_at`` of the run, the ``polish_subs`` leading sub-spaces and the first
    ``polish_neighbours`` neighbours of the best one (a width or resolution step away, where the population has
    been) are re-optimised within ``polish`` of the budget: a subgradient walk of ``lagrange`` Lagrangian
    per-stage choices (initial weights spread by 10^U(-``lagrange_spread``, ``lagrange_spread``/2) around the
    limits' ratios), then :meth:`_Evolver.kbest`: the ``kbest`` architectures of least Lagrangian loss (split
    between the weights of the lowest dual bound and those of the best feasible candidate: ``kbest_weights``
    "both", or "dual" / "best"), each sub-space an equal share of the step's budget less a reserve of
    ``local_share``; then (``local``) from the best result a local search of stage-pair trades over the
    ``meme_batch`` nearest non-dominated configurations, with the reserve and what the sub-spaces left. At
    ``scan_at`` of the run (0: off) every sub-space is scanned once: the best parent's blocks moved there and a
    walk of ``scan_walk`` Lagrangian choices, the ``scan_keep`` best results joining the population (a
    population settled in a far sub-space meets the better ones). Every architecture costed counts as an
    evaluation, and the candidates reached join the population. ``hull`` (0: off; tried, no gain on seeds
    0-9): that many next-best Lagrangian choices per stage tried in one or two stages after the walk. The
    defaults were chosen on seeds 0-9 of ``benchmarks/bench_evolution.py --space mcunet``; seeds 10-19 were seen
    while developing the steps, 20-39 held out (docs/search-exact.md)."""

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
    meme: float = 0.0
    meme_batch: int = 25
    polish: float = 0.15
    lagrange: int = 300
    polish_at: tuple[float, ...] = (0.5, 0.7, 0.9)
    polish_subs: int = 2
    hull: int = 0
    kbest: int = 400
    kbest_weights: str = "both"
    lagrange_spread: float = 0.3
    polish_neighbours: int = 4
    local: bool = True
    local_share: float = 0.4
    scan_at: float = 0.3
    scan_walk: int = 8
    scan_keep: int = 4

    def __post_init__(self) -> None:
        if self.kbest_weights not in ("both", "dual", "best"):
            raise ValueError(f"EvolveOptions.kbest_weights: expected 'both', 'dual' or 'best', got "
                             f"{self.kbest_weights!r}")
        if not 0 <= self.polish_neighbours <= 6:
            raise ValueError(f"EvolveOptions.polish_neighbours: expected 0-6, got {self.polish_neighbours}")


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
        self.configs = [_configs(s.depths, len(s.options)) for s in space.stages]
        self.fronts = tables.fronts  # shared by the runs that share the evaluator

    def front(self, wm: int, res: int, stage: int) -> tuple[IntArray, FloatArray]:
        """The stage's non-dominated configurations in sub-space (``wm``, ``res``) (latency, Flash, peak part and
        additive part of the SRAM bound at most, MACs at least; of identical rows the first), as configuration
        indices sorted by their MACs, and those MACs."""
        key = (wm, res, stage)
        hit = self.fronts.get(key)
        if hit is None:
            rows, add = self.tables.stage_rows(wm, res, stage)
            cost = np.stack([rows[:, LAT], rows[:, FLASH], rows[:, SRAM] - add, add, -rows[:, MACS]], axis=1)
            uniq, first = np.unique(cost, axis=0, return_index=True)
            keep = np.ones(len(uniq), dtype=bool)
            for a in range(0, len(uniq), 256):
                blk = uniq[a:a + 256]
                le = (uniq[None, :, :] <= blk[:, None, :]).all(axis=2)
                lt = (uniq[None, :, :] < blk[:, None, :]).any(axis=2)
                keep[a:a + 256] = ~(le & lt).any(axis=1)
            idx = first[keep]
            order = np.argsort(rows[idx, MACS], kind="stable")
            hit = idx[order], rows[idx[order], MACS]
            self.fronts[key] = hit
        return hit

    def _window(self, wm: int, res: int, i: int, conf: tuple[int, ...], n: int, richer: bool) -> IntArray:
        """The ``n`` non-dominated configurations of stage ``i`` nearest ``conf`` in stage MACs, richer or
        lighter."""
        idx, macs = self.front(wm, res, i)
        cur = float(self.tables.stage_rows(wm, res, i)[0][self.tables.index(i, conf), MACS])
        if richer:
            pos = int(np.searchsorted(macs, cur, side="right"))
            return idx[pos:pos + n]
        pos = int(np.searchsorted(macs, cur, side="left"))
        return idx[max(0, pos - n):pos]

    def meme_move(self, parent: BlockCandidate) -> BlockCandidate | None:
        """Stages of ``parent`` re-chosen among their non-dominated configurations (:meth:`front`), every
        candidate evaluated (each counts) and the best scoring one the child. A feasible parent: one stage
        richer and another lighter (the nearest ``k`` of each in stage MACs, k² = ``meme_batch``, a trade along
        the binding limit); an infeasible one: one stage lighter (the nearest ``meme_batch``)."""
        wm, res, arch = parent.genome
        n_st = len(arch)
        i = int(self.rng.integers(0, n_st))
        if parent.feasible:
            j = int(self.rng.integers(0, n_st - 1))
            return self.trade(parent, i, j + (j >= i))
        pairs = [(int(a), int(a)) for a in self._window(wm, res, i, arch[i], self.opts.meme_batch, False)]
        return self._best_of(parent, i, i, pairs)

    def trade(self, parent: BlockCandidate, i: int, j: int) -> BlockCandidate | None:
        """Stage ``i`` richer and stage ``j`` lighter: the nearest ``k`` of each (k² = ``meme_batch``)."""
        wm, res, arch = parent.genome
        k = max(1, round(self.opts.meme_batch ** 0.5))
        wi = self._window(wm, res, i, arch[i], k, True)
        wj = self._window(wm, res, j, arch[j], k, False)
        return self._best_of(parent, i, j, [(int(a), int(b)) for a in wi for b in wj])

    def _best_of(self, parent: BlockCandidate, i: int, j: int, pairs: list[tuple[int, int]]
                 ) -> BlockCandidate | None:
        wm, res, arch = parent.genome
        best: BlockCandidate | None = None
        for a, b in pairs:
            new = list(arch)
            new[i] = self.configs[i][a]
            new[j] = self.configs[j][b]
            g = (wm, res, tuple(new))
            if g == parent.genome:
                continue
            cand = self.evaluate(g)
            if cand is not None and (best is None or self.score(cand) > self.score(best)):
                best = cand
        return best

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

    def best_feasible(self) -> BlockCandidate | None:
        if self.confirm is not None:
            return self.winner[0] if self.winner else None
        feas = [c for c in self.history if c.feasible]
        return max(feas, key=lambda c: c.fitness) if feas else None

    def polish_run(self, n_subs: int | None = None) -> list[BlockCandidate]:
        """The sub-spaces holding a feasible candidate, best first (the first ``n_subs``, all by default), and
        the first ``polish_neighbours`` neighbours of the best one that the run has visited: in each,
        :meth:`lagrange` from its best candidate (``lagrange`` evaluations), :meth:`kbest` from the result (``kbest``
        evaluations), then :meth:`local`, while the budget lasts. Returns the candidates reached."""
        subs: dict[tuple[int, int], BlockCandidate] = {}
        anyc: dict[tuple[int, int], BlockCandidate] = {}
        for c in self.history:
            if c.feasible and (c.genome[:2] not in subs or c.fitness > subs[c.genome[:2]].fitness):
                subs[c.genome[:2]] = c
            if c.genome[:2] not in anyc or self.score(c) > self.score(anyc[c.genome[:2]]):
                anyc[c.genome[:2]] = c
        starts = sorted(subs.values(), key=lambda c: -c.fitness)[:n_subs]
        if self.opts.polish_neighbours and starts:
            # the leading sub-space's neighbours (one width or resolution step): the optimum's sub-space is often
            # next to the one a population settled in
            wm0, res0 = starts[0].genome[:2]
            for dw, dr in ((-1, 0), (1, 0), (0, -1), (0, 1), (-1, 1), (1, -1))[:self.opts.polish_neighbours]:
                nb = anyc.get((wm0 + dw, res0 + dr))
                if nb is not None and nb not in starts:
                    starts.append(nb)
        out: list[BlockCandidate] = []
        # phase 1, each sub-space its share: the Lagrangian walk and the k-best step; phase 2: the local search
        # from the best one reached, with the reserve and what phase 1 left
        reserve = int(self.opts.local_share * self.left) if self.opts.local else 0
        with self._budget(self.left - reserve):
            for k, start in enumerate(starts):
                if self.left <= 0:
                    break
                with self._budget(self.left // (len(starts) - k)):
                    out.append(self._polish_one(start))
        if self.opts.local and out:
            k = max(range(len(out)), key=lambda i: self.score(out[i]))
            out[k] = self.local(out[k])
        return out

    def _polish_one(self, start: BlockCandidate) -> BlockCandidate:
        """One sub-space: :meth:`lagrange` from ``start``, then :meth:`kbest` at each weight vector it returns."""
        cur, cols, ws = self.lagrange(start, self.opts.lagrange) if self.opts.lagrange else (start, None, None)
        if cols is not None and ws is not None and self.opts.kbest:
            for w in ws:
                cur = self.kbest(cur, cols, w, self.opts.kbest // len(ws))
        return cur

    @contextlib.contextmanager
    def _budget(self, n: int) -> Iterator[None]:
        """At most ``n`` more evaluations inside the block (what it leaves unspent stays in the budget)."""
        keep = self.left - min(self.left, n)
        self.left -= keep
        try:
            yield
        finally:
            self.left += keep

    def scan_run(self, pop: deque[BlockCandidate]) -> list[BlockCandidate]:
        """Every (width multiplier, resolution) sub-space walked from the best parent's blocks moved there
        (one evaluation) by ``scan_walk`` Lagrangian choices (:meth:`lagrange`); returns the ``scan_keep``
        best results (by :meth:`score`), those already in the population left out."""
        lead = max(pop, key=self.score)
        arch = lead.genome[2]
        got: list[BlockCandidate] = []
        for wm in range(len(self.space.width_multipliers)):
            for res in range(len(self.space.resolutions)):
                if self.left <= 0:
                    break
                start = self.evaluate((wm, res, arch))
                if start is None:
                    break
                # (over every configuration: the argmax needs no pruning, and most sub-spaces are seen once)
                got.append(self.lagrange(start, self.opts.scan_walk, pruned=False)[0] if self.opts.scan_walk
                           else start)
        inside = {c.genome for c in pop}
        fresh = {c.genome: c for c in got if c.genome not in inside}
        return sorted(fresh.values(), key=self.score, reverse=True)[:self.opts.scan_keep]

    def local(self, cur: BlockCandidate) -> BlockCandidate:
        """Local search with the trades of :meth:`trade` (every stage pair in turn, in an order drawn per
        seed): it moves to any better feasible child and stops when no pair improves it."""
        n_st = len(cur.genome[2])
        pairs = [(i, j) for i in range(n_st) for j in range(n_st) if i != j]
        while self.left > 0:
            improved = False
            for k in self.rng.permutation(len(pairs)):
                if self.left <= 0:
                    break
                child = self.trade(cur, *pairs[int(k)])
                if child is not None and child.feasible and child.fitness > cur.fitness:
                    cur, improved = child, True
            if not improved:
                break
        return cur

    def lagrange(self, cur: BlockCandidate, n: int, pruned: bool = True
                 ) -> tuple[BlockCandidate, list[tuple[IntArray, FloatArray, FloatArray]] | None,
                            list[FloatArray] | None]:
        """``n`` architectures of ``cur``'s sub-space, each stage's configuration the one of its non-dominated
        configurations (all of them without ``pruned``) with the most ``MACs - a·latency - b·Flash - c·additive
        SRAM`` (weights drawn around the limits' ratios; configurations whose SRAM peak part alone breaks the
        limit left out): one evaluation each; returns the best feasible candidate met (``cur`` if none is
        better), the stages' allowed configurations and the weights of the lowest Lagrangian bound met."""
        wm, res, _ = cur.genome
        lim = self.limits
        scale = max(cur.fitness, cur.metrics.macs, 1.0)
        cols, peaks, add_sum = [], [], 0.0
        for i, conf in enumerate(cur.genome[2]):
            rows, add = self.tables.stage_rows(wm, res, i)
            c = self.tables.index(i, conf)
            peaks.append(rows[c, SRAM] - add[c])
            add_sum += float(add[c])
        # the SRAM beyond the largest peak part in ``cur`` (additive parts, gap line): a stage's peak part must
        # leave room for it
        cap = lim.peak_sram_bytes - (cur.metrics.peak_sram_bytes - max(peaks))
        for i in range(len(cur.genome[2])):
            idx = self.front(wm, res, i)[0] if pruned else np.arange(len(self.configs[i]))
            rows, add = self.tables.stage_rows(wm, res, i)
            ok = idx[(rows[idx, SRAM] - add[idx]) <= cap]
            cols.append((ok if len(ok) else idx, rows, add))
        best = cur
        # what the stages may use: the limits less the figures outside the stage rows (stem, head; SRAM: all but
        # the stages' additive parts)
        base = self.tables.base(wm, res)
        caps = np.array([lim.latency_ms - base[LAT], lim.flash_bytes - base[FLASH],
                         lim.peak_sram_bytes - (cur.metrics.peak_sram_bytes - add_sum)])
        spread = self.opts.lagrange_spread
        w = (10.0 ** self.rng.uniform(-spread, 0.5 * spread, 3)) * scale / np.array(
            [lim.latency_ms, lim.flash_bytes, lim.peak_sram_bytes])
        w[2] *= 0.1
        w_best = w.copy()
        w_dual, dual_best = w.copy(), np.inf
        for t in range(n):
            if self.left <= 0:
                break
            arch, dual = [], float(w @ caps)
            for i, (ok, rows, add) in enumerate(cols):
                val = rows[ok, MACS] - w[0] * rows[ok, LAT] - w[1] * rows[ok, FLASH] - w[2] * add[ok]
                k = int(np.argmax(val))
                dual += float(val[k])
                arch.append(self.configs[i][int(ok[k])])
            if dual < dual_best:
                dual_best, w_dual = dual, w.copy()
            g = (wm, res, tuple(arch))
            cand = self.seen.get(g) or self.evaluate(g)
            if cand is None:
                break
            if cand.feasible and cand.fitness > best.fitness:
                best, w_best = cand, w.copy()
            # a subgradient step: the weight of a broken limit grows, that of a slack one shrinks
            m = cand.metrics
            use = np.array([m.latency_ms / lim.latency_ms, m.flash_bytes / lim.flash_bytes,
                            m.peak_sram_bytes / lim.peak_sram_bytes])
            step = 0.5 / (1.0 + 0.05 * t) * self.rng.uniform(0.5, 1.5)
            w *= np.exp(step * np.clip((use - 1.0) * 20.0, -1.0, 1.0))
        if self.opts.hull:
            best = self._near_hull(best, cols, w_best)
        ws = {"dual": [w_dual], "best": [w_best], "both": [w_dual, w_best]}[self.opts.kbest_weights]
        return best, cols, ws

    def kbest(self, cur: BlockCandidate, cols: list[tuple[IntArray, FloatArray, FloatArray]], w: FloatArray,
              n: int) -> BlockCandidate:
        """The ``n`` architectures of ``cur``'s sub-space of least Lagrangian loss at weights ``w`` (per stage the
        loss of a configuration: its value ``MACs - a·latency - b·Flash - c·additive SRAM`` below the stage's best;
        an architecture's loss: the sum), in increasing loss (a best-first walk over the stages' sorted losses),
        each evaluated (each counts): the optimum of a sub-space lies near the Lagrangian hull, at a small loss.
        Returns the best feasible candidate met (``cur`` if none is better)."""
        wm, res, _ = cur.genome
        order, loss = [], []
        for ok, rows, add in cols:
            val = rows[ok, MACS] - w[0] * rows[ok, LAT] - w[1] * rows[ok, FLASH] - w[2] * add[ok]
            o = np.argsort(-val, kind="stable")
            order.append(ok[o])
            loss.append(float(val[o[0]]) - val[o])
        n_st = len(cols)
        start = (0,) * n_st
        heap: list[tuple[float, tuple[int, ...]]] = [(0.0, start)]
        queued = {start}
        best, spent = cur, 0
        while heap and spent < n and self.left > 0:
            lo, pos = heapq.heappop(heap)
            g = (wm, res, tuple(self.configs[i][int(order[i][p])] for i, p in enumerate(pos)))
            if g not in self.seen:
                spent += 1
            cand = self.evaluate(g)
            if cand is not None and cand.feasible and cand.fitness > best.fitness:
                best = cand
            for i in range(n_st):
                if pos[i] + 1 < len(order[i]):
                    q = (*pos[:i], pos[i] + 1, *pos[i + 1:])
                    if q not in queued:
                        queued.add(q)
                        heapq.heappush(heap, (lo - float(loss[i][pos[i]]) + float(loss[i][pos[i] + 1]), q))
        return best

    def _near_hull(self, cur: BlockCandidate, cols: list[tuple[IntArray, FloatArray, FloatArray]],
                   w: FloatArray) -> BlockCandidate:
        """The architectures that replace one or two of ``cur``'s stage configurations by one of the ``hull``
        next best ones by the Lagrangian value at weights ``w`` (near the hull, where the optimum lies between
        its vertices): each evaluated; returns the best feasible met."""
        wm, res, arch = cur.genome
        alts = []
        for i, (ok, rows, add) in enumerate(cols):
            val = rows[ok, MACS] - w[0] * rows[ok, LAT] - w[1] * rows[ok, FLASH] - w[2] * add[ok]
            top = [self.configs[i][int(ok[int(k)])] for k in np.argsort(-val, kind="stable")[:self.opts.hull + 1]]
            alts.append([c for c in top if c != arch[i]][:self.opts.hull])
        best = cur
        n_st = len(arch)
        for i in range(n_st):
            for j in range(i, n_st):
                for a in alts[i]:
                    for b in alts[j] if j > i else [None]:
                        if self.left <= 0:
                            return best
                        new = list(arch)
                        new[i] = a
                        if b is not None:
                            new[j] = b
                        cand = self.evaluate((wm, res, tuple(new)))
                        if cand is not None and cand.feasible and cand.fitness > best.fitness:
                            best = cand
        return best

    def run(self) -> None:
        self.evolve()

    def _memetic(self, pop: deque[BlockCandidate], scan: list[float], points: list[float], total: int) -> None:
        """The memetic steps due at this point of the run; what they reach joins the population (the oldest
        members leave)."""
        done = total - self.left
        if scan and done >= scan[0] * total:
            # a scan of every sub-space (a short Lagrangian walk each): a population settled in a far
            # sub-space meets the better ones
            scan.pop(0)
            for c in self.scan_run(pop):
                pop.append(c)
                pop.popleft()
        if points and done >= points[0] * total:
            # the leading sub-spaces re-optimised within a share of the budget
            points.pop(0)
            with self._budget(int(self.opts.polish * total)):
                reached = self.polish_run(self.opts.polish_subs)
            for c in reached:
                pop.append(c)
                pop.popleft()

    def evolve(self) -> None:
        pop: deque[BlockCandidate] = deque()
        total = self.left
        for _ in range(min(self.opts.population, total)):
            c = self.evaluate(self.sample())
            if c is not None:
                pop.append(c)
        repeats = 0
        points = list(self.opts.polish_at)
        scan = [self.opts.scan_at] if self.opts.scan_at > 0 else []
        while self.left > 0 and repeats < 10 * total and pop:
            self._memetic(pop, scan, points, total)
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
            if self.opts.meme > 0 and self.rng.random() < self.opts.meme:
                child = self.meme_move(parent)
                if child is None or self.left == before:
                    repeats += 1
                    continue
                pop.append(child)
                pop.popleft()
                continue
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


def run_block_evolution(space: BlockSpace, board: Board, lm: LatencyModel, limits: Limits, *,
                        runtime: str | None = None, seed: int = 0, evaluations: int = 20_000,
                        population: int | None = None) -> SearchOutcome:
    """``atomnet search --strategy evolution`` on a per-block space: :func:`evolve_blocks` (default
    :class:`EvolveOptions`, ``population`` replaced when given) as a :class:`~atomnet.search.SearchOutcome`
    (``evaluated``: the distinct architectures costed; ``confirmed_after``: the full cost-model runs)."""
    if evaluations < 1:
        raise ValueError(f"evaluations: expected at least 1, got {evaluations}")
    opts = EvolveOptions() if population is None else dataclasses.replace(EvolveOptions(), population=population)
    if opts.population > evaluations:
        raise ValueError(f"population {opts.population} exceeds the {evaluations} evaluations (they count the "
                         "initial population)")
    rt = runtime or board.runtime
    t0 = time.perf_counter()
    tab = BlockEvaluator(space, board, lm, rt)
    r = evolve_blocks(space, board, rt, lm, limits, evaluations=evaluations, seed=seed, options=opts, tables=tab)
    reason = None
    if r.spec is None:
        reason = (f"none of the {r.evaluated:,} architectures evolved met the limits (evolution claims no "
                  "optimum: --strategy exact decides the space)")
    options: dict[str, int | float] = {"cycles": evaluations, "population": opts.population}
    return SearchOutcome(space.name, "evolution", board.name, rt, limits, seed, r.spec, None, r.cost, r.evaluated,
                         r.feasible, r.confirmations, 0.0, r.seconds, time.perf_counter() - t0, None, None,
                         space.num_classes, reason, options)
