"""The exact MACs-vs-latency Pareto front of a space, and the published models placed beside it.

>>> from atomnet.search import ReferencePoint
>>> ReferencePoint("mcunet-in1", latency_ms=101.2, macs=12.8e6, fits=True).name
'mcunet-in1'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from atomnet.boards import Board
from atomnet.cost import LatencyModel, cost_model
from atomnet.jsontypes import JSONDict
from atomnet.search._combine import Limits, combine
from atomnet.search._records import Metrics
from atomnet.search._space import Space
from atomnet.search._tables import ResolutionTables

#: the zoo's models compared with a space: the ImageNet ones (the visual-wake-words models solve another task)
REFERENCE_CLASSES = 1000


@dataclass(frozen=True)
class ParetoPoint:
    """An architecture on the front (table figures)."""

    resolution_index: int
    choices: tuple[int, ...]
    metrics: Metrics

    @property
    def latency_ms(self) -> float:
        return self.metrics.latency_ms

    @property
    def macs(self) -> float:
        return self.metrics.macs


@dataclass(frozen=True)
class ReferencePoint:
    """A published model costed on the same board and runtime; ``fits`` = meets the SRAM and Flash limits."""

    name: str
    latency_ms: float
    macs: float
    fits: bool


@dataclass(frozen=True)
class ParetoStudy:
    """The front of a space (fastest first) and the zoo's ImageNet models beside it."""

    space: Space
    front: tuple[ParetoPoint, ...]
    references: tuple[ReferencePoint, ...]

    def to_list(self) -> list[JSONDict]:
        """JSON form of the front: latency, MACs and stage config of every point."""
        return [{"latency_ms": p.latency_ms, "macs": p.macs,
                 "stage_config": self.space.stage_config(p.resolution_index, p.choices)} for p in self.front]


def pareto_front(space: Space, tables: Sequence[ResolutionTables], limits: Limits) -> tuple[ParetoPoint, ...]:
    """Exact front of (latency ↓, MACs ↑) over the whole space under the Flash and SRAM limits (table
    figures; latency limit ignored): every architecture with more MACs than all faster ones."""
    pts: list[ParetoPoint] = []
    open_lat = Limits(np.inf, limits.flash_bytes, limits.peak_sram_bytes, limits.min_macs, limits.max_macs)
    for r, tab in enumerate(tables):
        comb = combine(tab, open_lat)
        if not len(comb.metrics):
            continue
        ok = comb.metrics.within(open_lat)
        m, ch = comb.metrics.take(ok), comb.choices[ok]
        order = np.lexsort((-m.macs, m.latency_ms))
        m, ch = m.take(order), ch[order]
        run = np.maximum.accumulate(m.macs)
        keep = np.concatenate(([True], m.macs[1:] > run[:-1]))
        pts += [ParetoPoint(r, tuple(int(v) for v in ch[i]), m.row(int(i))) for i in np.nonzero(keep)[0]]
    pts.sort(key=lambda p: (p.latency_ms, -p.macs))
    front: list[ParetoPoint] = []
    for p in pts:
        if not front or p.macs > front[-1].macs:
            front.append(p)
    return tuple(front)


def zoo_references(board: Board, lm: LatencyModel, limits: Limits, runtime: str | None = None
                   ) -> tuple[ReferencePoint, ...]:
    """The zoo's ImageNet models (:data:`REFERENCE_CLASSES` classes) costed with the full cost model."""
    from atomnet.zoo import get_zoo, list_zoo  # published specs, only needed beside a front

    out = []
    for name in list_zoo():
        spec = get_zoo(name)
        if spec.num_classes != REFERENCE_CLASSES:
            continue
        rep = cost_model(spec, board, runtime=runtime or board.runtime, latency_model=lm)
        fits = rep.peak_sram_bytes <= limits.peak_sram_bytes and rep.flash_bytes <= limits.flash_bytes
        out.append(ReferencePoint(name, rep.latency_ms, float(rep.macs), fits))
    return tuple(out)


def pareto_study(space: Space, tables: Sequence[ResolutionTables], limits: Limits, board: Board,
                 lm: LatencyModel, runtime: str | None = None) -> ParetoStudy:
    return ParetoStudy(space, pareto_front(space, tables, limits), zoo_references(board, lm, limits, runtime))
