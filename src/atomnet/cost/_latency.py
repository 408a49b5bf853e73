"""Latency of atom operators on a board: exact AtomDB median when measured, else the fitted predictor.

Kernel additivity (AtomNet §3): a model's latency is the sum of its operators' latencies. A board
without its own measurements is priced from its reference board and scaled by ``Board.time_scale``
(see :mod:`atomnet.boards`); such figures are marked ``scaled``.

Predictors come from, in order: the ones fitted into the user's database (``atomnet db fit``), then
the embedded default shipped with the package for the public STM32H743 data
(``atomnet/data/predictors/<board>.json``), so costing works on a fresh install with no database.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from typing import TYPE_CHECKING

import numpy as np

from atomnet.boards import Board, Transfer
from atomnet.cost._arrays import BoolArray, FloatArray
from atomnet.db import AtomDB, NoPredictorError, OpTable
from atomnet.errors import InputError
from atomnet.jsontypes import JSONDict
from atomnet.ops import ELTWISE_FNS, KEY_FIELDS, KIND_ID, KINDS, Op
from atomnet.runtimes import canonical_runtime, list_runtimes

if TYPE_CHECKING:
    from atomnet.db import PredictorSet

_ELTWISE = KIND_ID["eltwise"]


def embedded_predictors(board: str) -> PredictorSet | None:
    """The predictors shipped with atomnet for ``board`` (None when there are none)."""
    from atomnet.db import PredictorSet

    try:
        text = resources.files("atomnet").joinpath(f"data/predictors/{board}.json").read_text()
    except (FileNotFoundError, OSError):
        return None
    return PredictorSet.from_dict(json.loads(text))


@dataclass
class LatencyModel:
    """Prices operators for one board. ``table`` is None when the database has no rows for it."""

    board: Board
    table: OpTable | None
    predictors: PredictorSet | None
    predictor_origin: str
    runtime: str  # canonical name of the runtime the measurements were taken with (decides the lowering)
    #: the board's transfer model applied (docs/transfer.md): prices times its factor of the key's kind group
    transfer: Transfer | None = None

    @cached_property
    def measured_eltwise_fns(self) -> frozenset[int]:
        """Ids (:data:`atomnet.ops.ELTWISE_FNS`) of the element-wise functions the board's rows measured: the
        predictor prices only those. Without element-wise rows, ADD (the public AtomDB's residual adds, which the
        embedded predictors were fitted on)."""
        fns = {k[7] for k in (self.table.keys() if self.table is not None else []) if k[0] == _ELTWISE}
        return frozenset(fns or {0})

    @property
    def scale(self) -> float:
        if self.transfer is not None:
            return self.transfer.level
        return self.board.time_scale if self.board.is_scaled else 1.0

    def label(self, exact: bool) -> str:
        s = "exact" if exact else "predicted"
        return s + "+transfer" if self.transfer is not None else s + "+scaled" if self.board.is_scaled else s

    def _key_scale(self, keys: Sequence[tuple[int, ...]]) -> FloatArray | float:
        if self.transfer is None or not len(keys):
            return self.scale
        t = self.transfer
        return np.asarray([t.kind_factor(KINDS[int(k[0])]) for k in keys], dtype=float)

    def price_keys(self, keys: Sequence[tuple[int, ...]]) -> tuple[FloatArray, BoolArray]:
        """Latency (ms, scaled to the board) and an ``exact`` mask for operator keys; a key neither measured nor
        predictable (:meth:`unpriced_reason`) raises :class:`~atomnet.db.NoPredictorError` naming it."""
        lat, exact = self._price(keys, strict=True)
        if np.isnan(lat).any():
            k = tuple(keys[int(np.argmax(np.isnan(lat)))])
            mb = self.board.measured_board
            if self.predictors is None:
                raise NoPredictorError(f"no measurement of {Op.from_key(k).describe()} on {mb} and no predictors; "
                                       f"run 'atomnet db fit --board {mb}'")
            raise NoPredictorError(f"no measurement of {Op.from_key(k).describe()} on {mb} and no predictor for it "
                                   f"({self.unpriced_reason(k)})")
        return lat, exact

    def price_keys_partial(self, keys: Sequence[tuple[int, ...]]) -> tuple[FloatArray, BoolArray]:
        """Like :meth:`price_keys`, but a key that nothing prices gets NaN (``exact`` False) instead of an error:
        an element-wise key whose function was never measured on the board (:attr:`measured_eltwise_fns`; the
        public AtomDB's element-wise rows are residual ADDs: no extrapolation from ADD to MUL), and every key that
        was not measured when there are no predictors or none for its kind."""
        return self._price(keys, strict=False)

    def _price(self, keys: Sequence[tuple[int, ...]], strict: bool) -> tuple[FloatArray, BoolArray]:
        n = len(keys)
        lat = self.table.lookup_keys(keys) if self.table is not None else np.full(n, np.nan)
        exact = ~np.isnan(lat)
        if not exact.all() and self.predictors is not None:
            miss = np.nonzero(~exact)[0]
            arr = np.asarray([keys[int(i)] for i in miss], dtype=np.int64).reshape(-1, 10)
            fns = np.array(sorted(self.measured_eltwise_fns), dtype=np.int64)
            ok = ~((arr[:, 0] == _ELTWISE) & ~np.isin(arr[:, 7], fns))  # only functions that were measured
            if ok.any():
                lat[miss[ok]] = self.predict_keys([keys[int(i)] for i in miss[ok]], strict=strict)
        return lat * self._key_scale(keys), exact

    def unpriced_reason(self, key: tuple[int, ...]) -> str:
        """Why :meth:`price_keys_partial` gives ``key`` no latency ("" when it prices it)."""
        if self.table is not None and not np.isnan(self.table.lookup_keys([key])[0]):
            return ""
        if key[0] == _ELTWISE and key[7] not in self.measured_eltwise_fns:
            fitted = ", ".join(ELTWISE_FNS[f].upper() for f in sorted(self.measured_eltwise_fns))
            return (f"element-wise {ELTWISE_FNS[key[7]].upper()} was never measured on {self.board.measured_board} "
                    f"and the element-wise predictor is fitted on {fitted} only")
        if self.predictors is None:
            return f"not measured on {self.board.measured_board} and no predictors"
        kind = KINDS[key[0]]
        if kind not in self.predictors.kinds():
            return f"not measured on {self.board.measured_board} and no {kind} predictor"
        return ""

    def predict_keys(self, keys: Sequence[tuple[int, ...]], *, strict: bool = True) -> FloatArray:
        """Predicted latency (ms, unscaled) per key; a kind without a predictor raises, or (``strict=False``)
        gets NaN."""
        assert self.predictors is not None
        arr = np.asarray(keys, dtype=np.int64).reshape(-1, 10)
        out = np.full(len(arr), np.nan)
        for kid in np.unique(arr[:, 0]):
            m = arr[:, 0] == kid
            cols = {f: arr[m, i + 1] for i, f in enumerate(KEY_FIELDS)}
            try:
                out[m] = self.predictors.predict(KINDS[int(kid)], cols)
            except NoPredictorError:
                if strict:
                    raise
        return out

    def price_ops(self, ops: Sequence[Op]) -> tuple[FloatArray, list[str]]:
        lat, exact = self.price_keys([op.key for op in ops])
        return lat, [self.label(bool(e)) for e in exact]

    def describe(self) -> JSONDict:
        return {"board": self.board.name, "measured_board": self.board.measured_board,
                "exact_keys": len(self.table) if self.table is not None else 0,
                "predictors": self.predictor_origin, "runtime": self.runtime, "time_scale": self.scale,
                "transfer": self.transfer.to_dict() if self.transfer is not None else None}


def load_latency_model(board: Board, db: AtomDB | None = None, for_runtime: str | None = None) -> LatencyModel:
    """Latency model of ``board``: exact rows of ``db`` (if it has the board) + predictors, times the board's
    transfer for ``for_runtime`` where it has one, else its transfer for the board's own runtime (docs/transfer.md;
    none on the reference board for its measured runtime)."""
    mb = board.measured_board
    table = db.table(mb) if db is not None and db.has_board(mb) else None
    runtime = "xcube-ai"
    predictors, origin = None, "none"
    if db is not None:
        js = db.predictors_json(mb)
        if js is not None:
            from atomnet.db import PredictorSet

            predictors, origin = PredictorSet.from_dict(json.loads(js)), f"fitted in {db.path}"
        srcs = db.sources(mb)
        if srcs:
            runtime = srcs[0]["runtime"]
    if predictors is None:
        predictors = embedded_predictors(mb)
        if predictors is not None:
            origin = f"embedded default for {mb}"
            if table is None:  # the database's own rows say which runtime measured them
                runtime = str(predictors.provenance.get("runtime", runtime))
    try:  # provenance may carry an alias ("x-cube-ai" in databases and predictors written before 0.2)
        runtime = canonical_runtime(runtime)
    except ValueError:
        raise InputError(f"board {mb!r}: the measurements were taken with runtime {runtime!r}, which is not "
                         f"registered (known: {', '.join(list_runtimes())}); register it "
                         "(atomnet.runtimes.register_runtime) or re-import the rows with --runtime") from None
    if table is None and predictors is None:
        raise NoPredictorError(f"board {board.name!r}: no measurements of {mb!r} in the database and no "
                               f"embedded predictors; import an AtomDB for it ('atomnet db import … --board {mb}') "
                               f"and run 'atomnet db fit --board {mb}'")
    transfer = (board.transfer_for(for_runtime) if for_runtime else None) or board.transfer_for(board.runtime)
    return LatencyModel(board, table, predictors, origin, runtime, transfer)
