"""Latency predictors on the public H743 AtomDB: held-out accuracy targets, JSON round-trip, fallbacks."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from atomnet.db import AtomDB
from atomnet.db._cv import CVResult, cross_validate, fold_ids
from atomnet.db._predict import (
    SCHEMA_VERSION,
    NoPredictorError,
    PredictorSet,
    fit_predictors,
)
from atomnet.db._predict_kind import fit_kind
from atomnet.errors import InputError, UnknownNameError
from atomnet.ops import KEY_FIELDS, KINDS, Op

BOARD = "stm32h743"
Samples = dict[str, dict[str, np.ndarray]]

#: issue 2 item 6: MAPE over keys of held-out channel groups (5 folds), percent
CHANNEL_TARGETS = {"pointwise": 7.0, "depthwise": 3.0, "se": 2.0, "pad": 6.0, "dense": 2.0}


@pytest.fixture(scope="module")
def samples(public_db_path: Path) -> Samples:
    with AtomDB(public_db_path) as db:
        out = {k: db.samples(BOARD, k) for k in KINDS}
    return {k: v for k, v in out.items() if len(v["latency_ms"])}


@pytest.fixture(scope="module")
def predictors(samples: Samples) -> PredictorSet:
    return fit_predictors(samples, board=BOARD, provenance={"runtime": "x-cube-ai 7.2"})


@pytest.fixture(scope="module")
def channels_cv(samples: Samples) -> dict[str, CVResult]:
    return cross_validate(samples, "channels")


def _subset(cols: dict[str, np.ndarray], idx: Any) -> dict[str, np.ndarray]:
    return {k: v[idx] for k, v in cols.items()}


# ---- accuracy on held-out channel counts ------------------------------------------------------------
@pytest.mark.parametrize("kind", sorted(CHANNEL_TARGETS))
def test_channels_cv_meets_target(channels_cv: dict[str, CVResult], samples: Samples, kind: str) -> None:
    r = channels_cv[kind]
    assert (r.kind, r.scheme, r.folds, r.keys) == (kind, "channels", 5, len(samples[kind]["latency_ms"]))
    assert r.mape <= CHANNEL_TARGETS[kind], r
    assert r.median_ape <= r.mape <= r.max_ape


def test_pointwise_never_more_than_40_percent_off(channels_cv: dict[str, CVResult]) -> None:
    # repeats are bimodal up to x1.7 (README §7): a key measured only slow is 41 % above the fast mode
    assert channels_cv["pointwise"].max_ape <= 40.0, channels_cv["pointwise"]


def test_every_measured_kind_is_cross_validated(channels_cv: dict[str, CVResult], samples: Samples) -> None:
    assert set(channels_cv) == set(samples)
    for r in channels_cv.values():
        assert r.folds >= 2 and math.isfinite(r.mape)
    # conv/eltwise/affine have no target; keep them from silently degrading
    assert channels_cv["eltwise"].mape < 1.0
    assert channels_cv["affine"].mape < 6.0
    assert channels_cv["conv"].mape < 15.0


def test_resolution_scheme_cannot_split_dense(samples: Samples) -> None:
    r = cross_validate({"dense": samples["dense"], "se": samples["se"]}, "resolution")
    assert r["dense"].folds == 0 and math.isnan(r["dense"].mape)
    assert r["dense"].to_dict()["mape"] is None
    assert r["se"].folds == 5 and r["se"].mape < 2.0


def test_folds_hold_out_whole_groups_deterministically() -> None:
    groups = np.repeat(np.arange(23), 7)
    a, k = fold_ids(groups, 5, np.random.default_rng([0, 1]))
    b, _ = fold_ids(groups, 5, np.random.default_rng([0, 1]))
    assert k == 5 and np.array_equal(a, b)
    for g in range(23):
        assert len(set(a[groups == g])) == 1
    assert sorted(np.bincount(a[::7])) == [4, 4, 5, 5, 5]


def test_cross_validate_is_deterministic(samples: Samples) -> None:
    sub = {"se": samples["se"], "dense": samples["dense"]}
    assert cross_validate(sub, "random", seed=3) == cross_validate(sub, "random", seed=3)
    with pytest.raises(ValueError, match="scheme"):
        cross_validate(sub, "width")


# ---- fitted set, JSON ------------------------------------------------------------------------------
def test_json_round_trip_gives_identical_predictions(predictors: PredictorSet, samples: Samples,
                                                     tmp_path: Path) -> None:
    path = tmp_path / "pred.json"
    predictors.save(path)
    loaded = PredictorSet.load(path)
    assert loaded.board == BOARD and loaded.kinds() == predictors.kinds()
    assert loaded.to_dict() == json.loads(path.read_text())
    for kind, cols in samples.items():
        assert np.array_equal(loaded.predict(kind, cols), predictors.predict(kind, cols)), kind
        # the batch path (compiled tree table) agrees with the per-tree path
        small = np.concatenate([predictors.predict(kind, _subset(cols, slice(i, i + 1000)))
                                for i in range(0, len(cols["latency_ms"]), 1000)])
        np.testing.assert_allclose(small, loaded.predict(kind, cols), rtol=1e-12)


def test_provenance_and_schema(predictors: PredictorSet, samples: Samples) -> None:
    d: dict[str, Any] = predictors.to_dict()
    assert d["schema"] == "atomnet.predictors" and d["schema_version"] == SCHEMA_VERSION
    prov = d["provenance"]
    assert prov["board"] == BOARD and prov["runtime"] == "x-cube-ai 7.2"
    assert {"fitted_at", "atomnet_version", "samples_sha256", "kinds"} <= set(prov)
    assert prov["kinds"]["pointwise"]["n_samples"] == len(samples["pointwise"]["latency_ms"])
    for p in d["predictors"].values():  # plain JSON data: no pickles, no NaN
        json.dumps(p, allow_nan=False)


def test_fit_records_cv_when_asked(samples: Samples) -> None:
    ps = fit_predictors({"dense": samples["dense"]}, board=BOARD, cv_schemes=("channels", "resolution"))
    cv: Any = ps.provenance["cv"]
    assert cv["channels"]["dense"]["folds"] == 5 and cv["resolution"]["dense"]["mape"] is None
    PredictorSet.from_json(ps.to_json())


@pytest.mark.parametrize("where", ["top", "predictor", "trees", "guard", "feature"])
def test_unknown_keys_are_errors(predictors: PredictorSet, where: str) -> None:
    d = json.loads(predictors.to_json())
    pw = d["predictors"]["pointwise"]
    if where == "top":
        d["comment"] = 1
    elif where == "predictor":
        pw["scale"] = 2.0
    elif where == "trees":
        pw["trees"]["bias"] = 0.0
    elif where == "guard":
        pw["guard"]["extra"] = []
    else:
        pw["features"][0] = "magic"
    with pytest.raises(ValueError, match="unknown"):
        PredictorSet.from_dict(d)


def test_schema_version_is_checked(predictors: PredictorSet, tmp_path: Path) -> None:
    d = predictors.to_dict()
    d["schema_version"] = SCHEMA_VERSION + 1
    p = tmp_path / "future.json"
    p.write_text(json.dumps(d))
    with pytest.raises(ValueError, match=str(p)):
        PredictorSet.load(p)


def test_predict_ops_groups_by_kind(predictors: PredictorSet) -> None:
    ops = [Op.pointwise(80, 7, 7, 480), Op.depthwise(480, 9, 9, 3), Op.pad(480, 7, 7, 9, 9),
           Op.pointwise(24, 56, 56, 144), Op.se(96, 14, 14), Op.dense(1280, 1000), Op.eltwise(40, 28, 28),
           Op.affine(16, 32, 32), Op.conv(3, 224, 224, 16, 3, 2, padding=1), Op.pool(1280, 7, 7)]
    got = predictors.predict_ops(ops)
    for op, y in zip(ops, got, strict=True):
        one = predictors.predict(op.kind, {f: np.array([getattr(op, f)]) for f in KEY_FIELDS})
        assert y == pytest.approx(one[0], rel=1e-12) and y > 0
    # a typical MobileNetV2 expansion costs milliseconds, not microseconds or seconds
    assert 3.0 < got[0] < 8.0
    assert predictors.predict_ops([]).shape == (0,)


# ---- fallbacks -------------------------------------------------------------------------------------
def test_pool_falls_back_to_one_eltwise_pass(predictors: PredictorSet) -> None:
    d: Any = predictors.to_dict()["predictors"]
    assert d["pool"]["fallback"] is True and d["pool"]["uses"] == ["eltwise"]
    assert all(d[k]["fallback"] is False for k in ("pointwise", "se", "dense"))
    [pool] = predictors.predict_ops([Op.pool(320, 7, 7)])
    [elt] = predictors.predict_ops([Op.eltwise(320, 7, 7)])
    assert pool == elt


def test_missing_kinds_fall_back_or_fail_clearly(samples: Samples) -> None:
    ps = fit_predictors({k: samples[k] for k in ("pointwise", "eltwise", "depthwise")}, board=BOARD)
    assert ps.kinds() == ["conv", "pointwise", "depthwise", "eltwise", "dense", "se", "pool"]
    preds: Any = ps.to_dict()["predictors"]
    assert preds["se"] == {"fallback": True, "rule": ps.fallbacks["se"], "uses": ["eltwise", "pointwise", "pool"]}
    se, pool, pw1, pw2, elt = ps.predict_ops([Op.se(96, 14, 14), Op.pool(96, 14, 14), Op.pointwise(96, 1, 1, 24),
                                              Op.pointwise(24, 1, 1, 96), Op.eltwise(96, 14, 14)])
    assert se == pytest.approx(pool + pw1 + pw2 + elt, rel=1e-12)
    [dense] = ps.predict_ops([Op.dense(1280, 1000)])
    [pw] = ps.predict_ops([Op.pointwise(1280, 1, 1, 1000)])
    assert dense == pw
    with pytest.raises(NoPredictorError, match="no measurements of 'pad'"):
        ps.predict_ops([Op.pad(16, 8, 8, 10, 10)])
    with pytest.raises(ValueError, match="unknown operator kind"):
        ps.predict("gelu", {f: np.array([1]) for f in KEY_FIELDS})
    with pytest.raises(InputError, match="missing column"):
        ps.predict("pointwise", {"c_in": np.array([8])})
    only_pad = fit_predictors({"pad": samples["pad"]}, board=BOARD)
    assert only_pad.kinds() == ["pad"]
    with pytest.raises(NoPredictorError):
        only_pad.predict_ops([Op.pool(8, 4, 4)])


# ---- fitting ---------------------------------------------------------------------------------------
def test_fit_is_deterministic_and_non_negative(samples: Samples) -> None:
    a = fit_kind("pad", samples["pad"])
    b = fit_kind("pad", samples["pad"])
    assert a.to_dict() == b.to_dict()
    assert np.all(a.coef >= 0)  # unit costs of work terms
    assert a.train_mape < 5.0


def test_fit_rejects_bad_samples(samples: Samples) -> None:
    bad = dict(samples["dense"])
    bad["latency_ms"] = np.zeros_like(bad["latency_ms"])
    with pytest.raises(InputError, match="positive"):
        fit_kind("dense", bad)
    with pytest.raises(UnknownNameError, match="unknown kind"):
        fit_predictors({"softmax": samples["dense"]}, board=BOARD)


def test_guard_only_raises_small_resolutions(predictors: PredictorSet) -> None:
    guard = predictors.models["pointwise"].guard
    assert guard is not None
    assert np.all(guard.factor >= 1.0) and guard.factor.max() <= 1.1
    big = guard({"h_in": np.array([14, 28, 56, 112])})
    assert np.all(big == 1.0)
