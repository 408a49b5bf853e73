"""MobileNet v1 / v2 of Keras applications and FD-MobileNet, with the head of the STM32 model zoo, as zoo families.

These are the architectures of the public ST model zoo measurements (``../shared/published``, NOTES.md §1):

``keras-mobilenet-v1-{alpha}-{res}-c{classes}[-gray]``
    ``keras.applications.MobileNet(alpha, include_top=False)``: a 3×3 stride-2 conv of ``int(32·alpha)``
    channels, then 13 depthwise-separable blocks (atomnet's ``sep``: depthwise 3×3 → BN → ReLU6 → 1×1 → BN →
    ReLU6, no residual) of ``int(c·alpha)`` channels, c = 64, 128 (s2), 128, 256 (s2), 256, 512 (s2), 512 ×5,
    1024 (s2), 1024. ``res`` must be a multiple of 32: Keras pads a stride-2 input by (0, 1) and runs a valid
    conv, which gives the spec's shapes (symmetric ``k//2`` padding) only on even inputs.
``keras-mobilenet-v2-{alpha}-{res}-c{classes}[-gray]``
    ``keras.applications.MobileNetV2(alpha, include_top=False)``: a 3×3 stride-2 conv of
    ``make_divisible(32·alpha, 8)`` channels, 17 inverted residual blocks (``mbconv``, ReLU6; the first with
    expansion 1 and no expansion conv; then t = 6 with ``6·c_in`` expanded channels) of
    ``make_divisible(int(c·alpha), 8)`` output channels, c = 16; 24 ×2 (s2); 32 ×3 (s2); 64 ×4 (s2); 96 ×3;
    160 ×3 (s2); 320, a residual add where c_in = c_out and stride 1, and the last 1×1 conv + ReLU6 of 1280
    channels (``make_divisible(1280·alpha, 8)`` when alpha > 1), the spec's head feature mix.
    Keras' ``correct_pad`` padding gives the spec's shapes for every input size.
Both end as the ST model zoo builds them (``image_classification/src/models/mobilenetv{1,2}.py`` @ ff424ea):
GlobalAveragePooling2D → [Dropout] → Dense(classes, softmax), or **Dense(1, sigmoid) when classes ≤ 2** (the
spec's ``num_classes`` is then 1; the name keeps the data set's classes). Keras' own ``include_top`` head
(1000 classes) has the same MACs and weights.

``fd-mobilenet-{alpha}-{res}-c{classes}``
    The ST model zoo's FD-MobileNet (``image_classification/src/models/fdmobilenet.py`` @ ff424ea, after Qin et
    al. 2018): 3×3 stride-2 conv (ReLU) of ``int(32·alpha)`` channels, 11 separable blocks of ``int(c·alpha)``
    channels, c = 64 (s2), 128 (s2), 128, 256 (s2), 256, 512 (s2), 512 ×4, 1024; GAP → 1×1 conv to ``classes``
    (no 1-output rule). ``res`` a multiple of 32 (as the zoo's code demands). **Approximation**: the zoo's
    depthwise conv has no BN and no activation; atomnet's ``sep`` block applies the block's ReLU after the
    depthwise too. Shapes, MACs and weights are exact; an int8 runtime fuses either activation, so the cost is
    the same, but a model trained from this spec has one ReLU more per block.
``st-fdmobilenet-v1-{res}-c{classes}``
    ST FdMobileNet v1 (``st_fdmobilenet_v1.py`` @ fb06762): the same topology with one width multiplier per
    layer (0.5, 0.75, 0.625, 0.5, 0.375, then 0.25), same approximation.

>>> from atomnet.spec import spec_macs, spec_params
>>> from atomnet.zoo import get_zoo
>>> v1 = get_zoo("keras-mobilenet-v1-1.0-224-c1000")
>>> round(spec_macs(v1) / 1e6, 1), spec_params(v1)
(568.7, 4231976)
"""

from __future__ import annotations

from atomnet.errors import InputError
from atomnet.ops import make_divisible
from atomnet.spec import BlockSpec, HeadSpec, ModelSpec, StageSpec
from atomnet.zoo._families import FamilyParams, ZooFamily, format_alpha, register_family

_ST_ZOO = "github.com/STMicroelectronics/stm32ai-modelzoo"
_KERAS = "github.com/keras-team/keras keras/src/applications"

#: MobileNet v1 separable blocks: (channels before alpha, stride)
V1_BLOCKS: tuple[tuple[int, int], ...] = (
    (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1), (512, 1), (512, 1), (512, 1),
    (1024, 2), (1024, 1))
