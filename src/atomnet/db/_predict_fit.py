"""Fitting the predictor pieces: non-negative least absolute *relative* error, boosted oblivious trees
minimizing MAPE, and the mode guard. Pure numpy, deterministic (no randomness at all).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from atomnet.db._predict_features import TREE_INPUTS, Floats
from atomnet.db._predict_models import NEVER, Guard, Trees


def nnls(a: Floats, b: Floats, tol: float = 1e-10) -> Floats:
    """Non-negative least squares ``min ||a x - b||, x >= 0`` (Lawson & Hanson 1974, active set)."""
    n = a.shape[1]
    x = np.zeros(n)
    passive = np.zeros(n, dtype=bool)
    w = a.T @ b
    for _ in range(3 * n):
        if passive.all() or w[~passive].max() <= tol * max(1.0, float(np.abs(w).max())):
            break
        passive[int(np.argmax(np.where(passive, -np.inf, w)))] = True
        while True:
            z = np.zeros(n)
            z[passive] = np.linalg.lstsq(a[:, passive], b, rcond=None)[0]
            if (z[passive] > 0).all():
                x = z
                break
            neg = passive & (z <= 0)
            alpha = float(np.min(x[neg] / (x[neg] - z[neg])))
            x = x + alpha * (z - x)
            passive &= x > tol
            x[~passive] = 0.0
        w = a.T @ (b - a @ x)
    return x


def fit_linear(x: Floats, y: Floats, iters: int = 30) -> Floats:
    """Non-negative ``coef`` minimizing ``Σ |x·coef − y| / y`` (IRLS over NNLS solves).

    Minimizing the absolute relative error (not the squared one) lets the fit follow the majority mode
    of keys whose repeats are bimodal (README §7) instead of settling between the modes.
    """
    scale = np.sqrt(np.mean(x**2, axis=0))
    scale[scale == 0] = 1.0
    xs = x / scale
    w = 1.0 / y
    coef = nnls(xs * w[:, None], y * w)
    for _ in range(iters):
        r = np.abs(xs @ coef - y) / y
        ww = w / np.sqrt(np.maximum(r, 1e-4))
        coef = nnls(xs * ww[:, None], y * ww)
    unscaled: Floats = coef / scale
    return unscaled


def _weighted_median_per_group(v: Floats, w: Floats, group: NDArray[np.intp], n_groups: int) -> Floats:
    """For each group, the weighted median of ``v`` (NaN for empty groups)."""
    order = np.lexsort((v, group))
    g, vs, ws = group[order], v[order], w[order]
    cw = np.cumsum(ws)
    starts = np.searchsorted(g, np.arange(n_groups), side="left")
    ends = np.searchsorted(g, np.arange(n_groups), side="right")
    out = np.full(n_groups, np.nan)
    for k in np.flatnonzero(ends > starts):
        base = cw[starts[k] - 1] if starts[k] > 0 else 0.0
        half = base + 0.5 * (cw[ends[k] - 1] - base)
        out[k] = vs[min(int(np.searchsorted(cw[starts[k]:ends[k]], half)) + starts[k], ends[k] - 1)]
    return out


def _candidate_cuts(x: Floats, geometric: bool, max_bins: int) -> Floats:
    u = np.unique(x)
    if len(u) > max_bins + 1:
        u = np.unique(np.quantile(x, np.linspace(0, 1, max_bins + 1), method="nearest"))
    lo, hi = u[:-1], u[1:]
    return np.sqrt(lo * hi) if geometric and lo.size and lo.min() > 0 else (lo + hi) / 2


def fit_trees(inputs: tuple[str, ...], x: Floats, log_ratio: Floats, *, n_trees: int, depth: int,
              learning_rate: float, min_leaf: int, max_bins: int = 64) -> Trees:
    """Boost ``n_trees`` oblivious trees on ``log_ratio = log(y / base)`` minimizing MAPE.

    Splits maximize the variance reduction of the MAPE gradient ``sign(r)·y_pred/y`` summed over all
    leaves of the level (each child at least ``min_leaf`` keys); a leaf's value is the exact
    MAPE-optimal multiplier of its keys, the median of ``y/pred`` weighted by ``pred/y``, shrunk by
    ``learning_rate``.
    """
    p, n = x.shape
    cuts = [_candidate_cuts(x[j], TREE_INPUTS[inputs[j]][1], max_bins) for j in range(p)]
    bins = [np.searchsorted(cuts[j], x[j], side="left") for j in range(p)]
    f_sum = np.zeros(n)
    feats = np.zeros((n_trees, depth), dtype=np.intp)
    thrs = np.full((n_trees, depth), NEVER)
    leaves = np.zeros((n_trees, 1 << depth))
    for t in range(n_trees):
        res = log_ratio - f_sum
        q = np.exp(res)
        grad = np.sign(res) / q
        node = np.zeros(n, dtype=np.intp)
        for lvl in range(depth):
            n_nodes = 1 << lvl
            best_gain, best_j, best_b = 0.0, -1, -1
            for j in range(p):
                nb = len(cuts[j]) + 1
                if nb < 2:
                    continue
                idx = node * nb + bins[j]
                g = np.bincount(idx, weights=grad, minlength=n_nodes * nb).reshape(n_nodes, nb)
                c = np.bincount(idx, minlength=n_nodes * nb).reshape(n_nodes, nb).astype(np.float64)
                gl, cl = np.cumsum(g, axis=1)[:, :-1], np.cumsum(c, axis=1)[:, :-1]
                gt, ct = g.sum(1, keepdims=True), c.sum(1, keepdims=True)
                gr, cr = gt - gl, ct - cl
                with np.errstate(divide="ignore", invalid="ignore"):
                    gain = (np.where(cl > 0, gl**2 / cl, 0.0) + np.where(cr > 0, gr**2 / cr, 0.0)
                            - np.where(ct > 0, gt**2 / ct, 0.0))
                small = (cl > 0) & (cr > 0) & (np.minimum(cl, cr) < min_leaf)
                total = np.where(small, -np.inf, gain).sum(axis=0)
                b = int(np.argmax(total))
                if total[b] > best_gain + 1e-12:
                    best_gain, best_j, best_b = float(total[b]), j, b
            if best_j < 0:
                node <<= 1
                continue
            feats[t, lvl], thrs[t, lvl] = best_j, cuts[best_j][best_b]
            node = (node << 1) | (bins[best_j] > best_b)
        vals = _weighted_median_per_group(q, 1.0 / q, node, 1 << depth)
        vals = learning_rate * np.log(np.where(np.isnan(vals), 1.0, vals))
        leaves[t] = vals
        f_sum += vals[node]
    return Trees(inputs, feats, thrs, leaves)


def fit_guard(h_in: Floats, ratio: Floats, *, tau: float, window: float = 1.5, quantile: float = 0.99,
              min_keys: int = 20, max_factor: float = 1.1) -> Guard:
    """Factors ``≥ 1`` over ``h_in`` that keep a key measured only in a slow mode within ``tau``.

    Pointwise repeats are bimodal (README §7): at output sizes 2–6 one group runs up to ×1.7 slower.
    The MAPE-optimal prediction follows the fast majority, which leaves a key measured only in the slow
    mode ``1 − 1/1.7 = 41 %`` off. For each training resolution, ``ratio = y / prediction`` of the keys
    within ``×window`` of it gives the slow/typical spread ``s = Q_quantile / median``; the factor
    ``clip(s·(1 − tau), 1, max_factor)`` raises predictions just enough that such a key is at most
    ``tau`` off — a few percent where the modes are far apart, exactly 1 elsewhere.
    """
    hs = np.unique(h_in)
    fac = np.ones(len(hs))
    for i, h in enumerate(hs):
        r = ratio[(h_in >= h / window) & (h_in <= h * window)]
        if len(r) >= min_keys:
            fac[i] = float(np.clip(np.quantile(r, quantile) / np.median(r) * (1 - tau), 1.0, max_factor))
    return Guard(np.sqrt(hs[:-1] * hs[1:]).astype(np.float64), fac, tau)
