"""Latency transfer to another board or runtime from the reference AtomDB (``docs/transfer.md``).

A board or runtime without its own operator measurements is priced from the reference (STM32H743, X-CUBE-AI
AtomDB) per operator kind, each kind's latency multiplied by the factor of its group (:data:`~atomnet.boards.
DEFAULT_GROUPS`: compute-bound vs memory-bound kinds scale differently from a Cortex-M7 with cache to a
Cortex-M4 without one, or from X-CUBE-AI's kernels to TinyEngine's):

    t(B, R) = Σ_g f_g · x_g,   x_g = Σ_{kind in g} t_ref(kind)

**Fit** on whole-model rows i of (B, R) with reference latencies x_ig and measured y_i: the relative error
``Σ_g f_g x_ig / y_i − 1`` is minimized in least squares, with a ridge pulling each group factor toward the
prior ``c · p_g``: ``p`` is the prior shape (flat: every group 1, i.e. toward one factor; or another board's
fitted group factors, ``prior=``), ``c`` the single level fitted on the same rows (the pooled factor)::

    min_f  Σ_i (Σ_g f_g x_ig / y_i − 1)²  +  λ Σ_g (f_g / (c p_g) − 1)²

λ (the prior strength, in units of one row's squared relative error) is chosen by leave-one-model-out on the
training rows from :data:`PRIOR_STRENGTHS`: the largest λ whose mean squared error is within one standard error
of the smallest (the "one-standard-error rule" of cross-validation, Hastie et al., *Elements of Statistical
Learning* §7.10: a difference the held-out rows cannot resolve goes to the simpler model); with fewer than
:data:`MIN_MODELS_FOR_GROUPS` distinct models no group freedom is fitted (λ = ∞: the prior shape at the
fitted level; with a flat prior, one factor).

**Leave-one-out** (:func:`loo_transfer_errors`): each row's error comes from a fit, λ choice included, that saw
no row of its model (the same net measured with another runtime version is held out with it).

A fitted :class:`~atomnet.boards.Transfer` is carried by its board profile; :func:`atomnet.cost.load_latency_model`
applies it (``LatencyModel.transfer``). This module is public (``atomnet.cost.transfer``) and imports no other
module of ``atomnet.cost`` but the array types.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from atomnet.boards import DEFAULT_GROUPS, LooSummary, Transfer
from atomnet.cost._arrays import BoolArray, FloatArray
from atomnet.errors import InputError

#: the prior strengths λ tried (None = ∞: the prior exactly)
PRIOR_STRENGTHS: tuple[float | None, ...] = (None, 100.0, 30.0, 10.0, 3.0, 1.0, 0.3, 0.1, 0.03, 0.01, 0.001)
#: distinct models a training set needs before group factors may leave the prior (λ chosen by LOO)
MIN_MODELS_FOR_GROUPS = 3

Groups = tuple[tuple[str, tuple[str, ...]], ...]


@dataclass(frozen=True)
class TransferPoint:
    """One whole-model row priced on the reference: ``ref_by_kind_ms`` (reference latency per operator kind,
    ``CostReport.latency_by_kind_ms``) against ``measured_ms``; ``row_id`` names the row (``family[index]``),
    ``model`` the net (rows of one model are held out together), ``version`` the runtime version measured."""

    row_id: str
    model: str
    measured_ms: float
    ref_by_kind_ms: Mapping[str, float]
    version: str = ""

    @property
    def ref_ms(self) -> float:
        return float(sum(self.ref_by_kind_ms.values()))


@dataclass(frozen=True)
class LooError:
    """One row's leave-one-model-out result: the estimate of a fit that never saw the row's model."""

    row_id: str
    model: str
    version: str
    measured_ms: float
    estimate_ms: float
    prior_strength: float | None

    @property
    def error(self) -> float:
        """estimate / measured − 1."""
        return self.estimate_ms / self.measured_ms - 1


def group_matrix(points: Sequence[TransferPoint], groups: Groups = DEFAULT_GROUPS) -> FloatArray:
    """Reference latency per point (row) and group (column); a kind in no group is an error naming it."""
    where = {k: j for j, (_, kinds) in enumerate(groups) for k in kinds}
    x = np.zeros((len(points), len(groups)))
    for i, p in enumerate(points):
        for kind, ms in p.ref_by_kind_ms.items():
            if kind not in where:
                raise InputError(f"transfer groups {[g for g, _ in groups]}: operator kind {kind!r} of "
                                 f"{p.model} is in none of them")
            x[i, where[kind]] += ms
    return x


def _prior_shape(groups: Groups, prior: Transfer | None) -> FloatArray:
    if prior is None:
        return np.ones(len(groups))
    return np.asarray([prior.factor(g) / prior.level for g, _ in groups])


def _level(x: FloatArray, y: FloatArray, shape: FloatArray) -> float:
    a = (x @ shape) / y
    return float(a.sum() / (a @ a))


def _solve(x: FloatArray, y: FloatArray, shape: FloatArray, lam: float | None) -> tuple[FloatArray, float]:
    """(group factors, level) minimizing the module's objective for one λ (None = ∞). A factor must be positive
    (a latency is): where the solution has one ≤ 1 % of the level, λ is raised tenfold until none has."""
    c = _level(x, y, shape)
    a = x * (c * shape) / y[:, None]
    ng = x.shape[1]
    while lam is not None:
        lhs = np.vstack([a, np.sqrt(lam) * np.eye(ng)])
        rhs = np.concatenate([np.ones(len(y)), np.sqrt(lam) * np.ones(ng)])
        u = np.linalg.lstsq(lhs, rhs, rcond=None)[0]
        if (u * shape > 0.01).all():
            return c * shape * u, c
        lam = lam * 10 if lam < 1e6 else None
    return c * shape, c


def _holdouts(models: Sequence[str]) -> list[BoolArray]:
    """One mask per distinct model (first-seen order): True on the rows of that model."""
    arr = np.asarray(models)
    return [arr == m for m in dict.fromkeys(models)]


def _loo_sq_errors(x: FloatArray, y: FloatArray, models: Sequence[str], shape: FloatArray,
                   lam: float | None) -> FloatArray:
    """Squared relative leave-one-model-out error per row for one λ."""
    err = np.zeros(len(y))
    for held in _holdouts(models):
        f, _ = _solve(x[~held], y[~held], shape, lam)
        err[held] = (x[held] @ f) / y[held] - 1
    return np.square(err)


def choose_prior_strength(x: FloatArray, y: FloatArray, models: Sequence[str],
                          shape: FloatArray) -> float | None:
    """λ by leave-one-model-out on these rows with the one-standard-error rule (module doc); None (∞) below
    :data:`MIN_MODELS_FOR_GROUPS` distinct models."""
    if len(set(models)) < MIN_MODELS_FOR_GROUPS:
        return None
    sq = [_loo_sq_errors(x, y, models, shape, lam) for lam in PRIOR_STRENGTHS]
    mse = [float(s.mean()) for s in sq]
    i = int(np.argmin(mse))
    bound = mse[i] + float(sq[i].std(ddof=1) / np.sqrt(len(y)))
    return next(lam for lam, m in zip(PRIOR_STRENGTHS, mse, strict=True) if m <= bound + 1e-15)


def _arrays(points: Sequence[TransferPoint], groups: Groups) -> tuple[FloatArray, FloatArray, list[str]]:
    if not points:
        raise InputError("a transfer fit needs at least one whole-model row with a measured latency")
    y = np.asarray([p.measured_ms for p in points], dtype=float)
    if not (np.isfinite(y).all() and (y > 0).all()):
        bad = next(p for p in points if not (np.isfinite(p.measured_ms) and p.measured_ms > 0))
        raise InputError(f"row {bad.row_id}: measured latency must be a positive number of ms, got {bad.measured_ms}")
    x = group_matrix(points, groups)
    if not (x.sum(axis=1) > 0).all():
        bad = points[int(np.argmin(x.sum(axis=1) > 0))]
        raise InputError(f"row {bad.row_id}: {bad.model} has no reference latency to transfer")
    return x, y, [p.model for p in points]


def fit_transfer(points: Sequence[TransferPoint], runtime: str, *, version: str = "",
                 groups: Groups = DEFAULT_GROUPS, prior: Transfer | None = None, prior_name: str = "",
                 prior_strength: float | str | None = "loo", source: str = "") -> Transfer:
    """The transfer of ``runtime`` fitted on ``points`` (module doc). ``prior``: a fitted transfer whose group
    ratios are the prior shape (named ``prior_name`` in the result), else flat; ``prior_strength``: ``"loo"``
    (chosen by leave-one-model-out) or a fixed λ (None = ∞). The result has no ``loo`` summary
    (:func:`loo_summary` adds it)."""
    x, y, models = _arrays(points, groups)
    shape = _prior_shape(groups, prior)
    if prior_strength == "loo":
        lam = choose_prior_strength(x, y, models, shape)
        how = (f"leave-one-model-out over {len(set(models))} models from {_grid_text()}, one-standard-error "
               "rule" if len(set(models)) >= MIN_MODELS_FOR_GROUPS else
               f"fewer than {MIN_MODELS_FOR_GROUPS} models: the prior shape at the fitted level")
    elif prior_strength is None or isinstance(prior_strength, float | int):
        lam = None if prior_strength is None else float(prior_strength)
        how = "fixed by the caller"
    else:
        raise InputError(f"prior_strength: expected 'loo', a number or None, got {prior_strength!r}")
    f, c = _solve(x, y, shape, lam)
    return Transfer(runtime=runtime, factors=tuple((g, float(v)) for (g, _), v in zip(groups, f, strict=True)),
                    level=c, rows=tuple(p.row_id for p in points), version=version,
                    versions=tuple(sorted({p.version for p in points if p.version})), groups=groups,
                    prior=prior_name if prior is not None else "", prior_strength=lam, prior_strength_how=how,
                    source=source)


def _grid_text() -> str:
    return "{" + ", ".join("inf" if v is None else f"{v:g}" for v in PRIOR_STRENGTHS) + "}"


def loo_transfer_errors(points: Sequence[TransferPoint], runtime: str = "", *, groups: Groups = DEFAULT_GROUPS,
                        prior: Transfer | None = None) -> list[LooError]:
    """Per row, the estimate of a fit (λ chosen by leave-one-model-out inside the training rows) that saw no row
    of its model. Empty when the rows measure fewer than two models (nothing to fit on)."""
    x, y, models = _arrays(points, groups)
    shape = _prior_shape(groups, prior)
    if len(set(models)) < 2:
        return []
    out: dict[int, LooError] = {}
    for held in _holdouts(models):
        keep = ~held
        train = [m for m, k in zip(models, keep, strict=True) if k]
        lam = choose_prior_strength(x[keep], y[keep], train, shape)
        f, _ = _solve(x[keep], y[keep], shape, lam)
        for i in np.nonzero(held)[0]:
            p = points[int(i)]
            out[int(i)] = LooError(p.row_id, p.model, p.version, p.measured_ms, float(x[i] @ f), lam)
    return [out[i] for i in range(len(points))]


def loo_summary(errors: Sequence[LooError]) -> LooSummary | None:
    """Median and max |error| and the ±5 % / ±10 % shares of :func:`loo_transfer_errors` (None when empty)."""
    if not errors:
        return None
    e = np.abs([r.error for r in errors])
    return LooSummary(len(e), len({r.model for r in errors}), float(np.median(e)), float(e.max()),
                      float(np.mean(e <= 0.05)), float(np.mean(e <= 0.10)))


def fit_with_loo(points: Sequence[TransferPoint], runtime: str, **kw: object) -> tuple[Transfer, list[LooError]]:
    """:func:`fit_transfer` on every point, with the leave-one-model-out errors and their summary attached."""
    prior = kw.get("prior")
    groups = kw.get("groups", DEFAULT_GROUPS)
    t = fit_transfer(points, runtime, **kw)  # type: ignore[arg-type]
    errs = loo_transfer_errors(points, runtime, groups=groups, prior=prior)  # type: ignore[arg-type]
    return replace(t, loo=loo_summary(errs)), errs