#: MobileNet v2 inverted residual settings after the first (t = 1) block: (channels before alpha, repeats, stride)
V2_STAGES: tuple[tuple[int, int, int], ...] = ((24, 2, 2), (32, 3, 2), (64, 4, 2), (96, 3, 1), (160, 3, 2),
                                               (320, 1, 1))
#: FD-MobileNet separable blocks: (channels before alpha, stride)
FD_BLOCKS: tuple[tuple[int, int], ...] = (
    (64, 2), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 1))
#: ST FdMobileNet v1's per-layer width multipliers (stem, then the 11 blocks), st_fdmobilenet_v1.py alpha_list
ST_FD_ALPHAS: tuple[float, ...] = (0.5, 0.75, 0.625, 0.5, 0.375, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25)


def _outputs(classes: int) -> int:
    """The ST model zoo's Dense width: 1 (sigmoid) for ≤ 2 classes, else one per class."""
    return 1 if classes <= 2 else classes


def _stages_by_stride(blocks: list[BlockSpec]) -> list[StageSpec]:
    """Consecutive blocks grouped into stages, a new stage at every stride-2 block."""
    groups: list[list[BlockSpec]] = []
    for b in blocks:
        if not groups or b.stride == 2:
            groups.append([])
        groups[-1].append(b)
    return [StageSpec(tuple(g)) for g in groups]


def _check_common(p: FamilyParams, multiple: int) -> None:
    if p.classes < 2:
        raise InputError(f"classes must be >= 2, got {p.classes} (a 2-class model has the zoo's Dense(1) head)")
    if p.resolution < 32 or p.resolution % multiple:
        what = "at least 32" if multiple == 1 else f"a multiple of {multiple} (at least 32)"
        raise InputError(f"res must be {what}, got {p.resolution}")


def _alpha(p: FamilyParams) -> float:
    if p.alpha is None:
        raise InputError("this family needs a width multiplier alpha")
    return p.alpha


def _check_v1(p: FamilyParams) -> None:
    _check_common(p, 32)
    if int(32 * _alpha(p)) < 1:
        raise InputError(f"alpha {p.alpha} leaves the stem without channels (int(32 * alpha) = 0)")


def build_mobilenet_v1(name: str, p: FamilyParams) -> ModelSpec:
    """Keras-applications MobileNet v1 (alpha, depth multiplier 1) + the ST zoo head; see the module docstring."""
    _check_v1(p)
    a = _alpha(p)
    stem = BlockSpec("conv", int(32 * a), stride=2, kernel=3, act="relu6")
    blocks = [BlockSpec("sep", int(c * a), stride=s, kernel=3, act="relu6") for c, s in V1_BLOCKS]
    return ModelSpec(name, (p.resolution, p.resolution), _outputs(p.classes),
                     (StageSpec((stem,)), *_stages_by_stride(blocks)), HeadSpec(), p.in_channels,
                     _provenance("MobileNet", p, f"{_KERAS}/mobilenet.py; head: {_ST_ZOO} "
                                 "image_classification/src/models/mobilenetv1.py@ff424ea"))


def _check_v2(p: FamilyParams) -> None:
    _check_common(p, 1)
    _alpha(p)


def v2_channels(alpha: float) -> tuple[int, list[tuple[int, int, int]], int]:
    """MobileNet v2 widths for ``alpha``: stem channels, (out channels, stride, expansion) per block (Keras'
    ``make_divisible(int(c·alpha), 8)``), and the last 1×1 conv's channels."""
    stem = make_divisible(32 * alpha, 8)
    blocks = [(make_divisible(int(16 * alpha), 8), 1, 1)]
    for c, n, s in V2_STAGES:
        out = make_divisible(int(c * alpha), 8)
        blocks += [(out, s if i == 0 else 1, 6) for i in range(n)]
    last = make_divisible(1280 * alpha, 8) if alpha > 1.0 else 1280
    return stem, blocks, last


