"""Tables and plots from computed results (rendering only; compute lives in cost/search/analyze)."""

from atomnet.report._plots import plot_cost, plot_pareto

__all__ = ["plot_cost", "plot_pareto"]
