"""The exact segment programme (``--strategy exact``): the optimum without enumerating the space.

MACs, latency and Flash add up over stages given the width at each stage boundary and the resolution; peak
SRAM is the maximum over stages of stage-local buffers. So per resolution a dynamic programme over stages
with state = the boundary width keeps, per state, only the Pareto set of partial solutions in (latency,
Flash, MACs), after dropping stage entries whose buffers exceed the SRAM limit
(:mod:`atomnet.search._exact_pareto`, run backwards from the head). Those sets give, for any partial
architecture, the exact largest MACs a completion can still reach within the latency and Flash left; a
best-first walk forwards from the stem with that bound pops complete architectures in strictly decreasing
MACs (A* with an exact bound: each pop of a complete one is the next best), so the strategy hands the runner
the same ``top_k`` best per resolution as the exhaustive strategy — the same figures, summed in the same
order — and the runner confirms them with the runtime planner's exact peak in that order, taking the next
when one fails. Nothing is approximated; the work grows with the Pareto sets, not with the space.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

import numpy as np

from atomnet.errors import InputError
from atomnet.search._combine import Limits, _count
from atomnet.search._evaluate import Evaluator
from atomnet.search._exact_pareto import Stairs, best_within, relaxed_best, suffix_sets
from atomnet.search._records import Candidate, MetricArrays, SearchResult
from atomnet.search._strategies import Option, Progress, Strategy, register_strategy
from atomnet.search._tables import FLASH, LAT, MACS, SRAM, FloatArray, ResolutionTables


def descending(tables: ResolutionTables, limits: Limits, sets: list[list[FloatArray]] | None = None,
               relaxed: list[list[Stairs]] | None = None) -> Iterator[tuple[tuple[int, ...], FloatArray]]:
    """Every architecture of one resolution that meets ``limits`` by the table figures, most MACs first
    (ties in any order), as (choice indices, metrics (4,) in the tables' column order), lazily.

    The metrics are summed exactly as :meth:`ResolutionTables.evaluate` and the exhaustive combination sum
    them (base, then stage by stage), so a limit is met here exactly when it is met there. With ``relaxed``
    (:func:`relaxed_sets`) the bound is the weaker two-staircase one: the same order, more nodes opened."""
    stages = tables.stages
    n = len(stages)
    if sets is None and relaxed is None:
        sets = suffix_sets(tables, limits.latency_ms, limits.flash_bytes, limits.peak_sram_bytes)

    def bound_of(i: int, w: int, lat_left: FloatArray, flash_left: FloatArray) -> FloatArray:
        if relaxed is not None:
            return relaxed_best(relaxed[i][w], lat_left, flash_left)
        assert sets is not None
        return best_within(sets[i][w], lat_left, flash_left)

    base = tables.base.astype(np.float64)
    heap: list[tuple[float, int, int, int, tuple[int, ...], FloatArray]] = []
    counter = 0
    root = bound_of(0, 0, np.array([limits.latency_ms - base[LAT]]), np.array([limits.flash_bytes - base[FLASH]]))[0]
    if np.isfinite(root):
        heap.append((-min(base[MACS] + root, limits.max_macs), counter, 0, 0, (), base))
    while heap:
        neg, _, i, w, choices, acc = heapq.heappop(heap)
        if -neg < limits.min_macs:
            return
        if i == n:
            if MetricArrays.from_columns(acc).within(limits)[0]:
                yield choices, acc
            continue
        t = stages[i]
        cost = t.cost[w]  # (n_choice, 4)
        ok = ~np.isnan(cost[:, LAT]) & (cost[:, SRAM] <= limits.peak_sram_bytes)
        js = np.nonzero(ok)[0]
        if not len(js):
            continue
        new = np.empty((len(js), 4))
        new[:, LAT] = acc[LAT] + cost[js, LAT]
        new[:, FLASH] = acc[FLASH] + cost[js, FLASH]
        new[:, MACS] = acc[MACS] + cost[js, MACS]
        new[:, SRAM] = np.maximum(acc[SRAM], cost[js, SRAM])
        outs = t.out_index[js]
        bound = np.full(len(js), -np.inf)
        for o in np.unique(outs):
            m = outs == o
            bound[m] = new[m, MACS] + bound_of(i + 1, int(o), limits.latency_ms - new[m, LAT],
                                               limits.flash_bytes - new[m, FLASH])
        bound = np.minimum(bound, limits.max_macs)
        for k in np.nonzero(np.isfinite(bound) & (bound >= limits.min_macs))[0]:
            counter += 1
            heapq.heappush(heap, (-float(bound[k]), counter, i + 1, int(outs[k]), (*choices, int(js[k])), new[k]))


def top_candidates(tables: ResolutionTables, limits: Limits, top_k: int, res_index: int) -> list[Candidate]:
    """The ``top_k`` most-MACs architectures meeting the table figures, ties by lower latency then by choice
    indices — the exhaustive strategy's order and selection."""
    found: list[tuple[tuple[int, ...], FloatArray]] = []
    for choices, acc in descending(tables, limits):
        if len(found) >= top_k and acc[MACS] < found[top_k - 1][1][MACS]:
            break  # every tie of the k-th is in: the selection is the exhaustive one
        found.append((choices, acc))
    found.sort(key=lambda f: (-f[1][MACS], f[1][LAT], f[0]))
    out = []
    for choices, acc in found[:top_k]:
        m = MetricArrays.from_columns(acc).row(0)
        out.append(Candidate(res_index, choices, m, True, m.macs))
    return out


def tables_of(evaluator: Evaluator) -> Sequence[ResolutionTables]:
    """The stage tables behind ``evaluator`` (a table evaluator, or one wrapping it)."""
    ev: Any = evaluator
    while not hasattr(ev, "tables") and hasattr(ev, "base"):
        ev = ev.base
    tables = getattr(ev, "tables", None)
    if tables is None:
        raise InputError("strategy 'exact' needs an evaluator with stage tables (atomnet.search.TableEvaluator)")
    return tables  # type: ignore[no-any-return]


@register_strategy
class Exact(Strategy):
    """Exact maximum-MACs architecture by the segment programme (no enumeration); the ``top_k`` best of every
    resolution, in decreasing MACs, are kept for confirmation as with ``exhaustive``. ``evaluated`` counts the
    architectures of the space (all decided, none enumerated); ``feasible`` counts the candidates produced."""

    name = "exact"
    options_spec: ClassVar = {
        "top_k": Option(64, "count", "best architectures kept per resolution for confirmation")}
    seeded = False

    def run(self, evaluator: Evaluator, progress: Progress | None = None) -> SearchResult:
        t0 = time.perf_counter()
        top_k = int(self.options["top_k"])
        tables = tables_of(evaluator)
        cands: list[Candidate] = []
        evaluated = 0
        for r, t in enumerate(tables):
            evaluated += _count(t)
            cands += top_candidates(t, evaluator.limits, top_k, r)
            if progress:
                progress(r + 1, len(tables))
        secs = time.perf_counter() - t0
        if not cands:
            return SearchResult(self.name, None, evaluated, 0, secs, minima=evaluator.minima())
        cands.sort(key=lambda c: (-c.fitness, c.metrics.latency_ms, c.resolution_index, c.choices))
        return SearchResult(self.name, cands[0], evaluated, len(cands), secs, candidates=tuple(cands))

