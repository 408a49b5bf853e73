"""Per-stage cost tables: the data the vectorized strategies search over.

A macro space has a fixed number of stages; stage ``i`` of an architecture is one *choice* among
``n_i``; its cost depends only on the choice and on the width entering the stage (the resolution
is fixed per table). Latency, Flash and MACs add up over stages (kernel additivity); peak SRAM is a
max over stages. Table ``i`` therefore holds, for every (input width index, choice), the four
numbers, plus the output width index of the choice, which indexes the next table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: metric columns of a table
LAT, FLASH, SRAM, MACS = 0, 1, 2, 3
METRICS = ("latency_ms", "flash_bytes", "peak_sram_bytes", "macs")


@dataclass(frozen=True)
class StageTable:
    """Costs of one stage at one resolution: ``cost[w_in_index, choice] = (lat, flash, sram, macs)``."""

    cost: FloatArray  # shape (n_in, n_choice, 4); NaN where (w_in, choice) cannot occur
    out_index: IntArray  # shape (n_choice,): index of the output width among the next stage's inputs

    @property
    def n_in(self) -> int:
        return int(self.cost.shape[0])

    @property
    def n_choice(self) -> int:
        return int(self.cost.shape[1])


@dataclass(frozen=True)
class ResolutionTables:
    """All stage tables of one input resolution; the head (pool + classifier) is folded into the last."""

    resolution: int
    stages: tuple[StageTable, ...]
    base: FloatArray  # (4,) costs outside any stage (e.g. runtime code Flash), added to every architecture

    def evaluate(self, choices: IntArray) -> FloatArray:
        """Metrics of architectures given as choice indices, shape (m, n_stages) → (m, 4)."""
        choices = np.asarray(choices, dtype=np.int64)
        m = choices.shape[0]
        acc = np.tile(self.base.astype(np.float64), (m, 1))
        sram = np.full(m, self.base[SRAM], dtype=np.float64)
        w = np.zeros(m, dtype=np.int64)
        for i, t in enumerate(self.stages):
            c = t.cost[w, choices[:, i]]
            acc[:, LAT] += c[:, LAT]
            acc[:, FLASH] += c[:, FLASH]
            acc[:, MACS] += c[:, MACS]
            sram = np.maximum(sram, c[:, SRAM])
            w = t.out_index[choices[:, i]]
        acc[:, SRAM] = sram
        return acc
