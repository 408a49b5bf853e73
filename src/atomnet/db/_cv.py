"""Grouped cross-validation of the latency predictors: how well do they price keys never measured?

Each fold holds out whole *groups* of keys, so no held-out key (nor, for the first two schemes, any
key sharing its group) is in the training set:

* ``channels``: distinct ``c_in`` values (dense: in_features; pad, eltwise, affine, SE: the channels);
* ``resolution``: distinct input resolutions ``h_in``;
* ``random``: single keys.

Metrics are over all held-out keys, in percent of the measured median: MAPE, median and max of
``|pred − meas| / meas``. A kind with fewer than two groups (dense under ``resolution``: every dense
key has ``h_in = 1``) cannot be cross-validated: its result has ``folds = 0`` and NaN metrics.

>>> import numpy as np
>>> from atomnet.ops import KEY_FIELDS
>>> c = np.arange(8, 72, 8)
>>> cols = {f: c if f in ("c_in", "c_out") else np.full(8, 0 if f == "kernel" else 1) for f in KEY_FIELDS}
>>> r = cross_validate({"eltwise": {**cols, "latency_ms": 0.002 + 0.001 * c}}, "channels", folds=4)
>>> r["eltwise"].folds, r["eltwise"].keys, r["eltwise"].max_ape < 1
(4, 8, True)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray

from atomnet.db._predict_features import Samples
from atomnet.db._predict_kind import SPECS, fit_kind
from atomnet.errors import InputError
from atomnet.ops import KIND_ID, KINDS

SCHEMES: tuple[str, ...] = ("channels", "resolution", "random")
_T = TypeVar("_T")


@dataclass(frozen=True)
class CVResult:
    """Held-out error of one kind under one scheme (percent)."""

    kind: str
    scheme: str
    folds: int
    keys: int
    mape: float
    median_ape: float
    max_ape: float

    def to_dict(self) -> dict[str, str | int | float | None]:
        """Plain JSON data (NaN metrics become ``None``)."""
        return {k: _none_if_nan(v) for k, v in asdict(self).items()}

    def figures(self) -> dict[str, int | float | None]:
        """The errors and counts alone (NaN metrics become ``None``), as ``atomnet db fit`` records them."""
        return {"mape": _none_if_nan(self.mape), "median_ape": _none_if_nan(self.median_ape),
                "max_ape": _none_if_nan(self.max_ape), "keys": self.keys, "folds": self.folds}


def _none_if_nan(v: _T) -> _T | None:
    return None if isinstance(v, float) and math.isnan(v) else v


def _groups(cols: Mapping[str, NDArray[np.generic]], scheme: str) -> NDArray[np.generic]:
    if scheme == "channels":
        return np.asarray(cols["c_in"])
    if scheme == "resolution":
        return np.asarray(cols["h_in"])
    if scheme == "random":
        return np.arange(len(cols["latency_ms"]))
    raise InputError(f"cross_validate: scheme must be one of {', '.join(SCHEMES)}, got {scheme!r}")


def fold_ids(groups: NDArray[np.generic], folds: int, rng: np.random.Generator) -> tuple[NDArray[np.intp], int]:
    """Assign whole groups to ``min(folds, n_groups)`` folds at random (sizes within one group)."""
    u, inv = np.unique(groups, return_inverse=True)
    k = min(folds, len(u))
    of_group = np.empty(len(u), dtype=np.intp)
    of_group[rng.permutation(len(u))] = np.arange(len(u)) % max(k, 1)
    return of_group[inv.reshape(-1)], k


def cross_validate(samples: Samples, scheme: str, folds: int = 5, seed: int = 0) -> dict[str, CVResult]:
    """Grouped ``folds``-fold cross-validation of every measured kind in ``samples``.

    Deterministic given ``seed`` (each kind draws its folds from its own generator, so a kind's
    result does not depend on which other kinds are present).
    """
    if folds < 2:
        raise InputError(f"cross_validate: folds must be at least 2, got {folds}")
    out: dict[str, CVResult] = {}
    for kind in sorted(samples, key=lambda k: KIND_ID.get(k, len(KINDS))):
        if kind not in SPECS:
            continue
        cols = samples[kind]
        y = np.asarray(cols["latency_ms"], dtype=np.float64)
        groups = _groups(cols, scheme)
        fid, k = fold_ids(groups, folds, np.random.default_rng([seed, KIND_ID[kind]]))
        if k < 2:
            out[kind] = CVResult(kind, scheme, 0, 0, math.nan, math.nan, math.nan)
            continue
        pred = np.empty(len(y))
        for f in range(k):
            test = fid == f
            model = fit_kind(kind, {c: np.asarray(v)[~test] for c, v in cols.items()})
            pred[test] = model.predict({c: np.asarray(v)[test] for c, v in cols.items()})
        ape = np.abs(pred - y) / y * 100
        out[kind] = CVResult(kind, scheme, k, len(y), float(ape.mean()), float(np.median(ape)), float(ape.max()))
    return out
