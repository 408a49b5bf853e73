"""Latency predictors for operators without an exact AtomDB key: fit, save as JSON, predict vectorized.

One model per operator kind with measurements (AtomDB covers about 66 % of the pointwise and 75 % of
the depthwise operators of random architectures, README §10)::

    latency_ms = (X · coef) · exp(trees(key)) · guard(h_in)

1. ``X · coef``: physically grounded work terms of the X-CUBE-AI kernel (:mod:`._predict_features`),
   non-negative unit costs fitted by least absolute *relative* error (IRLS over NNLS);
2. ``trees``: boosted oblivious trees on a few key fields fitting what the terms miss (the bimodal
   repeats of pointwise and pad rows, cache regimes), minimizing MAPE; kinds with few keys use none;
3. ``guard``: pointwise only, see :func:`._predict_fit.fit_guard`.

Every model is fitted on one sample per distinct key (the median over repeats), the columns
``KEY_FIELDS`` + ``latency_ms`` of :meth:`atomnet.db.AtomDB.samples`. Kinds without measurements get a
*fallback* composed from measured kinds (:data:`FALLBACKS`), marked ``"fallback": true`` in the JSON.

>>> import numpy as np
>>> cols = {f: np.array([v]) for f, v in zip(KEY_FIELDS, (8, 4, 4, 8, 4, 4, 0, 1, 1))}
>>> s = fit_predictors({"eltwise": {**cols, "latency_ms": np.array([0.011])}}, board="demo")
>>> s.kinds()
['eltwise', 'pool']
>>> s.predict_ops([Op.eltwise(8, 4, 4)]).round(4).tolist()
[0.011]
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain
from operator import attrgetter
from typing import Any

import numpy as np

import atomnet
from atomnet.db._predict_features import DEFAULT_CONSTS, LINEAR_FEATURES, Cols, linear_matrix, tree_matrix
from atomnet.db._predict_fit import fit_guard, fit_linear, fit_trees
from atomnet.db._predict_models import Guard, Trees, _expect_keys
from atomnet.errors import InputError
from atomnet.ops import KEY_FIELDS, KIND_ID, KINDS, Op, se_mid

SCHEMA = "atomnet.predictors"
SCHEMA_VERSION = 1
_MIN_LATENCY_MS = 1e-6
_KIND_OF = attrgetter("kind")
_KEY_OF = attrgetter(*KEY_FIELDS)


class NoPredictorError(InputError, LookupError):
    """A kind has neither measurements nor a fallback in this predictor set."""


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
    coef: np.ndarray
    consts: dict[str, float]
    trees: Trees | None = None
    guard: Guard | None = None
    n_samples: int = 0
    train_mape: float = float("nan")

    def predict(self, cols: Cols) -> np.ndarray:
        y = np.maximum(linear_matrix(self.features, cols, self.consts) @ self.coef, _MIN_LATENCY_MS)
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


def _ape_mean(pred: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.abs(pred - y) / y) * 100) if len(y) else float("nan")


def fit_kind(kind: str, cols: Cols, *, spec: KindSpec | None = None,
             consts: Mapping[str, float] | None = None) -> KindModel:
    """Fit the predictor of one kind on its samples (one row per distinct key, median latency)."""
    spec = spec or SPECS[kind]
    k = dict(DEFAULT_CONSTS if consts is None else consts)
    y = np.asarray(cols["latency_ms"], dtype=np.float64)
    if len(y) == 0:
        raise ValueError(f"fit_kind({kind!r}): no samples")
    if not np.all(y > 0):
        raise ValueError(f"fit_kind({kind!r}): latency_ms must be positive")
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


# ---- fallbacks for kinds without measurements --------------------------------------------------------
def _cols(**kw: Any) -> dict[str, np.ndarray]:
    return {f: np.asarray(kw[f], dtype=np.int64) for f in KEY_FIELDS}


def _pool_as_eltwise(c: Cols) -> list[tuple[str, dict[str, np.ndarray]]]:
    ci, h, w = c["c_in"], c["h_in"], c["w_in"]
    one = np.ones_like(ci)
    return [("eltwise", _cols(c_in=ci, h_in=h, w_in=w, c_out=ci, h_out=h, w_out=w, kernel=0 * one, stride=one,
                              groups=one))]


def _se_as_parts(c: Cols) -> list[tuple[str, dict[str, np.ndarray]]]:
    ci, h, w = c["c_in"], c["h_in"], c["w_in"]
    one = np.ones_like(ci)
    mid = np.array([se_mid(int(v)) for v in ci], dtype=np.int64)
    return [("pool", _cols(c_in=ci, h_in=h, w_in=w, c_out=ci, h_out=one, w_out=one, kernel=0 * one, stride=one,
                           groups=one)),
            ("pointwise", _cols(c_in=ci, h_in=one, w_in=one, c_out=mid, h_out=one, w_out=one, kernel=one,
                                stride=one, groups=one)),
            ("pointwise", _cols(c_in=mid, h_in=one, w_in=one, c_out=ci, h_out=one, w_out=one, kernel=one,
                                stride=one, groups=one)),
            ("eltwise", _cols(c_in=ci, h_in=h, w_in=w, c_out=ci, h_out=h, w_out=w, kernel=0 * one, stride=one,
                              groups=one))]


def _dense_as_pointwise(c: Cols) -> list[tuple[str, dict[str, np.ndarray]]]:
    one = np.ones_like(c["c_in"])
    return [("pointwise", _cols(c_in=c["c_in"], h_in=one, w_in=one, c_out=c["c_out"], h_out=one, w_out=one,
                                kernel=one, stride=one, groups=one))]


def _conv_as_pointwise(c: Cols) -> list[tuple[str, dict[str, np.ndarray]]]:
    one = np.ones_like(c["c_in"])
    k2 = np.asarray(c["kernel"]) ** 2
    return [("pointwise", _cols(c_in=c["c_in"] * k2, h_in=c["h_out"], w_in=c["w_out"], c_out=c["c_out"],
                                h_out=c["h_out"], w_out=c["w_out"], kernel=one, stride=one, groups=one))]


_Rule = Callable[[Cols], list[tuple[str, dict[str, np.ndarray]]]]
#: kind -> (rule, description). Used only when the kind has no measurements of its own.
FALLBACKS: dict[str, tuple[_Rule, str]] = {
    "pool": (_pool_as_eltwise, "global average pool: one elementwise pass over its c·h·w input, priced at the"
                               " measured eltwise throughput (the public AtomDB has no pooling rows)"),
    "se": (_se_as_parts, "sum of its parts: pool(c,h,w) + pointwise c→mid and mid→c at 1×1 + eltwise(c,h,w)"),
    "dense": (_dense_as_pointwise, "a 1×1 pointwise conv in→out on a 1×1 map (same arithmetic)"),
    "conv": (_conv_as_pointwise, "im2col view: pointwise with c_in·k² input channels at the output size"),
}


def _uses(rule: _Rule) -> list[str]:
    probe = _cols(**{f: np.array([8]) for f in KEY_FIELDS})
    return sorted({k for k, _ in rule(probe)})


# ---- the set -----------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class PredictorSet:
    """One predictor per kind of one board, with provenance; JSON round-trip, vectorized prediction."""

    board: str
    models: dict[str, KindModel]
    fallbacks: dict[str, str] = field(default_factory=dict)  # kind -> description
    provenance: dict[str, Any] = field(default_factory=dict)

    def kinds(self) -> list[str]:
        """Kinds this set can price (measured or by fallback), in :data:`atomnet.ops.KINDS` order."""
        return [k for k in KINDS if k in self.models or k in self.fallbacks]

    def predict(self, kind: str, cols: Mapping[str, np.ndarray]) -> np.ndarray:
        """Latency (ms) of ``kind`` operators given as columns ``KEY_FIELDS`` (equal-length int arrays)."""
        missing = [f for f in KEY_FIELDS if f not in cols]
        if missing:
            raise KeyError(f"predict({kind!r}): missing column(s) {missing}; expected {', '.join(KEY_FIELDS)}")
        c = {f: np.asarray(cols[f]) for f in KEY_FIELDS}
        if len({v.shape for v in c.values()}) != 1 or c["c_in"].ndim != 1:
            raise ValueError(f"predict({kind!r}): columns must be 1-D arrays of one length")
        return self._predict(kind, c, ())

    def _predict(self, kind: str, c: Cols, chain: tuple[str, ...]) -> np.ndarray:
        if kind in self.models:
            return self.models[kind].predict(c)
        if kind in self.fallbacks and kind not in chain:
            out = np.zeros(len(c["c_in"]))
            for part, pc in FALLBACKS[kind][0](c):
                out += self._predict(part, pc, (*chain, kind))
            return out
        if kind not in KINDS:
            raise InputError(f"predict: unknown operator kind {kind!r}; expected one of {', '.join(KINDS)}")
        raise NoPredictorError(f"board {self.board!r}: no measurements of {kind!r} operators and no fallback for them "
                       f"(predictors exist for {', '.join(self.kinds()) or 'nothing'}); import {kind} measurements"
                       " and refit")

    def predict_ops(self, ops: Sequence[Op]) -> np.ndarray:
        """Latency (ms) of each operator, in order; groups the operators by kind internally."""
        n = len(ops)
        out = np.empty(n)
        if not n:
            return out
        kid = np.fromiter(map(KIND_ID.__getitem__, map(_KIND_OF, ops)), dtype=np.int64, count=n)
        table = np.fromiter(chain.from_iterable(map(_KEY_OF, ops)), dtype=np.int64,
                            count=n * len(KEY_FIELDS)).reshape(n, len(KEY_FIELDS))
        for k in np.unique(kid):
            idx = np.flatnonzero(kid == k)
            out[idx] = self.predict(KINDS[k], {f: table[idx, i] for i, f in enumerate(KEY_FIELDS)})
        return out

    # ---- persistence --------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        preds: dict[str, Any] = {k: m.to_dict() for k, m in self.models.items()}
        for k, desc in self.fallbacks.items():
            preds[k] = {"fallback": True, "rule": desc, "uses": _uses(FALLBACKS[k][0])}
        return {"schema": SCHEMA, "schema_version": SCHEMA_VERSION, "board": self.board,
                "provenance": self.provenance,
                "predictors": {k: preds[k] for k in KINDS if k in preds}}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PredictorSet:
        if d.get("schema") != SCHEMA:
            raise InputError(f"not an atomnet predictor file: schema {d.get('schema')!r}, expected {SCHEMA!r}")
        if d.get("schema_version") != SCHEMA_VERSION:
            raise InputError(f"predictor file schema_version {d.get('schema_version')!r} is not supported "
                             f"(this atomnet reads {SCHEMA_VERSION}); refit the predictors")
        _expect_keys(dict(d), {"schema", "schema_version", "board", "provenance", "predictors"}, "predictor file")
        models: dict[str, KindModel] = {}
        fallbacks: dict[str, str] = {}
        for kind, p in d["predictors"].items():
            if kind not in KINDS:
                raise InputError(f"predictors: unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
            if p.get("fallback"):
                _expect_keys(p, {"fallback", "rule", "uses"}, f"predictors.{kind}")
                if kind not in FALLBACKS:
                    raise InputError(f"predictors.{kind}: this atomnet has no fallback rule for {kind!r}")
                fallbacks[kind] = FALLBACKS[kind][1]
            else:
                models[kind] = KindModel.from_dict(kind, p)
        return cls(str(d["board"]), models, fallbacks, dict(d["provenance"]))

    def to_json(self) -> str:
        """Compact JSON text (the form stored in AtomDB and written by :meth:`save`)."""
        return json.dumps(self.to_dict(), separators=(",", ":"), allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> PredictorSet:
        return cls.from_dict(json.loads(text))

    def save(self, path: str | os.PathLike[str]) -> None:
        with open(path, "w") as f:
            f.write(self.to_json())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> PredictorSet:
        try:
            with open(path) as f:
                return cls.from_json(f.read())
        except (ValueError, KeyError) as e:
            raise InputError(f"{path}: {e}") from e


def samples_hash(samples: Mapping[str, Mapping[str, np.ndarray]]) -> str:
    """SHA-256 over the training samples (kinds, key columns, medians): identifies what was fitted."""
    h = hashlib.sha256()
    for kind in sorted(samples):
        h.update(kind.encode())
        for f in (*KEY_FIELDS, "latency_ms"):
            h.update(np.ascontiguousarray(samples[kind][f], dtype=np.float64).tobytes())
    return h.hexdigest()


def fit_predictors(samples: Mapping[str, Mapping[str, np.ndarray]], *, board: str,
                   provenance: Mapping[str, Any] | None = None, cv_schemes: Sequence[str] = (),
                   consts: Mapping[str, float] | None = None) -> PredictorSet:
    """Fit one predictor per kind that has samples; add fallbacks for the others where possible.

    ``samples[kind]`` holds the columns of :meth:`atomnet.db.AtomDB.samples` (``KEY_FIELDS``,
    ``latency_ms``; extra columns are ignored). ``provenance`` (runtime, source hashes, …) is stored
    as given, plus ``board``, ``fitted_at``, ``atomnet_version``, ``samples_sha256``, per-kind sample
    counts and training MAPE, and the cross-validation table of each scheme in ``cv_schemes``.
    """
    unknown = [k for k in samples if k not in KINDS]
    if unknown:
        raise ValueError(f"fit_predictors: unknown kind(s) {unknown}; expected some of {', '.join(KINDS)}")
    models = {k: fit_kind(k, samples[k], consts=consts) for k in KINDS
              if k in samples and k in SPECS and len(samples[k]["latency_ms"])}
    fallbacks: dict[str, str] = {}
    changed = True
    while changed:  # a rule applies once everything it uses is measured or itself a fallback
        changed = False
        for k, (rule, desc) in FALLBACKS.items():
            if k not in models and k not in fallbacks and all(u in models or u in fallbacks for u in _uses(rule)):
                fallbacks[k] = desc
                changed = True
    prov: dict[str, Any] = dict(provenance or {})
    prov.update(board=board, atomnet_version=atomnet.__version__, samples_sha256=samples_hash(samples),
                fitted_at=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                kinds={k: {"n_samples": m.n_samples, "train_mape": round(m.train_mape, 4)} for k, m in models.items()})
    if cv_schemes:
        from atomnet.db._cv import cross_validate

        prov["cv"] = {s: {k: r.to_dict() for k, r in cross_validate(samples, s).items()}  # type: ignore[arg-type]
                      for s in cv_schemes}
    return PredictorSet(board, models, {k: fallbacks[k] for k in KINDS if k in fallbacks}, prov)
