"""What ``atomnet db query`` and ``atomnet db fit`` compute: one operator's latency on a board (the exact
aggregate of its measurements, scaled for a scaled board, else a prediction), and predictors fitted from a
board's rows with their provenance (sources, runtime, cross-validation) stored in the database."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from atomnet.boards import Board
from atomnet.db._cv import cross_validate
from atomnet.db._predict import fit_predictors
from atomnet.db._predict_features import Floats
from atomnet.db._store import AGGREGATES, AtomDB, OpStat
from atomnet.errors import InputError
from atomnet.jsontypes import JSONDict
from atomnet.ops import KINDS, Op


class OpPricer(Protocol):
    """What prices an operator without a measurement (:class:`atomnet.cost.LatencyModel`)."""

    @property
    def predictor_origin(self) -> str: ...

    def price_ops(self, ops: Sequence[Op]) -> tuple[Floats, Sequence[str]]: ...


@dataclass(frozen=True)
class OpQuery:
    """The latency of ``op`` on ``board``: ``source`` is ``exact`` (the ``aggregate`` of ``stat``'s repeats),
    ``exact+scaled`` (a scaled board: the reference board's rows × its time scale) or the predictor's source."""

    board: str
    op: Op
    source: str
    latency_ms: float
    aggregate: str | None = None
    stat: OpStat | None = None
    repeats_ms: tuple[float, ...] = ()
    predictor: str | None = None

    def to_dict(self) -> JSONDict:
        d: JSONDict = {"board": self.board, "op": self.op.to_dict(), "macc": self.op.macc,
                             "flash_bytes": self.op.flash_bytes, "source": self.source}
        s = self.stat
        if s is None:
            d.update(latency_ms=self.latency_ms, predictor=self.predictor)
            return d
        d.update(aggregate=self.aggregate, latency_ms=self.latency_ms, n=s.n, median_ms=s.median_ms,
                 min_ms=s.min_ms, max_ms=s.max_ms, spread=s.spread, repeats_ms=list(self.repeats_ms))
        return d


def query_op(db: AtomDB | None, board: Board, op: Op, *, aggregate: str = "median",
             predictor: Callable[[], OpPricer] | None = None) -> OpQuery:
    """The latency of ``op`` on ``board`` (a :class:`~atomnet.boards.Board`): the ``aggregate`` of its
    measurements in ``db`` under the board's measured board, times its time scale; without a measurement,
    ``predictor()`` prices it (called only then).

    >>> from atomnet.boards import get_board
    >>> q = query_op(None, get_board("stm32h743"), Op.pointwise(80, 7, 7, 480),
    ...              predictor=lambda: _Fixed(1.5))
    >>> q.source, q.latency_ms
    ('predicted', 1.5)
    """
    if aggregate not in AGGREGATES:
        raise InputError(f"aggregate: expected one of {', '.join(AGGREGATES)}, got {aggregate!r}")
    stat = db.lookup(op, board.measured_board) if db is not None else None
    if stat is not None:
        lat = {"median": stat.median_ms, "min": stat.min_ms, "max": stat.max_ms}[aggregate]
        return OpQuery(board.name, op, "exact+scaled" if board.is_scaled else "exact", lat * board.time_scale,
                       aggregate, stat, tuple(db.raw_latencies(op, board.measured_board)))  # type: ignore[union-attr]
    if predictor is None:
        raise InputError(f"{op.describe()}: no measurement on {board.measured_board} and no predictor given")
    model = predictor()
    lat_ms, src = model.price_ops([op])
    return OpQuery(board.name, op, str(src[0]), float(lat_ms[0]), predictor=str(model.predictor_origin))


class _Fixed:
    """A predictor of one constant latency (the doctest's)."""

    def __init__(self, ms: float) -> None:
        self.ms = ms

    @property
    def predictor_origin(self) -> str:
        return "fixed"

    def price_ops(self, ops: Sequence[Op]) -> tuple[Floats, Sequence[str]]:
        return np.full(len(ops), self.ms), ["predicted"] * len(ops)


def board_samples(db: AtomDB, board: str) -> dict[str, dict[str, NDArray[np.generic]]]:
    """Per-key median samples of every operator kind measured on ``board`` (the predictors' training data)."""
    out = {}
    for kind in KINDS:
        s = db.samples(board, kind)
        if len(s["latency_ms"]):
            out[kind] = s
    return out


@dataclass(frozen=True)
class FitOutcome:
    """What :func:`fit_board` did: the predictor JSON stored for ``board``, the keys per kind it was fitted on,
    and with cross-validation the scheme and the per-kind errors (``CVResult.to_dict()`` subsets)."""

    board: str
    predictors_json: str
    keys_by_kind: dict[str, int]
    scheme: str | None = None
    folds: int | None = None
    cv: dict[str, dict[str, float | int | None]] = field(default_factory=dict)

    @property
    def keys(self) -> int:
        return sum(self.keys_by_kind.values())


def fit_board(db: AtomDB, board: str, *, cv: str | None = None, folds: int = 5, seed: int = 0) -> FitOutcome:
    """Fit one predictor per kind from ``board``'s per-key medians (cross-validated first with ``cv``), record
    the sources, runtime and cross-validation in the predictors' provenance, and store them in ``db``."""
    if not db.has_board(board):
        raise InputError(f"db fit: no measurements for board {board!r} in {db.path}; "
                         f"boards there: {', '.join(db.boards()) or 'none'} (import with 'atomnet db import')")
    samples = board_samples(db, board)
    kinds: dict[str, dict[str, float | int | None]] = {}
    if cv:
        kinds = {k: r.figures() for k, r in cross_validate(samples, cv, folds=folds, seed=seed).items()}
    srcs = db.sources(board)
    prov: JSONDict = {"runtime": srcs[0]["runtime"],
                            "sources": [{"path": s["path"], "sha256": s["sha256"], "format": s["format"]}
                                        for s in srcs]}
    if cv:
        prov["cross_validation"] = {"scheme": cv, "folds": folds, "seed": seed, "kinds": kinds}
    text = json.dumps(fit_predictors(samples, board=board, provenance=prov).to_dict(), separators=(",", ":"))
    db.save_predictors(board, text)
    return FitOutcome(board, text, {k: len(s["latency_ms"]) for k, s in samples.items()}, cv or None,
                      folds if cv else None, kinds)
