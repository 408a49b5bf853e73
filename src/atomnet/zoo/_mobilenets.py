"""MobileNetV3-Large, MNASNet and ProxylessNAS-Mobile at any width and resolution: the architectures of the
TinyOps table (FACTS §7), as zoo families named ``{prefix}-w{width}-r{res}`` (1000 ImageNet classes).

``mbv3-w{width}-r{res}``
    MobileNetV3-Large (Howard et al. 2019, Table 1; torchvision ``mobilenet_v3_large`` settings): 3×3 s2 stem of
    16 channels + h-swish, 15 inverted residual blocks (``mbconv``; explicit expanded channels; SE on the expanded
    tensor with ``make_divisible(exp/4, 8)`` squeeze channels; ReLU in the first six, h-swish after), the last
    1×1 conv to ``6·c`` (960) channels + h-swish as the head's feature mix, pool, classifier. Channels are
    ``make_divisible(c·width, 8)`` (torchvision ``_make_divisible``). **Head variant**: the paper's 1280-wide
    pre-classifier (pool → 1×1 conv 960→1280 → h-swish) is left out: atomnet's head has no layer after the pool
    but the classifier, and the TinyOps params (3.96 M at width 1.0, not 5.48 M) match the model without it
    (docs/mobilenets.md). The SE gate (ReLU, hard-sigmoid) is the spec's SE module.
``mnasnet-w{width}-r{res}``
    MNASNet 1.0 as torchvision ``mnasnet1_0`` defines it (the SE-free MNASNet-B1 of Tan et al. 2019, 4.38 M
    params): 3×3 s2 stem of 32 + ReLU, separable 3×3 to 16 (depthwise → ReLU → 1×1, no activation: ``mbconv``
    with expansion 1), then (channels, repeats, stride, kernel, expansion) = (24,3,2,3,3), (40,3,2,5,3),
    (80,3,2,5,6), (96,2,1,3,6), (192,4,2,5,6), (320,1,1,3,6), 1×1 conv to 1280 + ReLU, pool, classifier.
    Channels ``make_divisible(c·width, 8)`` (torchvision ``_round_to_multiple_of``, the same rule); expanded
    channels ``c_in·t``; the 1280 is not scaled (torchvision).
``proxyless-w{width}-r{res}``
    ProxylessNAS-Mobile (Cai et al. 2019; ``../shared/zoo/mcunet/proxyless_mobile.json``, 320 M MACs, 4.08 M
    params at 224): stem 32 + ReLU6, MBConv 3×3 e1 to 16, then 20 MBConv blocks (kernel, expansion) with
    ReLU6, feature mix 1280. Channels are rounded **up** to a multiple of 8 (``ceil(c·width/8)·8``), the rule
    that reproduces the MCUNet zoo's ``proxyless-w0.3-r176`` file block for block (192·0.3 = 57.6 → 64, where
    make_divisible gives 56); expanded channels ``c_in·e``; the feature mix ``ceil(1280·w/8)·8``.
    The packaged ``proxyless-w0.3-r176`` (MCUNet's file) answers to its own name.

>>> from atomnet.spec import spec_macs, spec_params
>>> from atomnet.zoo import get_zoo
>>> s = get_zoo("mbv3-w1.0-r224")
>>> round(spec_macs(s) / 1e6, 1), spec_params(s)
(215.0, 3932952)
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from atomnet.errors import InputError, UnknownNameError
from atomnet.ops import make_divisible
from atomnet.spec import BlockSpec, HeadSpec, ModelSpec, StageSpec
from atomnet.zoo._families import FamilyParams, ZooFamily, format_alpha, register_family

_NAME = re.compile(r"w(?P<w>\d+(?:\.\d{1,4})?)-r(?P<res>\d+)")
CLASSES = 1000

#: MobileNetV3-Large: (kernel, expanded, out, se, act, stride) before width (paper Table 1)
MBV3_LARGE: tuple[tuple[int, int, int, bool, str, int], ...] = (
    (3, 16, 16, False, "relu", 1), (3, 64, 24, False, "relu", 2), (3, 72, 24, False, "relu", 1),
    (5, 72, 40, True, "relu", 2), (5, 120, 40, True, "relu", 1), (5, 120, 40, True, "relu", 1),
    (3, 240, 80, False, "hswish", 2), (3, 200, 80, False, "hswish", 1), (3, 184, 80, False, "hswish", 1),
    (3, 184, 80, False, "hswish", 1), (3, 480, 112, True, "hswish", 1), (3, 672, 112, True, "hswish", 1),
    (5, 672, 160, True, "hswish", 2), (5, 960, 160, True, "hswish", 1), (5, 960, 160, True, "hswish", 1))
#: MNASNet 1.0 (torchvision): (out, repeats, stride, kernel, expansion) after the stem and separable block
MNASNET_STACKS: tuple[tuple[int, int, int, int, int], ...] = (
    (24, 3, 2, 3, 3), (40, 3, 2, 5, 3), (80, 3, 2, 5, 6), (96, 2, 1, 3, 6), (192, 4, 2, 5, 6), (320, 1, 1, 3, 6))
#: ProxylessNAS-Mobile after the stem and the e1 block: (out, stride, kernel, expansion), zero blocks dropped
PROXYLESS_MOBILE: tuple[tuple[int, int, int, int], ...] = (
    (32, 2, 5, 3), (32, 1, 3, 3),
    (40, 2, 7, 3), (40, 1, 3, 3), (40, 1, 5, 3), (40, 1, 5, 3),
    (80, 2, 7, 6), (80, 1, 5, 3), (80, 1, 5, 3), (80, 1, 5, 3),
    (96, 1, 5, 6), (96, 1, 5, 3), (96, 1, 5, 3), (96, 1, 5, 3),
    (192, 2, 7, 6), (192, 1, 7, 6), (192, 1, 7, 3), (192, 1, 7, 3),
    (320, 1, 7, 6))


@dataclass(frozen=True)
class WidthResFamily(ZooFamily):
    """A family named ``{prefix}-w{width}-r{res}`` (ImageNet classes, RGB)."""

    @property
    def pattern(self) -> str:
        return f"{self.prefix}-w{{width}}-r{{res}}"

    def name_of(self, p: FamilyParams) -> str:
        return f"{self.prefix}-w{format_alpha(p.alpha or 1.0)}-r{p.resolution}"

    def parse(self, name: str) -> FamilyParams:
        m = _NAME.fullmatch(name[len(self.prefix) + 1:])
        if m is None:
            raise UnknownNameError(f"zoo model {name!r}: expected {self.pattern} (e.g. {self.example})")
        p = FamilyParams(float(m["w"]), int(m["res"]), CLASSES)
        try:
            self.check(p)
        except InputError as e:
            raise UnknownNameError(f"zoo model {name!r}: {e} (pattern {self.pattern}, e.g. {self.example})") from None
        return p


def _check(p: FamilyParams) -> None:
    if p.alpha is None or not 0 < p.alpha <= 4:
        raise InputError(f"width must be in (0, 4], got {p.alpha}")
    if not 32 <= p.resolution <= 1024:
        raise InputError(f"resolution must be in [32, 1024], got {p.resolution}")


def _stages(blocks: list[BlockSpec]) -> tuple[StageSpec, ...]:
    """A new stage at every stride-2 or channel-changing block (the OFA importer's convention)."""
    stages: list[list[BlockSpec]] = []
    c = -1
    for b in blocks:
        if not stages or b.stride != 1 or b.out_channels != c:
            stages.append([])
        stages[-1].append(b)
        c = b.out_channels
    return tuple(StageSpec(tuple(s)) for s in stages)


def _prov(arch: str, p: FamilyParams, source: str, rounding: str) -> dict[str, object]:
    return {"format": "atomnet-zoo-family", "architecture": arch, "source": source,
            "width": format_alpha(p.alpha or 1.0), "channel_rounding": rounding}


def _mbconv(out: int, stride: int, kernel: int, c_in: int, mid: int, act: str, se: bool = False) -> BlockSpec:
    if mid == c_in:
        return BlockSpec("mbconv", out, stride, kernel, 1, se, act)
    return BlockSpec("mbconv", out, stride, kernel, mid / c_in, se, act, mid_channels=mid)


def build_mbv3(name: str, p: FamilyParams) -> ModelSpec:
    w = p.alpha or 1.0
    c = make_divisible(16 * w, 8)
    blocks = [BlockSpec("conv", c, 2, 3, act="hswish")]
    for k, exp, out, se, act, s in MBV3_LARGE:
        mid, o = make_divisible(exp * w, 8), make_divisible(out * w, 8)
        blocks.append(_mbconv(o, s, k, c, mid, act, se))
        c = o
    return ModelSpec(name, (p.resolution, p.resolution), CLASSES, _stages(blocks), HeadSpec(6 * c, "hswish"), 3,
                     _prov("MobileNetV3-Large (no 1280 pre-classifier)", p,
                           "Howard et al. 2019 Table 1; torchvision models/mobilenetv3.py", "make_divisible"))


def build_mnasnet(name: str, p: FamilyParams) -> ModelSpec:
    w = p.alpha or 1.0
    c = make_divisible(32 * w, 8)
    blocks = [BlockSpec("conv", c, 2, 3, act="relu")]
    o = make_divisible(16 * w, 8)
    blocks.append(BlockSpec("mbconv", o, 1, 3, 1, act="relu", residual=False))
    c = o
    for out, reps, stride, k, t in MNASNET_STACKS:
        o = make_divisible(out * w, 8)
        for i in range(reps):
            blocks.append(_mbconv(o, stride if i == 0 else 1, k, c, c * t, "relu"))
            c = o
    return ModelSpec(name, (p.resolution, p.resolution), CLASSES, _stages(blocks), HeadSpec(1280, "relu"), 3,
                     _prov("MNASNet 1.0 (torchvision mnasnet1_0, B1, no SE)", p,
                           "torchvision models/mnasnet.py", "make_divisible"))


def _ceil8(v: float) -> int:
    return max(8, math.ceil(round(v, 6) / 8) * 8)


def build_proxyless(name: str, p: FamilyParams) -> ModelSpec:
    w = p.alpha or 1.0
    c = _ceil8(32 * w)
    blocks = [BlockSpec("conv", c, 2, 3, act="relu6")]
    o = _ceil8(16 * w)
    blocks.append(BlockSpec("mbconv", o, 1, 3, 1, act="relu6", mid_channels=c, residual=False))
    c = o
    for out, stride, k, e in PROXYLESS_MOBILE:
        o = _ceil8(out * w)
        res = stride == 1 and o == c
        blocks.append(BlockSpec("mbconv", o, stride, k, e, act="relu6", mid_channels=c * e, residual=res))
        c = o
    return ModelSpec(name, (p.resolution, p.resolution), CLASSES, _stages(blocks),
                     HeadSpec(_ceil8(1280 * w), "relu6"), 3,
                     _prov("ProxylessNAS-Mobile", p, "Cai et al. 2019; mit-han-lab/proxylessnas proxyless_mobile",
                           "ceil to 8"))


MBV3 = register_family(WidthResFamily(
    "mbv3", "MobileNetV3-Large at width w and resolution r (no 1280 pre-classifier; docs/mobilenets.md)",
    "mbv3-w0.55-r128", True, build_mbv3, _check, "torchvision models/mobilenetv3.py"))
MNASNET = register_family(WidthResFamily(
    "mnasnet", "MNASNet 1.0 (torchvision mnasnet1_0) at width w and resolution r",
    "mnasnet-w1.0-r128", True, build_mnasnet, _check, "torchvision models/mnasnet.py"))
PROXYLESS = register_family(WidthResFamily(
    "proxyless", "ProxylessNAS-Mobile at width w and resolution r (channels rounded up to 8, as MCUNet's files)",
    "proxyless-w0.3-r144", True, build_proxyless, _check, "mit-han-lab/proxylessnas proxyless_mobile"))


def only_in_tinyops_families(name: str) -> bool:
    """True for a name that only the width/resolution families above resolve (not a shipped file or alias).
    Whole-model rows other than TinyOps' are not priced through these families: the shipped latency transfers
    were fitted without them (a row they would newly price, e.g. the TinyEngine README's proxyless-w0.3-r64,
    waits for a refit)."""
    from atomnet.zoo import ALIAS_TO_NAME, list_zoo

    if name in list_zoo() or name in ALIAS_TO_NAME:
        return False
    return any(name.startswith(f.prefix + "-") and _NAME.fullmatch(name[len(f.prefix) + 1:]) is not None
               for f in (MBV3, MNASNET, PROXYLESS))
