"""Tables and plots from computed results (rendering only; compute lives in cost/search/analyze)."""

from typing import Any

from atomnet.report._patch_plot import PatchSramSeries, patch_plot_path, patch_sram_series, plot_patch_sram
from atomnet.report._plots import plot_cost, plot_pareto

__all__ = ["PatchSramSeries", "patch_plot_path", "patch_sram_series", "plot_budget_front", "plot_cost",
           "plot_latency_fronts", "plot_pareto", "plot_patch_sram", "plot_subspace_cdfs", "plot_validation",
           "write_analysis_report"]


def __getattr__(name: str) -> Any:
    if name == "write_analysis_report":  # lazily: it imports atomnet.analyze
        from atomnet.report._analysis import write_analysis_report

        return write_analysis_report
    if name == "plot_validation":  # lazily, like the report: the validate scatter plot
        from atomnet.report._validate_plot import plot_validation

        return plot_validation
    if name == "plot_subspace_cdfs":  # lazily: it imports atomnet.search
        from atomnet.report._subspace_plot import plot_subspace_cdfs

        return plot_subspace_cdfs
    if name in ("plot_budget_front", "plot_latency_fronts"):  # lazily: they import atomnet.search
        from atomnet.report import _front3d_plot

        return getattr(_front3d_plot, name)
    raise AttributeError(f"module 'atomnet.report' has no attribute {name!r}")
