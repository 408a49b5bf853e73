"""Plots of a budget sweep (:func:`atomnet.search.budget_sweep`), matplotlib Agg, PNG: the 3-D front as best
MACs over latency x peak-SRAM limits (one panel per Flash limit, winners on the 3-D front outlined), and the
MACs-vs-latency fronts of every SRAM limit in one figure."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from atomnet.search import BudgetFront


def _grid(front: BudgetFront, flash: float) -> tuple[np.ndarray, np.ndarray]:
    """(best MACs in M, on-front flags) over (SRAM limit rows, latency limit columns) at one Flash limit."""
    macs = np.full((len(front.sram_limits_bytes), len(front.latency_limits_ms)), np.nan)
    on = np.zeros(macs.shape, dtype=bool)
    for i, s in enumerate(front.sram_limits_bytes):
        for j, t in enumerate(front.latency_limits_ms):
            p = front.at(s, flash, t)
            if p.macs is not None:
                macs[i, j] = p.macs / 1e6
                on[i, j] = p.on_front
    return macs, on


def plot_budget_front(front: BudgetFront, path: str | Path, title: str = "") -> Path:
    """Best MACs per budget: one heat map per Flash limit (x: latency limit, y: peak-SRAM limit, colour and
    number: the confirmed optimum in M MACs; a black frame: that winner is on the 3-D front)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(front.flash_limits_bytes)
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n + 0.8, 3.9), squeeze=False)
    grids = [_grid(front, f) for f in front.flash_limits_bytes]
    vmax = max((float(np.nanmax(g)) for g, _ in grids if np.isfinite(g).any()), default=1.0)
    im = None
    for ax, flash, (macs, on) in zip(axes[0], front.flash_limits_bytes, grids, strict=True):
        im = ax.imshow(macs, origin="lower", aspect="auto", cmap="viridis", vmin=0, vmax=vmax)
        for i in range(macs.shape[0]):
            for j in range(macs.shape[1]):
                txt = "-" if np.isnan(macs[i, j]) else f"{macs[i, j]:.0f}"
                ax.text(j, i, txt, ha="center", va="center", fontsize=6,
                        color="white" if np.isnan(macs[i, j]) or macs[i, j] < 0.6 * vmax else "black")
                if on[i, j]:
                    ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, ec="black", lw=1.2))
        ax.set_xticks(range(len(front.latency_limits_ms)))
        ax.set_xticklabels([f"{t:g}" for t in front.latency_limits_ms], fontsize=7, rotation=45)
        ax.set_yticks(range(len(front.sram_limits_bytes)))
        ax.set_yticklabels([f"{s / 1024:g}" for s in front.sram_limits_bytes], fontsize=7)
        ax.set_xlabel("latency limit (ms)")
        ax.set_title(f"Flash ≤ {flash / 1024:g} KB", fontsize=9)
    axes[0][0].set_ylabel("peak SRAM limit (KB)")
    if im is not None:
        fig.colorbar(im, ax=list(axes[0]), label="best MACs (M)", shrink=0.9)
    fig.suptitle(title or f"{front.space} on {front.board} ({front.runtime}): exact optimum per budget", fontsize=9)
    out = Path(path)
    fig.savefig(out, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return out


def plot_latency_fronts(front: BudgetFront, path: str | Path, flash: float | None = None, title: str = "") -> Path:
    """The MACs-vs-latency fronts, one staircase per SRAM limit through the winners of the latency grid, at one
    Flash limit (default: the largest)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    f = flash if flash is not None else max(front.flash_limits_bytes)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for s in front.sram_limits_bytes:
        won = sorted({(p.latency_ms, p.macs / 1e6) for p in (front.at(s, f, t) for t in front.latency_limits_ms)
                      if p.macs is not None and p.latency_ms is not None})
        if not won:
            continue
        # each winner is a point of the exact MACs-vs-latency front under this SRAM and Flash limit: the front
        # sampled at the latency limits of the grid, drawn as the staircase it is
        xs, ys = [w[0] for w in won], [w[1] for w in won]
        line = ax.step(xs, ys, where="post", label=f"SRAM ≤ {s / 1024:g} KB")[0]
        ax.plot(xs, ys, "o", ms=3, color=line.get_color())
    ax.set_xlabel("latency of the winner (ms)")
    ax.set_ylabel("best MACs (M)")
    ax.set_title(title or f"{front.space} on {front.board} ({front.runtime}), Flash ≤ {f / 1024:g} KB: "
                          "exact optima of the latency grid", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
