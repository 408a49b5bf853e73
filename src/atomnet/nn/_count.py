"""MACs and parameters measured on a module with forward hooks (the spec conventions, FACTS §2)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class ModuleStats:
    """Conv + linear MACs of one forward pass (batch 1, no bias) and the trainable parameters."""

    macs: int
    params: int
    per_layer: tuple[tuple[str, int], ...]


def measure(model: nn.Module, input_shape: tuple[int, ...]) -> ModuleStats:
    """Run one batch-1 forward pass of zeros of ``input_shape`` (C, H, W) and count, with forward hooks,
    ``k·k·(c_in/groups)·c_out·h_out·w_out`` per ``Conv2d`` and ``in·out`` per ``Linear``.

    >>> m = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.Flatten(), nn.Linear(8 * 4 * 4, 10))
    >>> s = measure(m, (3, 8, 8)); s.macs == 3 * 3 * 3 * 8 * 4 * 4 + 128 * 10, s.params
    (True, 1514)
    """
    rows: list[tuple[str, int]] = []
    handles = []

    def hook(name: str):  # type: ignore[no-untyped-def]
        def fn(mod: nn.Module, _inp: object, out: torch.Tensor) -> None:
            if isinstance(mod, nn.Conv2d):
                kh, kw = mod.kernel_size
                n = kh * kw * (mod.in_channels // mod.groups) * out[0].numel()
            else:
                assert isinstance(mod, nn.Linear)
                n = mod.in_features * mod.out_features
            rows.append((name, n))
        return fn

    for name, mod in model.named_modules():
        if isinstance(mod, (nn.Conv2d, nn.Linear)):
            handles.append(mod.register_forward_hook(hook(name)))
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, *input_shape))
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return ModuleStats(sum(n for _, n in rows), params, tuple(rows))
