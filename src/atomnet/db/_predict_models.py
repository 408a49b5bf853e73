"""Model pieces of a per-kind latency predictor, as plain arrays with a vectorized numpy evaluation.

``latency = (X · coef) · exp(trees(x)) · guard(h_in)``

* ``X · coef``: non-negative work terms (:mod:`._predict_features`) times non-negative unit costs;
* :class:`Trees`: a boosted ensemble of *oblivious* trees (one split per level, CatBoost style) on a
  few key fields, correcting the log-latency; stored as arrays ``feature[t, level]``,
  ``threshold[t, level]``, ``leaf[t, 2**depth]``. Large batches are priced through a lookup table
  compiled once from the trees (every threshold of a field cuts that field's axis, so the ensemble is
  constant on the cells of the grid): one ``searchsorted`` per field and one gather per operator;
* :class:`Guard`: a piecewise-constant factor ``≥ 1`` over ``h_in`` (see :func:`._predict_fit.fit_guard`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from atomnet.db._predict_features import TREE_INPUTS, Cols, Floats, tree_matrix
from atomnet.errors import InputError

#: a split that is never taken (levels the fit could not split further)
NEVER = float(np.finfo(np.float64).max)
#: batches at least this large are priced through the compiled table
_TABLE_MIN_BATCH = 4096
#: largest compiled table (cells); larger ensembles are evaluated tree by tree
_TABLE_MAX_CELLS = 1 << 21


def _expect_keys(d: dict[str, Any], required: set[str], what: str, optional: frozenset[str] = frozenset()) -> None:
    unknown = set(d) - required - optional
    missing = required - set(d)
    if unknown:
        raise InputError(f"{what}: unknown key(s) {sorted(unknown)}; expected {sorted(required | optional)}")
    if missing:
        raise InputError(f"{what}: missing key(s) {sorted(missing)}")


@dataclass(frozen=True, eq=False)
class Trees:
    """Oblivious trees over named inputs; ``leaf`` values add up to a log-latency correction."""

    inputs: tuple[str, ...]
    feature: NDArray[np.intp]  # (T, depth) int, index into inputs
    threshold: Floats          # (T, depth) float; go right when x > threshold
    leaf: Floats               # (T, 2**depth) float
    _table: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def depth(self) -> int:
        return int(self.feature.shape[1])

    def __len__(self) -> int:
        return int(self.feature.shape[0])

    def predict_log(self, cols: Cols) -> Floats:
        n = len(cols["c_in"])
        if len(self) == 0 or n == 0:
            return np.zeros(n)
        x = tree_matrix(self.inputs, cols)
        if n >= _TABLE_MIN_BATCH:
            table = self._compiled()
            if table is not None:
                return self._predict_table(table, x)
        return self._predict_trees(x)

    def _predict_trees(self, x: Floats) -> Floats:
        out = np.zeros(x.shape[1])
        for t in range(len(self)):
            idx = np.zeros(x.shape[1], dtype=np.intp)
            for lvl in range(self.depth):
                idx <<= 1
                idx |= x[self.feature[t, lvl]] > self.threshold[t, lvl]
            out += self.leaf[t][idx]
        return out

    def _compiled(self) -> dict[str, Any] | None:
        """The ensemble as a table over the cells cut by all thresholds (built once, cached)."""
        if "table" in self._table:
            cached: dict[str, Any] | None = self._table["table"]
            return cached
        used = sorted({int(f) for f, t in zip(self.feature.ravel(), self.threshold.ravel(), strict=True) if t != NEVER})
        cuts = [np.unique(self.threshold[(self.feature == f) & (self.threshold != NEVER)]) for f in used]
        shape = [len(c) + 1 for c in cuts]
        compiled: dict[str, Any] | None = None
        if math.prod(shape) <= _TABLE_MAX_CELLS:
            grids = np.meshgrid(*[np.arange(s) for s in shape], indexing="ij", sparse=True)
            table = np.zeros(shape)
            for t in range(len(self)):
                idx: Any = 0
                for lvl in range(self.depth):
                    f, thr = int(self.feature[t, lvl]), self.threshold[t, lvl]
                    if thr == NEVER:
                        bit: Any = 0
                    else:  # cell b of an axis lies right of cut j iff b > j
                        a = used.index(f)
                        bit = grids[a] > int(np.searchsorted(cuts[a], thr))
                    idx = idx * 2 + bit
                table += self.leaf[t][idx]
            strides = np.cumprod([1, *shape[::-1]])[:-1][::-1]
            compiled = {"used": used, "cuts": cuts, "flat": table.ravel(), "strides": strides}
        self._table["table"] = compiled
        return compiled

    @staticmethod
    def _predict_table(table: dict[str, Any], x: Floats) -> Floats:
        cell = np.zeros(x.shape[1], dtype=np.intp)
        for f, cuts, stride in zip(table["used"], table["cuts"], table["strides"], strict=True):
            cell += np.searchsorted(cuts, x[f], side="left") * int(stride)
        out: Floats = table["flat"][cell]
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"inputs": list(self.inputs), "depth": self.depth, "feature": self.feature.tolist(),
                "threshold": self.threshold.tolist(), "leaf": self.leaf.tolist()}

    @classmethod
    def from_dict(cls, d: dict[str, Any], what: str = "trees") -> Trees:
        _expect_keys(d, {"inputs", "depth", "feature", "threshold", "leaf"}, what)
        unknown = [n for n in d["inputs"] if n not in TREE_INPUTS]
        if unknown:
            raise InputError(f"{what}.inputs: unknown input(s) {unknown}; known: {sorted(TREE_INPUTS)}")
        depth = int(d["depth"])
        feature = np.asarray(d["feature"], dtype=np.intp).reshape(-1, depth)
        threshold = np.asarray(d["threshold"], dtype=np.float64).reshape(-1, depth)
        leaf = np.asarray(d["leaf"], dtype=np.float64).reshape(-1, 1 << depth)
        if not (len(feature) == len(threshold) == len(leaf)):
            raise InputError(f"{what}: feature, threshold and leaf must list the same number of trees")
        if feature.size and (feature.min() < 0 or feature.max() >= len(d["inputs"])):
            raise InputError(f"{what}.feature: indices must lie in [0, {len(d['inputs'])})")
        return cls(tuple(d["inputs"]), feature, threshold, leaf)


@dataclass(frozen=True, eq=False)
class Guard:
    """A factor per interval of ``h_in`` (``x > threshold[i]`` selects interval ``i+1``)."""

    threshold: Floats
    factor: Floats
    tau: float

    def __call__(self, cols: Cols) -> Floats:
        h = np.asarray(cols["h_in"], dtype=np.float64)
        return self.factor[np.searchsorted(self.threshold, h, side="left")]

    def to_dict(self) -> dict[str, Any]:
        return {"input": "h_in", "tau": self.tau, "threshold": self.threshold.tolist(),
                "factor": self.factor.tolist()}

    @classmethod
    def from_dict(cls, d: dict[str, Any], what: str = "guard") -> Guard:
        _expect_keys(d, {"input", "tau", "threshold", "factor"}, what)
        if d["input"] != "h_in":
            raise InputError(f"{what}.input: only 'h_in' is supported, got {d['input']!r}")
        thr = np.asarray(d["threshold"], dtype=np.float64)
        fac = np.asarray(d["factor"], dtype=np.float64)
        if len(fac) != len(thr) + 1:
            raise InputError(f"{what}: expected len(factor) == len(threshold) + 1")
        return cls(thr, fac, float(d["tau"]))
