"""TinyNAS search-space optimisation (MCUNet, Lin et al., 2020, §3.1): rank the (width multiplier,
resolution) sub-spaces of a space by the MACs distribution of their members that meet the limits.

MCUNet's argument: under a fixed memory budget, the sub-space whose *feasible* members have larger MACs is
likelier to hold an accurate model, so it compares the CDF of feasible members' FLOPs across sub-spaces and
keeps the one with the highest mean. Here each sub-space is sampled uniformly (one row per stage table, i.e.
one architecture) and costed with the vectorized table coster; the figures are the tables' (peak SRAM a lower
bound of the planner's, as in every table search). Seeded: the same seed gives the same table.

A macro space (``hybrid``) has no width multiplier: its sub-spaces are its resolutions (multiplier 1.0).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from atomnet.cost import LatencyModel
from atomnet.search._build import build_tables
from atomnet.search._combine import Limits
from atomnet.search._records import MetricArrays
from atomnet.search._space import BlockSpace, Space
from atomnet.search._tables import ResolutionTables

#: MACs quantiles kept per sub-space (its CDF, for printing and plotting)
QUANTILES = tuple(np.linspace(0.0, 1.0, 101))


@dataclass(frozen=True)
class SubspaceStats:
    """One sub-space's sampled figures: feasible fraction, mean feasible MACs and the CDF's quantiles."""

    width_multiplier: float
    resolution: int
    samples: int
    feasible: int
    mean_feasible_macs: float  # 0 when no sample is feasible
    macs_quantiles: tuple[float, ...]  # feasible MACs at QUANTILES (empty when none is feasible)

    @property
    def label(self) -> str:
        return f"w{self.width_multiplier:g}-r{self.resolution}"

    @property
    def feasible_fraction(self) -> float:
        return self.feasible / self.samples


def sample_subspace(tables: ResolutionTables, limits: Limits, rng: np.random.Generator, samples: int,
                    width_multiplier: float = 1.0) -> SubspaceStats:
    """``samples`` uniform architectures of one sub-space (one row of every stage table each), costed at once."""
    choices = np.stack([rng.integers(0, t.n_choice, samples) for t in tables.stages], axis=1)
    m = MetricArrays.from_columns(tables.evaluate(choices))
    macs = np.sort(m.macs[m.within(limits)])
    q = tuple(float(v) for v in np.quantile(macs, QUANTILES)) if len(macs) else ()
    return SubspaceStats(width_multiplier, tables.resolution, samples, len(macs),
                         float(macs.mean()) if len(macs) else 0.0, q)


def rank_subspaces(space: Space | BlockSpace, lm: LatencyModel, runtime: str, limits: Limits, *,
                   samples: int = 10_000, seed: int = 0) -> list[SubspaceStats]:
    """Every (width multiplier, resolution) sub-space of ``space``, best first (highest mean feasible MACs,
    then feasible fraction). Each sub-space draws from its own generator (seeded by ``seed`` and its index),
    so a sub-space's figures do not depend on which others are ranked."""
    subs: list[tuple[float, ResolutionTables]] = []
    if isinstance(space, BlockSpace):
        from atomnet.search._exact_blocks import tables_for  # prices nine blocks per sub-space
        for w, wm in enumerate(space.width_multipliers):
            subs += [(wm, tables_for(space, lm, runtime, w, r)[0]) for r in range(len(space.resolutions))]
    else:
        subs = [(1.0, t) for t in build_tables(space, lm, runtime)]
    out = [sample_subspace(t, limits, np.random.default_rng([seed, i]), samples, wm)
           for i, (wm, t) in enumerate(subs)]
    return sorted(out, key=lambda s: (-s.mean_feasible_macs, -s.feasible, s.label))


def subspace_table(stats: Sequence[SubspaceStats]) -> list[dict[str, object]]:
    """Rows for printing: rank, sub-space, feasible fraction, mean and quartiles of feasible MACs (M)."""
    rows: list[dict[str, object]] = []
    for i, s in enumerate(stats):
        q = s.macs_quantiles
        rows.append({"rank": i + 1, "subspace": s.label, "feasible": f"{100 * s.feasible_fraction:.2f} %",
                     "mean_feasible_MMACs": round(s.mean_feasible_macs / 1e6, 2),
                     "p50_MMACs": round(q[50] / 1e6, 2) if q else None,
                     "max_MMACs": round(q[100] / 1e6, 2) if q else None})
    return rows
