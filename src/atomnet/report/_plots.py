"""Matplotlib figures (Agg backend, PNG): per-layer SRAM/weights (paper Fig. 4 style), latency breakdown,
and the MACs-vs-latency Pareto front with zoo models placed on it (paper Fig. 1 style).

No text may sit on another text, a bar, a marker or a line: legends go into head-room kept free above the
bars (or below the figure), stage tick labels that would touch drop to a second row, and the Pareto labels are
placed by a small deterministic label-repel (:func:`_place_labels`) that tries positions around each point and
keeps the first one clear of every other label, marker, line and the legend."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from atomnet.cost import CostReport

if TYPE_CHECKING:
    from atomnet.export import TFLiteCost

_KIND_COLORS = {"conv": "#4c72b0", "pointwise": "#dd8452", "depthwise": "#55a868", "pad": "#c44e52",
                "eltwise": "#8172b3", "affine": "#937860", "dense": "#da8bc3", "se": "#8c8c8c", "pool": "#ccb974"}
_DPI = 110


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(plt: Any, fig: Any, path: str | Path, layout: bool = True) -> Path:
    if layout:
        fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=_DPI)
    plt.close(fig)
    return out


def _fmt_kb(n: float) -> str:
    return f"{n / 1024:g} KB" if n < 1024 * 1024 else f"{n / 1024 / 1024:g} MB"


def _stage_ticks(ax: Any, layers: Sequence[Any]) -> None:
    """One tick label per stage at the middle of its layers, thin separators between stages."""
    spans: dict[int, list[int]] = {}
    for i, ly in enumerate(layers):
        spans.setdefault(ly.stage, [i, i])[1] = i
    last = max(spans) if len(spans) > 1 else 1  # one stage (a file without spatial stages): no "head" label
    ax.set_xticks([(a + b) / 2 for a, b in spans.values()])
    ax.set_xticklabels([f"S{s + 1}" if s < last else "head" for s in spans], fontsize=8)
    ax.tick_params(axis="x", length=0)
    for a, _ in list(spans.values())[1:]:
        ax.axvline(a - 0.5, color="#d0d0d0", lw=0.6, zorder=0)


def _destagger(fig: Any, ax: Any, gap_px: float = 10.0) -> None:
    """Tick labels that would touch their left neighbour move down a row (deterministic, after a draw)."""
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    labels = list(ax.get_xticklabels())
    right_edge: list[float] = []  # per row: right edge of the last label placed there
    texts = []
    for t in labels:
        bb = t.get_window_extent(r)
        row = next((k for k, edge in enumerate(right_edge) if bb.x0 > edge + gap_px), len(right_edge))
        if row == len(right_edge):
            right_edge.append(-np.inf)
        right_edge[row] = bb.x1
        texts.append("\n" * row + t.get_text())
    # through the formatter: a draw re-creates tick texts from it, so editing the Text objects would not last
    ax.set_xticks(ax.get_xticks(), texts, fontsize=8)


def plot_cost(report: CostReport | TFLiteCost, path: str | Path, title: str | None = None, *,
              sram_budget_bytes: int | None = None, flash_budget_bytes: int | None = None) -> Path:
    """Three panels (for a spec's report or a ``.tflite`` file's, :func:`atomnet.export.cost_tflite`): live SRAM
    per layer (with the board's SRAM and, for a searched model, the search's SRAM
    budget ``sram_budget_bytes`` as a line "SRAM budget 256 KB"), weights per layer (the Flash budget in its
    title), latency by op kind."""
    fig = _cost_figure(report, title, sram_budget_bytes=sram_budget_bytes, flash_budget_bytes=flash_budget_bytes)
    return _save(_plt(), fig, path, layout=False)


def _cost_figure(report: CostReport | TFLiteCost, title: str | None = None, *, sram_budget_bytes: int | None = None,
                 flash_budget_bytes: int | None = None) -> Any:
    """The laid-out figure of :func:`plot_cost` (for tests)."""
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
                label=f"{report.board} SRAM {_fmt_kb(report.board_sram_bytes)}")
    if sram_budget_bytes is not None:
        ax1.axhline(sram_budget_bytes / 1024, color="#8172b3", ls="-.", lw=1.2,
                    label=f"SRAM budget {_fmt_kb(sram_budget_bytes)}")
    ax1.axhline(report.peak_sram_bytes / 1024, color="black", ls=":", lw=1,
                label=f"peak ({report.runtime} planner) {report.peak_sram_bytes / 1024:.1f} KB")
    top = max([report.board_sram_bytes, report.peak_sram_bytes, sram_budget_bytes or 0]) / 1024
    top = max([top, *live])
    ax1.set_ylim(0, top * 1.22)  # head-room for the one-row legend: nothing is drawn above `top`
    ax1.set_ylabel("live SRAM at layer (KB)")
    ax1.set_title("SRAM: live activation buffers per layer")
    ax1.legend(loc="upper center", ncol=3, fontsize=8, frameon=False)
    ax1.tick_params(axis="x", labelbottom=False)
    ax2 = fig.add_subplot(gs[1, :2], sharex=ax1)
    weights = [ly.flash_bytes / 1024 for ly in layers]
    ax2.bar(x, weights, color=colors, width=0.85)
    ax2.set_ylim(0, max(weights, default=1) * 1.08 or 1)
    ax2.set_ylabel("weights + bias (KB)")
    budget = f"; budget {_fmt_kb(flash_budget_bytes)}" if flash_budget_bytes is not None else ""
    ax2.set_title(f"Flash: parameters per layer (total {report.flash_bytes / 1024:.0f} KB incl. "
                  f"{report.flash_breakdown.get('code', 0) // 1024} KB runtime code{budget})")
    _stage_ticks(ax1, layers)
    _stage_ticks(ax2, layers)
    ax2.set_xlabel("layers in execution order, grouped by stage (colour = operator kind)")
    ax3 = fig.add_subplot(gs[:, 2])
    kinds = sorted(report.latency_by_kind_ms, key=lambda k: -report.latency_by_kind_ms[k])
    vals = [report.latency_by_kind_ms[k] for k in kinds]
    ax3.barh(kinds, vals, color=[_KIND_COLORS.get(k, "#333") for k in kinds])
    for i, v in enumerate(vals):
        ax3.text(v, i, f" {v:.1f} ms ({100 * v / report.latency_ms:.0f} %)", va="center", fontsize=8)
    ax3.invert_yaxis()
    ax3.set_xlabel("latency (ms)")
    ax3.set_xlim(0, max(vals) * 1.5 if vals else 1)
    bound = "≥ " if getattr(report, "latency_is_lower_bound", False) else ""  # a file with unpriced operators
    unpriced = f"\n{getattr(report, 'ops_unpriced', 0)} operators not priced: a lower bound" if bound else ""
    ax3.set_title(f"latency by operator kind\n(total {bound}{report.latency_ms:.1f} ms, {report.ops_exact} exact / "
                  f"{report.ops_predicted} predicted ops){unpriced}", fontsize=10)
    present = [k for k in _KIND_COLORS if any(ly.kind == k for ly in layers)]
    handles = [plt.Rectangle((0, 0), 1, 1, color=_KIND_COLORS[k]) for k in present]
    # the operator-kind legend sits below the figure, one row, clear of every bar
    fig.legend(handles, present, ncol=len(present) or 1, fontsize=8, loc="lower center", frameon=False,
               bbox_to_anchor=(0.36, 0.0))
    fig.suptitle(title or f"{Path(report.model).name} on {report.board} ({report.runtime}): "
                 f"{report.macs / 1e6:.1f} M MACs, {bound}{report.latency_ms:.0f} ms, "
                 f"SRAM {report.peak_sram_bytes / 1024:.0f} KB, Flash {report.flash_bytes / 1024:.0f} KB")
    fig.tight_layout(rect=(0, 0.035, 1, 1))
    _destagger(fig, ax2)
    return fig


# ---- Pareto plot with label-repel ---------------------------------------------------------------------
_LEADER_FROM_PT = 14  # labels this far from their point get a leader line


def _candidates() -> list[tuple[float, float, str, str]]:
    """Label offsets in points with their alignment, nearest first: the 8 compass positions close to the
    point, then 16 directions at growing distances (with a leader line)."""
    out: list[tuple[float, float, str, str]] = []
    for dist in (4, 9):
        out += [(dx * dist, dy * dist, ha, va) for dx, dy, ha, va in (
            (1, 1, "left", "bottom"), (1, -1, "left", "top"), (-1, 1, "right", "bottom"), (-1, -1, "right", "top"),
            (1, 0, "left", "center"), (-1, 0, "right", "center"), (0, 1, "center", "bottom"),
            (0, -1, "center", "top"))]
    for dist in (_LEADER_FROM_PT, 22, 32, 46, 64):
        for k in range(16):
            c, s = np.cos(2 * np.pi * k / 16), np.sin(2 * np.pi * k / 16)
            out.append((dist * c, dist * s, "left" if c > 0.3 else "right" if c < -0.3 else "center",
                        "bottom" if s > 0.3 else "top" if s < -0.3 else "center"))
    return out


_CANDIDATES = _candidates()


def _hits(bb: Any, boxes: Sequence[Any], pts: np.ndarray, pad: float = 1.5) -> int:
    """How many boxes overlap ``bb`` (grown by ``pad`` px) plus whether any obstacle point lies inside it."""
    x0, y0, x1, y1 = bb.x0 - pad, bb.y0 - pad, bb.x1 + pad, bb.y1 + pad
    n = sum(1 for b in boxes if b.x0 < x1 and b.x1 > x0 and b.y0 < y1 and b.y1 > y0)
    if len(pts):
        n += int(np.any((pts[:, 0] > x0) & (pts[:, 0] < x1) & (pts[:, 1] > y0) & (pts[:, 1] < y1)))
    return n


def _polyline_points(xy_px: np.ndarray, step_px: float = 2.0) -> np.ndarray:
    """Points every ``step_px`` along a polyline in display coordinates (lines as obstacles)."""
    if len(xy_px) < 2:
        return xy_px.reshape(-1, 2)
    seg = np.diff(xy_px, axis=0)
    n = np.maximum(1, (np.hypot(seg[:, 0], seg[:, 1]) / step_px).astype(int))
    idx = np.repeat(np.arange(len(seg)), n)
    t = (np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)) / np.repeat(n, n)
    return np.concatenate([xy_px[idx] + t[:, None] * seg[idx], xy_px[-1:]])


def _leader(px: float, py: float, bb: Any, skip_px: float = 5.0) -> np.ndarray:
    """Points every pixel along the straight path from the point to the nearest edge of its label's box (the
    leader line, drawn or not), less the first ``skip_px`` (inside the point's marker)."""
    ex, ey = min(max(px, bb.x0), bb.x1), min(max(py, bb.y0), bb.y1)
    length = float(np.hypot(ex - px, ey - py))
    if length <= skip_px:
        return np.zeros((0, 2))
    t = np.linspace(skip_px / length, 1.0, max(2, int(length)))[:, None]
    return np.column_stack([px + t[:, 0] * (ex - px), py + t[:, 0] * (ey - py)])


def _leader_hits(seg: np.ndarray, boxes: Sequence[Any], pts: np.ndarray, near_px: float = 1.5) -> int:
    """A leader crossing a box (another label, marker, the legend) or passing near a line's points."""
    if not len(seg):
        return 0
    n = sum(1 for b in boxes if np.any((seg[:, 0] > b.x0) & (seg[:, 0] < b.x1) & (seg[:, 1] > b.y0)
                                       & (seg[:, 1] < b.y1)))
    if len(pts):
        near = (np.abs(pts[None, :, 0] - seg[:, None, 0]) < near_px) & (np.abs(pts[None, :, 1] - seg[:, None, 1])
                                                                         < near_px)
        n += int(near.any())
    return n


def _place_labels(ax: Any, items: Sequence[tuple[str, float, float]], obstacles: np.ndarray,
                  boxes: list[Any], fontsize: float = 7, max_dist: float = np.inf) -> list[tuple[Any, int]]:
    """Annotate each (name, x, y) at the first candidate position (:data:`_CANDIDATES`, nearest first) whose
    text, inside the axes, touches none of ``boxes`` (placed labels, the legend, markers) and none of
    ``obstacles`` (display-coordinate points along the plotted lines), and whose leader line crosses none of
    them; if no position is clear, the one with the fewest overlaps, counting a text on something ten times
    a leader crossing something (so texts never collide while a clear place exists). Placed labels and leaders become
    obstacles for the next ones. Deterministic: the same inputs give the same placement. Returns each text
    with its score (0: clear of everything)."""
    from matplotlib.text import Text

    fig = ax.figure
    r = fig.canvas.get_renderer()
    inside = ax.get_window_extent(r)
    scale = fig.dpi / 72.0
    placed = []
    for name, x, y in items:
        px, py = ax.transData.transform((x, y))
        own = [b for b in boxes if b.x0 <= px <= b.x1 and b.y0 <= py <= b.y1]  # its own marker: leaders start there
        others = [b for b in boxes if not any(b is o for o in own)]
        best: tuple[int, Any, Any, np.ndarray] | None = None
        t = ax.annotate(name, (x, y), xytext=(0, 0), textcoords="offset points", fontsize=fontsize, zorder=5)
        for dx, dy, ha, va in _CANDIDATES:
            if np.hypot(dx, dy) > max_dist:
                break
            t.set_position((dx, dy))
            t.set_ha(ha)
            t.set_va(va)
            t.update_positions(r)
            bb = Text.get_window_extent(t, r)  # the text alone
            out = bb.x0 < inside.x0 or bb.x1 > inside.x1 or bb.y0 < inside.y0 or bb.y1 > inside.y1
            lead = _leader(px, py, bb)  # nothing may come between a label and its point, drawn leader or not
            # a text outside the axes or on anything is worse than a leader crossing something
            n = 1000 * out + 10 * _hits(bb, boxes, obstacles) + _leader_hits(lead, others, obstacles)
            if best is None or n < best[0]:
                best = (n, (dx, dy, ha, va), bb, lead)
            if n == 0:
                break
        assert best is not None
        score, (dx, dy, ha, va), bb, lead = best
        t.set_position((dx, dy))
        t.set_ha(ha)
        t.set_va(va)
        if np.hypot(dx, dy) >= _LEADER_FROM_PT - 1e-9:
            t.remove()
            t = ax.annotate(name, (x, y), xytext=(dx, dy), textcoords="offset points", ha=ha, va=va,
                            fontsize=fontsize, zorder=5, arrowprops={
                                "arrowstyle": "-", "color": "#888888", "lw": 0.6, "shrinkA": 1,
                                "shrinkB": 6 / scale})
        boxes.append(bb)
        obstacles = np.concatenate([obstacles, lead])
        placed.append((t, score))
    return placed


def _draw_pareto(front: Sequence[tuple[float, float]], title: str, zoo: Sequence[tuple[str, float, float, bool]],
                 chosen: tuple[float, float] | None, budget_ms: float | None,
                 numbered: Sequence[str]) -> tuple[Any, Any, list[tuple[str, Any, int]]]:
    plt = _plt()
    from matplotlib.lines import Line2D
    from matplotlib.transforms import Bbox

    fig, ax = plt.subplots(figsize=(9, 6))
    lines = []
    if front:
        lat = [p[0] for p in front]
        macs = [p[1] / 1e6 for p in front]
        (ln,) = ax.step(lat, macs, where="post", color="#4c72b0", lw=1.8,
                        label=f"search space front ({len(front)} points)")
        lines.append(ln)
    for name, lat_ms, m, fits in zoo:
        ax.scatter([lat_ms], [m / 1e6], marker="o" if fits else "x", zorder=3,
                   color="#55a868" if name.startswith("atomnet") else "#c44e52")
    if zoo:
        ax.scatter([], [], marker="o", color="#55a868", label="AtomNet releases (o fits the limits, x does not)")
        ax.scatter([], [], marker="o", color="#c44e52", label="MCUNet / MobileNetV2 / ProxylessNAS")
    if chosen:
        ax.scatter([chosen[0]], [chosen[1] / 1e6], marker="*", s=180, color="gold", edgecolor="black", zorder=4,
                   label="search result")
    if budget_ms:
        lines.append(ax.axvline(budget_ms, color="gray", ls="--", lw=1, label=f"latency budget {budget_ms:g} ms"))
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("MACs (M)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    # room for labels around the outermost points (the crowded small models sit at the left edge)
    ax.margins(x=0.1, y=0.08)
    legends = [ax.legend(fontsize=8, loc="lower right")]
    if numbered:  # the points too crowded for their names carry a number, keyed here
        ax.add_artist(legends[0])
        blank = [Line2D([], [], linestyle="none")] * len(numbered)
        legends.append(ax.legend(blank, [f"{k}  {n}" for k, n in enumerate(numbered, 1)], fontsize=7,
                                 loc="upper left", handlelength=0, handletextpad=0, title="crowded points",
                                 title_fontsize=7))
    fig.tight_layout()  # before placing labels: offsets are in points, the layout must not move afterwards
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    boxes: list[Any] = [lg.get_window_extent(r) for lg in legends]
    to_px = ax.transData.transform
    if chosen:
        cx, cy = to_px((chosen[0], chosen[1] / 1e6))
        boxes.append(Bbox.from_extents(cx - 9, cy - 9, cx + 9, cy + 9))
    for _, lat_ms, m, _ in zoo:
        px, py = to_px((lat_ms, m / 1e6))
        boxes.append(Bbox.from_extents(px - 4, py - 4, px + 4, py + 4))
    obstacles = [np.zeros((0, 2))]
    for ln in lines:
        xy = ln.get_transform().transform(np.column_stack(ln.get_data()).astype(float))
        if ln.get_drawstyle().startswith("steps"):  # the drawn path of a step line: (x_i, y_i), (x_i+1, y_i)
            xy = np.repeat(xy, 2, axis=0)[1:]
            xy[1::2, 1] = xy[0::2, 1][: len(xy[1::2])]
        obstacles.append(_polyline_points(xy))
    obst = np.concatenate(obstacles)
    # left to right, bottom first: the crowded lower-left cluster is placed before anything blocks it; names
    # only close to their point (a short leader at most), numbers anywhere
    order = sorted(range(len(zoo)), key=lambda i: (zoo[i][1], zoo[i][2]))
    out: list[tuple[str, Any, int]] = []
    for i in order:
        name, lat_ms, m, _ = zoo[i]
        label = str(numbered.index(name) + 1) if name in numbered else name
        (t, score), = _place_labels(ax, [(label, lat_ms, m / 1e6)], obst, boxes,
                                    max_dist=np.inf if name in numbered else 22.5)
        out.append((name, t, score))
        px, py = to_px((lat_ms, m / 1e6))  # its leader (drawn or not) is an obstacle for the next labels
        obst = np.concatenate([obst, _leader(px, py, boxes[-1])])
    return fig, ax, out


def _pareto_figure(front: Sequence[tuple[float, float]], *, title: str,
                   zoo: Sequence[tuple[str, float, float, bool]] = (), chosen: tuple[float, float] | None = None,
                   budget_ms: float | None = None) -> tuple[Any, Any, list[Any]]:
    """``(figure, axes, label texts)`` of :func:`plot_pareto`, laid out and labelled (for tests): every zoo
    model carries its name next to it where that touches nothing; the rest carry a number listed in a key
    ("crowded points"). Adding the key can crowd out more names, so this repeats until it settles."""
    plt = _plt()
    pos = {z[0]: (z[1], z[2]) for z in zoo}
    numbered: list[str] = []
    for _ in range(4):
        fig, ax, placed = _draw_pareto(front, title, zoo, chosen, budget_ms, numbered)
        failed = [name for name, _, score in placed if score and name not in numbered]
        if not failed:
            break
        plt.close(fig)
        numbered = sorted([*numbered, *failed], key=pos.__getitem__)
    # numbering some labels frees room: give back its name to each numbered point that now fits
    for name in list(numbered):
        trial = [n for n in numbered if n != name]
        fig2, ax2, placed2 = _draw_pareto(front, title, zoo, chosen, budget_ms, trial)
        if (any(score for n, _, score in placed2 if n not in trial)
                or sum(sc for *_, sc in placed2) > sum(sc for *_, sc in placed)):
            plt.close(fig2)
            continue
        plt.close(fig)
        fig, ax, placed, numbered = fig2, ax2, placed2, trial
    return fig, ax, [t for _, t, _ in placed]


def plot_pareto(front: Sequence[tuple[float, float]], path: str | Path, *, title: str,
                zoo: Sequence[tuple[str, float, float, bool]] = (), chosen: tuple[float, float] | None = None,
                budget_ms: float | None = None) -> Path:
    """MACs vs latency: the exact front of the space (step line) and zoo models (name, latency, MACs, fits),
    each labelled where its name touches no other label, marker, line or the legend (else numbered and
    listed in a key)."""
    fig, _, _ = _pareto_figure(front, title=title, zoo=zoo, chosen=chosen, budget_ms=budget_ms)
    return _save(_plt(), fig, path, layout=False)
