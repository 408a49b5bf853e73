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
>>> Op.eltwise(16, 5, 5, fn="mul").describe(), Op.eltwise(16, 5, 5).key == Op.eltwise(16, 5, 5, fn="add").key
('eltwise mul 16x5x5->16x5x5', True)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from atomnet.errors import InputError, UnknownNameError
from atomnet.jsontypes import JSONDict

#: columns of :attr:`Op.key` after the kind id; also the SQLite key columns
KEY_FIELDS: tuple[str, ...] = ("c_in", "h_in", "w_in", "c_out", "h_out", "w_out", "kernel", "stride", "groups")


#: element-wise functions an ``eltwise`` key can carry, stored as their index in the key's ``kernel`` slot. The index
#: is stored in AtomDB: append only, never reorder. ``add`` is 0, so every eltwise key written before the function
#: was kept (the public AtomDB's residual ADDs) is an ADD. Names are the TFLite builtin names in lower case.
ELTWISE_FNS: tuple[str, ...] = (
    "add", "mul", "sub", "div", "maximum", "minimum", "squared_difference", "hard_swish", "logistic", "tanh",
    "relu", "relu6", "relu_n1_to_1", "leaky_relu", "prelu", "elu", "gelu", "abs", "neg", "exp", "log", "sqrt",
    "rsqrt", "square", "pow", "floor", "ceil", "round", "sin", "cos", "floor_div", "floor_mod", "quantize",
    "dequantize", "cast", "logical_and", "logical_or", "logical_not", "equal", "not_equal", "less", "less_equal",
    "greater", "greater_equal", "select", "select_v2", "zeros_like", "ones_like", "sign", "log_softmax",
)
ELTWISE_FN_ID: dict[str, int] = {f: i for i, f in enumerate(ELTWISE_FNS)}
assert len(ELTWISE_FN_ID) == len(ELTWISE_FNS), "ELTWISE_FNS repeats a name"


def eltwise_fn_id(fn: str) -> int:
    """The stable id of element-wise function ``fn`` (a name of :data:`ELTWISE_FNS`, any case).

    >>> eltwise_fn_id("ADD"), eltwise_fn_id("hard_swish")
    (0, 7)
    """
    try:
        return ELTWISE_FN_ID[fn.lower()]
    except KeyError:
        raise UnknownNameError(f"Op.eltwise: unknown element-wise function {fn!r}; expected one of "
                               f"{', '.join(ELTWISE_FNS)}") from None


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


_Formula = Callable[["Op"], int]


def _zero(op: Op) -> int:
    return 0


