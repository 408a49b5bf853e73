"""The user's main job: the best architecture of a space that fits a board (``atomnet search``).

space × strategy × evaluator, constraints as separate predicates (DESIGN principle 5): the strategy
searches the per-stage tables; its best candidates are then confirmed, in order, with the full cost
model (:func:`atomnet.cost.cost_model`) — the first that meets every limit wins. The reported cost is
that full cost report, so ``atomnet cost`` on the written spec gives the same figures.

The runner, not the strategy, keeps the journal: a resumable strategy asks its evaluator for one
evaluation at a time, and :class:`JournaledEvaluator` answers the first ones from the journal, then
computes and appends (Optuna's ``JournalStorage`` idea).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from atomnet.boards import Board
from atomnet.cost import CostReport, LatencyModel, PatchCost, cost_model
from atomnet.errors import InputError
from atomnet.jsontypes import JSONDict
from atomnet.search._build import build_tables
from atomnet.search._combine import Combined, Limits, max_macs
from atomnet.search._evaluate import Evaluator, Fitness, Indices, TableEvaluator
from atomnet.search._journal import Journal, JournalMismatch
from atomnet.search._pareto import ParetoStudy, pareto_study
from atomnet.search._patch import check_patch_option, confirm_patch
from atomnet.search._provenance import latency_source, search_header
from atomnet.search._records import Candidate, Evaluation, MetricArrays, Metrics, SearchResult
from atomnet.search._space import Space, StageConfig
from atomnet.search._strategies import OptionValue, Strategy, get_strategy, list_strategies
from atomnet.search._tables import ResolutionTables
from atomnet.spec import ModelSpec, from_stage_config

Progress = Callable[[str, int, int], None]  # (phase, done, total)


class JournaledEvaluator:
    """An evaluator that answers :meth:`evaluate` from ``journal`` first (checking that the run asks for
    the same architectures in the same order), then asks ``base`` and appends each new evaluation."""

    def __init__(self, base: Evaluator, journal: Journal) -> None:
        self.base, self.journal = base, journal

    @property
    def space(self) -> Space:
        return self.base.space

    @property
    def limits(self) -> Limits:
        return self.base.limits

    @property
    def resolutions(self) -> int:
        return self.base.resolutions

    @property
    def has_custom_fitness(self) -> bool:
        return self.base.has_custom_fitness

    def metrics(self, res_idx: Indices, choices: Indices) -> MetricArrays:
        return self.base.metrics(res_idx, choices)

    def judge(self, res_index: int, choices: tuple[int, ...], metrics: Metrics) -> Candidate:
        return self.base.judge(res_index, choices, metrics)

    def combine(self, res_index: int) -> Combined:
        return self.base.combine(res_index)

    def minima(self) -> Metrics:
        return self.base.minima()

    def evaluate(self, res_index: int, choices: tuple[int, ...]) -> Candidate:
        if self.journal.replaying:
            e = Evaluation.from_json(self.journal.next_replayed())
            if e.candidate.architecture != (res_index, choices):
                c = e.candidate
                raise JournalMismatch(f"journal {self.journal.path}: evaluation {e.index} was architecture (res "
                                 f"{c.resolution_index}, {list(c.choices)}) but this run asks for (res {res_index}, "
                                 f"{list(choices)}): the journal was written by different code; use a new journal")
            return e.candidate
        cand = self.base.evaluate(res_index, choices)
        self.journal.append(Evaluation(self.journal.position, cand).to_json())
        return cand


@dataclass(frozen=True)
class Confirmation:
    """The first candidate whose full cost meets every limit (``spec`` None when none did), and how many
    candidates were costed to find it."""

    spec: ModelSpec | None
    stage_config: StageConfig | None
    cost: CostReport | None
    checked: int


@dataclass(frozen=True)
class SearchOutcome:
    """A search run: the winner confirmed with the full cost model (or why nothing fits), with counts,
    timings, the strategy's own result and, when asked, the Pareto front."""

    space: str
    strategy: str
    board: str
    runtime: str
    limits: Limits
    seed: int | None  # None for a strategy without randomness
    spec: ModelSpec | None
    stage_config: StageConfig | None
    cost: CostReport | None
    evaluated: int
    feasible: int
    confirmed_after: int  # candidates checked with the full cost model until one met every limit
    table_seconds: float
    search_seconds: float
    seconds: float  # tables, search and confirmation (not the Pareto front)
    minima: Metrics | None = None  # when nothing was found
    result: SearchResult | None = field(default=None, repr=False)
    num_classes: int = 1000
    reason: str | None = None  # why nothing was found (which limit binds), when not found
    options: dict[str, OptionValue] = field(default_factory=dict)  # the strategy's options, defaults filled in
    pareto: ParetoStudy | None = field(default=None, repr=False)
    patch_option: str | None = None  # --patch (None: layer-based only)
    plan: str | None = None  # with patch_option: the winner's plan, "layer-based" or "PxP@N"
    patch: PatchCost | None = field(default=None, repr=False)  # the winner's patched figures (a patch plan won)
    capped: bool = False  # the confirmation cap stopped the walk: no optimum claimed

    @property
    def found(self) -> bool:
        return self.spec is not None

    def to_dict(self) -> JSONDict:
        d: JSONDict = {
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
            "minima": self.minima.to_dict() if self.minima else None,
        }
        if self.pareto is not None:
            d["pareto"] = self.pareto.to_list()
        if self.patch_option is not None:
            d["patch"] = {"option": self.patch_option, "plan": self.plan, "capped": self.capped,
                          "cost": self.patch.to_dict() if self.patch else None}
        return d


