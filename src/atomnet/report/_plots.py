"""Matplotlib figures (Agg backend, PNG): per-layer SRAM/weights (paper Fig. 4 style), latency breakdown,
and the MACs-vs-latency Pareto front with zoo models placed on it (paper Fig. 1 style)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from atomnet.cost._report import CostReport

_KIND_COLORS = {"conv": "#4c72b0", "pointwise": "#dd8452", "depthwise": "#55a868", "pad": "#c44e52",
                "eltwise": "#8172b3", "affine": "#937860", "dense": "#da8bc3", "se": "#8c8c8c", "pool": "#ccb974"}


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(plt: Any, fig: Any, path: str | Path) -> Path:
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def plot_cost(report: CostReport, path: str | Path, title: str | None = None) -> Path:
    """Three panels: live SRAM per layer (with the board's budget), weights per layer, latency by op kind."""
    plt = _plt()
    layers = report.layers
    x = list(range(len(layers)))
    colors = [_KIND_COLORS.get(ly.kind, "#333333") for ly in layers]
    fig = plt.figure(figsize=(13, 8.5))
    gs = fig.add_gridspec(2, 3, height_ratios=[1, 1])
    ax1 = fig.add_subplot(gs[0, :2])
    live = [(ly.live_sram_bytes or 0) / 1024 for ly in layers]
    ax1.bar(x, live, color=colors, width=0.85)
    ax1.axhline(report.board_sram_bytes / 1024, color="red", ls="--", lw=1,
                label=f"{report.board} SRAM {report.board_sram_bytes // 1024} KB")
    ax1.axhline(report.peak_sram_bytes / 1024, color="black", ls=":", lw=1,
                label=f"peak ({report.runtime} planner) {report.peak_sram_bytes / 1024:.1f} KB")
    ax1.set_ylabel("live SRAM at layer (KB)")
    ax1.set_title("SRAM: live activation buffers per layer")
    ax1.legend(loc="upper right", fontsize=8)
    ax2 = fig.add_subplot(gs[1, :2], sharex=ax1)
    ax2.bar(x, [ly.flash_bytes / 1024 for ly in layers], color=colors, width=0.85)
    ax2.set_ylabel("weights + bias (KB)")
    ax2.set_title(f"Flash: parameters per layer (total {report.flash_bytes / 1024:.0f} KB incl. "
                  f"{report.flash_breakdown.get('code', 0) // 1024} KB runtime code)")
    stage_ticks: dict[int, int] = {}
    for i, ly in enumerate(layers):
        stage_ticks.setdefault(ly.stage, i)
    ax2.set_xticks(list(stage_ticks.values()))
    ax2.set_xticklabels([f"S{s + 1}" if s < max(stage_ticks) else "head" for s in stage_ticks], fontsize=8)
    ax2.set_xlabel("layers in execution order, ticks at the first layer of each stage (colour = operator kind)")
    ax3 = fig.add_subplot(gs[:, 2])
    kinds = sorted(report.latency_by_kind_ms, key=lambda k: -report.latency_by_kind_ms[k])
    vals = [report.latency_by_kind_ms[k] for k in kinds]
    ax3.barh(kinds, vals, color=[_KIND_COLORS.get(k, "#333") for k in kinds])
    for i, v in enumerate(vals):
        ax3.text(v, i, f" {v:.1f} ms ({100 * v / report.latency_ms:.0f} %)", va="center", fontsize=8)
    ax3.invert_yaxis()
    ax3.set_xlabel("latency (ms)")
    ax3.set_xlim(0, max(vals) * 1.5 if vals else 1)
    ax3.set_title(f"latency by operator kind\n(total {report.latency_ms:.1f} ms, {report.ops_exact} exact / "
                  f"{report.ops_predicted} predicted ops)", fontsize=10)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for k, c in _KIND_COLORS.items()
               if any(ly.kind == k for ly in layers)]
    labels = [k for k in _KIND_COLORS if any(ly.kind == k for ly in layers)]
    ax2.legend(handles, labels, ncol=4, fontsize=8, loc="upper left")
    fig.suptitle(title or f"{report.model} on {report.board} ({report.runtime}): {report.macs / 1e6:.1f} M MACs, "
                 f"{report.latency_ms:.0f} ms, SRAM {report.peak_sram_bytes / 1024:.0f} KB, "
                 f"Flash {report.flash_bytes / 1024:.0f} KB")
    return _save(plt, fig, path)


def plot_pareto(front: Sequence[tuple[float, float]], path: str | Path, *, title: str,
                zoo: Sequence[tuple[str, float, float, bool]] = (), chosen: tuple[float, float] | None = None,
                budget_ms: float | None = None) -> Path:
    """MACs vs latency: the exact front of the space (step line) and zoo models (name, latency, MACs, fits)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(9, 6))
    if front:
        lat = [p[0] for p in front]
        macs = [p[1] / 1e6 for p in front]
        ax.step(lat, macs, where="post", color="#4c72b0", lw=1.8, label=f"search space front ({len(front)} points)")
    for name, lat_ms, m, fits in zoo:
        ax.scatter([lat_ms], [m / 1e6], marker="o" if fits else "x", zorder=3,
                   color="#55a868" if name.startswith("atomnet") else "#c44e52")
        ax.annotate(name, (lat_ms, m / 1e6), textcoords="offset points", xytext=(4, 4), fontsize=7)
    if zoo:
        ax.scatter([], [], marker="o", color="#55a868", label="AtomNet releases (o fits the limits, x does not)")
        ax.scatter([], [], marker="o", color="#c44e52", label="MCUNet / MobileNetV2 / ProxylessNAS")
    if chosen:
        ax.scatter([chosen[0]], [chosen[1] / 1e6], marker="*", s=180, color="gold", edgecolor="black", zorder=4,
                   label="search result")
    if budget_ms:
        ax.axvline(budget_ms, color="gray", ls="--", lw=1, label=f"latency budget {budget_ms:g} ms")
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("MACs (M)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    return _save(plt, fig, path)
