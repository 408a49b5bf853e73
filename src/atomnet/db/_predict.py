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
from numpy.typing import NDArray

import atomnet
from atomnet.db._cv import cross_validate
from atomnet.db._predict_features import Cols, Floats, Samples
from atomnet.db._predict_kind import SPECS, KindModel, fit_kind
from atomnet.db._predict_models import _expect_keys
from atomnet.errors import InputError, UnknownNameError
from atomnet.jsontypes import JSONDict
from atomnet.ops import KEY_FIELDS, KIND_ID, KINDS, Op, se_mid

_Ints = NDArray[np.int64]

SCHEMA = "atomnet.predictors"
SCHEMA_VERSION = 1
_KIND_OF = attrgetter("kind")
_KEY_OF = attrgetter(*KEY_FIELDS)


class NoPredictorError(InputError, LookupError):
    """A kind has neither measurements nor a fallback in this predictor set."""


# ---- fallbacks for kinds without measurements --------------------------------------------------------
def _cols(**kw: Any) -> dict[str, _Ints]:
    return {f: np.asarray(kw[f], dtype=np.int64) for f in KEY_FIELDS}


def _pool_as_eltwise(c: Cols) -> list[tuple[str, dict[str, _Ints]]]:
    ci, h, w = c["c_in"], c["h_in"], c["w_in"]
    one = np.ones_like(ci)
    return [("eltwise", _cols(c_in=ci, h_in=h, w_in=w, c_out=ci, h_out=h, w_out=w, kernel=0 * one, stride=one,
                              groups=one))]


def _se_as_parts(c: Cols) -> list[tuple[str, dict[str, _Ints]]]:
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


def _dense_as_pointwise(c: Cols) -> list[tuple[str, dict[str, _Ints]]]:
    one = np.ones_like(c["c_in"])
    return [("pointwise", _cols(c_in=c["c_in"], h_in=one, w_in=one, c_out=c["c_out"], h_out=one, w_out=one,
                                kernel=one, stride=one, groups=one))]


def _conv_as_pointwise(c: Cols) -> list[tuple[str, dict[str, _Ints]]]:
    one = np.ones_like(c["c_in"])
    k2 = np.asarray(c["kernel"]) ** 2
    return [("pointwise", _cols(c_in=c["c_in"] * k2, h_in=c["h_out"], w_in=c["w_out"], c_out=c["c_out"],
                                h_out=c["h_out"], w_out=c["w_out"], kernel=one, stride=one, groups=one))]


_Rule = Callable[[Cols], list[tuple[str, dict[str, _Ints]]]]
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


def _object(v: object, what: str) -> dict[str, Any]:
    """``v`` as a JSON object (its values are checked where they are read)."""
    if not isinstance(v, dict):
        raise InputError(f"{what}: expected an object, got {type(v).__name__}")
    return v