def meets(report: CostReport, limits: Limits) -> bool:
    return (report.latency_ms <= limits.latency_ms + 1e-9 and report.flash_bytes <= limits.flash_bytes
            and report.peak_sram_bytes <= limits.peak_sram_bytes and limits.min_macs <= report.macs <= limits.max_macs)


def confirm(space: Space, candidates: Sequence[Candidate], board: Board, runtime: str, lm: LatencyModel,
            limits: Limits) -> Confirmation:
    """First candidate (best first) whose full cost meets every limit."""
    for n, cand in enumerate(candidates, start=1):
        cfg = space.stage_config(cand.resolution_index, cand.choices)
        spec = from_stage_config(cfg)
        rep = cost_model(spec, board, runtime=runtime, latency_model=lm)
        if meets(rep, limits):
            return Confirmation(spec, cfg, rep, n)
    return Confirmation(None, None, None, len(candidates))


def make_strategy(strategy: str | Strategy, *, seed: int | None = None, fitness: Fitness | None = None,
                  journal: object = None, **options: OptionValue) -> Strategy:
    """The strategy a run uses, its options and seed checked, and refused when it cannot use the given
    custom ``fitness`` or ``journal``."""
    if isinstance(strategy, Strategy):
        if options or seed is not None:
            raise InputError("give the seed and options to the strategy's constructor, not with an instance")
        strat = strategy
    else:
        strat = get_strategy(strategy)(seed=seed, **options)
    if fitness is not None and not strat.custom_fitness:
        raise InputError(f"strategy {strat.name!r} maximizes MACs and takes no custom fitness; "
                         f"use {' or '.join(_names(lambda s: s.custom_fitness))}")
    if journal is not None and not strat.resumable:
        raise InputError(f"strategy {strat.name!r} does not keep a journal (resumable strategies: "
                         f"{', '.join(_names(lambda s: s.resumable))})")
    return strat


def _names(has: Callable[[type[Strategy]], bool]) -> list[str]:
    return [n for n in list_strategies() if has(get_strategy(n))]


