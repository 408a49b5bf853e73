"""Emission of the elementwise and shape operators of the generated C (MUL, HARD_SWISH, LOGISTIC, PAD/PADV2): their
parameters are computed here exactly as TFLite Micro's Prepare computes them (float32 where it uses float, double
where it uses double), so the kernels in ``c/`` reproduce the reference kernels bit for bit."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from atomnet.deploy._quant import act_range as _act_range
from atomnet.deploy._quant import c_array as _arr
from atomnet.deploy._quant import quantize_multiplier
from atomnet.errors import InputError

OPS = ("MUL", "HARD_SWISH", "LOGISTIC", "PAD", "PADV2")
_INT16_MAX = (1 << 15) - 1


def downscale_multiplier(m32: int) -> int:
    """TFLite's DownScaleInt32ToInt16Multiplier: the int32 fixed-point multiplier rounded to its top 16 bits."""
    if m32 >= (1 << 31) - 1 - (1 << 15):
        return _INT16_MAX
    return (m32 + (1 << 15)) >> 16


def hard_swish_params(in_scale: float, out_scale: float) -> tuple[int, int, int, int]:
    """(output int16 multiplier, output exponent, reluish int16 multiplier, reluish exponent) of an int8 HARD_SWISH
    as TFLite's Prepare computes them: in float32, the input on a hires scale in_scale/128 and the reluish scale
    3/32768 (so 3.0 is 2^15), each ratio quantized to int32 then cut to int16."""
    f32 = np.float32
    hires = f32(1.0 / 128.0) * f32(in_scale)
    out_m, out_e = quantize_multiplier(float(f32(hires / f32(out_scale))))
    rel_m, rel_e = quantize_multiplier(float(f32(hires / f32(3.0 / 32768.0))))
    return downscale_multiplier(out_m), out_e, downscale_multiplier(rel_m), rel_e


def logistic_params(in_scale: float) -> tuple[int, int, int]:
    """(input multiplier, input left shift, input range radius) of TFLite Micro's int8 LOGISTIC: the input rescaled
    to Q4.27 (4 integer bits) in double; inputs beyond the radius saturate to -128/127."""
    q, shift = math.frexp(float(in_scale) * float(1 << 27))
    mult = int(math.copysign(math.floor(abs(q) * (1 << 31) + 0.5), q))
    radius = math.floor(math.ldexp(15.0 * (1 << 27), -shift))
    return mult, shift, radius


def _shape4(shape: Any, where: str) -> list[int]:
    s = [int(d) for d in shape]
    if len(s) > 4:
        raise InputError(f"{where}: a {len(s)}-D tensor; at most 4 dimensions are supported")
    return [1] * (4 - len(s)) + s


def _strides(s: list[int], out: list[int], where: str) -> list[int]:
    """Element strides of a right-aligned 4-D shape broadcast to ``out`` (0 on a broadcast axis)."""
    st, acc = [0, 0, 0, 0], 1
    for d in range(3, -1, -1):
        if s[d] != out[d] and s[d] != 1:
            raise InputError(f"{where}: input shape {s} does not broadcast to the output shape {out}")
        st[d] = acc if s[d] == out[d] and s[d] != 1 else 0
        acc *= s[d]
    return st


def emit(mod: Any, name: str, li: int, op: Any, path: Path) -> tuple[list[str], str]:
    """Declarations (const arrays) and the kernel call for operator ``li`` (``name`` in :data:`OPS`)."""
    where = f"{path}: operator {li} {name}"
    x, y = op.inputs[0], op.outputs[0]
    xs, xz = mod.q(x)
    ys, yz = mod.q(y)
    if len(xs) != 1 or len(ys) != 1:
        raise InputError(f"{where}: per-channel quantized activations are not supported (per-tensor only)")
    if name == "MUL":
        return _emit_mul(mod, li, op, where)
    if mod.is_const(x):
        raise InputError(f"{where}: a constant input is not supported (it should have been folded)")
    n = int(np.prod(mod.g.tensors[y].shape))
    if name == "HARD_SWISH":
        om, oe, rm, re_ = hard_swish_params(float(xs[0]), float(ys[0]))
        if oe > 0:
            raise InputError(f"{where}: output scale {float(ys[0]):g} < input scale / 128 ({float(xs[0]):g} / 128); "
                             "TFLite Micro refuses this (output multiplier exponent > 0)")
        return [], f"atomnet_k_hswish(T{x}, T{y}, {n}, {int(xz[0])}, {int(yz[0])}, {om}, {oe}, {rm}, {re_});"
    if name == "LOGISTIC":
        if int(yz[0]) != -128:
            raise InputError(f"{where}: int8 LOGISTIC needs the output zero point -128 (TFLite Micro's integer "
                             f"kernel), got {int(yz[0])}")
        mult, shift, radius = logistic_params(float(xs[0]))
        return [], f"atomnet_k_logistic(T{x}, T{y}, {n}, {int(xz[0])}, {radius}, {mult}, {shift});"
    return _emit_pad(mod, name, li, op, where)