# ---- the set -----------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class PredictorSet:
    """One predictor per kind of one board, with provenance; JSON round-trip, vectorized prediction."""

    board: str
    models: dict[str, KindModel]
    fallbacks: dict[str, str] = field(default_factory=dict)  # kind -> description
    provenance: JSONDict = field(default_factory=dict)

    def kinds(self) -> list[str]:
        """Kinds this set can price (measured or by fallback), in :data:`atomnet.ops.KINDS` order."""
        return [k for k in KINDS if k in self.models or k in self.fallbacks]

    def predict(self, kind: str, cols: Mapping[str, NDArray[np.generic]]) -> Floats:
        """Latency (ms) of ``kind`` operators given as columns ``KEY_FIELDS`` (equal-length int arrays)."""
        missing = [f for f in KEY_FIELDS if f not in cols]
        if missing:
            raise InputError(f"predict({kind!r}): missing column(s) {missing}; expected {', '.join(KEY_FIELDS)}")
        c = {f: np.asarray(cols[f]) for f in KEY_FIELDS}
        if len({v.shape for v in c.values()}) != 1 or c["c_in"].ndim != 1:
            raise InputError(f"predict({kind!r}): columns must be 1-D arrays of one length")
        return self._predict(kind, c, ())

    def _predict(self, kind: str, c: Cols, chain: tuple[str, ...]) -> Floats:
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

    def predict_ops(self, ops: Sequence[Op]) -> Floats:
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
    def to_dict(self) -> JSONDict:
        preds: dict[str, JSONDict] = {k: m.to_dict() for k, m in self.models.items()}
        for k, desc in self.fallbacks.items():
            preds[k] = {"fallback": True, "rule": desc, "uses": _uses(FALLBACKS[k][0])}
        return {"schema": SCHEMA, "schema_version": SCHEMA_VERSION, "board": self.board,
                "provenance": self.provenance,
                "predictors": {k: preds[k] for k in KINDS if k in preds}}

    @classmethod
    def from_dict(cls, d: Mapping[str, object]) -> PredictorSet:
        if d.get("schema") != SCHEMA:
            raise InputError(f"not an atomnet predictor file: schema {d.get('schema')!r}, expected {SCHEMA!r}")
        if d.get("schema_version") != SCHEMA_VERSION:
            raise InputError(f"predictor file schema_version {d.get('schema_version')!r} is not supported "
                             f"(this atomnet reads {SCHEMA_VERSION}); refit the predictors")
        _expect_keys(dict(d), {"schema", "schema_version", "board", "provenance", "predictors"}, "predictor file")
        models: dict[str, KindModel] = {}
        fallbacks: dict[str, str] = {}
        for kind, p in _object(d["predictors"], "predictors").items():
            if kind not in KINDS:
                raise InputError(f"predictors: unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
            p = _object(p, f"predictors.{kind}")
            if p.get("fallback"):
                _expect_keys(p, {"fallback", "rule", "uses"}, f"predictors.{kind}")
                if kind not in FALLBACKS:
                    raise InputError(f"predictors.{kind}: this atomnet has no fallback rule for {kind!r}")
                fallbacks[kind] = FALLBACKS[kind][1]
            else:
                models[kind] = KindModel.from_dict(kind, p)
        return cls(str(d["board"]), models, fallbacks, dict(_object(d["provenance"], "provenance")))

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


def samples_hash(samples: Samples) -> str:
    """SHA-256 over the training samples (kinds, key columns, medians): identifies what was fitted."""
    h = hashlib.sha256()
    for kind in sorted(samples):
        h.update(kind.encode())
        for f in (*KEY_FIELDS, "latency_ms"):
            h.update(np.ascontiguousarray(samples[kind][f], dtype=np.float64).tobytes())
    return h.hexdigest()


def fit_predictors(samples: Samples, *, board: str, provenance: Mapping[str, object] | None = None,
                   cv_schemes: Sequence[str] = (),
                   consts: Mapping[str, float] | None = None) -> PredictorSet:
    """Fit one predictor per kind that has samples; add fallbacks for the others where possible.

    ``samples[kind]`` holds the columns of :meth:`atomnet.db.AtomDB.samples` (``KEY_FIELDS``,
    ``latency_ms``; extra columns are ignored). ``provenance`` (runtime, source hashes, …) is stored
    as given, plus ``board``, ``fitted_at``, ``atomnet_version``, ``samples_sha256``, per-kind sample
    counts and training MAPE, and the cross-validation table of each scheme in ``cv_schemes``.
    """
    unknown = [k for k in samples if k not in KINDS]
    if unknown:
        raise UnknownNameError(f"fit_predictors: unknown kind(s) {unknown}; expected some of {', '.join(KINDS)}")
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
    prov: JSONDict = dict(provenance or {})
    prov.update(board=board, atomnet_version=atomnet.__version__, samples_sha256=samples_hash(samples),
                fitted_at=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                kinds={k: {"n_samples": m.n_samples, "train_mape": round(m.train_mape, 4)} for k, m in models.items()})
    if cv_schemes:
        prov["cv"] = {s: {k: r.to_dict() for k, r in cross_validate(samples, s).items()}
                      for s in cv_schemes}
    return PredictorSet(board, models, {k: fallbacks[k] for k in KINDS if k in fallbacks}, prov)
