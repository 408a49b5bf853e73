"""Whole-model cost from atom operators: latency (Σ ops, exact or predicted), Flash, peak SRAM.

Never imports torch: the search must run on a laptop in seconds.
"""

from atomnet.cost._batch import BatchCost, BatchCoster
from atomnet.cost._flash import flash_breakdown, flash_bytes
from atomnet.cost._latency import LatencyModel, embedded_predictors, load_latency_model
from atomnet.cost._report import CostReport, LayerCost, cost_model
from atomnet.cost._sram import SramPlan, act_bytes, get_planner, list_planners, plan_sram

__all__ = [
    "BatchCost",
    "BatchCoster",
    "CostReport",
    "LatencyModel",
    "LayerCost",
    "SramPlan",
    "act_bytes",
    "cost_model",
    "embedded_predictors",
    "flash_breakdown",
    "flash_bytes",
    "get_planner",
    "list_planners",
    "load_latency_model",
    "plan_sram",
]
