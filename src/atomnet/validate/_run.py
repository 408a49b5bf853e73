"""``validate``: every stored whole-model measurement against atomnet's estimate (the result objects).

Per row: how its model was found (:mod:`._resolve`), the estimate of each measured quantity with its method and
basis (:mod:`._estimate`, :mod:`._latency`), the relative error. Per board and runtime, and per quantity: the
:class:`~atomnet.validate.ErrorStats`; the rows that could not be priced, counted with their reason.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypedDict

from atomnet.boards import get_board
from atomnet.db import AtomDB, ModelMeasurement
from atomnet.errors import InputError
from atomnet.jsontypes import JSONDict
from atomnet.runtimes import get_runtime
from atomnet.validate._estimate import QUANTITIES, Estimate, memory_estimates
from atomnet.validate._latency import LatencyTransfers, latency_estimate
from atomnet.validate._price import PriceCache, Priced
from atomnet.validate._resolve import DEFAULT_TFLITE_DIR, Resolution, resolve_row, runtime_key
from atomnet.validate._stats import ErrorStats, error_stats
from atomnet.validate._xcube import XCubeMemoryLoo, seen_by_embedded

Progress = Callable[[int, int], None]


class FamilyCounts(TypedDict):
    """Rows of one source family: stored, priced, and not priced per category."""

    rows: int
    priced: int
    unpriced: dict[str, int]


@dataclass(frozen=True)
class RowResult:
    """One stored row against its estimates. ``board`` / ``runtime``: the group it is counted in (atomnet
    names, else as printed); ``oom_predicted``: for a row printed as out of memory, whether atomnet's estimate
    exceeds the board's SRAM or Flash (None when not priced)."""

    row_id: str
    family: str
    board: str
    runtime: str
    version: str
    model: str
    resolution: Resolution
    estimates: tuple[Estimate, ...] = ()
    oom: bool = False
    oom_predicted: bool | None = None
    approx: tuple[str, ...] = ()
    #: an earlier row this one repeats (same board, runtime, version, model and measured values, as the
    #: TinyEngine README's older tables repeat the current one): listed, but counted once in the statistics
    duplicate_of: str | None = None

    @property
    def priced(self) -> bool:
        return self.resolution.priced and (any(e.estimate is not None for e in self.estimates)
                                           or self.oom_predicted is not None)

    def estimate(self, quantity: str) -> Estimate | None:
        return next((e for e in self.estimates if e.quantity == quantity), None)

    def to_dict(self) -> JSONDict:
        r = self.resolution
        return {"row": self.row_id, "family": self.family, "board": self.board, "runtime": self.runtime,
                "version": self.version, "model_as_printed": self.model, "model": r.model, "model_kind": r.model_kind,
                "priced_as": r.runtime, "how": r.how, "priced": self.priced, "unpriced_category": r.category,
                "unpriced_reason": r.reason or None, "oom": self.oom, "oom_predicted": self.oom_predicted,
                "approx": list(self.approx), "duplicate_of": self.duplicate_of,
                "estimates": [e.to_dict() for e in self.estimates]}


@dataclass(frozen=True)
class GroupStats:
    """The errors of one quantity over the rows of one board and runtime (``board``/``runtime`` "all" for the
    total over every group); ``bases``: the bases of the estimates counted (:mod:`._estimate`)."""

    board: str
    runtime: str
    quantity: str
    stats: ErrorStats
    bases: tuple[str, ...]

    def to_dict(self) -> JSONDict:
        return {"board": self.board, "runtime": self.runtime, "quantity": self.quantity, **self.stats.to_dict(),
                "bases": list(self.bases)}


@dataclass(frozen=True)
class Unpriced:
    """Rows (or quantities of rows: ``quantity`` not None) of one board and runtime that were not priced, for
    one category (:data:`~atomnet.validate.CATEGORIES`); ``reasons``: each distinct reason and its row count."""

    board: str
    runtime: str
    category: str
    quantity: str | None
    rows: int
    reasons: tuple[tuple[str, int], ...]

    def to_dict(self) -> JSONDict:
        return {"board": self.board, "runtime": self.runtime, "category": self.category, "quantity": self.quantity,
                "rows": self.rows, "reasons": [{"reason": r, "rows": n} for r, n in self.reasons]}


