"""MACs and parameter counts of a spec, with the conventions of the published tables (FACTS §2, §3).

* MACs: multiply-accumulates of convolutions and linear layers only: no bias, no BN, no activation, no
  pooling, no element-wise multiply/add. The SE module's two 1×1 convs *are* convs and count
  (``2·C·mid``); this is the convention that reproduces FACTS §2 to the printed digit (78.75 M for
  atomnet-256kb, 78.72 M without the SE convs).
* Parameters: trainable parameters as PyTorch counts them: conv weights + BN weight and bias per output
  channel (convs have no bias), SE 1×1 convs with bias (no BN), the classifier's weight and bias.

>>> from atomnet.zoo import get_zoo
>>> spec = get_zoo("atomnet-256kb")
>>> round(spec_macs(spec) / 1e6, 2), spec_params(spec)
(78.75, 787376)
"""

from __future__ import annotations

from atomnet.ops import se_mid
from atomnet.spec._blocks import Prim
from atomnet.spec._model import ModelSpec


def _prim_macs(p: Prim, h_out: int, w_out: int) -> int:
    if p.kind == "conv":
        return p.kernel * p.kernel * p.c_in * p.c_out * h_out * w_out
    if p.kind == "dw":  # c_out = c_in · multiplier
        return p.kernel * p.kernel * p.c_out * h_out * w_out
    if p.kind == "pw":
        return p.c_in * p.c_out * h_out * w_out
    if p.kind == "se":
        return 2 * p.c_in * se_mid(p.c_in)
    return 0


def _prim_params(p: Prim) -> int:
    if p.kind == "conv":
        return p.kernel * p.kernel * p.c_in * p.c_out + 2 * p.c_out
    if p.kind == "dw":
        return p.kernel * p.kernel * p.c_out + 2 * p.c_out
    if p.kind == "pw":
        return p.c_in * p.c_out + 2 * p.c_out
    if p.kind == "se":
        m = se_mid(p.c_in)
        return 2 * p.c_in * m + p.c_in + m
    return 0


def layer_stats(spec: ModelSpec) -> list[tuple[str, int, int]]:
    """``(layer name, MACs, params)`` per primitive layer and head layer, in execution order."""
    rows: list[tuple[str, int, int]] = []
    for site in spec.iter_blocks():
        h, w = site.h_in, site.w_in
        for p in site.prims:
            h, w = p.out_hw(h, w)
            rows.append((f"{site.name}.{p.part}", _prim_macs(p, h, w), _prim_params(p)))
    c = spec.out_channels
    h, w = site.out_hw
    fm = spec.head.feature_mix
    if fm is not None:
        rows.append(("head.mix", c * fm * h * w, c * fm + 2 * fm))
        c = fm
    rows.append(("head.fc", c * spec.num_classes, c * spec.num_classes + spec.num_classes))
    return rows


def spec_macs(spec: ModelSpec) -> int:
    """Conv + linear MACs (SE 1×1 convs included, no bias); see the module docstring."""
    return sum(m for _, m, _ in layer_stats(spec))


def spec_params(spec: ModelSpec) -> int:
    """Trainable parameters as PyTorch counts them (BN folded in deployment, counted here)."""
    return sum(p for _, _, p in layer_stats(spec))
