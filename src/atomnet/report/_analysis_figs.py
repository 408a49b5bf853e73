"""Figures of the analysis report (matplotlib Agg, PNG): each takes a result record and a path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from atomnet.analyze import BLOCKS, PAPER_EFFICIENCY, BlockAnalysis, ModelAnalysis, OperatorAnalysis, PatternComparison
from atomnet.report._plots import _KIND_COLORS, _plt

_BLOCK_COLORS = {"sep": "#4c72b0", "mbconv": "#c44e52", "convnext": "#55a868"}


def _save(fig: Any, path: str | Path) -> Path:
    plt = _plt()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def fig_efficiency(a: OperatorAnalysis, path: str | Path) -> Path:
    """Median MACs/ms per operator kind with the interquartile range and min–max (log scale)."""
    plt = _plt()
    kinds = sorted(a.kinds, key=lambda k: (k.per_element, -k.median))
    fig, ax = plt.subplots(figsize=(9, 0.55 * max(len(kinds), 3) + 1.6))
    for i, k in enumerate(kinds):
        c = _KIND_COLORS.get(k.kind, "#333")
        ax.plot([k.minimum, k.maximum], [i, i], color=c, lw=1, alpha=0.5)
        ax.plot([k.q25, k.q75], [i, i], color=c, lw=7, alpha=0.8, solid_capstyle="butt")
        ax.plot([k.median], [i], marker="|", color="black", ms=16, mew=2)
        unit = "elements/ms" if k.per_element else "MACs/ms"
        ax.annotate(f"{k.median / 1000:,.1f} k {unit}  ({k.rows:,} rows)", (k.maximum, i), xytext=(6, -3),
                    textcoords="offset points", fontsize=8)
    ax.set_yticks(range(len(kinds)))
    ax.set_yticklabels([k.kind + (" *" if k.per_element else "") for k in kinds])
    ax.invert_yaxis()
    ax.set_xscale("log")
    lo = min((k.minimum for k in kinds), default=1)
    hi = max((k.maximum for k in kinds), default=10)
    ax.set_xlim(lo / 1.5, hi * 20)
    if "pointwise" in PAPER_EFFICIENCY:
        ax.axvline(PAPER_EFFICIENCY["pointwise"], color="gray", ls="--", lw=1,
                   label=f"paper: pointwise {PAPER_EFFICIENCY['pointwise'] / 1000:.0f} k MACs/ms")
        ax.legend(fontsize=8, loc="upper right")
    ax.set_xlabel("computation efficiency (MACC per ms; * = elements per ms). bar: IQR, line: min–max, |: median")
    ax.set_title(f"{a.board}: computation efficiency per operator kind ({a.rows:,} measured rows)", fontsize=10)
    ax.grid(axis="x", alpha=0.3, which="both")
    return _save(fig, path)


def _trend_panel(ax: Any, a: OperatorAnalysis, variable: str, categorical: bool = False) -> bool:
    drawn = False
    for t in a.trends:
        if t.variable != variable:
            continue
        c = _KIND_COLORS.get(t.kind, "#333")
        x = list(range(len(t.x))) if categorical else list(t.x)
        ax.plot(x, [v / 1000 for v in t.median], marker="o", ms=3, color=c, label=f"{t.kind} (median)")
        ax.fill_between(x, [v / 1000 for v in t.q25], [v / 1000 for v in t.q75], color=c, alpha=0.2)
        if categorical:
            ax.set_xticks(x)
            ax.set_xticklabels([f"{v:g}" for v in t.x])
        drawn = True
    if drawn:
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    else:
        ax.text(0.5, 0.5, f"no data vs {variable}", ha="center", transform=ax.transAxes)
    return drawn


def fig_trends(a: OperatorAnalysis, path: str | Path) -> Path:
    """Efficiency vs channels and vs stride, medians with interquartile bands."""
    plt = _plt()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.4), gridspec_kw={"width_ratios": [2, 1]})
    if _trend_panel(ax1, a, "channels"):
        ax1.set_xscale("log", base=2)
    ax1.set_xlabel("channels (depthwise / conv: c_in; pointwise: √(c_in·c_out)), half-octave bins")
    ax1.set_ylabel("k MACs per ms")
    ax1.set_title("efficiency vs channels (band: 25–75 %)", fontsize=10)
    _trend_panel(ax2, a, "stride", categorical=True)
    ax2.set_xlabel("stride")
    ax2.set_title("efficiency vs stride", fontsize=10)
    fig.suptitle(f"{a.board}: computation efficiency trends", fontsize=11)
    return _save(fig, path)


def fig_g3(a: OperatorAnalysis, path: str | Path) -> Path:
    """G3: pointwise and depthwise efficiency vs output resolution, and their ratio."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(9, 4.6))
    if _trend_panel(ax, a, "resolution"):
        ax.set_xscale("log", base=2)
    if a.g3_by_resolution:
        ax2 = ax.twinx()
        ax2.plot([x for x, _ in a.g3_by_resolution], [r for _, r in a.g3_by_resolution], color="black", ls="--",
                 marker="s", ms=3, label="pointwise / depthwise (right axis)")
        ax2.set_ylabel("efficiency ratio pointwise / depthwise")
        ax2.set_ylim(0, max(r for _, r in a.g3_by_resolution) * 1.3)
        ax2.legend(fontsize=8, loc="lower center")
    if "pointwise" in PAPER_EFFICIENCY:
        ax.axhline(PAPER_EFFICIENCY["pointwise"] / 1000, color="gray", ls=":", lw=1)
        ax.annotate("paper: pointwise 256 k", (0.01, PAPER_EFFICIENCY["pointwise"] / 1000), fontsize=7,
                    xycoords=("axes fraction", "data"), xytext=(0, 3), textcoords="offset points", color="gray")
    ax.set_xlabel("output resolution (h_out), half-octave bins")
    ax.set_ylabel("k MACs per ms")
    ratio = f"{a.g3_ratio:.1f}×" if a.g3_ratio else "n/a"
    ax.set_title(f"G3 on {a.board}: efficiency vs resolution; overall median ratio pointwise/depthwise {ratio}",
                 fontsize=10)
    return _save(fig, path)


