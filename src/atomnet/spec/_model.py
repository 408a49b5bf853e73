"""`ModelSpec`: an architecture as frozen, validated, JSON-round-trippable data (DESIGN principle 1).

A model is an RGB input, stages of explicit blocks, and a head (optional 1×1 "feature mix" conv, global
average pool, linear classifier). Block types and their layer patterns are in the block registry
(:mod:`atomnet.spec._blocks`, FACTS §2). The JSON form carries ``"schema": "atomnet.spec/1"``; unknown keys
are errors and every error names its field path::

    >>> from atomnet.spec import BlockSpec, ModelSpec, StageSpec
    >>> spec = ModelSpec("tiny", (32, 32), 10, (
    ...     StageSpec((BlockSpec("conv", 8, stride=2, act="relu"),)),
    ...     StageSpec.uniform("sep", depth=2, out_channels=16, stride=2, act="hswish")))
    >>> ModelSpec.from_dict(spec.to_dict()) == spec
    True
    >>> BlockSpec("conv", -4)
    Traceback (most recent call last):
    ...
    atomnet.spec._errors.SpecError: out_channels: expected a positive int, got -4
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from atomnet.jsontypes import JSONDict
from atomnet.spec._blocks import ACTIVATIONS, BlockType, Prim, canonical_block, get_block
from atomnet.spec._errors import (
    SpecError,
    check_keys,
    expect_bool,
    expect_int,
    expect_number,
    expect_str,
)

SCHEMA = "atomnet.spec/1"
KERNELS = (1, 3, 5, 7)
STRIDES = (1, 2)


class ReadOnlyDict(dict[str, Any]):
    """A dict that refuses changes (a spec's provenance is shared by cached zoo specs); picklable."""

    def _refuse(self, *args: object, **kwargs: object) -> Any:
        raise TypeError("a spec's provenance is read-only; build a new spec with dataclasses.replace()")

    __setitem__ = __delitem__ = __ior__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse

    def __reduce__(self) -> tuple[Any, ...]:
        return (ReadOnlyDict, (dict(self),))


def _check_act(act: object, path: str) -> str:
    if act not in ACTIVATIONS:
        raise SpecError(path, f"expected one of {', '.join(ACTIVATIONS)}, got {act!r}")
    return str(act)


@dataclass(frozen=True)
class BlockSpec:
    """One block. ``type`` is a registered block type (aliases are normalized to the canonical name);
    ``stride`` applies to this block; ``mid_channels`` overrides the type's expansion rule (MCUNet nets
    store it explicitly); ``residual`` overrides the c_in = c_out ∧ stride 1 rule (None = rule)."""

    type: str
    out_channels: int
    stride: int = 1
    kernel: int = 3
    expand_ratio: float = 1
    se: bool = False
    act: str = "relu"
    mid_channels: int | None = None
    residual: bool | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "type", canonical_block(expect_str(self.type, "type")))
        expect_int(self.out_channels, "out_channels")
        if self.stride not in STRIDES or isinstance(self.stride, bool):
            raise SpecError("stride", f"expected one of {STRIDES}, got {self.stride!r}")
        if self.kernel not in KERNELS or isinstance(self.kernel, bool):
            raise SpecError("kernel", f"expected one of {KERNELS}, got {self.kernel!r}")
        expect_number(self.expand_ratio, "expand_ratio")
        expect_bool(self.se, "se")
        _check_act(self.act, "act")
        if self.mid_channels is not None:
            expect_int(self.mid_channels, "mid_channels")
        if self.residual is not None:
            expect_bool(self.residual, "residual")

    _KEYS = frozenset({"type", "out_channels", "stride", "kernel", "expand_ratio", "se", "act", "mid_channels",
                       "residual"})

    def to_dict(self) -> JSONDict:
        d: JSONDict = {"type": self.type, "out_channels": self.out_channels, "stride": self.stride,
                             "kernel": self.kernel, "expand_ratio": self.expand_ratio, "se": self.se,
                             "act": self.act}
        if self.mid_channels is not None:
            d["mid_channels"] = self.mid_channels
        if self.residual is not None:
            d["residual"] = self.residual
        return d

    @classmethod
    def from_dict(cls, d: object) -> BlockSpec:
        return cls(**check_keys(d, "", cls._KEYS, ("type", "out_channels")))