def run_search(space: Space, board: Board, lm: LatencyModel, limits: Limits, *, runtime: str | None = None,
               strategy: str | Strategy = "exhaustive", seed: int | None = None, fitness: Fitness | None = None,
               journal: Journal | str | os.PathLike[str] | None = None, progress: Progress | None = None,
               tables: list[ResolutionTables] | None = None, db_path: str | None = None, pareto: bool = False,
               patch: str | None = None, max_confirm: int = 2000, **options: OptionValue) -> SearchOutcome:
    """Search ``space`` with ``strategy`` (its ``seed`` and ``options`` are checked: unknown or invalid ones
    are errors), then confirm the best candidates with the full cost model.

    ``journal`` — a path (or an open :class:`Journal`) makes a resumable run: the journal's header records
    what the evaluations depend on (see :func:`atomnet.search.search_header`) and resuming with anything
    different is refused. ``db_path`` only names the database in those messages. ``pareto`` also computes
    the exact MACs-vs-latency front with the zoo's ImageNet models beside it (``outcome.pareto``).

    ``patch="auto"`` searches architecture × execution plan (:mod:`atomnet.search._patch`): the tables drop
    their SRAM bound, the best ``max_confirm`` candidates are confirmed layer-based or under a patch plan;
    the exhaustive strategy then keeps ``top_k = max_confirm`` per resolution (unless given) so the walk is exact."""
    check_patch_option(patch)
    if isinstance(max_confirm, bool) or not isinstance(max_confirm, int) or max_confirm < 1:
        raise InputError(f"max_confirm: expected a positive integer, got {max_confirm!r}")
    if patch is not None and strategy == "exhaustive" and "top_k" not in options:
        options["top_k"] = max_confirm
    strat = make_strategy(strategy, seed=seed, fitness=fitness, journal=journal, **options)
    t0 = time.perf_counter()
    rt = runtime or board.runtime
    if tables is None:
        tables = build_tables(space, lm, rt, progress=(lambda d, t: progress("tables", d, t)) if progress else None)
    t1 = time.perf_counter()
    table_limits = replace(limits, peak_sram_bytes=np.inf) if patch is not None else limits
    ev: Evaluator = TableEvaluator(space, tables, table_limits, fitness)
    own = journal is not None and not isinstance(journal, Journal)
    if journal is not None and not isinstance(journal, Journal):
        journal = Journal(journal, _header(strat, space, board, rt, limits, lm, db_path, tables, fitness,
                                           patch, max_confirm))
    try:
        if journal is not None:
            ev = JournaledEvaluator(ev, journal)
        res = strat.run(ev, (lambda d, t: progress("search", d, t)) if progress else None)
    finally:
        if own and journal is not None:
            journal.close()
    t2 = time.perf_counter()
    plan: str | None = None
    pcost: PatchCost | None = None
    capped = False
    if patch is not None:
        pok = confirm_patch(space, res.candidates, board, rt, lm, limits, max_confirm)
        ok = Confirmation(pok.spec, pok.stage_config, pok.cost, pok.checked)
        plan, pcost, capped = pok.plan, pok.patch, pok.capped
    else:
        ok = (confirm(space, res.candidates, board, rt, lm, limits) if res.candidates
              else Confirmation(None, None, None, 0))
    mins = reason = None
    if ok.spec is None:
        mins = res.minima if res.minima is not None else ev.minima()
        reason = _why_nothing(strat.name, res, ok.checked, mins, max(max_macs(t) for t in tables),
                              table_limits)
        if patch is not None:
            reason = (f"with --patch {patch}: none of the best {ok.checked} candidates met the limits layer-based or "
                      f"under any patch plan" + (f" (stopped by the cap of {max_confirm} confirmations: raise "
                                                  "--max-confirm; no optimum claimed)" if capped else "")
                      + ". " + reason)
    t3 = time.perf_counter()
    study = pareto_study(space, tables, limits, board, lm, rt) if pareto else None
    return SearchOutcome(space.name, strat.name, board.name, rt, limits, strat.seed, ok.spec, ok.stage_config,
                         ok.cost, res.evaluated, res.feasible, ok.checked, t1 - t0, t2 - t1, t3 - t0, mins, res,
                         space.num_classes, reason, dict(strat.options), study, patch, plan, pcost, capped)


def _header(strat: Strategy, space: Space, board: Board, runtime: str, limits: Limits, lm: LatencyModel,
            db_path: str | None, tables: Sequence[ResolutionTables], fitness: Fitness | None,
            patch: str | None = None, max_confirm: int = 2000) -> JSONDict:
    fit = "macs" if fitness is None else f"custom:{getattr(fitness, '__qualname__', type(fitness).__name__)}"
    return search_header(space=space, board=board, runtime=runtime, limits=limits, strategy=strat.name,
                         seed=strat.seed if strat.seed is not None else 0, options=strat.options,
                         latency=latency_source(lm, db_path), tables=tables, fitness=fit,
                         patch={"option": patch, "max_confirm": max_confirm} if patch is not None else None)


def _why_nothing(strategy: str, res: SearchResult, checked: int, mins: Metrics, most_macs: float,
                 limits: Limits) -> str:
    """Which limit binds when nothing was found: the limits no architecture meets even on its own first."""
    kb = 1024.0
    smallest = (f"The smallest any architecture reaches: latency {mins.latency_ms:.1f} ms, Flash "
                f"{mins.flash_bytes / kb:.0f} KB, peak SRAM {mins.peak_sram_bytes / kb:.0f} KB (each on its own).")
    alone = _alone(mins, most_macs, limits)
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


def _alone(mins: Metrics, most_macs: float, limits: Limits) -> list[str]:
    """The limits that no architecture of the space meets even on its own."""
    kb = 1024.0
    out = []
    if mins.latency_ms > limits.latency_ms:
        out.append(f"latency: the fastest architecture takes {mins.latency_ms:.1f} ms, over the "
                   f"{limits.latency_ms:g} ms limit")
    if mins.flash_bytes > limits.flash_bytes:
        out.append(f"Flash: the smallest architecture needs {mins.flash_bytes / kb:.0f} KB, over the "
                   f"{limits.flash_bytes / kb:g} KB limit")
    if mins.peak_sram_bytes > limits.peak_sram_bytes:
        out.append(f"peak SRAM: the smallest architecture needs {mins.peak_sram_bytes / kb:.0f} KB, over "
                   f"the {limits.peak_sram_bytes / kb:g} KB limit")
    if mins.macs > limits.max_macs:
        out.append(f"MACs: the smallest architecture has {mins.macs / 1e6:.2f} M, over --max-macs "
                   f"{limits.max_macs / 1e6:g} M")
    if most_macs < limits.min_macs:
        out.append(f"MACs: the largest architecture has {most_macs / 1e6:.2f} M, under --min-macs "
                   f"{limits.min_macs / 1e6:g} M")
    return out