@dataclass(frozen=True)
class Validation:
    """The result of :func:`validate`: per row, per group and quantity, the unpriced counts, where latency came
    from (``latency_model``), and the time spent (``seconds``: resolve+price, transfers, total)."""

    rows: tuple[RowResult, ...]
    groups: tuple[GroupStats, ...]
    unpriced: tuple[Unpriced, ...]
    latency_model: str
    tflite_dir: str
    seconds: dict[str, float] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def by_family(self) -> dict[str, FamilyCounts]:
        """Per source family: rows, rows priced, and the unpriced rows per category."""
        out: dict[str, FamilyCounts] = {}
        for r in self.rows:
            d = out.setdefault(r.family, {"rows": 0, "priced": 0, "unpriced": {}})
            d["rows"] += 1
            if r.priced:
                d["priced"] += 1
            else:
                cat = r.resolution.category or "not-priced"
                d["unpriced"][cat] = d["unpriced"].get(cat, 0) + 1
        return out

    def counted(self) -> list[tuple[RowResult, Estimate]]:
        """The (row, estimate) pairs the statistics count (:func:`counted`)."""
        return counted(self.rows)

    def to_dict(self) -> JSONDict:
        return {"rows": [r.to_dict() for r in self.rows], "groups": [g.to_dict() for g in self.groups],
                "unpriced": [u.to_dict() for u in self.unpriced],
                "by_family": {k: dict(v) for k, v in self.by_family().items()},
                "latency_model": self.latency_model, "tflite_dir": self.tflite_dir,
                "seconds": {k: round(v, 3) for k, v in self.seconds.items()}, "notes": list(self.notes),
                "counts": {"rows": len(self.rows), "priced": sum(r.priced for r in self.rows),
                           "duplicates": sum(r.duplicate_of is not None for r in self.rows)}}


def _group(m: ModelMeasurement, res: Resolution) -> tuple[str, str]:
    board = res.board or m.board or m.mcu or m.board_as_printed
    rts = runtime_key(m)
    runtime = res.latency_runtime or (rts[1] if rts else None) or m.runtime_as_printed or "(not stated)"
    return board, runtime


def _oom_predicted(res: Resolution, cache: PriceCache, m: ModelMeasurement) -> bool | None:
    assert res.model is not None and res.model_kind is not None and res.runtime is not None
    assert res.board is not None
    b = get_board(res.board)
    p = cache.price(res.model, res.model_kind, res.runtime, b)
    if p.peak_sram_bytes is None or p.flash_bytes is None:
        return None
    return p.peak_sram_bytes > b.sram_bytes or p.flash_bytes > b.flash_bytes


def _memory(m: ModelMeasurement, res: Resolution, priced: Priced, xloo: XCubeMemoryLoo) -> list[Estimate]:
    assert res.runtime is not None and res.latency_runtime is not None
    measured = m.measured()
    ests = memory_estimates(priced, res.runtime, res.latency_runtime, measured)
    if not get_runtime(res.runtime).planner.startswith("xcube-ai"):
        return ests
    if xloo.covers(m):  # fitted on these rows: the left-out estimates replace the planner's
        return [e for e in ests if e.quantity == "weights_flash_bytes"] + xloo.estimates(m, priced.weights_flash_bytes)
    return [Estimate(e.quantity, e.measured, None, "the shipped X-CUBE-AI constants were fitted on this row", "loo")
            if seen_by_embedded(m, e.quantity) else e for e in ests]


def _row(m: ModelMeasurement, res: Resolution, cache: PriceCache, transfers: LatencyTransfers,
         xloo: XCubeMemoryLoo) -> RowResult:
    board, runtime = _group(m, res)
    base = RowResult(res.row_id, m.family, board, runtime, m.runtime_version or "", m.model_as_printed, res,
                     oom=m.oom, approx=m.approx)
    if not res.priced:
        return base
    assert res.model is not None and res.model_kind is not None and res.runtime is not None
    assert res.board is not None and res.latency_runtime is not None
    b = get_board(res.board)
    priced = cache.price(res.model, res.model_kind, res.runtime, b)
    ests: list[Estimate] = []
    if m.latency_ms is not None:
        lm = cache.latency_model(b.measured_board)
        lm_runtime = lm.runtime if not isinstance(lm, InputError) else "xcube-ai"
        ests.append(latency_estimate(m, res, priced, lm_runtime, transfers))
    ests += _memory(m, res, priced, xloo)
    ests.sort(key=lambda e: QUANTITIES.index(e.quantity))
    oom = _oom_predicted(res, cache, m) if m.oom else None
    return RowResult(base.row_id, base.family, board, runtime, base.version, base.model, res, tuple(ests), m.oom,
                     oom, m.approx)


def _mark_duplicates(rows: Sequence[RowResult], ms: Sequence[ModelMeasurement]) -> list[RowResult]:
    first: dict[tuple[object, ...], str] = {}
    out = []
    for r, m in zip(rows, ms, strict=True):
        if r.resolution.priced:
            key = (r.board, r.runtime, r.version, r.resolution.model, m.oom, tuple(sorted(m.measured().items())))
            if key in first:
                r = replace(r, duplicate_of=first[key])
            else:
                first[key] = r.row_id
        out.append(r)
    return out


