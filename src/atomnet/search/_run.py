"""The user's main job: the best architecture of a space that fits a board (``atomnet search``).

space × strategy × evaluator, constraints as separate predicates (DESIGN principle 5): the strategy
searches the per-stage tables; its best candidates are then confirmed, in order, with the full cost
model (:func:`atomnet.cost.cost_model`) — the first that meets every limit wins. The reported cost is
that full cost report, so ``atomnet cost`` on the written spec gives the same figures.
"""

from __future__ import annotations

import numbers
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from atomnet.boards import Board
from atomnet.cost._latency import LatencyModel
from atomnet.cost._report import CostReport, cost_model
from atomnet.search._build import build_tables
from atomnet.search._combine import Limits, combine, max_macs, minima
from atomnet.search._journal import Journal
from atomnet.search._provenance import latency_source, search_header
from atomnet.search._space import Space
from atomnet.search._strategies import Fitness, SearchResult, TableEvaluator, feasible_mask, strategy_info
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
    num_classes: int = 1000
    reason: str | None = None  # why nothing was found (which limit binds), when not found
    options: dict[str, Any] = field(default_factory=dict)  # the strategy's options, defaults filled in

    @property
    def found(self) -> bool:
        return self.spec is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "space": self.space, "strategy": self.strategy, "options": self.options, "board": self.board,
            "runtime": self.runtime, "num_classes": self.num_classes, "seed": self.seed,
            "limits": self.limits.to_dict(),
            "found": self.found, "reason": self.reason,
            "spec": self.spec.to_dict() if self.spec else None,
            "stage_config": self.stage_config,
            "cost": self.cost.to_dict() if self.cost else None,
            "evaluated": self.evaluated, "feasible": self.feasible, "confirmed_after": self.confirmed_after,
            "seconds": self.seconds, "table_seconds": self.table_seconds, "search_seconds": self.search_seconds,
            "architectures_per_s": self.evaluated / self.search_seconds if self.search_seconds > 0 else None,
            "minima": self.minima,
        }


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
               journal: Journal | str | os.PathLike[str] | None = None, progress: Progress | None = None,
               tables: list[ResolutionTables] | None = None, db_path: str | None = None,
               **options: Any) -> SearchOutcome:
    """Search ``space`` with ``strategy`` (its ``options`` are checked: unknown or invalid ones are errors).

    ``journal`` — a path (or an open :class:`Journal`) makes a resumable run: the journal's header records
    what the evaluations depend on (see :func:`atomnet.search.search_header`) and resuming with anything
    different is refused. ``db_path`` only names the database in those messages."""
    info = strategy_info(strategy)
    opts = info.options(options)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed: expected an integer >= 0, got {seed!r}")
    if fitness is not None and not info.fitness:
        raise ValueError(f"strategy {strategy!r} maximizes MACs and takes no custom fitness; "
                         "use evolution or random")
    if journal is not None and not info.journal:
        raise ValueError(f"strategy {strategy!r} does not keep a journal (only evolution does)")
    t0 = time.perf_counter()
    rt = runtime or board.runtime
    if tables is None:
        tables = build_tables(space, lm, rt, progress=(lambda d, t: progress("tables", d, t)) if progress else None)
    t1 = time.perf_counter()
    own_journal = journal is not None and not isinstance(journal, Journal)
    if own_journal:
        fit = "macs" if fitness is None else f"custom:{getattr(fitness, '__qualname__', type(fitness).__name__)}"
        header = search_header(space=space, board=board, runtime=rt, limits=limits, strategy=strategy, seed=seed,
                               options=opts, latency=latency_source(lm, db_path), tables=tables, fitness=fit)
        journal = Journal(journal, header)
    ev = TableEvaluator(space, tables)
    kw: dict[str, Any] = dict(opts)
    if fitness is not None:
        kw["fitness"] = fitness
    if journal is not None:
        kw["journal"] = journal
    try:
        res = info.run(ev, limits, np.random.default_rng(seed),
                       progress=(lambda d, t: progress("search", d, t)) if progress else None, **kw)
    finally:
        if own_journal:
            journal.close()
    t2 = time.perf_counter()
    spec = cfg = rep = None
    checked = 0
    if res.candidates:
        spec, cfg, rep, checked = confirm(space, res.candidates, board, rt, lm, limits)
    mins = reason = None
    if spec is None:
        m = res.minima if res.minima is not None else np.min(
            np.stack([minima(t) for t in tables]), axis=0)
        mins = {"latency_ms": float(m[0]), "flash_bytes": float(m[1]), "peak_sram_bytes": float(m[2]),
                "macs": float(m[3])}
        reason = _why_nothing(strategy, res, checked, mins, max(max_macs(t) for t in tables), limits)
    return SearchOutcome(space.name, strategy, board.name, rt, limits, seed, spec, cfg, rep, res.evaluated,
                         res.feasible, checked, t1 - t0, t2 - t1, time.perf_counter() - t0, mins, res,
                         space.num_classes, reason, opts)


def _why_nothing(strategy: str, res: SearchResult, checked: int, mins: dict[str, float], most_macs: float,
                 limits: Limits) -> str:
    """Which limit binds when nothing was found: the limits no architecture meets even on its own first."""
    kb = 1024.0
    alone = []
    if mins["latency_ms"] > limits.latency_ms:
        alone.append(f"latency: the fastest architecture takes {mins['latency_ms']:.1f} ms, over the "
                     f"{limits.latency_ms:g} ms limit")
    if mins["flash_bytes"] > limits.flash_bytes:
        alone.append(f"Flash: the smallest architecture needs {mins['flash_bytes'] / kb:.0f} KB, over the "
                     f"{limits.flash_bytes / kb:g} KB limit")
    if mins["peak_sram_bytes"] > limits.peak_sram_bytes:
        alone.append(f"peak SRAM: the smallest architecture needs {mins['peak_sram_bytes'] / kb:.0f} KB, over "
                     f"the {limits.peak_sram_bytes / kb:g} KB limit")
    if mins["macs"] > limits.max_macs:
        alone.append(f"MACs: the smallest architecture has {mins['macs'] / 1e6:.2f} M, over --max-macs "
                     f"{limits.max_macs / 1e6:g} M")
    if most_macs < limits.min_macs:
        alone.append(f"MACs: the largest architecture has {most_macs / 1e6:.2f} M, under --min-macs "
                     f"{limits.min_macs / 1e6:g} M")
    smallest = (f"The smallest any architecture reaches: latency {mins['latency_ms']:.1f} ms, Flash "
                f"{mins['flash_bytes'] / kb:.0f} KB, peak SRAM {mins['peak_sram_bytes'] / kb:.0f} KB (each on its "
                "own).")
    if alone:
        return "no architecture of the space meets the limits; " + "; ".join(alone) + ". " + smallest
    if res.feasible and checked:
        return (f"{res.feasible:,} architectures met the table figures, but none of the best {checked} met the full "
                "cost model's peak SRAM (the tables give a lower bound). " + smallest)
    if strategy != "exhaustive":
        return (f"{strategy} found no architecture that meets the limits in {res.evaluated:,} evaluations, though "
                "each limit alone can be met; try --strategy exhaustive (exact) or more evaluations. " + smallest)
    return ("no architecture of the space meets the limits: each limit alone can be met, but not all together; "
            "relax one of them. " + smallest)


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