@dataclass(frozen=True)
class StageSpec:
    """A stage: a non-empty sequence of explicit blocks (its stride is the first block's)."""

    blocks: tuple[BlockSpec, ...]

    def __post_init__(self) -> None:
        if isinstance(self.blocks, list):
            object.__setattr__(self, "blocks", tuple(self.blocks))
        if not isinstance(self.blocks, tuple) or not self.blocks:
            raise SpecError("blocks", "expected a non-empty list of blocks")
        for j, b in enumerate(self.blocks):
            if not isinstance(b, BlockSpec):
                raise SpecError(f"blocks[{j}]", f"expected a BlockSpec, got {type(b).__name__}")

    @classmethod
    def uniform(cls, block: str, depth: int, out_channels: int, stride: int = 1, kernel: int = 3,
                expand_ratio: float = 1, se: bool = False, act: str = "relu") -> StageSpec:
        """``depth`` identical blocks, the stride on the first (the AtomNet stage-config convention)."""
        expect_int(depth, "depth")
        return cls(tuple(BlockSpec(block, out_channels, stride if i == 0 else 1, kernel, expand_ratio, se, act)
                         for i in range(depth)))

    @property
    def depth(self) -> int:
        return len(self.blocks)

    @property
    def out_channels(self) -> int:
        return self.blocks[-1].out_channels

    @property
    def stride(self) -> int:
        return self.blocks[0].stride

    def to_dict(self) -> JSONDict:
        return {"blocks": [b.to_dict() for b in self.blocks]}

    @classmethod
    def from_dict(cls, d: object) -> StageSpec:
        raw = check_keys(d, "", {"blocks"}, ("blocks",))["blocks"]
        if not isinstance(raw, list) or not raw:
            raise SpecError("blocks", "expected a non-empty list of blocks")
        blocks = []
        for j, b in enumerate(raw):
            try:
                blocks.append(BlockSpec.from_dict(b))
            except SpecError as e:
                raise e.within(f"blocks[{j}]") from None
            except TypeError as e:
                raise SpecError(f"blocks[{j}]", str(e)) from None
        return cls(tuple(blocks))


@dataclass(frozen=True)
class HeadSpec:
    """Head: [1×1 conv to ``feature_mix`` channels + ``feature_mix_act``] → global average pool → Linear.
    (ProxylessNAS/MobileNetV2 order: the feature mix runs before the pool.)"""

    feature_mix: int | None = None
    feature_mix_act: str = "none"

    def __post_init__(self) -> None:
        if self.feature_mix is not None:
            expect_int(self.feature_mix, "feature_mix")
        _check_act(self.feature_mix_act, "feature_mix_act")

    def to_dict(self) -> JSONDict:
        return {"feature_mix": self.feature_mix, "feature_mix_act": self.feature_mix_act}

    @classmethod
    def from_dict(cls, d: object) -> HeadSpec:
        return cls(**check_keys(d, "", {"feature_mix", "feature_mix_act"}))


#: (block type, block, input channels) -> (primitive layers, residual): a block checked once per input width
_PLANS: dict[tuple[BlockType, BlockSpec, int], tuple[tuple[Prim, ...], bool]] = {}
_PLANS_MAX = 1 << 16


def _block_plan(b: BlockSpec, c_in: int) -> tuple[tuple[Prim, ...], bool]:
    """``b`` checked against ``c_in`` input channels (raises :class:`SpecError`), its primitive layers and
    whether it has a residual; memoized (bounded) per block type object, so a re-registered type is asked anew."""
    bt = get_block(b.type)
    key = (bt, b, c_in)
    v = _PLANS.get(key)
    if v is None:
        bt.check(b, c_in)
        v = (bt.prims(b, c_in), bt.has_residual(b, c_in))
        if len(_PLANS) < _PLANS_MAX:
            _PLANS[key] = v
    return v


@dataclass(frozen=True)
class BlockSite:
    """A block placed in its model: indices, input shape and its primitive layers."""

    stage: int
    index: int
    block: BlockSpec
    c_in: int
    h_in: int
    w_in: int
    prims: tuple[Prim, ...]
    residual: bool

    @property
    def name(self) -> str:
        return f"s{self.stage}.b{self.index}"

    @property
    def h_out(self) -> int:
        return self.out_hw[0]

    @property
    def w_out(self) -> int:
        return self.out_hw[1]

    @property
    def out_hw(self) -> tuple[int, int]:
        h, w = self.h_in, self.w_in
        for p in self.prims:
            h, w = p.out_hw(h, w)
        return h, w


