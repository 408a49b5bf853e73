"""The atom-operator vocabulary: one fused kernel of an MCU inference runtime.

An :class:`Op` is plain, hashable data. Its :attr:`Op.key` is the exact identity under which
measurements are stored and looked up in AtomDB. Conventions follow the public AtomDB
(X-CUBE-AI layers, ``../shared/atomdb/README.md``):

* BN is folded and the activation fused into the conv (activations cost nothing on their own);
* ``depthwise`` and ordinary ``conv`` ops are *valid* convolutions on an already padded input
  (a separate ``pad`` op precedes them), except the RGB stem, which stores its unpadded input;
  the output size in the key tells the two apart;
* ``macc`` counts MACs the X-CUBE-AI way (``+ c_out`` per conv for the bias), ``macs`` the
  conv+linear multiply-accumulates only (the convention of the papers' MAC tables).

>>> op = Op.pointwise(80, 7, 7, 480)
>>> op.macs, op.macc, op.flash_bytes
(1881600, 1882080, 40320)
>>> Op.se(64, 10, 10).mid
16
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

KINDS: tuple[str, ...] = ("conv", "pointwise", "depthwise", "pad", "eltwise", "affine", "dense", "se", "pool")
KIND_ID: dict[str, int] = {k: i for i, k in enumerate(KINDS)}
#: columns of :attr:`Op.key` after the kind id; also the SQLite key columns
KEY_FIELDS: tuple[str, ...] = ("c_in", "h_in", "w_in", "c_out", "h_out", "w_out", "kernel", "stride", "groups")


def make_divisible(v: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round ``v`` to the nearest multiple of ``divisor`` (at least ``divisor``); add one step if that
    loses more than 10 % (the MobileNet rule, FACTS §2)."""
    min_value = divisor if min_value is None else min_value
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def se_mid(c: int) -> int:
    """Squeeze channels of an SE module on ``c`` channels: ``make_divisible(c/4, 8)``."""
    return make_divisible(c / 4, 8)