def _conv_weights(op: Op) -> int:
    return op.kernel * op.kernel * (op.c_in // op.groups) * op.c_out


def _linear_weights(op: Op) -> int:
    return op.c_in * op.c_out


def _se_weights(op: Op) -> int:  # the two 1×1 convs C→mid→C
    return 2 * op.c_in * se_mid(op.c_in)


def _affine_weights(op: Op) -> int:  # scale and offset per channel
    return 2 * op.c_in


def _c_out(op: Op) -> int:
    return op.c_out


def _se_bias(op: Op) -> int:
    return op.c_in + se_mid(op.c_in)


def _conv_macs(op: Op) -> int:
    return _conv_weights(op) * op.h_out * op.w_out


def _se_macc(op: Op) -> int:
    c, hw, m = op.c_in, op.h_in * op.w_in, se_mid(op.c_in)
    return 2 * c * hw + 2 * c * m + m + 2 * c


def _out_elems(op: Op) -> int:
    return op.c_out * op.h_out * op.w_out


def _in_elems(op: Op) -> int:
    return op.c_in * op.h_in * op.w_in


def _se_flash(op: Op) -> int:  # AtomDB SE table: int8 weights + int32 biases + 4 bytes
    c, m = op.c_in, se_mid(op.c_in)
    return 2 * c * m + 4 * (c + m) + 4


@dataclass(frozen=True)
class OpKind:
    """One kind of atom operator and its formulas (the single table the :class:`Op` properties read).

    ``weighted``: the kind stores parameters in Flash (int8 weights, int32 biases, quantization data);
    ``linear``: a convolution or linear layer (MCUNet's "Act" and the papers' MAC tables count these);
    ``shows_kernel``: :meth:`Op.describe` prints ``k{kernel}s{stride}``; the formulas map an :class:`Op` of
    this kind to its weights (int8, biases excluded), biases (int32 values), ``macs`` (multiply-accumulates
    of convolutions and linear layers), ``macc`` (X-CUBE-AI's MACC, as stored in AtomDB) and ``flash_bytes``
    (the AtomDB Flash column: weights + 4 bytes per bias, SE and affine as their tables say)."""

    name: str
    id: int
    weighted: bool
    linear: bool
    weight_params: _Formula
    bias_params: _Formula
    macs: _Formula
    macc: _Formula
    flash_bytes: _Formula
    shows_kernel: bool = False


def _macc_with_bias(op: Op) -> int:
    return op_kind(op.kind).macs(op) + op.c_out


def _atomdb_flash(op: Op) -> int:
    k = op_kind(op.kind)
    return k.weight_params(op) + 4 * k.bias_params(op)


#: the vocabulary, in kind-id order (the id is the first element of :attr:`Op.key`, stored in AtomDB: never reorder)
OP_KINDS: tuple[OpKind, ...] = (
    OpKind("conv", 0, True, True, _conv_weights, _c_out, _conv_macs, _macc_with_bias, _atomdb_flash, True),
    OpKind("pointwise", 1, True, True, _conv_weights, _c_out, _conv_macs, _macc_with_bias, _atomdb_flash),
    OpKind("depthwise", 2, True, True, _conv_weights, _c_out, _conv_macs, _macc_with_bias, _atomdb_flash, True),
    OpKind("pad", 3, False, False, _zero, _zero, _zero, _zero, _zero),
    OpKind("eltwise", 4, False, False, _zero, _zero, _zero, _out_elems, _zero),
    OpKind("affine", 5, True, False, _affine_weights, _zero, _zero, lambda op: 2 * _out_elems(op), _affine_weights),
    OpKind("dense", 6, True, True, _linear_weights, _c_out, _linear_weights, _macc_with_bias, _atomdb_flash),
    OpKind("se", 7, True, False, _se_weights, _se_bias, _se_weights, _se_macc, _se_flash),
    OpKind("pool", 8, False, False, _zero, _zero, _zero, _in_elems, _zero),
)
_BY_NAME: dict[str, OpKind] = {k.name: k for k in OP_KINDS}
KINDS: tuple[str, ...] = tuple(k.name for k in OP_KINDS)
KIND_ID: dict[str, int] = {k.name: k.id for k in OP_KINDS}
#: kinds that store parameters (weights, biases) in Flash
WEIGHTED_KINDS: frozenset[str] = frozenset(k.name for k in OP_KINDS if k.weighted)
#: convolutions and linear layers
LINEAR_KINDS: frozenset[str] = frozenset(k.name for k in OP_KINDS if k.linear)
assert all(k.id == i for i, k in enumerate(OP_KINDS)), "OP_KINDS must be listed in kind-id order"


def op_kind(name: str) -> OpKind:
    """The :class:`OpKind` record of kind ``name``.

    >>> op_kind("se").weighted, op_kind("pad").weighted
    (True, False)
    """
    try:
        return _BY_NAME[name]
    except KeyError:
        raise UnknownNameError(f"Op.kind: unknown operator kind {name!r}; expected one of {', '.join(KINDS)}") from None


_INT8 = (int,) * 8  # the types of an Op's dimensions other than the kernel, checked in one comparison
_N_FNS = len(ELTWISE_FNS)


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
        if self.kind not in _BY_NAME:
            op_kind(self.kind)  # raises, naming the kinds
        dims = (self.c_in, self.h_in, self.w_in, self.c_out, self.h_out, self.w_out, self.stride, self.groups)
        if (type(self.kernel) is int and self.kernel >= 0 and tuple(map(type, dims)) == _INT8 and min(dims) >= 1
                and (self.kernel < _N_FNS or self.kind != "eltwise")):
            return  # the common case, checked fast (lowering a search space creates ~10⁵ ops)
        for name in KEY_FIELDS:
            v = getattr(self, name)
            if not isinstance(v, int) or v < (0 if name == "kernel" else 1):
                raise InputError(f"Op.{name}: expected a positive integer, got {v!r} ({self.kind})")
        raise InputError(f"Op.kernel: an eltwise key stores its element-wise function there, an id 0 … {_N_FNS - 1} "
                         f"of atomnet.ops.ELTWISE_FNS; got {self.kernel}")

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
    def eltwise(cls, c: int, h: int, w: int, fn: str = "add") -> Op:
        """Element-wise op on ``c×h×w`` tensors: ``fn`` is the function (:data:`ELTWISE_FNS`: ``add`` for a
        residual add, ``mul`` for the SE multiply, ``hard_swish`` …), kept in the key's ``kernel`` slot."""
        return cls("eltwise", c, h, w, c, h, w, 0 if fn == "add" else eltwise_fn_id(fn), 1, 1)

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

    def to_dict(self) -> JSONDict:
        return {"kind": self.kind, **{f: getattr(self, f) for f in KEY_FIELDS}}

    @classmethod
    def from_dict(cls, d: JSONDict) -> Op:
        """The op of :meth:`to_dict`'s form (``kernel``, ``stride``, ``groups`` default to 1); errors name the field.

        >>> Op.from_dict({"kind": "pointwise", "c_in": 16, "h_in": 8, "w_in": 8, "c_out": 24, "h_out": 8, "w_out": 8})
        Op(kind='pointwise', c_in=16, h_in=8, w_in=8, c_out=24, h_out=8, w_out=8, kernel=1, stride=1, groups=1)
        """
        unknown = set(d) - {"kind", *KEY_FIELDS}
        if unknown:
            raise InputError(f"Op: unknown field(s) {sorted(unknown)}; expected kind and {', '.join(KEY_FIELDS)}")
        kind = d.get("kind")
        if not isinstance(kind, str):
            raise InputError(f"Op.kind: expected one of {', '.join(KINDS)}, got {kind!r}")
        missing = [f for f in KEY_FIELDS[:6] if f not in d]
        if missing:
            raise InputError(f"Op: missing field(s) {', '.join(missing)} ({kind})")
        dims = [d.get(f, 1) for f in KEY_FIELDS]
        for f, v in zip(KEY_FIELDS, dims, strict=True):
            if not isinstance(v, int):
                raise InputError(f"Op.{f}: expected a positive integer, got {v!r} ({kind})")
        return cls(kind, *(int(v) for v in dims if isinstance(v, int)))

    @property
    def eltwise_fn(self) -> str:
        """The element-wise function of an ``eltwise`` op (:data:`ELTWISE_FNS`; ``""`` for other kinds).

        >>> Op.eltwise(8, 4, 4, fn="HARD_SWISH").eltwise_fn, Op.pad(8, 4, 4, 6, 6).eltwise_fn
        ('hard_swish', '')
        """
        return ELTWISE_FNS[self.kernel] if self.kind == "eltwise" else ""

    def describe(self) -> str:
        k = self.kind
        io = f"{self.c_in}x{self.h_in}x{self.w_in}->{self.c_out}x{self.h_out}x{self.w_out}"
        if _BY_NAME[k].shows_kernel:
            return f"{k} k{self.kernel}s{self.stride} {io}"
        if k == "dense":
            return f"dense {self.c_in}->{self.c_out}"
        if k == "eltwise":
            return f"eltwise {ELTWISE_FNS[self.kernel]} {io}"
        return f"{k} {io}"

    # ---- sizes (formulas from the kind's :class:`OpKind` record) ---------------------------
    @property
    def kind_info(self) -> OpKind:
        """This operator's :class:`OpKind` record."""
        return _BY_NAME[self.kind]

    @property
    def mid(self) -> int:
        """SE squeeze channels (0 for other kinds)."""
        return se_mid(self.c_in) if self.kind == "se" else 0

    @property
    def in_elems(self) -> int:
        return _in_elems(self)

    @property
    def out_elems(self) -> int:
        return _out_elems(self)

    @property
    def weight_params(self) -> int:
        """Number of weights (int8 in the deployed model), biases excluded."""
        return _BY_NAME[self.kind].weight_params(self)

    @property
    def bias_params(self) -> int:
        return _BY_NAME[self.kind].bias_params(self)

    @property
    def macs(self) -> int:
        """Multiply-accumulates of convolutions and linear layers only (no bias, no elementwise)."""
        return _BY_NAME[self.kind].macs(self)

    @property
    def macc(self) -> int:
        """X-CUBE-AI "MACC" as stored in AtomDB (bias, pooling and elementwise work counted)."""
        return _BY_NAME[self.kind].macc(self)

    @property
    def flash_bytes(self) -> int:
        """Weights and biases as X-CUBE-AI stores them: int8 weights + int32 bias (AtomDB convention)."""
        return _BY_NAME[self.kind].flash_bytes(self)
