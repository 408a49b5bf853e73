"""Evaluators: what a strategy asks for figures (DESIGN principle 5, space × strategy × evaluator).

An evaluator knows the space, the limits (the constraints, kept apart from the strategies) and the fitness.
:class:`TableEvaluator` answers from the per-resolution stage tables by array arithmetic (no lowering);
the runner wraps it in a journaled evaluator (:class:`atomnet.search.JournaledEvaluator`) that answers
from a journal first, so a killed search resumes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from atomnet.search._combine import Combined, Limits, combine, minima
from atomnet.search._records import Candidate, MetricArrays, Metrics
from atomnet.search._space import Space, StageConfig
from atomnet.search._tables import ResolutionTables

Fitness = Callable[[StageConfig], float]  # AtomNet stage config of a feasible candidate → score
Indices = NDArray[np.int64]


class Evaluator(Protocol):
    """What strategies ask: vectorized table figures, one judged candidate, or a whole resolution."""

    @property
    def space(self) -> Space: ...

    @property
    def limits(self) -> Limits: ...

    @property
    def resolutions(self) -> int: ...

    @property
    def has_custom_fitness(self) -> bool: ...

    def metrics(self, res_idx: Indices, choices: Indices) -> MetricArrays:
        """Figures of many architectures: resolution indices (n,), choice indices (n, n_stages)."""
        ...

    def judge(self, res_index: int, choices: tuple[int, ...], metrics: Metrics) -> Candidate:
        """The candidate with these figures: whether it meets the limits, and its fitness."""
        ...

    def evaluate(self, res_index: int, choices: tuple[int, ...]) -> Candidate:
        """One architecture, figured and judged (the call a journal records and replays)."""
        ...

    def combine(self, res_index: int) -> Combined:
        """Every architecture of one resolution that meets the limits (exact, vectorized)."""
        ...

    def minima(self) -> Metrics:
        """The smallest latency, Flash, peak SRAM and MACs any architecture reaches, each on its own."""
        ...


@dataclass(frozen=True)
class TableEvaluator:
    """Costs of architectures from per-resolution stage tables (array arithmetic, no lowering).

    ``fitness`` (a stage config → score, for feasible candidates) replaces MACs as what is maximized."""

    space: Space
    tables: Sequence[ResolutionTables]
    limits: Limits = field(default_factory=Limits)
    fitness: Fitness | None = None

    @property
    def resolutions(self) -> int:
        return len(self.tables)

    @property
    def has_custom_fitness(self) -> bool:
        return self.fitness is not None

    def metrics(self, res_idx: Indices, choices: Indices) -> MetricArrays:
        res_idx = np.asarray(res_idx, dtype=np.int64)
        choices = np.asarray(choices, dtype=np.int64).reshape(len(res_idx), -1)
        out = np.empty((len(res_idx), 4))
        for r in np.unique(res_idx):
            m = res_idx == r
            out[m] = self.tables[int(r)].evaluate(choices[m])
        return MetricArrays.from_columns(out)

    def judge(self, res_index: int, choices: tuple[int, ...], metrics: Metrics) -> Candidate:
        if metrics.within(self.limits):
            f = float(self.fitness(self.space.stage_config(res_index, choices))) if self.fitness is not None \
                else metrics.macs
            return Candidate(res_index, choices, metrics, True, f)
        return Candidate(res_index, choices, metrics, False, -metrics.violation(self.limits))

    def evaluate(self, res_index: int, choices: tuple[int, ...]) -> Candidate:
        m = MetricArrays.from_columns(self.tables[res_index].evaluate(np.array([choices]))).row(0)
        return self.judge(res_index, choices, m)

    def combine(self, res_index: int) -> Combined:
        return combine(self.tables[res_index], self.limits)

    def minima(self) -> Metrics:
        return MetricArrays.from_metrics([minima(t) for t in self.tables]).smallest()