@dataclass(frozen=True, slots=True)
class Op:
    """One atom operator. Shapes are per-tensor (batch 1, int8 activations)."""

    kind: str
    c_in: int
    h_in: int
    w_in: int
    c_out: int
    h_out: int
    w_out: int
    kernel: int = 1
    stride: int = 1
    groups: int = 1

    def __post_init__(self) -> None:
        if self.kind not in KIND_ID:
            raise ValueError(f"Op.kind: unknown operator kind {self.kind!r}; expected one of {', '.join(KINDS)}")
        for name in KEY_FIELDS:
            v = getattr(self, name)
            if not isinstance(v, int) or v < (0 if name == "kernel" else 1):
                raise ValueError(f"Op.{name}: expected a positive integer, got {v!r} ({self.kind})")

    # ---- constructors ---------------------------------------------------------------------
    @classmethod
    def conv(cls, c_in: int, h_in: int, w_in: int, c_out: int, kernel: int, stride: int = 1,
             padding: int = 0) -> Op:
        """Ordinary k×k conv. ``padding=0``: valid conv on an already padded input (AtomDB convention);
        the unpadded RGB stem passes its own padding so that the output size is right."""
        h_out = (h_in + 2 * padding - kernel) // stride + 1
        w_out = (w_in + 2 * padding - kernel) // stride + 1
        return cls("conv", c_in, h_in, w_in, c_out, h_out, w_out, kernel, stride, 1)

    @classmethod
    def pointwise(cls, c_in: int, h: int, w: int, c_out: int) -> Op:
        return cls("pointwise", c_in, h, w, c_out, h, w, 1, 1, 1)

    @classmethod
    def depthwise(cls, c: int, h_in: int, w_in: int, kernel: int, stride: int = 1, multiplier: int = 1) -> Op:
        """Depthwise valid conv on a padded ``h_in × w_in`` input. ``multiplier`` > 1: each input channel
        yields that many output channels (groups = c, c_out = c·multiplier; a SEP block with expansion)."""
        return cls("depthwise", c, h_in, w_in, c * multiplier, (h_in - kernel) // stride + 1,
                   (w_in - kernel) // stride + 1, kernel, stride, c)

    @classmethod
    def pad(cls, c: int, h_in: int, w_in: int, h_out: int, w_out: int) -> Op:
        return cls("pad", c, h_in, w_in, c, h_out, w_out, 0, 1, 1)

    @classmethod
    def eltwise(cls, c: int, h: int, w: int) -> Op:
        """Binary elementwise op (residual add, SE multiply) on ``c×h×w`` tensors."""
        return cls("eltwise", c, h, w, c, h, w, 0, 1, 1)

    @classmethod
    def affine(cls, c: int, h: int, w: int) -> Op:
        """Per-channel scale and offset (unfolded BN): ``2·c·h·w`` MACC, ``2·c`` bytes."""
        return cls("affine", c, h, w, c, h, w, 0, 1, 1)

    @classmethod
    def dense(cls, in_features: int, out_features: int) -> Op:
        return cls("dense", in_features, 1, 1, out_features, 1, 1, 1, 1, 1)

    @classmethod
    def se(cls, c: int, h: int, w: int) -> Op:
        """A whole squeeze-excitation module (pool → 1×1 C→mid → ReLU → 1×1 mid→C → h-sigmoid → mul)."""
        return cls("se", c, h, w, c, h, w, 0, 1, 1)

    @classmethod
    def pool(cls, c: int, h: int, w: int) -> Op:
        """Global average pooling ``c×h×w → c×1×1``."""
        return cls("pool", c, h, w, c, 1, 1, 0, 1, 1)

    # ---- identity -------------------------------------------------------------------------
    @property
    def key(self) -> tuple[int, ...]:
        """Exact lookup key: ``(kind_id, c_in, h_in, w_in, c_out, h_out, w_out, kernel, stride, groups)``."""
        return (KIND_ID[self.kind], self.c_in, self.h_in, self.w_in, self.c_out, self.h_out, self.w_out,
                self.kernel, self.stride, self.groups)

    @classmethod
    def from_key(cls, key: tuple[int, ...]) -> Op:
        return cls(KINDS[key[0]], *(int(v) for v in key[1:]))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **{f: getattr(self, f) for f in KEY_FIELDS}}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Op:
        unknown = set(d) - {"kind", *KEY_FIELDS}
        if unknown:
            raise ValueError(f"Op: unknown field(s) {sorted(unknown)}; expected kind and {', '.join(KEY_FIELDS)}")
        return cls(**d)

    def describe(self) -> str:
        k = self.kind
        io = f"{self.c_in}x{self.h_in}x{self.w_in}->{self.c_out}x{self.h_out}x{self.w_out}"
        if k in ("conv", "depthwise"):
            return f"{k} k{self.kernel}s{self.stride} {io}"
        if k == "dense":
            return f"dense {self.c_in}->{self.c_out}"
        return f"{k} {io}"

    # ---- sizes ----------------------------------------------------------------------------
    @property
    def mid(self) -> int:
        """SE squeeze channels (0 for other kinds)."""
        return se_mid(self.c_in) if self.kind == "se" else 0

    @property
    def in_elems(self) -> int:
        return self.c_in * self.h_in * self.w_in

    @property
    def out_elems(self) -> int:
        return self.c_out * self.h_out * self.w_out

    @property
    def weight_params(self) -> int:
        """Number of weights (int8 in the deployed model), biases excluded."""
        k = self.kind
        if k in ("conv", "pointwise", "depthwise"):
            return self.kernel * self.kernel * (self.c_in // self.groups) * self.c_out
        if k == "dense":
            return self.c_in * self.c_out
        if k == "se":
            return 2 * self.c_in * self.mid
        if k == "affine":
            return 2 * self.c_in
        return 0

    @property
    def bias_params(self) -> int:
        k = self.kind
        if k in ("conv", "pointwise", "depthwise", "dense"):
            return self.c_out
        if k == "se":
            return self.c_in + self.mid
        return 0

    @property
    def macs(self) -> int:
        """Multiply-accumulates of convolutions and linear layers only (no bias, no elementwise)."""
        k = self.kind
        if k in ("conv", "pointwise", "depthwise"):
            return self.weight_params * self.h_out * self.w_out
        if k == "dense":
            return self.c_in * self.c_out
        if k == "se":
            return 2 * self.c_in * self.mid
        return 0

    @property
    def macc(self) -> int:
        """X-CUBE-AI "MACC" as stored in AtomDB (bias, pooling and elementwise work counted)."""
        k = self.kind
        if k in ("conv", "pointwise", "depthwise", "dense"):
            return self.macs + self.c_out
        if k == "se":
            c, hw, m = self.c_in, self.h_in * self.w_in, self.mid
            return 2 * c * hw + 2 * c * m + m + 2 * c
        if k == "eltwise":
            return self.out_elems
        if k == "affine":
            return 2 * self.out_elems
        if k == "pool":
            return self.in_elems
        return 0

    @property
    def flash_bytes(self) -> int:
        """Weights and biases as X-CUBE-AI stores them: int8 weights + int32 bias (AtomDB convention)."""
        k = self.kind
        if k == "se":
            c, m = self.c_in, self.mid
            return 2 * c * m + 4 * (c + m) + 4
        if k == "affine":
            return 2 * self.c_in
        return self.weight_params + 4 * self.bias_params
