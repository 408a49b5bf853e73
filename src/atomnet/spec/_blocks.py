"""The block registry: how each block type expands into primitive layers (FACTS §2).

A block type turns a :class:`~atomnet.spec.BlockSpec` and its input channel count into a short sequence
of runtime-independent :class:`Prim` layers (k×k conv, depthwise, pointwise, SE, residual add). Statistics
(:func:`~atomnet.spec.spec_macs`) and every runtime lowering (:func:`~atomnet.spec.lower`) read these
primitives, so a new block type only has to register itself here::

    @register_block("fused_mbconv")
    class FusedMBConv(BlockType):
        def prims(self, b, c_in): ...

Built-in types (FACTS §2): ``conv`` (the stem), ``sep`` (alias ``mobile_one``), ``mbconv``, ``convnext``
(alias ``mbconvnext``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, TypeVar

from atomnet.ops import make_divisible
from atomnet.spec._errors import SpecError

if TYPE_CHECKING:
    from atomnet.spec._model import BlockSpec

#: activations a block (or the head's feature mix) may use
ACTIVATIONS: tuple[str, ...] = ("relu", "relu6", "hswish", "none")
#: primitive layer kinds
PRIM_KINDS: tuple[str, ...] = ("conv", "dw", "pw", "se", "add")


@dataclass(frozen=True)
class Prim:
    """One primitive layer of a block, before any runtime lowering.

    ``kind``: ``conv`` (ordinary k×k conv), ``dw`` (depthwise k×k), ``pw`` (1×1 conv), ``se`` (a whole
    squeeze-excitation module on ``c_in`` channels), ``add`` (residual add of the block input).
    ``part`` names the layer inside its block (``dw``, ``expand``, ``project``…). ``act`` is the activation
    applied to the output (``none`` for projections, SE and adds). Padding is always ``kernel // 2``.
    """

    kind: str
    part: str
    c_in: int
    c_out: int
    kernel: int = 1
    stride: int = 1
    act: str = "none"

    def out_hw(self, h: int, w: int) -> tuple[int, int]:
        """Output spatial size for an ``h × w`` input (symmetric padding ``kernel // 2``)."""
        if self.kind in ("se", "add", "pw"):
            return h, w
        p = self.kernel // 2
        return (h + 2 * p - self.kernel) // self.stride + 1, (w + 2 * p - self.kernel) // self.stride + 1


class BlockType:
    """Base class of registered block types. Subclasses set ``name`` (via :func:`register_block`) and
    implement :meth:`prims`; :meth:`check` raises :class:`SpecError` with a field name (no prefix)."""

    name: ClassVar[str] = ""
    aliases: ClassVar[tuple[str, ...]] = ()
    #: whether the type may carry a residual connection at all
    supports_residual: ClassVar[bool] = True

    def check(self, b: BlockSpec, c_in: int) -> None:
        if b.residual and not self.supports_residual:
            raise SpecError("residual", f"{self.name} blocks have no residual connection")
        if b.residual and not self.residual_possible(b, c_in):
            raise SpecError("residual", f"a residual needs stride 1 and in_channels = out_channels "
                                        f"(got stride {b.stride}, {c_in} -> {b.out_channels})")

    def residual_possible(self, b: BlockSpec, c_in: int) -> bool:
        return b.stride == 1 and c_in == b.out_channels

    def has_residual(self, b: BlockSpec, c_in: int) -> bool:
        """FACTS §2 rule (residual iff c_in = c_out and stride 1) unless the spec says otherwise."""
        if not self.supports_residual:
            return False
        if b.residual is not None:
            return b.residual
        return self.residual_possible(b, c_in)

    def mid_channels(self, b: BlockSpec, c_in: int) -> int:
        """Channels of the expanded tensor (``c_in`` when the type does not expand)."""
        return c_in

    def prims(self, b: BlockSpec, c_in: int) -> tuple[Prim, ...]:
        raise NotImplementedError


_REGISTRY: dict[str, BlockType] = {}
_ALIASES: dict[str, str] = {}
T = TypeVar("T", bound=type[BlockType])


def register_block(name: str, *, aliases: tuple[str, ...] = ()) -> Callable[[T], T]:
    """Class decorator registering a :class:`BlockType` under ``name`` (and ``aliases``); duplicates raise."""

    def deco(cls: T) -> T:
        for n in (name, *aliases):
            if n in _REGISTRY or n in _ALIASES:
                raise ValueError(f"block type {n!r} is already registered")
        cls.name = name
        cls.aliases = tuple(aliases)
        _REGISTRY[name] = cls()
        for a in aliases:
            _ALIASES[a] = name
        return cls

    return deco


def list_blocks() -> list[str]:
    """Canonical names of all registered block types."""
    return sorted(_REGISTRY)


def canonical_block(name: str) -> str:
    """The canonical name of a block type or alias; unknown names raise :class:`SpecError`."""
    if name in _REGISTRY:
        return name
    if name in _ALIASES:
        return _ALIASES[name]
    known = ", ".join(f"{n}" + (f" (alias {', '.join(_REGISTRY[n].aliases)})" if _REGISTRY[n].aliases else "")
                      for n in sorted(_REGISTRY))
    raise SpecError("type", f"unknown block type {name!r}; registered: {known}")


def get_block(name: str) -> BlockType:
    return _REGISTRY[canonical_block(name)]


def _se(b: BlockSpec, c: int) -> tuple[Prim, ...]:
    return (Prim("se", "se", c, c),) if b.se else ()


@register_block("conv")
class ConvBlock(BlockType):
    """Ordinary k×k conv + BN + act (the RGB stem of every zoo model); optional SE on its output."""

    supports_residual = False

    def check(self, b: BlockSpec, c_in: int) -> None:
        super().check(b, c_in)
        if b.expand_ratio != 1:
            raise SpecError("expand_ratio", f"conv blocks do not expand (expected 1, got {b.expand_ratio})")

    def prims(self, b: BlockSpec, c_in: int) -> tuple[Prim, ...]:
        return (Prim("conv", "conv", c_in, b.out_channels, b.kernel, b.stride, b.act), *_se(b, b.out_channels))


@register_block("sep", aliases=("mobile_one",))
class SepBlock(BlockType):
    """SEP (``mobile_one``): depthwise k×k stride s → act → [SE] → pointwise → act. No residual.

    With expand ratio e > 1 the depthwise conv has channel multiplier e (c_in → c_in·e, groups = c_in), as
    in the AtomNet release's ``MobileOneBlock``; SE and the pointwise conv then work on c_in·e channels.
    The released models all use e = 1; the hybrid search space (Table 2, stage 4) offers 1, 3 and 6."""

    supports_residual = False

    def check(self, b: BlockSpec, c_in: int) -> None:
        super().check(b, c_in)
        if b.expand_ratio < 1 or float(b.expand_ratio) != int(b.expand_ratio):
            raise SpecError("expand_ratio", f"sep blocks expand by an integer channel multiplier >= 1, "
                                            f"got {b.expand_ratio}")

    def prims(self, b: BlockSpec, c_in: int) -> tuple[Prim, ...]:
        mid = c_in * int(b.expand_ratio)
        return (Prim("dw", "dw", c_in, mid, b.kernel, b.stride, b.act), *_se(b, mid),
                Prim("pw", "pw", mid, b.out_channels, 1, 1, b.act))


@register_block("mbconv")
class MBConvBlock(BlockType):
    """MBConv: [pointwise c_in→mid → act, if e ≠ 1] → depthwise on mid → act → [SE on mid] → pointwise
    mid→c_out (no act) → residual. ``mid = mid_channels`` if given, else ``make_divisible(c_in·e, 8)``."""

    def mid_channels(self, b: BlockSpec, c_in: int) -> int:
        if b.mid_channels is not None:
            return b.mid_channels
        return c_in if b.expand_ratio == 1 else make_divisible(c_in * b.expand_ratio, 8)

    def check(self, b: BlockSpec, c_in: int) -> None:
        super().check(b, c_in)
        if b.expand_ratio == 1 and b.mid_channels not in (None, c_in):
            raise SpecError("mid_channels", f"expand_ratio 1 has no expansion conv, so mid_channels must be "
                                            f"the input channels {c_in}, got {b.mid_channels}")

    def prims(self, b: BlockSpec, c_in: int) -> tuple[Prim, ...]:
        mid = self.mid_channels(b, c_in)
        out: list[Prim] = []
        if b.expand_ratio != 1:
            out.append(Prim("pw", "expand", c_in, mid, 1, 1, b.act))
        out.append(Prim("dw", "dw", mid, mid, b.kernel, b.stride, b.act))
        out.extend(_se(b, mid))
        out.append(Prim("pw", "project", mid, b.out_channels))
        if self.has_residual(b, c_in):
            out.append(Prim("add", "add", b.out_channels, b.out_channels))
        return tuple(out)


@register_block("convnext", aliases=("mbconvnext",))
class ConvNextBlock(BlockType):
    """ConvNext (``mbconvnext``): depthwise k×k stride s on c_in → act → [SE on c_in] → pointwise c_in→mid
    → act → pointwise mid→c_out (no act) → residual. ``mid = make_divisible(c_in·e, 8)`` unless given."""

    def mid_channels(self, b: BlockSpec, c_in: int) -> int:
        return b.mid_channels if b.mid_channels is not None else make_divisible(c_in * b.expand_ratio, 8)

    def prims(self, b: BlockSpec, c_in: int) -> tuple[Prim, ...]:
        mid = self.mid_channels(b, c_in)
        out = [Prim("dw", "dw", c_in, c_in, b.kernel, b.stride, b.act), *_se(b, c_in),
               Prim("pw", "expand", c_in, mid, 1, 1, b.act), Prim("pw", "project", mid, b.out_channels)]
        if self.has_residual(b, c_in):
            out.append(Prim("add", "add", b.out_channels, b.out_channels))
        return tuple(out)
