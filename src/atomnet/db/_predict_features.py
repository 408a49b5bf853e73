"""Physically grounded features of the latency predictors, one named vocabulary shared by all kinds.

A predictor prices an operator as a non-negative combination of *work terms*: each term counts one
thing the X-CUBE-AI kernel does (output elements, inner-loop blocks of 16 input channels, rows,
calls, cache misses), so a coefficient is the time of one unit of work and stays meaningful when a
channel count or a resolution was never measured. Features are named; the saved JSON stores the
names with the coefficients, and a name's formula never changes meaning (add a new name instead).

The cache terms model the Cortex-M7 L1 data cache of the STM32H743 (16 KiB, 4 ways, 32-byte lines;
stored as constants ``cache_bytes``, ``cache_ways``, ``cache_line`` of each predictor):

* ``strided_miss``: X-CUBE-AI's per-channel kernels (affine, the SE pool and scale) walk one channel
  of an HWC tensor at a stride of ``c`` bytes, touching ``h·w·min(c,32)/32`` lines per channel. A
  stride with a large power-of-two factor maps those lines onto few sets: the usable capacity is
  ``ways·sets / max(1, gcd(c, way_bytes)/line)`` lines (512 for c = 48 or 96, 256 for 64, 128 for 128,
  32 for 512). Once a channel pass outgrows it (a ramp from 50 % to 75 % of the capacity, as measured
  on the affine rows: c=64 turns slow at 12–14², c=128 at 8–10², c=512 at 4–5², other c at 16–20²),
  each channel refetches every line: ``c·h·w·min(c,32)/32`` misses. With this term alone the linear
  model's held-out-channel MAPE on affine rows drops from 13.6 % to 3.9 %.
* ``out_over_cache`` / ``io_over_cache``: streaming kernels (pad) pay more per byte once the output
  (or input + output) exceeds the cache.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import numpy as np
from numpy.typing import NDArray

from atomnet.ops import KEY_FIELDS, se_mid

#: columns of operator keys (int arrays) and measured latencies (float), by field name
Cols = Mapping[str, NDArray[Any]]
Floats = NDArray[np.float64]
#: the training samples of each kind: its columns (``KEY_FIELDS``, ``latency_ms``) by field name
Samples = Mapping[str, Mapping[str, NDArray[np.generic]]]
#: default data-cache constants (STM32H743 Cortex-M7 L1 D-cache)
DEFAULT_CONSTS: dict[str, float] = {"cache_bytes": 16384.0, "cache_line": 32.0, "cache_ways": 4.0}

_LinearFeature = Callable[[Cols, Mapping[str, float]], Floats]
LINEAR_FEATURES: dict[str, _LinearFeature] = {}


def _feature(name: str) -> Callable[[_LinearFeature], _LinearFeature]:
    def deco(fn: _LinearFeature) -> _LinearFeature:
        if name in LINEAR_FEATURES:
            raise ValueError(f"linear feature {name!r} registered twice")
        LINEAR_FEATURES[name] = fn
        return fn
    return deco


def _f(cols: Cols, name: str) -> Floats:
    return np.asarray(cols[name], dtype=np.float64)


def _hw_out(c: Cols) -> Floats:
    return _f(c, "h_out") * _f(c, "w_out")


def _hw_in(c: Cols) -> Floats:
    return _f(c, "h_in") * _f(c, "w_in")


def _se_mid(c_in: NDArray[np.integer[Any]]) -> Floats:
    """Vectorized :func:`atomnet.ops.se_mid` (``make_divisible(c/4, 8)``)."""
    u, inv = np.unique(np.asarray(c_in, dtype=np.int64), return_inverse=True)
    mids: Floats = np.array([se_mid(int(v)) for v in u], dtype=np.float64)[inv.reshape(-1)]
    return mids


def strided_miss(cols: Cols, k: Mapping[str, float]) -> Floats:
    """Cache misses of a per-channel pass over an HWC tensor (see the module docstring)."""
    c = np.asarray(cols["c_in"], dtype=np.int64)
    hw = _hw_in(cols)
    line, ways = k["cache_line"], k["cache_ways"]
    way_bytes = k["cache_bytes"] / ways
    lines = np.minimum(c, line) / line                       # lines per pixel and channel pass
    conflict = np.maximum(1.0, np.gcd(c, int(way_bytes)) / line)  # power-of-two strides share sets
    capacity = ways * (way_bytes / line) / conflict
    fill = hw * lines / capacity
    ramp = np.clip((fill - 0.5) / 0.25, 0.0, 1.0)
    misses: Floats = c * hw * lines * ramp
    return misses


_feature("one")(lambda c, k: np.ones(len(c["c_in"])))
# ---- generic sizes
_feature("in_elems")(lambda c, k: _f(c, "c_in") * _hw_in(c))
_feature("out_elems")(lambda c, k: _f(c, "c_out") * _hw_out(c))
_feature("c_in")(lambda c, k: _f(c, "c_in"))
_feature("c_out")(lambda c, k: _f(c, "c_out"))
_feature("hw_in")(lambda c, k: _hw_in(c))
_feature("hw_out")(lambda c, k: _hw_out(c))
_feature("h_out")(lambda c, k: _f(c, "h_out"))
_feature("weights")(lambda c, k: _f(c, "c_in") * _f(c, "c_out") * _f(c, "kernel") ** 2 / _f(c, "groups"))
_feature("macs")(lambda c, k: _f(c, "c_in") / _f(c, "groups") * _f(c, "kernel") ** 2 * _f(c, "c_out") * _hw_out(c))
# ---- pointwise: the kernel's inner loop takes input channels in blocks of 16, then 8, then singles
_feature("out_x_cin16")(lambda c, k: _f(c, "c_out") * _hw_out(c) * (np.asarray(c["c_in"]) // 16))
_feature("out_x_cin_r8")(lambda c, k: _f(c, "c_out") * _hw_out(c) * (np.asarray(c["c_in"]) % 16 >= 8))
_feature("out_x_cin_r1")(lambda c, k: _f(c, "c_out") * _hw_out(c) * (np.asarray(c["c_in"]) % 8))
_feature("hw_x_cin")(lambda c, k: _f(c, "c_in") * _hw_out(c))
# ---- depthwise: per stride, per output row; wide channel strides thrash the cache (log2 c hinges)
_feature("macs_s1")(lambda c, k: _f(c, "c_in") * _f(c, "kernel") ** 2 * _hw_out(c) * (np.asarray(c["stride"]) == 1))
_feature("macs_s2")(lambda c, k: _f(c, "c_in") * _f(c, "kernel") ** 2 * _hw_out(c) * (np.asarray(c["stride"]) != 1))
_feature("c_x_hout")(lambda c, k: _f(c, "c_in") * _f(c, "h_out"))
_feature("c_x_hout_s2")(lambda c, k: _f(c, "c_in") * _f(c, "h_out") * (np.asarray(c["stride"]) != 1))
_feature("c_s2")(lambda c, k: _f(c, "c_in") * (np.asarray(c["stride"]) != 1))
_feature("hw_out_s2")(lambda c, k: _hw_out(c) * (np.asarray(c["stride"]) != 1))


def _log2c_hinge(c: Cols, k: Mapping[str, float], t: float) -> Floats:
    hinge: Floats = _f(c, "c_out") * _hw_out(c) * np.maximum(0.0, np.log2(_f(c, "c_in")) - t)
    return hinge


for _t in (7, 8, 9):
    _feature(f"out_x_log2c_over{_t}")(partial(_log2c_hinge, t=_t))
# ---- pad (memset + row copies) and streaming beyond the cache
_feature("out_over_cache")(lambda c, k: np.maximum(0.0, _f(c, "c_out") * _hw_out(c) - k["cache_bytes"]))
_feature("io_over_cache")(
    lambda c, k: np.maximum(0.0, _f(c, "c_out") * _hw_out(c) + _f(c, "c_in") * _hw_in(c) - 2 * k["cache_bytes"]))
# ---- per-channel passes and SE (avgpool, two 1x1 convs with mid = make_divisible(c/4, 8), scale)
_feature("strided_miss")(strided_miss)
_feature("se_fc")(lambda c, k: _f(c, "c_in") * _se_mid(np.asarray(c["c_in"])))
_feature("se_mid")(lambda c, k: _se_mid(np.asarray(c["c_in"])))


# ---- inputs of the residual tree ensembles: monotone in one key field (thresholds in raw units)
#: name -> (function of the columns, whether thresholds are geometric midpoints)
TREE_INPUTS: dict[str, tuple[Callable[[Cols], Floats], bool]] = {
    **{f: (partial(_f, name=f), True) for f in KEY_FIELDS},
    "c_in%16": ((lambda c: (np.asarray(c["c_in"]) % 16).astype(np.float64)), False),
    "pad": ((lambda c: _f(c, "h_out") - _f(c, "h_in")), False),
}


def linear_matrix(names: tuple[str, ...] | list[str], cols: Cols, consts: Mapping[str, float]) -> Floats:
    """The design matrix ``(n, len(names))`` of the named linear features."""
    x: Floats = np.column_stack([LINEAR_FEATURES[n](cols, consts) for n in names])
    return x


def tree_matrix(names: tuple[str, ...] | list[str], cols: Cols) -> Floats:
    """The ``(len(names), n)`` inputs of a tree ensemble (feature-major, contiguous per feature)."""
    return np.stack([TREE_INPUTS[n][0](cols) for n in names])
