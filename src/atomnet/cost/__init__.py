"""Whole-model cost from atom operators: latency (Σ ops, exact or predicted), Flash, peak SRAM.

One pricing step (:func:`price_graph`, :class:`Pricer` → :class:`LayerArrays`) and three ways of summing it:
:func:`cost_model` (a :class:`CostReport`), :class:`BatchCoster` (per block) and the search's stage tables
(per stage, :meth:`LayerArrays.segments`). Runtimes are records of :mod:`atomnet.runtimes`.

Never imports torch: the search must run on a laptop in seconds.
"""

from atomnet.cost._batch import BatchCost, BatchCoster
from atomnet.cost._external import (
    MAX_PARTS,
    OVERLAP_EFFICIENCY,
    SUSTAINED_FRACTION,
    ExternalPlan,
    ExtLayer,
    ExtOp,
    plan_external,
)
from atomnet.cost._external_cost import M4_PER_CLOCK, ExternalCost, external_cost
from atomnet.cost._external_tinyops_plan import PROFILES as TINYOPS_PROFILES
from atomnet.cost._external_tinyops_plan import TinyOpsProfile, plan_tinyops
from atomnet.cost._flash import flash_breakdown, flash_bytes
from atomnet.cost._latency import LatencyModel, embedded_predictors, load_latency_model
from atomnet.cost._patch import PatchLayer, PatchPlan, analytic_peak, patch_graph, plan_graph, rest_graph
from atomnet.cost._patch_cost import (
    PatchCost,
    PatchSram,
    best_patch_plan,
    parse_patch,
    patch_cost,
    plan_patches,
    without_arena,
)
from atomnet.cost._price import (
    SEG_FLASH,
    SEG_LATENCY,
    SEG_MACS,
    SEG_PREDICTED,
    SEG_SRAM,
    LayerArrays,
    MemoryArrays,
    Pricer,
    layer_keys,
    price_graph,
    select_layers,
)
from atomnet.cost._report import CostReport, FitsBoard, LayerCost, cost_model, render_report
from atomnet.cost._scoped import check_components, scoped_runtime
from atomnet.cost._sram import (
    Planner,
    SramPlan,
    act_bytes,
    get_planner,
    list_planners,
    plan_sram,
    register_planner,
    sram_breakdown,
    unregister_planner,
)
from atomnet.cost._xcube import (
    DEFAULT_XCUBE_FAMILY,
    XCUBE_FAMILIES,
    XCubeAIPlanner,
    XCubeMemoryModel,
    get_xcube_model,
    xcube_family,
)
from atomnet.cost._xcube_fit import LooError, XCubeRow, fit_xcube_memory, loo_errors, loo_summary, xcube_rows
from atomnet.runtimes import FlashModel, Runtime, get_runtime, list_runtimes, register_runtime

__all__ = [
    "DEFAULT_XCUBE_FAMILY",
    "M4_PER_CLOCK",
    "MAX_PARTS",
    "OVERLAP_EFFICIENCY",
    "SEG_FLASH",
    "SEG_LATENCY",
    "SEG_MACS",
    "SEG_PREDICTED",
    "SEG_SRAM",
    "SUSTAINED_FRACTION",
    "TINYOPS_PROFILES",
    "XCUBE_FAMILIES",
    "BatchCost",
    "BatchCoster",
    "CostReport",
    "ExtLayer",
    "ExtOp",
    "ExternalCost",
    "ExternalPlan",
    "FitsBoard",
    "FlashModel",
    "LatencyModel",
    "LayerArrays",
    "LayerCost",
    "LooError",
    "MemoryArrays",
    "PatchCost",
    "PatchLayer",
    "PatchPlan",
    "PatchSram",
    "Planner",
    "Pricer",
    "Runtime",
    "SramPlan",
    "TinyOpsProfile",
    "XCubeAIPlanner",
    "XCubeMemoryModel",
    "XCubeRow",
    "act_bytes",
    "analytic_peak",
    "best_patch_plan",
    "check_components",
    "cost_model",
    "embedded_predictors",
    "external_cost",
    "fit_xcube_memory",
    "flash_breakdown",
    "flash_bytes",
    "get_planner",
    "get_runtime",
    "get_xcube_model",
    "layer_keys",
    "list_planners",
    "list_runtimes",
    "load_latency_model",
    "loo_errors",
    "loo_summary",
    "parse_patch",
    "patch_cost",
    "patch_graph",
    "plan_external",
    "plan_graph",
    "plan_patches",
    "plan_sram",
    "plan_tinyops",
    "price_graph",
    "register_planner",
    "register_runtime",
    "render_report",
    "rest_graph",
    "scoped_runtime",
    "select_layers",
    "sram_breakdown",
    "unregister_planner",
    "without_arena",
    "xcube_family",
    "xcube_rows",
]
