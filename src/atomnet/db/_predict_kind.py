"""The fitted predictor of one operator kind: how each kind is modelled (:data:`SPECS`), the fitted
:class:`KindModel` and :func:`fit_kind` (see :mod:`atomnet.db._predict` for the model). Below both the
predictor set (:mod:`._predict`) and the cross-validation (:mod:`._cv`), which fit kinds one at a time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from atomnet.db._predict_features import DEFAULT_CONSTS, LINEAR_FEATURES, Cols, Floats, linear_matrix, tree_matrix
from atomnet.db._predict_fit import fit_guard, fit_linear, fit_trees
from atomnet.db._predict_models import Guard, Trees, _expect_keys
from atomnet.errors import InputError

_MIN_LATENCY_MS = 1e-6


@dataclass(frozen=True)
class KindSpec:
    """How one kind is modelled: linear work terms, tree inputs and boosting settings, guard."""

    features: tuple[str, ...]
    tree_inputs: tuple[str, ...] = ()
    n_trees: int = 0
    depth: int = 5
    learning_rate: float = 0.1
    min_leaf: int = 20
    guard_tau: float | None = None


#: the model of each measured kind, chosen by grouped cross-validation on the public H743 AtomDB
#: (held-out channels, 5 folds, MAPE / max APE %: pointwise 4.7 / 36.6, depthwise 0.6 / 5.2, pad 4.2 / 30,
#: SE 0.7 / 4.8, dense 0.5 / 2.0, eltwise 0.3 / 12, affine 3.2 / 32, conv 9.2 / 24 — conv has only five
#: distinct c_in, so a held-out one is an extrapolation; ``benchmarks/bench_predict.py --cv`` prints all)
SPECS: dict[str, KindSpec] = {
    "pointwise": KindSpec(("out_x_cin16", "out_x_cin_r8", "out_x_cin_r1", "out_elems", "hw_x_cin", "hw_out",
                           "weights", "c_out", "one"),
                          ("c_in", "c_out", "h_in", "c_in%16"), n_trees=100, depth=6, min_leaf=10, guard_tau=0.36),
    "depthwise": KindSpec(("macs_s1", "macs_s2", "in_elems", "c_x_hout", "c_in", "hw_out", "one",
                           "out_x_log2c_over7", "out_x_log2c_over8", "out_x_log2c_over9",
                           "c_x_hout_s2", "c_s2", "hw_out_s2"),
                          ("c_in", "h_in", "stride"), n_trees=50, depth=4),
    "conv": KindSpec(("macs", "out_elems", "in_elems", "hw_out", "weights", "one"),
                     ("c_in", "c_out", "h_in", "stride"), n_trees=50, depth=3, min_leaf=10),
    "pad": KindSpec(("out_elems", "in_elems", "h_out", "one", "out_over_cache", "io_over_cache"),
                    ("c_in", "h_in", "pad"), n_trees=100, depth=4),
    "eltwise": KindSpec(("in_elems", "c_in", "hw_in", "h_out", "one")),
    "affine": KindSpec(("in_elems", "c_in", "hw_in", "h_out", "one", "strided_miss"),
                       ("c_in", "h_in"), n_trees=50, depth=4),
    "dense": KindSpec(("weights", "c_out", "c_in", "one")),
    "se": KindSpec(("in_elems", "se_fc", "c_in", "se_mid", "hw_in", "one", "strided_miss"),
                   ("c_in", "h_in"), n_trees=50, depth=4),
}


@dataclass(frozen=True, eq=False)
class KindModel:
    """The fitted predictor of one kind (see the module docstring)."""

    kind: str
    features: tuple[str, ...]
    coef: Floats
    consts: dict[str, float]
    trees: Trees | None = None
    guard: Guard | None = None
    n_samples: int = 0
    train_mape: float = float("nan")

    def predict(self, cols: Cols) -> Floats:
        y: Floats = np.maximum(linear_matrix(self.features, cols, self.consts) @ self.coef, _MIN_LATENCY_MS)
        if self.trees is not None:
            y = y * np.exp(self.trees.predict_log(cols))
        if self.guard is not None:
            y = y * self.guard(cols)
        return y

    def to_dict(self) -> dict[str, Any]:
        return {"fallback": False, "features": list(self.features), "coef": self.coef.tolist(),
                "consts": dict(self.consts), "trees": None if self.trees is None else self.trees.to_dict(),
                "guard": None if self.guard is None else self.guard.to_dict(),
                "n_samples": self.n_samples, "train_mape": self.train_mape}

    @classmethod
    def from_dict(cls, kind: str, d: dict[str, Any]) -> KindModel:
        what = f"predictors.{kind}"
        _expect_keys(d, {"fallback", "features", "coef", "consts", "trees", "guard", "n_samples", "train_mape"}, what)
        unknown = [n for n in d["features"] if n not in LINEAR_FEATURES]
        if unknown:
            raise InputError(f"{what}.features: unknown feature(s) {unknown}; this file needs a newer atomnet"
                             f" or was edited (known: {sorted(LINEAR_FEATURES)})")
        if len(d["coef"]) != len(d["features"]):
            raise InputError(f"{what}: {len(d['coef'])} coefficients for {len(d['features'])} features")
        consts = {k: float(v) for k, v in d["consts"].items()}
        if set(consts) != set(DEFAULT_CONSTS):
            raise InputError(f"{what}.consts: expected keys {sorted(DEFAULT_CONSTS)}, got {sorted(consts)}")
        return cls(kind, tuple(d["features"]), np.asarray(d["coef"], dtype=np.float64), consts,
                   None if d["trees"] is None else Trees.from_dict(d["trees"], f"{what}.trees"),
                   None if d["guard"] is None else Guard.from_dict(d["guard"], f"{what}.guard"),
                   int(d["n_samples"]), float(d["train_mape"]))


def _ape_mean(pred: Floats, y: Floats) -> float:
    return float(np.mean(np.abs(pred - y) / y) * 100) if len(y) else float("nan")


def fit_kind(kind: str, cols: Cols, *, spec: KindSpec | None = None,
             consts: Mapping[str, float] | None = None) -> KindModel:
    """Fit the predictor of one kind on its samples (one row per distinct key, median latency)."""
    spec = spec or SPECS[kind]
    k = dict(DEFAULT_CONSTS if consts is None else consts)
    y = np.asarray(cols["latency_ms"], dtype=np.float64)
    if len(y) == 0:
        raise InputError(f"fit_kind({kind!r}): no samples")
    if not np.all(y > 0):
        raise InputError(f"fit_kind({kind!r}): latency_ms must be positive")
    x = linear_matrix(spec.features, cols, k)
    coef = fit_linear(x, y)
    base = np.maximum(x @ coef, _MIN_LATENCY_MS)
    trees = None
    if spec.n_trees and len(y) >= 4 * spec.min_leaf:
        trees = fit_trees(spec.tree_inputs, tree_matrix(spec.tree_inputs, cols), np.log(y / base),
                          n_trees=spec.n_trees, depth=spec.depth, learning_rate=spec.learning_rate,
                          min_leaf=spec.min_leaf)
        base = base * np.exp(trees.predict_log(cols))
    guard = None
    if spec.guard_tau is not None:
        guard = fit_guard(np.asarray(cols["h_in"], dtype=np.float64), y / base, tau=spec.guard_tau)
        base = base * guard(cols)
    return KindModel(kind, spec.features, coef, k, trees, guard, len(y), _ape_mean(base, y))