@dataclass(frozen=True)
class ModelSpec:
    """A whole model. ``resolution`` is (height, width) of the RGB input; the first block of the first
    stage reads ``in_channels`` channels. ``provenance`` (source file, importer, notes) does not take part
    in equality or hashing: two specs with the same architecture compare equal."""

    name: str
    resolution: tuple[int, int]
    num_classes: int
    stages: tuple[StageSpec, ...]
    head: HeadSpec = field(default_factory=HeadSpec)
    in_channels: int = 3
    provenance: Mapping[str, object] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        expect_str(self.name, "name")
        res = self.resolution
        if isinstance(res, int) and not isinstance(res, bool):
            res = (res, res)
        if not isinstance(res, (tuple, list)) or len(res) != 2:
            raise SpecError("resolution", f"expected [height, width] or one int, got {res!r}")
        object.__setattr__(self, "resolution", (expect_int(res[0], "resolution[0]"),
                                                expect_int(res[1], "resolution[1]")))
        expect_int(self.num_classes, "num_classes")
        expect_int(self.in_channels, "in_channels")
        if isinstance(self.stages, list):
            object.__setattr__(self, "stages", tuple(self.stages))
        if not isinstance(self.stages, tuple) or not self.stages:
            raise SpecError("stages", "expected a non-empty list of stages")
        if not isinstance(self.head, HeadSpec):
            raise SpecError("head", f"expected a HeadSpec, got {type(self.head).__name__}")
        if not isinstance(self.provenance, Mapping):
            raise SpecError("provenance", f"expected an object, got {type(self.provenance).__name__}")
        object.__setattr__(self, "provenance", ReadOnlyDict(self.provenance))
        for _ in self.iter_blocks():  # validates every block against its input
            pass

    # ---- walking ---------------------------------------------------------------------------
    def iter_blocks(self) -> Iterator[BlockSite]:
        """Every block with its input shape and primitive layers, in execution order (validating)."""
        c, (h, w) = self.in_channels, self.resolution
        for i, stage in enumerate(self.stages):
            if not isinstance(stage, StageSpec):
                raise SpecError(f"stages[{i}]", f"expected a StageSpec, got {type(stage).__name__}")
            for j, b in enumerate(stage.blocks):
                try:
                    prims, residual = _block_plan(b, c)
                except SpecError as e:
                    raise e.within(f"stages[{i}].blocks[{j}]") from None
                site = BlockSite(i, j, b, c, h, w, prims, residual)
                yield site
                c, (h, w) = b.out_channels, site.out_hw

    @property
    def blocks(self) -> tuple[BlockSpec, ...]:
        return tuple(b for s in self.stages for b in s.blocks)

    @property
    def input_h(self) -> int:
        return self.resolution[0]

    @property
    def input_w(self) -> int:
        return self.resolution[1]

    @property
    def out_channels(self) -> int:
        """Channels entering the head (before the feature mix)."""
        return self.stages[-1].out_channels

    # ---- JSON ------------------------------------------------------------------------------
    _KEYS = frozenset({"schema", "name", "resolution", "in_channels", "num_classes", "stages", "head",
                       "provenance"})

    def to_dict(self) -> JSONDict:
        return {"schema": SCHEMA, "name": self.name, "resolution": list(self.resolution),
                "in_channels": self.in_channels, "num_classes": self.num_classes,
                "stages": [s.to_dict() for s in self.stages], "head": self.head.to_dict(),
                "provenance": dict(self.provenance)}

    @classmethod
    def from_dict(cls, doc: object) -> ModelSpec:
        """Parse the ``atomnet.spec/1`` JSON form; errors name the field path."""
        d = check_keys(doc, "", cls._KEYS, ("schema", "name", "resolution", "num_classes", "stages"))
        if d["schema"] != SCHEMA:
            raise SpecError("schema", f"expected {SCHEMA!r}, got {d['schema']!r}")
        raw = d["stages"]
        if not isinstance(raw, list) or not raw:
            raise SpecError("stages", "expected a non-empty list of stages")
        stages = []
        for i, s in enumerate(raw):
            try:
                stages.append(StageSpec.from_dict(s))
            except SpecError as e:
                raise e.within(f"stages[{i}]") from None
        try:
            head = HeadSpec.from_dict(d.get("head", {}))
        except SpecError as e:
            raise e.within("head") from None
        except TypeError as e:
            raise SpecError("head", str(e)) from None
        res = d["resolution"]
        return cls(d["name"], tuple(res) if isinstance(res, list) else res, d["num_classes"], tuple(stages),
                   head, d.get("in_channels", 3), d.get("provenance", {}))