def build_mobilenet_v2(name: str, p: FamilyParams) -> ModelSpec:
    """Keras-applications MobileNetV2 (alpha) + the ST zoo head; see the module docstring."""
    _check_v2(p)
    stem_c, settings, last = v2_channels(_alpha(p))
    blocks: list[BlockSpec] = []
    c_in = stem_c
    for out, s, t in settings:
        mid = c_in * t  # Keras expands to expansion * in_channels, unrounded
        blocks.append(BlockSpec("mbconv", out, stride=s, kernel=3, expand_ratio=t, act="relu6", mid_channels=mid))
        c_in = out
    stem = BlockSpec("conv", stem_c, stride=2, kernel=3, act="relu6")
    return ModelSpec(name, (p.resolution, p.resolution), _outputs(p.classes),
                     (StageSpec((stem,)), *_stages_by_stride(blocks)), HeadSpec(last, "relu6"), p.in_channels,
                     _provenance("MobileNetV2", p, f"{_KERAS}/mobilenet_v2.py; head: {_ST_ZOO} "
                                 "image_classification/src/models/mobilenetv2.py@ff424ea"))


def _check_fd(p: FamilyParams) -> None:
    _check_common(p, 32)
    if p.alpha is not None and int(32 * p.alpha) < 1:
        raise InputError(f"alpha {p.alpha} leaves the stem without channels (int(32 * alpha) = 0)")


def _fd_spec(name: str, p: FamilyParams, alphas: tuple[float, ...], arch: str, source: str) -> ModelSpec:
    stem = BlockSpec("conv", int(32 * alphas[0]), stride=2, kernel=3, act="relu")
    blocks = [BlockSpec("sep", int(c * a), stride=s, kernel=3, act="relu")
              for (c, s), a in zip(FD_BLOCKS, alphas[1:], strict=True)]
    prov = _provenance(arch, p, source)
    prov["approximation"] = ("the zoo's depthwise convs have a bias and no BN/activation; the spec's sep block "
                             "puts the block's ReLU after them too (same shapes, MACs and weights)")
    return ModelSpec(name, (p.resolution, p.resolution), p.classes,
                     (StageSpec((stem,)), *_stages_by_stride(blocks)), HeadSpec(), p.in_channels, prov)


def build_fd_mobilenet(name: str, p: FamilyParams) -> ModelSpec:
    """The ST model zoo's FD-MobileNet (alpha); see the module docstring."""
    _check_fd(p)
    a = _alpha(p)
    return _fd_spec(name, p, (a,) * 12, "FD-MobileNet",
                    f"{_ST_ZOO} image_classification/src/models/fdmobilenet.py@ff424ea")


def build_st_fdmobilenet_v1(name: str, p: FamilyParams) -> ModelSpec:
    """ST FdMobileNet v1 (per-layer widths :data:`ST_FD_ALPHAS`); see the module docstring."""
    _check_fd(p)
    return _fd_spec(name, p, ST_FD_ALPHAS, "ST FdMobileNet v1",
                    f"{_ST_ZOO} image_classification/src/models/st_fdmobilenet_v1.py@fb06762")


def _provenance(arch: str, p: FamilyParams, source: str) -> dict[str, object]:
    prov: dict[str, object] = {"format": "atomnet-zoo-family", "architecture": arch, "source": source,
                               "classes": p.classes, "in_channels": p.in_channels}
    if p.alpha is not None:
        prov["alpha"] = format_alpha(p.alpha)
    return prov


KERAS_MOBILENET_V1 = register_family(ZooFamily(
    "keras-mobilenet-v1", "Keras-applications MobileNet v1 + ST zoo head (GAP -> Dense; Dense(1) for <= 2 classes)",
    "keras-mobilenet-v1-0.25-96-c5", True, build_mobilenet_v1, _check_v1, f"{_KERAS}/mobilenet.py"))
KERAS_MOBILENET_V2 = register_family(ZooFamily(
    "keras-mobilenet-v2", "Keras-applications MobileNetV2 + ST zoo head (GAP -> Dense; Dense(1) for <= 2 classes)",
    "keras-mobilenet-v2-0.35-128-c1000", True, build_mobilenet_v2, _check_v2, f"{_KERAS}/mobilenet_v2.py"))
FD_MOBILENET = register_family(ZooFamily(
    "fd-mobilenet", "ST model zoo FD-MobileNet (fast-downsampling MobileNet v1), GAP -> 1x1 conv classifier",
    "fd-mobilenet-0.25-224-c5", True, build_fd_mobilenet, _check_fd,
    f"{_ST_ZOO} image_classification/src/models/fdmobilenet.py"))
ST_FDMOBILENET_V1 = register_family(ZooFamily(
    "st-fdmobilenet-v1", "ST FdMobileNet v1 (FD-MobileNet with per-layer widths), GAP -> 1x1 conv classifier",
    "st-fdmobilenet-v1-224-c5", False, build_st_fdmobilenet_v1, _check_fd,
    f"{_ST_ZOO} image_classification/src/models/st_fdmobilenet_v1.py"))
