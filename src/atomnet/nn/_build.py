"""`build_model(spec)`: a ``torch.nn.Module`` from a :class:`~atomnet.spec.ModelSpec`.

Blocks are built from the spec's primitive layers (:attr:`atomnet.spec.BlockSite.prims`), so every block
type of the registry — present and future — gets a module without code here: ``conv`` → k×k conv+BN+act,
``dw`` → depthwise conv (channel multiplier ``c_out / c_in``) +BN+act, ``pw`` → 1×1 conv+BN+act,
``se`` → :class:`SqueezeExcite`, ``add`` → residual add of the block input. Module names mirror the
lowered graph's layer names: ``stages[i][j].layers[part]`` is layer ``s{i}.b{j}.{part}``.
"""

from __future__ import annotations

from typing import cast

import torch
from torch import nn

from atomnet.errors import InputError
from atomnet.nn._layers import ConvBNAct, SqueezeExcite, make_act
from atomnet.spec import BlockSite, ModelSpec, Prim


class Block(nn.Module):
    """One block: its primitive layers in order, plus the residual add when the spec has one."""

    def __init__(self, site: BlockSite, padding: str) -> None:
        super().__init__()
        self.name = site.name
        layers: dict[str, nn.Module] = {}
        h, w = site.h_in, site.w_in
        self.residual = False
        for i, p in enumerate(site.prims):
            if p.kind == "add":
                if i != len(site.prims) - 1:
                    raise InputError(f"{site.name}: a residual add must be the block's last layer")
                self.residual = True
                continue
            if p.part in layers:
                raise InputError(f"{site.name}: two layers named {p.part!r}")
            layers[p.part] = _prim_module(site.name, p, (h, w), padding)
            h, w = p.out_hw(h, w)
        self.layers = nn.ModuleDict(layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        for layer in self.layers.values():
            y = layer(y)
        return x + y if self.residual else y


def _prim_module(where: str, p: Prim, hw: tuple[int, int], padding: str) -> nn.Module:
    if p.kind == "conv":
        return ConvBNAct(p.c_in, p.c_out, p.kernel, p.stride, act=p.act, hw=hw, padding=padding)
    if p.kind == "dw":
        if p.c_out % p.c_in:
            raise InputError(f"{where}.{p.part}: depthwise output channels {p.c_out} are not a multiple of "
                             f"its input channels {p.c_in}")
        return ConvBNAct(p.c_in, p.c_out, p.kernel, p.stride, groups=p.c_in, act=p.act, hw=hw, padding=padding)
    if p.kind == "pw":
        return ConvBNAct(p.c_in, p.c_out, 1, 1, act=p.act)
    if p.kind == "se":
        return SqueezeExcite(p.c_in)
    raise ValueError(f"{where}.{p.part}: no torch module for primitive kind {p.kind!r}")


class SpecModel(nn.Module):
    """The network of a :class:`ModelSpec` (NCHW float input of the spec's resolution → logits).

    ``spec`` is kept as plain data (not a parameter) so checkpoints can store ``spec.to_dict()``.
    """

    def __init__(self, spec: ModelSpec, padding: str = "tflite") -> None:
        super().__init__()
        self.spec = spec
        self.padding = padding
        stages: list[list[Block]] = [[] for _ in spec.stages]
        for site in spec.iter_blocks():
            stages[site.stage].append(Block(site, padding))
        self.stages = nn.ModuleList(nn.ModuleList(s) for s in stages)
        c = spec.out_channels
        self.mix: nn.Module = nn.Identity()
        if spec.head.feature_mix is not None:
            self.mix = ConvBNAct(c, spec.head.feature_mix, 1, act=spec.head.feature_mix_act)
            c = spec.head.feature_mix
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c, spec.num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        for stage in self.stages:
            for block in cast(nn.ModuleList, stage):
                x = block(x)
        return self.mix(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


def build_model(spec: ModelSpec, *, padding: str = "tflite", seed: int | None = None) -> SpecModel:
    """A freshly initialized torch model of ``spec`` (kaiming-normal convs, BN γ=1 β=0, N(0, 0.01) classifier).

    ``padding="tflite"`` pads stride-2 convs the TensorFlow way (no ``PAD`` op after conversion);
    ``"symmetric"`` uses PyTorch's ``kernel // 2`` everywhere (AtomNet/MCUNet checkpoints).
    ``seed`` seeds a private generator for the initial weights (the global RNG is left alone).

    >>> from atomnet.zoo import get_zoo
    >>> m = build_model(get_zoo("atomnet-256kb"), seed=0)
    >>> m(torch.zeros(1, 3, 160, 160)).shape
    torch.Size([1, 1000])
    """
    if seed is None:
        model = SpecModel(spec, padding)
        init_weights(model)
        return model
    with torch.random.fork_rng(devices=[]):  # the layers' default init draws from the global RNG: restore it
        model = SpecModel(spec, padding)
    init_weights(model, torch.Generator().manual_seed(seed))
    return model


def init_weights(model: nn.Module, generator: torch.Generator | None = None) -> None:
    """MobileNet-style initialization, drawn from ``generator`` when given."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                fan_out = m.out_channels * m.kernel_size[0] * m.kernel_size[1] // m.groups
                m.weight.normal_(0.0, (2.0 / fan_out) ** 0.5, generator=generator)
                if m.bias is not None:
                    m.bias.zero_()
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.fill_(1.0)
                m.bias.zero_()
            elif isinstance(m, nn.Linear):
                m.weight.normal_(0.0, 0.01, generator=generator)
                m.bias.zero_()


__all__ = ["Block", "SpecModel", "build_model", "init_weights", "make_act"]
