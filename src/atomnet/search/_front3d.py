"""Budget sweep: the exact optimum for every (peak SRAM, Flash, latency) limit of a grid, and the 3-D front it
traces (issue 16, scope 3).

Each point is what ``atomnet search --strategy exact`` gives at that budget: the exact programme
(:mod:`atomnet.search._exact`) over the stage tables, then the best candidates confirmed with the full cost model
(:func:`atomnet.search.confirm`), so a point's MACs are the confirmed optimum and its latency, Flash and peak SRAM
are the winner's full-cost figures. The tables are built once for the whole sweep. A limit only widens the
feasible set, so the best MACs never fall when any one limit grows (tested). The winners that no other winner
beats in all of latency, peak SRAM and Flash while having at least its MACs form the 3-D front
(:attr:`BudgetPoint.on_front`): the most MACs a network can have for its latency, SRAM and Flash.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from atomnet.boards import Board
from atomnet.cost import LatencyModel
from atomnet.jsontypes import JSONDict
from atomnet.search._combine import Limits
from atomnet.search._evaluate import TableEvaluator
from atomnet.search._exact import Exact
from atomnet.search._run import confirm
from atomnet.search._space import Space, StageConfig
from atomnet.search._tables import ResolutionTables


@dataclass(frozen=True)
class BudgetPoint:
    """The confirmed optimum at one budget (``macs`` None when nothing meets it)."""

    sram_limit_bytes: float
    flash_limit_bytes: float
    latency_limit_ms: float
    macs: float | None
    latency_ms: float | None
    peak_sram_bytes: float | None
    flash_bytes: float | None
    stage_config: StageConfig | None
    confirmed_after: int
    on_front: bool = False

    def to_dict(self) -> JSONDict:
        return {"limits": {"peak_sram_bytes": self.sram_limit_bytes, "flash_bytes": self.flash_limit_bytes,
                           "latency_ms": self.latency_limit_ms},
                "macs": self.macs, "latency_ms": self.latency_ms, "peak_sram_bytes": self.peak_sram_bytes,
                "flash_bytes": self.flash_bytes, "on_front": self.on_front, "confirmed_after": self.confirmed_after,
                "stage_config": dict(self.stage_config) if self.stage_config else None}


@dataclass(frozen=True)
class BudgetFront:
    """A sweep: every point of the grid (SRAM-major, then Flash, then latency) and where it was computed."""

    space: str
    board: str
    runtime: str
    sram_limits_bytes: tuple[float, ...]
    flash_limits_bytes: tuple[float, ...]
    latency_limits_ms: tuple[float, ...]
    points: tuple[BudgetPoint, ...]
    seconds: float

    def at(self, sram: float, flash: float, latency: float) -> BudgetPoint:
        """The point of that budget (limits as given to the sweep)."""
        for p in self.points:
            if (p.sram_limit_bytes, p.flash_limit_bytes, p.latency_limit_ms) == (sram, flash, latency):
                return p
        raise KeyError((sram, flash, latency))

    def front(self) -> tuple[BudgetPoint, ...]:
        """The distinct winners on the 3-D front, fewest MACs first."""
        seen: set[tuple[float | None, ...]] = set()
        out = []
        for p in sorted((p for p in self.points if p.on_front), key=lambda p: (p.macs, p.latency_ms)):
            key = (p.macs, p.latency_ms, p.peak_sram_bytes, p.flash_bytes)
            if key not in seen:
                seen.add(key)
                out.append(p)
        return tuple(out)

    def to_dict(self) -> JSONDict:
        return {"space": self.space, "board": self.board, "runtime": self.runtime,
                "sram_limits_bytes": list(self.sram_limits_bytes), "flash_limits_bytes": list(self.flash_limits_bytes),
                "latency_limits_ms": list(self.latency_limits_ms), "seconds": self.seconds,
                "points": [p.to_dict() for p in self.points]}


def _mark_front(points: list[BudgetPoint]) -> list[BudgetPoint]:
    """Flag the winners not dominated by another (no slower, no more SRAM, no more Flash, at least the MACs,
    better in one)."""
    won = [p for p in points if p.macs is not None]
    out = []
    for p in points:
        if p.macs is None:
            out.append(p)
            continue
        a = (p.latency_ms, p.peak_sram_bytes, p.flash_bytes, -p.macs)
        dominated = False
        for q in won:
            assert q.macs is not None
            b = (q.latency_ms, q.peak_sram_bytes, q.flash_bytes, -q.macs)
            if all(y <= x for x, y in zip(a, b, strict=True)) and b != a:  # type: ignore[operator]
                dominated = True
                break
        out.append(replace(p, on_front=not dominated))
    return out


def budget_sweep(space: Space, tables: Sequence[ResolutionTables], board: Board, lm: LatencyModel, runtime: str,
                 sram_limits: Sequence[float], flash_limits: Sequence[float], latency_limits: Sequence[float],
                 progress: Callable[[int, int], None] | None = None, top_k: int = 64) -> BudgetFront:
    """The confirmed exact optimum at every budget of the grid ``sram_limits × flash_limits × latency_limits``
    (bytes, bytes, ms) over ``tables`` (:func:`atomnet.search.build_tables` of ``space`` for ``runtime``)."""
    t0 = time.perf_counter()
    grid = list(itertools.product(sram_limits, flash_limits, latency_limits))
    points = []
    for n, (sram, flash, lat) in enumerate(grid, start=1):
        lim = Limits(float(lat), float(flash), float(sram))
        res = Exact(top_k=top_k).run(TableEvaluator(space, list(tables), lim))
        ok = confirm(space, res.candidates, board, runtime, lm, lim) if res.candidates else None
        if ok is not None and ok.cost is not None:
            rep = ok.cost
            points.append(BudgetPoint(float(sram), float(flash), float(lat), float(rep.macs), rep.latency_ms,
                                      float(rep.peak_sram_bytes), float(rep.flash_bytes), ok.stage_config,
                                      ok.checked))
        else:
            points.append(BudgetPoint(float(sram), float(flash), float(lat), None, None, None, None, None,
                                      ok.checked if ok else 0))
        if progress:
            progress(n, len(grid))
    return BudgetFront(space.name, board.name, runtime, tuple(float(s) for s in sram_limits),
                       tuple(float(f) for f in flash_limits), tuple(float(x) for x in latency_limits),
                       tuple(_mark_front(points)), time.perf_counter() - t0)
