"""The user's main job: the best architecture of a space that fits a board (``atomnet search``).

space × strategy × evaluator, constraints as separate predicates (DESIGN principle 5): the strategy
searches the per-stage tables; its best candidates are then confirmed, in order, with the full cost
model (:func:`atomnet.cost.cost_model`) — the first that meets every limit wins. The reported cost is
that full cost report, so ``atomnet cost`` on the written spec gives the same figures.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from atomnet.boards import Board
from atomnet.cost._latency import LatencyModel
from atomnet.cost._report import CostReport, cost_model
from atomnet.search._build import build_tables
from atomnet.search._combine import Limits, combine, minima
from atomnet.search._journal import Journal
from atomnet.search._space import Space
from atomnet.search._strategies import Fitness, SearchResult, TableEvaluator, feasible_mask, get_strategy
from atomnet.search._tables import LAT, MACS, ResolutionTables
from atomnet.spec import ModelSpec, from_stage_config

Progress = Callable[[str, int, int], None]  # (phase, done, total)


@dataclass
class SearchOutcome:
    space: str
    strategy: str
    board: str
    runtime: str
    limits: Limits
    seed: int
    spec: ModelSpec | None
    stage_config: dict[str, Any] | None
    cost: CostReport | None
    evaluated: int
    feasible: int
    confirmed_after: int  # candidates checked with the full cost model until one met every limit
    table_seconds: float
    search_seconds: float
    seconds: float
    minima: dict[str, float] | None = None
    result: SearchResult | None = field(default=None, repr=False)

    @property
    def found(self) -> bool:
        return self.spec is not None

    def to_dict(self) -> dict[str, Any]:
        lim = self.limits
        return {
            "space": self.space, "strategy": self.strategy, "board": self.board, "runtime": self.runtime,
            "seed": self.seed,
            "limits": {"latency_ms": _fin(lim.latency_ms), "flash_bytes": _fin(lim.flash_bytes),
                       "peak_sram_bytes": _fin(lim.peak_sram_bytes), "min_macs": lim.min_macs,
                       "max_macs": _fin(lim.max_macs)},
            "found": self.found,
            "spec": self.spec.to_dict() if self.spec else None,
            "stage_config": self.stage_config,
            "cost": self.cost.to_dict() if self.cost else None,
            "evaluated": self.evaluated, "feasible": self.feasible, "confirmed_after": self.confirmed_after,
            "seconds": self.seconds, "table_seconds": self.table_seconds, "search_seconds": self.search_seconds,
            "architectures_per_s": self.evaluated / self.search_seconds if self.search_seconds > 0 else None,
            "minima": self.minima,
        }


def _fin(v: float) -> float | None:
    return None if not np.isfinite(v) else float(v)


def meets(report: CostReport, limits: Limits) -> bool:
    return (report.latency_ms <= limits.latency_ms + 1e-9 and report.flash_bytes <= limits.flash_bytes
            and report.peak_sram_bytes <= limits.peak_sram_bytes and limits.min_macs <= report.macs <= limits.max_macs)


def confirm(space: Space, candidates: list[tuple[int, tuple[int, ...], np.ndarray, float]], board: Board,
            runtime: str, lm: LatencyModel, limits: Limits
            ) -> tuple[ModelSpec | None, dict[str, Any] | None, CostReport | None, int]:
    """First candidate (best first) whose full cost meets every limit."""
    for n, (r, c, _m, _f) in enumerate(candidates, start=1):
        cfg = space.stage_config(r, c)
        spec = from_stage_config(cfg)
        rep = cost_model(spec, board, runtime=runtime, latency_model=lm)
        if meets(rep, limits):
            return spec, cfg, rep, n
    return None, None, None, len(candidates)


def run_search(space: Space, board: Board, lm: LatencyModel, limits: Limits, *, runtime: str | None = None,
               strategy: str = "exhaustive", seed: int = 0, fitness: Fitness | None = None,
               journal: Journal | None = None, progress: Progress | None = None,
               tables: list[ResolutionTables] | None = None, **options: Any) -> SearchOutcome:
    t0 = time.perf_counter()
    rt = runtime or board.runtime
    if tables is None:
        tables = build_tables(space, lm, rt, progress=(lambda d, t: progress("tables", d, t)) if progress else None)
    t1 = time.perf_counter()
    ev = TableEvaluator(space, tables)
    strat = get_strategy(strategy)
    res = strat(ev, limits, np.random.default_rng(seed), fitness=fitness, journal=journal,
                progress=(lambda d, t: progress("search", d, t)) if progress else None, **options)
    t2 = time.perf_counter()
    spec = cfg = rep = None
    checked = 0
    if res.candidates:
        spec, cfg, rep, checked = confirm(space, res.candidates, board, rt, lm, limits)
    mins = None
    if spec is None:
        m = res.minima if res.minima is not None else np.min(
            np.stack([minima(t) for t in tables]), axis=0)
        mins = {"latency_ms": float(m[0]), "flash_bytes": float(m[1]), "peak_sram_bytes": float(m[2])}
    return SearchOutcome(space.name, strategy, board.name, rt, limits, seed, spec, cfg, rep, res.evaluated,
                         res.feasible, checked, t1 - t0, t2 - t1, time.perf_counter() - t0, mins, res)


@dataclass(frozen=True)
class ParetoPoint:
    latency_ms: float
    macs: float
    res_index: int
    choices: tuple[int, ...]
    metrics: np.ndarray


def pareto_front(space: Space, tables: list[ResolutionTables], limits: Limits) -> list[ParetoPoint]:
    """Exact front of (latency ↓, MACs ↑) over the whole space under the Flash and SRAM limits (table
    figures; latency limit ignored): every architecture with more MACs than all faster ones."""
    pts: list[ParetoPoint] = []
    open_lat = Limits(np.inf, limits.flash_bytes, limits.peak_sram_bytes, limits.min_macs, limits.max_macs)
    for r, tab in enumerate(tables):
        comb = combine(tab, open_lat)
        if not len(comb.metrics):
            continue
        ok = feasible_mask(comb.metrics, open_lat)
        m, ch = comb.metrics[ok], comb.choices[ok]
        order = np.lexsort((-m[:, MACS], m[:, LAT]))
        m, ch = m[order], ch[order]
        run = np.maximum.accumulate(m[:, MACS])
        keep = np.concatenate(([True], m[1:, MACS] > run[:-1]))
        for i in np.nonzero(keep)[0]:
            pts.append(ParetoPoint(float(m[i, LAT]), float(m[i, MACS]), r, tuple(int(v) for v in ch[i]), m[i].copy()))
    pts.sort(key=lambda p: (p.latency_ms, -p.macs))
    front: list[ParetoPoint] = []
    for p in pts:
        if not front or p.macs > front[-1].macs:
            front.append(p)
    return front
