"""PyTorch models from specs (the only part of atomnet besides ``train``/``export`` that imports torch).

>>> from atomnet.spec import spec_macs
>>> from atomnet.zoo import get_zoo
>>> spec = get_zoo("atomnet-256kb")
>>> model = build_model(spec, seed=0)
>>> measure(model, (3, 160, 160)).macs == spec_macs(spec)
True
"""

from atomnet.nn._build import Block, SpecModel, build_model, init_weights
from atomnet.nn._count import ModuleStats, measure
from atomnet.nn._demo import demo_spec
from atomnet.nn._layers import PADDINGS, ConvBNAct, HardSigmoid, SqueezeExcite, make_act, same_pads

__all__ = [
    "PADDINGS",
    "Block",
    "ConvBNAct",
    "HardSigmoid",
    "ModuleStats",
    "SpecModel",
    "SqueezeExcite",
    "build_model",
    "demo_spec",
    "init_weights",
    "make_act",
    "measure",
    "same_pads",
]