def _emit_mul(mod: Any, li: int, op: Any, where: str) -> tuple[list[str], str]:
    """MUL with 4-D broadcasting (same shapes, a constant scalar, the SE gate); a constant operand becomes a const
    array."""
    g = mod.g
    p = f"atomnet_w_{li}_"
    x, b, y = op.inputs[0], op.inputs[1], op.outputs[0]
    xs, xz = mod.q(x)
    bs, bz = mod.q(b)
    ys, yz = mod.q(y)
    if len(bs) != 1:
        raise InputError(f"{where}: a per-channel quantized operand is not supported (per-tensor only)")
    out4 = _shape4(g.tensors[y].shape, where)
    geo = list(out4)
    decl: list[str] = []
    refs = []
    for k, t in enumerate((x, b)):
        geo += _strides(_shape4(g.tensors[t].shape, where), out4, where)
        if mod.is_const(t):
            decl.append(_arr(p + "ab"[k], "int8_t", mod.data(t, np.int8)))
            refs.append(p + "ab"[k])
        else:
            refs.append(f"T{t}")
    decl.append(_arr(p + "g", "int32_t", np.array(geo)))
    # TFLM: the real multiplier s1*s2/so in double from the float32 scales
    mult, shift = quantize_multiplier(float(xs[0]) * float(bs[0]) / float(ys[0]))
    act = op.builtinOptions.fusedActivationFunction if op.builtinOptions is not None else 0
    lo, hi = _act_range(act, float(ys[0]), int(yz[0]))
    return decl, (f"atomnet_k_mul({refs[0]}, {refs[1]}, T{y}, {p}g, {-int(xz[0])}, {-int(bz[0])}, {int(yz[0])}, "
                  f"{mult}, {shift}, {lo}, {hi});")


def _emit_pad(mod: Any, name: str, li: int, op: Any, where: str) -> tuple[list[str], str]:
    """PAD / PADV2: constant padding of a tensor of at most 4 dimensions (values copied; the pad value is the
    output zero point, or PADV2's constant)."""
    g = mod.g
    x, y = op.inputs[0], op.outputs[0]
    _, yz = mod.q(y)
    wide = g.tensors[op.inputs[1]].type == mod.fb.TensorType.INT64
    pads = mod.data(op.inputs[1], np.int64 if wide else np.int32) if mod.is_const(op.inputs[1]) else None
    if pads is None:
        raise InputError(f"{where}: the paddings must be a constant tensor")
    ishape = [int(d) for d in g.tensors[x].shape]
    pads = np.asarray(pads, dtype=np.int64).reshape(-1, 2)
    if len(ishape) > 4 or pads.shape[0] != len(ishape):
        raise InputError(f"{where}: paddings {pads.tolist()} for a {len(ishape)}-D input; 1 to 4 dimensions with "
                         "one (before, after) pair each are supported")
    if (pads < 0).any():
        raise InputError(f"{where}: negative paddings {pads.tolist()} are not supported")
    lead = 4 - len(ishape)
    in4 = [1] * lead + ishape
    before = [0] * lead + [int(v) for v in pads[:, 0]]
    out4 = [d + a + c for d, (a, c) in zip(in4, [(0, 0)] * lead + pads.tolist(), strict=True)]
    if out4 != _shape4(g.tensors[y].shape, where):
        raise InputError(f"{where}: output shape {list(g.tensors[y].shape)} is not the padded input {out4}")
    value = int(yz[0])
    if name == "PADV2" and len(op.inputs) > 2 and op.inputs[2] >= 0:
        cv = mod.data(op.inputs[2], np.int8) if mod.is_const(op.inputs[2]) else None
        if cv is None or cv.size != 1:
            raise InputError(f"{where}: the constant value must be a constant int8 scalar")
        value = int(cv.ravel()[0])
    geo = f"atomnet_w_{li}_g"
    return [_arr(geo, "int32_t", np.array(in4 + before + out4))], f"atomnet_k_pad(T{x}, T{y}, {geo}, {value});"
