"""`lower(spec, runtime)`: the operators a runtime really executes (DESIGN principle 3), one registered
lowering per runtime (``register_lowering``).

``xcube-ai`` — the AtomDB conventions (``../shared/atomdb/README.md``): every depthwise and every non-stem
    k×k conv is preceded by an explicit ``Op.pad`` (symmetric ``k//2``) and runs as a *valid* conv on the
    padded input (``Op.depthwise(c, h+2p, w+2p, k, s)``: a 3×3 stride-2 depthwise on 80×80 is pad 80→82,
    depthwise 82→40); the RGB stem is ``Op.conv(3, H, W, c, k, s, padding=k//2)`` with no pad; 1×1 convs
    are ``Op.pointwise``; activations are fused (no op); an SE module is one ``Op.se`` computed in place;
    a residual add is ``Op.eltwise`` (function ``add``; the SE multiply of the other lowerings is ``mul``, TFLM's
    separate h-swish ``hard_swish``: the key carries the function); then ``Op.pool`` and ``Op.dense``.
``tflm`` — the graph of our int8 TFLite export: CONV_2D / DEPTHWISE_CONV_2D with SAME padding folded in
    (no PAD ops: the exporter folds TF's stride-2 padding into the conv, FACTS §5), ReLU/ReLU6 fused,
    h-swish as a separate HARD_SWISH op (TFLite does not fuse it); SE as MEAN → CONV_2D 1×1 (ReLU) →
    CONV_2D 1×1 (+3 folded into its bias, RELU6 fused) → MUL(×1/6) on the C×1×1 tensor → MUL with the
    feature map; residual ADD; MEAN (no keep-dims) → FULLY_CONNECTED. Depthwise ops here store the
    *unpadded* input size (SAME), unlike AtomDB's. These choices are to be verified by the export issue.
``tinyengine`` — TinyEngine's code generator (FACTS §3): PAD fused into the next conv (convs store the
    unpadded input), depthwise **in place** (``inplace=True``: output in the input's buffer), SE as MEAN →
    1×1 → 1×1 (h-sigmoid) → MUL, residual ADD into a new tensor, MEAN → FULLY_CONNECTED (run as a 1×1 conv).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar, TypeVar

from atomnet.errors import InputError, UnknownNameError
from atomnet.ops import Op, se_mid
from atomnet.spec._blocks import Prim
from atomnet.spec._graph import Graph, GraphBuilder
from atomnet.spec._model import BlockSite, ModelSpec

_LOWERINGS: dict[str, type[Lowering]] = {}
L = TypeVar("L", bound="type[Lowering]")


def register_lowering(name: str) -> Callable[[L], L]:
    """Class decorator registering a :class:`Lowering` subclass for runtime ``name``; duplicates raise."""

    def deco(cls: L) -> L:
        if name in _LOWERINGS:
            raise ValueError(f"a lowering for runtime {name!r} is already registered")
        cls.runtime = name
        _LOWERINGS[name] = cls
        return cls

    return deco


def unregister_lowering(name: str) -> None:
    """Remove lowering ``name`` from the registry (tests, experiments)."""
    if name not in _LOWERINGS:
        raise UnknownNameError(f"runtime: no lowering {name!r} is registered; known: {', '.join(list_lowerings())}")
    del _LOWERINGS[name]


def list_lowerings() -> list[str]:
    return sorted(_LOWERINGS)


def lower(spec: ModelSpec, runtime: str) -> Graph:
    """The graph of operators ``runtime`` executes for ``spec``.

    >>> from atomnet.zoo import get_zoo
    >>> g = lower(get_zoo("atomnet-256kb"), "xcube-ai")
    >>> sum(g.kind_counts()[k] for k in ("conv", "pointwise", "depthwise", "pad", "dense")), g.kind_counts()["se"]
    (51, 10)
    """
    try:
        cls = _LOWERINGS[runtime]
    except KeyError:
        raise UnknownNameError(f"runtime: unknown runtime {runtime!r}; lowerings exist for "
                         f"{', '.join(list_lowerings())}") from None
    return cls(spec).run()


def same_depthwise(c: int, h: int, w: int, kernel: int, stride: int, multiplier: int = 1) -> Op:
    """A depthwise op with SAME padding (``k//2``) folded in: the key stores the unpadded input.
    ``multiplier``: output channels per input channel (SEP blocks with expansion)."""
    p = kernel // 2
    return Op("depthwise", c, h, w, c * multiplier, (h + 2 * p - kernel) // stride + 1,
              (w + 2 * p - kernel) // stride + 1, kernel, stride, c)


def _conv_same(c: int, h: int, w: int, c_out: int, kernel: int, stride: int) -> Op:
    if kernel == 1 and stride == 1:
        return Op.pointwise(c, h, w, c_out)
    return Op.conv(c, h, w, c_out, kernel, stride, padding=kernel // 2)


class Lowering:
    """Walks the spec's primitive layers; subclasses (registered with :func:`register_lowering`) override the
    per-primitive hooks to emit their runtime's operators. The defaults: SAME-padded convs, fused
    activations, SE as MEAN → 1×1 → 1×1 → MUL."""

    runtime: ClassVar[str] = ""

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec
        self.g = GraphBuilder(spec.name, self.runtime, (spec.in_channels, *spec.resolution))

    def run(self) -> Graph:
        x = self.g.input
        site: BlockSite | None = None
        for site in self.spec.iter_blocks():
            skip = x
            for p in site.prims:
                name = f"{site.name}.{p.part}"
                if p.kind == "conv":
                    x = self.conv(name, x, p, site, stem=x == self.g.input)
                elif p.kind == "dw":
                    x = self.dw(name, x, p, site)
                elif p.kind == "pw":
                    x = self.pw(name, x, p.c_out, p.act, site.stage, site.index)
                elif p.kind == "se":
                    x = self.se(name, x, site)
                elif p.kind == "add":
                    x = self.add(name, x, skip, site)
                else:
                    raise InputError(f"{name}: runtime {self.runtime!r} cannot lower primitive kind {p.kind!r}")
        n = len(self.spec.stages)
        if self.spec.head.feature_mix is not None:
            x = self.pw("head.mix", x, self.spec.head.feature_mix, self.spec.head.feature_mix_act, n, 0)
        x = self.pool("head.pool", x, n)
        c = self.g.shape(x)[0]
        x = self.g.add("head.fc", Op.dense(c, self.spec.num_classes), (x,), n, 0,
                       tflite_op=self.tfl("FULLY_CONNECTED"), out_shape=(self.spec.num_classes, 1, 1))
        return self.g.build(x)

    def tfl(self, name: str) -> str:
        return ""

    # ---- per-primitive hooks (defaults: fused activations, SAME-padded convs) ---------------------
    def conv(self, name: str, x: int, p: Prim, site: BlockSite, stem: bool) -> int:
        c, h, w = self.g.shape(x)
        return self.g.add(name, _conv_same(c, h, w, p.c_out, p.kernel, p.stride), (x,), site.stage, site.index,
                          act=p.act, tflite_op=self.tfl("CONV_2D"))

    def dw(self, name: str, x: int, p: Prim, site: BlockSite) -> int:
        c, h, w = self.g.shape(x)
        return self.g.add(name, same_depthwise(c, h, w, p.kernel, p.stride, p.c_out // p.c_in), (x,), site.stage,
                          site.index, act=p.act, tflite_op=self.tfl("DEPTHWISE_CONV_2D"))

    def pw(self, name: str, x: int, c_out: int, act: str, stage: int, block: int) -> int:
        c, h, w = self.g.shape(x)
        return self.g.add(name, Op.pointwise(c, h, w, c_out), (x,), stage, block, act=act,
                          tflite_op=self.tfl("CONV_2D"))

    def se(self, name: str, x: int, site: BlockSite) -> int:
        """SE as separate kernels: MEAN → 1×1 (ReLU) → 1×1 (h-sigmoid) → MUL with the feature map."""
        c, h, w = self.g.shape(x)
        s, b = site.stage, site.index
        m = se_mid(c)
        y = self.pool(f"{name}.pool", x, s, b)
        y = self.g.add(f"{name}.reduce", Op.pointwise(c, 1, 1, m), (y,), s, b, act="relu",
                       tflite_op=self.tfl("CONV_2D"))
        y = self.g.add(f"{name}.expand", Op.pointwise(m, 1, 1, c), (y,), s, b, act="hsigmoid",
                       tflite_op=self.tfl("CONV_2D"))
        return self.g.add(f"{name}.mul", Op.eltwise(c, h, w, fn="mul"), (x, y), s, b, tflite_op=self.tfl("MUL"))

    def add(self, name: str, x: int, skip: int, site: BlockSite) -> int:
        c, h, w = self.g.shape(x)
        return self.g.add(name, Op.eltwise(c, h, w), (x, skip), site.stage, site.index, tflite_op=self.tfl("ADD"))

    def pool(self, name: str, x: int, stage: int, block: int = 0) -> int:
        c, h, w = self.g.shape(x)
        return self.g.add(name, Op.pool(c, h, w), (x,), stage, block, tflite_op=self.tfl("MEAN"))


@register_lowering("xcube-ai")
class XCubeAILowering(Lowering):
    """AtomDB / X-CUBE-AI 7.2 operators (explicit pads, valid convs, fused activations, whole SE)."""

    def _pad(self, name: str, x: int, kernel: int, site: BlockSite) -> int:
        c, h, w = self.g.shape(x)
        p = kernel // 2
        if p == 0:
            return x
        return self.g.add(f"{name}.pad", Op.pad(c, h, w, h + 2 * p, w + 2 * p), (x,), site.stage, site.index)

    def conv(self, name: str, x: int, p: Prim, site: BlockSite, stem: bool) -> int:
        if stem or p.kernel == 1:
            return super().conv(name, x, p, site, stem)
        x = self._pad(name, x, p.kernel, site)
        c, h, w = self.g.shape(x)
        return self.g.add(name, Op.conv(c, h, w, p.c_out, p.kernel, p.stride), (x,), site.stage, site.index,
                          act=p.act)

    def dw(self, name: str, x: int, p: Prim, site: BlockSite) -> int:
        x = self._pad(name, x, p.kernel, site)
        c, h, w = self.g.shape(x)
        return self.g.add(name, Op.depthwise(c, h, w, p.kernel, p.stride, p.c_out // p.c_in), (x,), site.stage,
                          site.index, act=p.act)

    def se(self, name: str, x: int, site: BlockSite) -> int:
        c, h, w = self.g.shape(x)
        return self.g.add(name, Op.se(c, h, w), (x,), site.stage, site.index, inplace=True)


@register_lowering("tflm")
class TFLMLowering(Lowering):
    """TFLite Micro operators of our int8 export (see the module docstring for the assumptions)."""

    def tfl(self, name: str) -> str:
        return name

    def _act(self, name: str, x: int, act: str, stage: int, block: int) -> int:
        """ReLU/ReLU6 are fused into the producer; h-swish is its own HARD_SWISH op."""
        if act != "hswish":
            return x
        c, h, w = self.g.shape(x)
        return self.g.add(f"{name}.hswish", Op.eltwise(c, h, w, fn="hard_swish"), (x,), stage, block, act="hswish",
                          tflite_op="HARD_SWISH")

    def _unfused(self, act: str) -> str:
        return "none" if act == "hswish" else act

    def conv(self, name: str, x: int, p: Prim, site: BlockSite, stem: bool) -> int:
        c, h, w = self.g.shape(x)
        y = self.g.add(name, _conv_same(c, h, w, p.c_out, p.kernel, p.stride), (x,), site.stage, site.index,
                       act=self._unfused(p.act), tflite_op="CONV_2D")
        return self._act(name, y, p.act, site.stage, site.index)

    def dw(self, name: str, x: int, p: Prim, site: BlockSite) -> int:
        c, h, w = self.g.shape(x)
        y = self.g.add(name, same_depthwise(c, h, w, p.kernel, p.stride, p.c_out // p.c_in), (x,), site.stage,
                       site.index, act=self._unfused(p.act), tflite_op="DEPTHWISE_CONV_2D")
        return self._act(name, y, p.act, site.stage, site.index)

    def pw(self, name: str, x: int, c_out: int, act: str, stage: int, block: int) -> int:
        y = super().pw(name, x, c_out, self._unfused(act), stage, block)
        return self._act(name, y, act, stage, block)

    def se(self, name: str, x: int, site: BlockSite) -> int:
        c, h, w = self.g.shape(x)
        s, b = site.stage, site.index
        m = se_mid(c)
        y = self.pool(f"{name}.pool", x, s, b)
        y = self.g.add(f"{name}.reduce", Op.pointwise(c, 1, 1, m), (y,), s, b, act="relu", tflite_op="CONV_2D")
        # hard-sigmoid = relu6(x + 3) / 6 on the C×1×1 gate: the converter folds the +3 into the expand conv's
        # bias and fuses RELU6, leaving one MUL by 1/6 (verified on exported files, docs/export.md)
        y = self.g.add(f"{name}.expand", Op.pointwise(m, 1, 1, c), (y,), s, b, act="relu6", tflite_op="CONV_2D")
        y = self.g.add(f"{name}.hsig_mul", Op.eltwise(c, 1, 1, fn="mul"), (y,), s, b, tflite_op="MUL")
        return self.g.add(f"{name}.mul", Op.eltwise(c, h, w, fn="mul"), (x, y), s, b, tflite_op="MUL")


@register_lowering("tinyengine")
class TinyEngineLowering(Lowering):
    """TinyEngine kernels: pads fused into the convs, depthwise in place (FACTS §3)."""

    def dw(self, name: str, x: int, p: Prim, site: BlockSite) -> int:
        c, h, w = self.g.shape(x)
        mult = p.c_out // p.c_in  # a channel multiplier > 1 grows the tensor: it cannot run in place
        return self.g.add(name, same_depthwise(c, h, w, p.kernel, p.stride, mult), (x,), site.stage, site.index,
                          act=p.act, inplace=mult == 1)
