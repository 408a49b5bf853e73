"""The CDFs of feasible members' MACs per sub-space (MCUNet Fig. 3 style), matplotlib Agg, PNG."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from atomnet.search import QUANTILES, SubspaceStats


def plot_subspace_cdfs(stats: Sequence[SubspaceStats], path: str | Path, title: str = "", top: int = 8) -> Path:
    """Plot the ``top`` best sub-spaces' CDFs (x: MACs of feasible members, y: fraction) to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for s in [s for s in stats if s.macs_quantiles][:top]:
        ax.plot([q / 1e6 for q in s.macs_quantiles], QUANTILES,
                label=f"{s.label} (mean {s.mean_feasible_macs / 1e6:.1f} M, {100 * s.feasible_fraction:.2f} % "
                      "feasible)")
    ax.set_xlabel("MACs of feasible members (M)")
    ax.set_ylabel("cumulative fraction")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