def fig_g1(a: OperatorAnalysis, path: str | Path) -> Path:
    """G1: Flash of one layer (c_in = c_out = c) vs channels: exact formula lines and measured rows."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 4.8))
    f = a.flash
    if f is None:
        ax.text(0.5, 0.5, "no convolution rows in this AtomDB", ha="center", transform=ax.transAxes)
        return _save(fig, path)
    names = {"conv": "ordinary 3×3 conv", "pointwise": "pointwise 1×1", "depthwise": "depthwise 3×3"}
    for k, ys in f.model.items():
        c = _KIND_COLORS.get(k, "#333")
        ax.plot(f.channels, [y / 1024 for y in ys], color=c, lw=1.5, label=f"{names[k]} (formula)")
        pts = [(ch, fl) for kk, ch, fl in f.measured if kk == k]
        if pts:
            s = f" slope {f.slope[k]:.2f}" if k in f.slope else ""
            ax.scatter([p[0] for p in pts], [p[1] / 1024 for p in pts], color=c, s=18, edgecolor="black", lw=0.4,
                       zorder=3, label=f"{names[k]} measured ({len(pts)} shapes){s}")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("channels c (c_in = c_out)")
    ax.set_ylabel("Flash: int8 weights + int32 bias (KB)")
    ax.set_title(f"G1 on {a.board}: Flash of one layer grows with c² (ordinary, pointwise) or c (depthwise)",
                 fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    return _save(fig, path)


def fig_g2(a: OperatorAnalysis, path: str | Path) -> Path:
    """G2: SRAM of SE modules vs feature-map size (measured) with 1× and 2× lines; latency of SE / eltwise."""
    plt = _plt()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.6))
    s = a.sram
    if s is None or not s.se_sram:
        ax1.text(0.5, 0.5, "no SE rows with SRAM in this AtomDB", ha="center", transform=ax1.transAxes)
    else:
        ax1.scatter([e / 1000 for e in s.se_elems], [v / 1024 for v in s.se_sram], s=8, color=_KIND_COLORS["se"],
                    label=f"SE module, measured ({len(s.se_sram)})")
        xm = max(s.se_elems)
        ax1.plot([0, xm / 1000], [0, xm / 1024], color="black", lw=1, ls=":", label="1× input (C·H·W bytes)")
        ax1.plot([0, xm / 1000], [0, 2 * xm / 1024], color="red", lw=1, ls="--",
                 label="2× input (paper: Mul/Add buffers)")
        ax1.legend(fontsize=8)
    ax1.set_xlabel("feature map C·H·W (k elements, int8)")
    ax1.set_ylabel("SRAM (KB)")
    ax1.set_title("SRAM of SE modules vs feature-map size", fontsize=10)
    ax1.grid(alpha=0.3)
    if s is not None and s.se_latency_ms:
        ax2.scatter([e / 1000 for e in s.se_elems], s.se_latency_ms, s=8, color=_KIND_COLORS["se"], label="SE module")
    if s is not None and s.elt_elems:
        ax2.scatter([e / 1000 for e in s.elt_elems], s.elt_latency_ms, s=6, color=_KIND_COLORS["eltwise"], alpha=0.5,
                    label="eltwise (add / mul)")
    if s is not None and (s.se_latency_ms or s.elt_elems):
        ax2.legend(fontsize=8)
        ax2.set_xscale("log")
        ax2.set_yscale("log")
    ax2.set_xlabel("feature map C·H·W (k elements)")
    ax2.set_ylabel("latency (ms)")
    ax2.set_title("latency of SE and elementwise ops vs feature-map size", fontsize=10)
    ax2.grid(alpha=0.3, which="both")
    fig.suptitle(f"G2 on {a.board}: Mul/Add memory and time grow with the feature map", fontsize=11)
    return _save(fig, path)


def fig_blocks(b: BlockAnalysis, path: str | Path) -> Path:
    """Raw cost and cost per MAC of each block vs width, at one resolution of the grid."""
    plt = _plt()
    res = 14 if 14 in b.resolutions else b.resolutions[len(b.resolutions) // 2]
    fig, axes = plt.subplots(2, 3, figsize=(13, 7.5), sharex=True)
    labels = {"flash": ("Flash (KB)", "Flash bytes per MAC"), "sram": ("peak SRAM (KB)", "SRAM bytes per MAC"),
              "latency": ("latency (ms)", "ns per MAC")}
    for j, metric in enumerate(("flash", "sram", "latency")):
        for i, norm in enumerate(("raw", "per_mac")):
            ax = axes[i][j]
            for blk in BLOCKS:
                for se in (False, True):
                    pts = sorted((p for p in b.points if p.block == blk and p.se == se and p.resolution == res),
                                 key=lambda p: p.width)
                    scale = (1 / 1024 if metric != "latency" else 1.0) if norm == "raw" else \
                        (1e6 if metric == "latency" else 1.0)
                    ax.plot([p.width for p in pts], [p.metric(metric, norm) * scale for p in pts],
                            color=_BLOCK_COLORS[blk], ls="--" if se else "-", marker="o", ms=3,
                            label=f"{blk}{' + SE' if se else ''}")
            ax.set_yscale("log")
            ax.set_ylabel(labels[metric][i])
            ax.grid(alpha=0.3, which="both")
            ax.set_title(f"{metric}, {'one block' if norm == 'raw' else 'per MAC'} (lower is better)", fontsize=9)
            if i == 1:
                ax.set_xlabel("width c (c_in = c_out, stride 1)")
    axes[0][0].legend(fontsize=7)
    fig.suptitle(f"blocks at matched shapes, input {res}×{res}, expand {b.expand:g} for MBConv/ConvNext", fontsize=11)
    return _save(fig, path)


def fig_stages(m: ModelAnalysis, path: str | Path) -> Path:
    """Per-stage shares of peak SRAM, Flash and latency (paper Fig. 2 style)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(10, 4.4))
    labels = [s.label for s in m.stages]
    x = list(range(len(labels)))
    w = 0.27
    ax.bar([i - w for i in x], [100 * (s.sram_share or 0) for s in m.stages], w, color="#4c72b0",
           label="peak live SRAM of the stage, % of model peak")
    ax.bar(x, [100 * s.flash_share for s in m.stages], w, color="#dd8452", label="Flash (weights + bias), % of total")
    ax.bar([i + w for i in x], [100 * s.latency_share for s in m.stages], w, color="#55a868",
           label="latency, % of total")
    ax.set_xticks(x)
    # many stages: labels would touch, so they turn (every label is a stage, none may be dropped)
    ax.set_xticklabels(labels, rotation=0 if len(labels) <= 14 else 45, ha="center" if len(labels) <= 14 else "right")
    ax.set_ylabel("%")
    ax.set_ylim(0, 100 * 1.2)  # shares are ≤ 100 %: the legend row above 100 never covers a bar
    ax.set_yticks(range(0, 101, 20))
    ax.legend(fontsize=8, loc="upper center", ncol=3, frameon=False)
    ax.grid(axis="y", alpha=0.3)
    bd = ", ".join(f"{k} → {v}" for k, v in m.binding.items())
    ax.set_title(f"{m.name}: where SRAM, Flash and latency go, per stage (binding: {bd})", fontsize=10)
    return _save(fig, path)


