"""Quantization helpers of the generated C shared by the emitters: TFLite's QuantizeMultiplier, fused activation
ranges as TFLite Micro computes them, C array literals."""

from __future__ import annotations

import math

import numpy as np

from atomnet.errors import InputError


def quantize_multiplier(scale: float) -> tuple[int, int]:
    """(int32 multiplier, shift) of a real scale, as TFLite's QuantizeMultiplier (frexp, round half away)."""
    if scale == 0.0:
        return 0, 0
    q, shift = math.frexp(scale)
    qf = math.floor(abs(q) * (1 << 31) + 0.5) * (1 if q >= 0 else -1)
    if qf == (1 << 31):
        qf //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    return qf, shift


def c_array(name: str, ctype: str, vals: np.ndarray) -> str:
    flat = ", ".join(str(int(v)) for v in np.asarray(vals).ravel())
    return f"const {ctype} {name}[{max(1, np.asarray(vals).size)}] = {{{flat or '0'}}};\n"


def act_range(act: int, scale: float, zp: int) -> tuple[int, int]:
    lo, hi = -128, 127
    def quant(x: float) -> int:
        v = float(np.float32(x) / np.float32(scale))  # TFLM: float32 division, round half away from zero
        return zp + int(math.copysign(math.floor(abs(v) + 0.5), v))
    if act == 1:
        lo = max(lo, quant(0.0))
    elif act == 3:
        lo, hi = max(lo, quant(0.0)), min(hi, quant(6.0))
    elif act == 2:
        lo, hi = max(lo, quant(-1.0)), min(hi, quant(1.0))
    elif act != 0:
        raise InputError(f"fused activation {act} is not supported")
    return lo, hi
