"""Whole-model cost from atom operators: latency (Σ ops, exact or predicted), Flash, peak SRAM.

Never imports torch: the search must run on a laptop in seconds.
"""

from atomnet.cost._latency import LatencyModel, embedded_predictors, load_latency_model

__all__ = ["LatencyModel", "embedded_predictors", "load_latency_model"]
