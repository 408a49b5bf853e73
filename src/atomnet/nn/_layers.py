"""Torch layers whose int8 conversion gives TFLite Micro kernels (FACTS §5, docs/export.md).

* ``hswish`` is ``F.hardswish``: the ONNX ``HardSwish`` op becomes one int8 ``HARD_SWISH``.
* hard-sigmoid is written ``relu6(x + 3) / 6``: the converter folds ``+3`` into the preceding conv's bias,
  fuses the ReLU6 and keeps a ``MUL``; ``F.hardsigmoid`` would become ``RELU_0_TO_1``, which TFLM cannot load.
* Convolutions pad the TensorFlow way (``SAME``: the odd pixel goes at the bottom/right) so that a stride-2
  conv on an even input needs no separate ``PAD`` operator; where TF's and PyTorch's symmetric padding
  agree (stride 1, odd input) the conv pads itself. Output sizes equal the spec's (``ceil(h / s)``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from atomnet.errors import InputError
from atomnet.ops import se_mid

#: padding conventions of :func:`atomnet.nn.build_model`
PADDINGS: tuple[str, ...] = ("tflite", "symmetric")


class HardSigmoid(nn.Module):
    """``relu6(x + 3) / 6`` — converts to int8 ops TFLM runs (see the module docstring)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu6(x + 3.0) / 6.0


def make_act(act: str) -> nn.Module:
    """The module of a spec activation name (``relu``, ``relu6``, ``hswish``, ``none``)."""
    if act == "relu":
        return nn.ReLU(inplace=True)
    if act == "relu6":
        return nn.ReLU6(inplace=True)
    if act == "hswish":
        return nn.Hardswish(inplace=True)
    if act == "none":
        return nn.Identity()
    raise InputError(f"act: unknown activation {act!r}; expected relu, relu6, hswish or none")


def same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow ``SAME`` padding (before, after) of one spatial dimension.

    >>> same_pads(160, 3, 2), same_pads(7, 3, 2), same_pads(80, 3, 1), same_pads(20, 5, 2)
    ((0, 1), (1, 1), (1, 1), (1, 2))
    """
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class ConvBNAct(nn.Sequential):
    """[ZeroPad2d] → Conv2d (no bias) → BatchNorm2d → activation.

    ``groups == c_in`` makes a depthwise conv (channel multiplier ``c_out / c_in``). With
    ``padding="tflite"`` and an input of ``h × w``, asymmetric ``SAME`` padding goes into a ``ZeroPad2d``
    that the converter folds into the conv; symmetric padding stays in the conv.
    """

    def __init__(self, c_in: int, c_out: int, kernel: int = 1, stride: int = 1, groups: int = 1, act: str = "none",
                 *, hw: tuple[int, int] | None = None, padding: str = "tflite") -> None:
        if padding not in PADDINGS:
            raise InputError(f"padding: expected one of {', '.join(PADDINGS)}, got {padding!r}")
        layers: list[nn.Module] = []
        p = kernel // 2
        if padding == "tflite" and hw is not None:
            (top, bottom), (left, right) = same_pads(hw[0], kernel, stride), same_pads(hw[1], kernel, stride)
            if (top, bottom, left, right) != (p, p, p, p):
                layers.append(nn.ZeroPad2d((left, right, top, bottom)))
                p = 0
        layers += [nn.Conv2d(c_in, c_out, kernel, stride, p, groups=groups, bias=False), nn.BatchNorm2d(c_out),
                   make_act(act)]
        super().__init__(*layers)


class SqueezeExcite(nn.Module):
    """SE (FACTS §2): global avgpool → 1×1 C→mid (bias) → ReLU → 1×1 mid→C (bias) → hard-sigmoid → multiply;
    ``mid = make_divisible(C/4, 8)``."""

    def __init__(self, c: int) -> None:
        super().__init__()
        m = se_mid(c)
        self.reduce = nn.Conv2d(c, m, 1)
        self.act = nn.ReLU(inplace=True)
        self.expand = nn.Conv2d(m, c, 1)
        self.gate = HardSigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.adaptive_avg_pool2d(x, 1)
        return x * self.gate(self.expand(self.act(self.reduce(y))))
