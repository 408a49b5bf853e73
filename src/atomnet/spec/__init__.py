"""Architectures as data: `ModelSpec`, the block registry, importers, statistics and runtime lowering.

>>> from atomnet.spec import load_spec, lower, spec_macs
>>> from atomnet.zoo import ZOO
>>> spec = load_spec("atomnet-256kb", catalog=ZOO)
>>> round(spec_macs(spec) / 1e6, 2)
78.75
>>> len(lower(spec, "tinyengine").layers) > 0
True
"""

from atomnet.spec._blocks import (
    ACTIVATIONS,
    BlockType,
    Prim,
    canonical_block,
    get_block,
    list_blocks,
    register_block,
)
from atomnet.spec._errors import SpecError
from atomnet.spec._graph import Graph, GraphBuilder, Layer, Tensor, legal_inplace
from atomnet.spec._import import (
    SpecCatalog,
    detect_format,
    from_ofa,
    from_stage_config,
    load_spec,
    spec_from_document,
)
from atomnet.spec._lower import (
    Lowering,
    list_lowerings,
    lower,
    register_lowering,
    same_depthwise,
    unregister_lowering,
)
from atomnet.spec._model import SCHEMA, BlockSite, BlockSpec, HeadSpec, ModelSpec, StageSpec
from atomnet.spec._stats import layer_stats, spec_macs, spec_params

__all__ = [
    "ACTIVATIONS",
    "SCHEMA",
    "BlockSite",
    "BlockSpec",
    "BlockType",
    "Graph",
    "GraphBuilder",
    "HeadSpec",
    "Layer",
    "Lowering",
    "ModelSpec",
    "Prim",
    "SpecCatalog",
    "SpecError",
    "StageSpec",
    "Tensor",
    "canonical_block",
    "detect_format",
    "from_ofa",
    "from_stage_config",
    "get_block",
    "layer_stats",
    "legal_inplace",
    "list_blocks",
    "list_lowerings",
    "load_spec",
    "lower",
    "register_block",
    "register_lowering",
    "same_depthwise",
    "spec_from_document",
    "spec_macs",
    "spec_params",
    "unregister_lowering",
]