def counted(rows: Sequence[RowResult]) -> list[tuple[RowResult, Estimate]]:
    """The estimates the statistics count: a measured value that an earlier row of the same board, runtime,
    version and model printed already is counted once (a whole duplicate row, or one cell of a row repeated by
    an older table, e.g. the same latency beside a different Flash); estimates without a value are left out."""
    seen: set[tuple[object, ...]] = set()
    out = []
    for r in rows:
        if r.duplicate_of is not None:
            continue
        for e in r.estimates:
            key = (r.board, r.runtime, r.version, r.resolution.model, e.quantity, e.measured)
            if key in seen:
                continue
            seen.add(key)
            if e.error is not None:
                out.append((r, e))
    return out


def _groups(rows: Sequence[RowResult]) -> list[GroupStats]:
    """Statistics per (board, runtime, quantity) and over all, of the :func:`counted` estimates."""
    errs: dict[tuple[str, str, str], list[Estimate]] = {}
    for r, e in counted(rows):
        errs.setdefault((r.board, r.runtime, e.quantity), []).append(e)
        errs.setdefault(("all", "all", e.quantity), []).append(e)
    out = []
    for (b, rt, q), es in errs.items():
        st = error_stats([e.error for e in es if e.error is not None])
        assert st is not None
        out.append(GroupStats(b, rt, q, st, tuple(sorted({e.basis for e in es}))))
    out.sort(key=lambda g: (g.board == "all", g.board, g.runtime, QUANTITIES.index(g.quantity)))
    return out


def _unpriced(rows: Sequence[RowResult]) -> list[Unpriced]:
    counts: dict[tuple[str, str, str, str | None], list[str]] = {}
    for r in rows:
        if r.resolution.category is not None:
            counts.setdefault((r.board, r.runtime, r.resolution.category, None), []).append(r.resolution.reason)
            continue
        for e in r.estimates:
            if e.estimate is None:
                counts.setdefault((r.board, r.runtime, "not-priced", e.quantity), []).append(e.method)
    out = []
    for (b, rt, c, q), why in sorted(counts.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2], kv[0][3] or "")):
        reasons: dict[str, int] = {}
        for w in why:
            reasons[w] = reasons.get(w, 0) + 1
        out.append(Unpriced(b, rt, c, q, len(why), tuple(reasons.items())))
    return out


def validate(db: AtomDB, *, board: str | None = None, runtime: str | None = None, rows: int | None = None,
             tflite_dir: str | Path | None = None, progress: Progress | None = None) -> Validation:
    """Every whole-model measurement stored in ``db`` (``board`` / ``runtime``: only those rows, as
    :meth:`atomnet.db.AtomDB.model_measurements` selects them; ``rows``: the first that many) against
    atomnet's estimate. Fitted components are fitted on every stored row and evaluated leave-one-model-out.
    A database without whole-model rows is an :class:`~atomnet.errors.InputError` saying how to import them."""
    t0 = time.perf_counter()
    every = db.model_measurements()
    if not every:
        raise InputError(f"{db.path}: no whole-model measurements; import the public ones with "
                         "'atomnet db import-models ../shared/published/measurements.json'")
    selected = db.model_measurements(board, runtime) if (board or runtime) else every
    if rows is not None:
        selected = selected[:rows]
    tdir = Path(tflite_dir) if tflite_dir is not None else DEFAULT_TFLITE_DIR
    cache = PriceCache(db)
    t1 = time.perf_counter()
    transfers = LatencyTransfers(db, every, tdir)
    xloo = XCubeMemoryLoo(every)
    t2 = time.perf_counter()
    out = []
    for i, m in enumerate(selected):
        out.append(_row(m, resolve_row(m, tdir), cache, transfers, xloo))
        if progress is not None:
            progress(i + 1, len(selected))
    out = _mark_duplicates(out, selected)
    t3 = time.perf_counter()
    lm = cache.latency_model("stm32h743")
    origin = str(lm) if isinstance(lm, InputError) else f"{lm.board.name} {lm.runtime}: " + (
        "operator rows of the database + " if lm.table is not None else "no operator rows in the database; ") + \
        f"predictors {lm.predictor_origin}"
    notes = (transfers.error,) if transfers.error else ()
    return Validation(tuple(out), tuple(_groups(out)), tuple(_unpriced(out)), origin, str(tdir),
                      {"fits": t2 - t1, "rows": t3 - t2, "total": t3 - t0}, notes)