def fig_patterns(p: PatternComparison, path: str | Path) -> Path:
    """Best model of each space under the same limits: MACs, SRAM, Flash, latency."""
    plt = _plt()
    rows = [r for r in p.rows if r.found]
    fig, axes = plt.subplots(1, 4, figsize=(13, 3.8))
    names = [r.space for r in rows]
    cols = ["#55a868" if n == "hybrid" else "#8c8c8c" for n in names]
    for ax, (title, vals, lim) in zip(axes, (  # four axes, four panels
            ("MACs (M)", [r.macs / 1e6 for r in rows], None),
            ("peak SRAM (KB)", [r.peak_sram_bytes / 1024 for r in rows], p.sram_bytes / 1024),
            ("Flash (KB)", [r.flash_bytes / 1024 for r in rows], p.flash_bytes / 1024),
            ("latency (ms)", [r.latency_ms for r in rows], p.latency_ms)), strict=True):
        ax.bar(names, vals, color=cols)
        for i, v in enumerate(vals):
            ax.text(i, v, f"{v:.1f}" if v < 100 else f"{v:.0f}", ha="center", va="bottom", fontsize=8)
        if lim is not None:
            ax.axhline(lim, color="red", ls="--", lw=1)
        ax.set_title(title + (" (red: limit)" if lim is not None else ""), fontsize=9)
        ax.tick_params(axis="x", labelsize=8)
    fig.suptitle(f"best model per search space under SRAM {p.sram_bytes / 1024:g} KB, Flash "
                 f"{p.flash_bytes / 1024:g} KB, latency {p.latency_ms:g} ms", fontsize=11)
    return _save(fig, path)
