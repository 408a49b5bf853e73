"""Latency of a row on its board and runtime, leave-one-model-out where a transfer is fitted on these rows.

The board / runtime transfers (:mod:`atomnet.calibrate`, ``docs/transfer.md``) are refitted here on the
database's own rows, exactly as the shipped ones are fitted on the public rows (the same plan, priors and
prior strengths), and each row's estimate is the one :mod:`atomnet.calibrate` computes leave-one-model-out: a
fit (its prior strength included) that saw no row of the row's model. A per-version fit whose prior is the fit
on every version of the same board and runtime saw the row through its prior and is not used; per-version
fits whose prior comes from another board are. Where no transfer applies the estimate is the reference
latency × the board's single time factor, labelled with where that factor comes from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from atomnet.boards import Board, get_board
from atomnet.calibrate import Calibration, builtin_calibrations, version_family
from atomnet.db import AtomDB, ModelMeasurement
from atomnet.errors import InputError
from atomnet.validate._estimate import Estimate
from atomnet.validate._price import Priced
from atomnet.validate._resolve import Resolution


@dataclass(frozen=True)
class _Loo:
    estimate_ms: float
    key: str  # board/runtime[@version] of the transfer
    models: int


class LatencyTransfers:
    """Leave-one-model-out transfer estimates of the rows of a database (fitted once, on every stored row)."""

    def __init__(self, db: AtomDB | None, rows: Sequence[ModelMeasurement], tflite_dir: Path | None) -> None:
        self.loo: dict[tuple[str, str, str, str], _Loo] = {}  # (board, runtime, version, row id)
        self.skipped: dict[tuple[str, str, str], str] = {}  # (board, runtime, row id)
        self.groups: dict[tuple[str, str], list[str]] = {}
        self.error = ""
        if db is None:
            self.error = "no database: the transfers are not refitted"
            return
        try:
            cals = builtin_calibrations(db, rows, tflite_dir=tflite_dir)
        except InputError as e:  # no latency model of the reference board
            self.error = f"transfers not refitted: {e}"
            return
        for c in cals:
            if c.transfer.prior == f"{c.board}/{c.transfer.runtime}":  # its prior saw the row (module doc)
                continue
            self._add(c)

    def _add(self, c: Calibration) -> None:
        t = c.transfer
        key = f"{c.board}/{t.key}"
        self.groups.setdefault((c.board, t.runtime), []).append(t.version)
        models = len({p.model for p in c.points})
        for e in c.errors:
            loo = _Loo(e.estimate_ms, key, models)
            for rid in (e.row_id, *c.duplicates.get(e.row_id, ())):
                self.loo.setdefault((c.board, t.runtime, t.version, rid), loo)
        for s in c.skipped:
            self.skipped.setdefault((c.board, t.runtime, s.row_id), s.reason)

    def estimate(self, m: ModelMeasurement, res: Resolution, priced: Priced) -> Estimate | None:
        """The row's leave-one-model-out estimate, an :class:`Estimate` without value when its transfer left
        the row out for a reason, or None when no transfer of its board and runtime was fitted."""
        assert m.latency_ms is not None and res.board is not None and res.latency_runtime is not None
        versions = self.groups.get((res.board, res.latency_runtime))
        if versions is None:
            return None
        vf = version_family(m.runtime_version)
        rid = f"{m.family}[{m.row_index}]"
        order = ([vf] if vf in versions else []) + [v for v in versions if v != vf]
        for v in order:
            hit = self.loo.get((res.board, res.latency_runtime, v, rid))
            if hit is not None:
                return Estimate("latency_ms", m.latency_ms, hit.estimate_ms,
                                f"transfer {hit.key} of the reference latency, leave-one-model-out "
                                f"({hit.models} models)", "loo")
        why = self.skipped.get((res.board, res.latency_runtime, rid))
        if why is not None:
            return Estimate("latency_ms", m.latency_ms, None, f"left out of the transfer fit: {why}", "loo")
        return None


def _factor_basis(b: Board) -> tuple[str, str]:
    ref = get_board(b.measured_board)
    if abs(b.time_scale - ref.clock_mhz / b.clock_mhz) < 1e-9:
        return "assumed", f"the clock ratio {ref.clock_mhz:g}/{b.clock_mhz:g} MHz (not fitted)"
    return "elsewhere", "calibrated on atomnet-256kb (FACTS §2), single-point calibration, not LOO"


def latency_estimate(m: ModelMeasurement, res: Resolution, priced: Priced, lm_runtime: str,
                     transfers: LatencyTransfers) -> Estimate:
    """The latency estimate of a priced row (module doc)."""
    assert m.latency_ms is not None and res.board is not None and res.latency_runtime is not None
    if priced.latency_ms is None:
        return Estimate("latency_ms", m.latency_ms, None, priced.latency_reason or priced.error or "not priced",
                        "atomdb")
    fitted = transfers.estimate(m, res, priced)
    if fitted is not None:
        return fitted
    b = get_board(res.board)
    src = f"{priced.ops_exact} ops exact, {priced.ops_predicted} predicted"
    same_rt = res.latency_runtime == lm_runtime
    if not same_rt and res.latency_runtime != res.runtime:  # cmsis-nn: no latency of its own without a transfer
        return Estimate("latency_ms", m.latency_ms, None,
                        f"no {res.latency_runtime} latency model on {b.name} (no transfer fitted)", "loo")
    rt_note = "" if same_rt else f"; no {res.latency_runtime} latency model: {lm_runtime}'s latency"
    if not b.is_scaled:
        return Estimate("latency_ms", m.latency_ms, priced.latency_ms,
                        f"{priced.reference} AtomDB ({src}){rt_note}", "atomdb" if same_rt else "assumed")
    basis, how = _factor_basis(b)
    return Estimate("latency_ms", m.latency_ms, priced.latency_ms * b.time_scale,
                    f"{priced.reference} AtomDB ({src}) x time_scale {b.time_scale:.4g}: {how}{rt_note}",
                    basis if same_rt else "assumed")
