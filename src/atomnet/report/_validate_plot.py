"""The scatter plot of ``atomnet validate --plot``: atomnet's estimate against the measurement, one log-log panel
per quantity, one colour per board and runtime, the line y = x and the ±10 % band around it.

Estimates that are not positive (a runtime RAM assumed to be 0) cannot sit on a log axis: they are counted in
the panel's title instead of drawn. Estimates whose basis is ``loo`` (leave-one-model-out fits) are filled
markers; the others (rules, AtomDB, constants from elsewhere, assumptions) hollow.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from atomnet.validate import Validation

_TITLES = {"latency_ms": "latency (ms)", "activation_ram_bytes": "activation RAM (KiB)",
           "runtime_ram_bytes": "runtime RAM (KiB)", "total_ram_bytes": "total RAM / peak SRAM (KiB)",
           "weights_flash_bytes": "weights Flash (KiB)", "code_flash_bytes": "code Flash (KiB)",
           "total_flash_bytes": "total Flash (KiB)"}
#: matplotlib's tab20, dark shades first: 10 clearly distinct colours, then their light twins
_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
            "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#c7c7c7",
            "#dbdb8d", "#9edae5")
_DPI = 110


def _points(v: Validation) -> dict[str, list[tuple[str, float, float, bool]]]:
    """quantity → (group, measured, estimate, loo) of every estimate the statistics count (sizes in KiB)."""
    out: dict[str, list[tuple[str, float, float, bool]]] = {}
    for r, e in v.counted():
        if e.estimate is not None:
            k = 1.0 if e.quantity == "latency_ms" else 1024.0
            out.setdefault(e.quantity, []).append((f"{r.board} / {r.runtime}", e.measured / k, e.estimate / k,
                                                   e.basis == "loo"))
    return out


def _panel(ax: Any, quantity: str, pts: list[tuple[str, float, float, bool]], colors: dict[str, str]) -> None:
    import numpy as np

    drawn = [p for p in pts if p[1] > 0 and p[2] > 0]
    hidden = len(pts) - len(drawn)
    if drawn:
        lo = min(min(p[1], p[2]) for p in drawn) / 1.5
        hi = max(max(p[1], p[2]) for p in drawn) * 1.5
    else:
        lo, hi = 0.1, 10.0
    xs = np.geomspace(lo, hi, 50)
    ax.fill_between(xs, xs * 0.9, xs * 1.1, color="#e8e8e8", lw=0, zorder=0, label="±10 %")
    ax.plot(xs, xs, color="#606060", lw=0.8, zorder=1, label="y = x")
    for grp, color in colors.items():
        for loo in (True, False):
            sel = [p for p in drawn if p[0] == grp and p[3] is loo]
            if sel:
                ax.scatter([p[1] for p in sel], [p[2] for p in sel], s=18, zorder=2, edgecolors=color,
                           facecolors=color if loo else "none", linewidths=0.9)
    from matplotlib.ticker import NullFormatter

    ax.set_xscale("log")
    ax.set_yscale("log")
    for axis in (ax.xaxis, ax.yaxis):  # minor-tick labels of a short log range overlap each other
        axis.set_minor_formatter(NullFormatter())
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    title = f"{_TITLES.get(quantity, quantity)}, n={len(drawn)}"
    ax.set_title(title + (f" ({hidden} estimates ≤ 0 not drawn)" if hidden else ""), fontsize=9)
    ax.set_xlabel("measured", fontsize=8)
    ax.set_ylabel("atomnet estimate", fontsize=8)
    ax.tick_params(labelsize=7)


def plot_validation(v: Validation, path: str | Path) -> Path:
    """Write the scatter plot of a :class:`atomnet.validate.Validation` to ``path`` (PNG); returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    from atomnet.validate import QUANTITIES

    pts = _points(v)
    # a quantity whose every estimate is <= 0 (an assumed runtime RAM of 0) has nothing to draw on a log axis
    quantities = [q for q in QUANTITIES if any(p[1] > 0 and p[2] > 0 for p in pts.get(q, []))] or ["latency_ms"]
    left_out = [q for q in QUANTITIES if q in pts and q not in quantities]
    groups = sorted({p[0] for q in quantities for p in pts.get(q, [])})
    colors = {g: _PALETTE[i % len(_PALETTE)] for i, g in enumerate(groups)}
    ncol = min(4, len(quantities))
    nrow = (len(quantities) + ncol - 1) // ncol
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.6 * ncol, 3.4 * nrow + 0.4 + 0.2 * (len(groups) // 4 + 1)),
                             squeeze=False)
    for ax, q in zip(axes.flat, quantities, strict=False):
        _panel(ax, q, pts.get(q, []), colors)
    for ax in list(axes.flat)[len(quantities):]:
        ax.set_visible(False)
    handles = [Line2D([], [], ls="", marker="o", color=c, label=g) for g, c in colors.items()]
    handles += [Line2D([], [], ls="", marker="o", color="#606060", label="filled: leave-one-model-out fit"),
                Line2D([], [], ls="", marker="o", color="#606060", markerfacecolor="none",
                       label="hollow: rules / AtomDB / constant")]
    rows_legend = len(handles) // 4 + 1
    bottom = 0.01 + 0.03 * rows_legend
    fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=7, frameon=False)
    title = "atomnet validate: estimate vs measured (log-log; grey band ±10 %)"
    if left_out:
        title += f"; not drawn (every estimate ≤ 0): {', '.join(_TITLES[q] for q in left_out)}"
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, bottom, 1, 0.97))
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=_DPI)
    plt.close(fig)
    return out
