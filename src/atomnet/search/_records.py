"""The search's records: metrics, candidates, evaluations, results (frozen, named fields; DESIGN principle 7).

A :class:`Metrics` is one architecture's table figures; :class:`MetricArrays` holds the same four figures
for many architectures as named numpy arrays (the vectorized strategies' form). A :class:`Candidate` is an
architecture of a space (resolution index and one choice index per stage) with its metrics, whether it
meets the limits and its fitness; an :class:`Evaluation` is a numbered candidate, one line of a journal.

>>> m = Metrics(latency_ms=250.0, flash_bytes=900e3, peak_sram_bytes=200e3, macs=80e6)
>>> c = Candidate(resolution_index=4, choices=(0, 1, 2), metrics=m, feasible=True, fitness=80e6)
>>> Evaluation(0, c).to_json()["metrics"]
[250.0, 900000.0, 200000.0, 80000000.0]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from atomnet.errors import InputError
from atomnet.jsontypes import JSONDict
from atomnet.search._tables import METRICS

if TYPE_CHECKING:  # _combine builds these records; Limits is only read here
    from atomnet.search._combine import Limits

Floats = NDArray[np.float64]
Mask = NDArray[np.bool_]
#: indices into the rows of a :class:`MetricArrays` (or a boolean mask of them)
Rows = NDArray[np.intp] | NDArray[np.int64] | Mask


@dataclass(frozen=True)
class Metrics:
    """Table figures of one architecture (peak SRAM from the tables is a lower bound of the planner's)."""

    latency_ms: float
    flash_bytes: float
    peak_sram_bytes: float
    macs: float

    @classmethod
    def from_list(cls, values: Sequence[float]) -> Metrics:
        """From the four figures in the order of :data:`METRICS` (the journal's ``metrics`` list)."""
        if len(values) != len(METRICS):
            raise InputError(f"metrics: expected {len(METRICS)} numbers ({', '.join(METRICS)}), got {len(values)}")
        return cls(**{name: float(v) for name, v in zip(METRICS, values, strict=True)})

    def as_list(self) -> list[float]:
        """The four figures in the order of :data:`METRICS`."""
        return [float(getattr(self, name)) for name in METRICS]

    def to_dict(self) -> dict[str, float]:
        return {name: float(getattr(self, name)) for name in METRICS}

    def within(self, limits: Limits) -> bool:
        """Every limit met (an undefined figure, NaN, meets none: every figure is compared)."""
        return bool(self.latency_ms <= limits.latency_ms and self.flash_bytes <= limits.flash_bytes
                    and self.peak_sram_bytes <= limits.peak_sram_bytes
                    and limits.min_macs <= self.macs <= limits.max_macs)

    def violation(self, limits: Limits) -> float:
        """Sum of relative excesses over the limits (0 when met): guides a search towards feasibility."""
        v = 0.0
        for val, lim in ((self.latency_ms, limits.latency_ms), (self.flash_bytes, limits.flash_bytes),
                         (self.peak_sram_bytes, limits.peak_sram_bytes), (self.macs, limits.max_macs)):
            if np.isfinite(lim) and val > lim:
                v += (val - lim) / lim
        if limits.min_macs > 0 and self.macs < limits.min_macs:
            v += (limits.min_macs - self.macs) / limits.min_macs
        return float(v)


@dataclass(frozen=True)
class MetricArrays:
    """Table figures of many architectures: one array per figure, all of the same length."""

    latency_ms: Floats
    flash_bytes: Floats
    peak_sram_bytes: Floats
    macs: Floats

    @classmethod
    def from_columns(cls, table: Floats) -> MetricArrays:
        """From an ``(n, 4)`` array whose columns follow :data:`METRICS` (the stage tables' layout)."""
        t = np.atleast_2d(np.asarray(table, dtype=np.float64))
        return cls(**{name: t[:, k] for k, name in enumerate(METRICS)})

    @classmethod
    def from_metrics(cls, rows: Sequence[Metrics]) -> MetricArrays:
        return cls(**{f.name: np.array([getattr(m, f.name) for m in rows], dtype=np.float64) for f in fields(cls)})

    def __len__(self) -> int:
        return len(self.macs)

    def row(self, i: int) -> Metrics:
        return Metrics(float(self.latency_ms[i]), float(self.flash_bytes[i]), float(self.peak_sram_bytes[i]),
                       float(self.macs[i]))

    def take(self, index: Rows) -> MetricArrays:
        return MetricArrays(self.latency_ms[index], self.flash_bytes[index], self.peak_sram_bytes[index],
                            self.macs[index])

    def within(self, limits: Limits) -> Mask:
        """Boolean mask: every limit met and no figure undefined (NaN)."""
        defined = ~(np.isnan(self.latency_ms) | np.isnan(self.flash_bytes) | np.isnan(self.peak_sram_bytes)
                    | np.isnan(self.macs))
        ok: Mask = ((self.latency_ms <= limits.latency_ms) & (self.flash_bytes <= limits.flash_bytes)
                    & (self.peak_sram_bytes <= limits.peak_sram_bytes) & (self.macs >= limits.min_macs)
                    & (self.macs <= limits.max_macs) & defined)
        return ok

    def as_columns(self) -> Floats:
        """``(n, 4)`` array with columns in the order of :data:`METRICS`."""
        return np.stack([getattr(self, name) for name in METRICS], axis=1)

    def smallest(self) -> Metrics:
        """The smallest of each figure on its own."""
        return Metrics(float(np.min(self.latency_ms)), float(np.min(self.flash_bytes)),
                       float(np.min(self.peak_sram_bytes)), float(np.min(self.macs)))


@dataclass(frozen=True)
class Candidate:
    """An architecture of a space with its table figures.

    ``fitness`` is what the search maximizes (MACs by default, or a custom score) when ``feasible``; for an
    infeasible candidate it is minus its :meth:`Metrics.violation` of the limits."""

    resolution_index: int
    choices: tuple[int, ...]
    metrics: Metrics
    feasible: bool
    fitness: float

    @property
    def architecture(self) -> tuple[int, tuple[int, ...]]:
        """(resolution index, choices): what identifies the architecture in its space."""
        return self.resolution_index, self.choices


#: fields of one journal line (an :class:`Evaluation`)
EVALUATION_KEYS = frozenset({"i", "res", "choices", "metrics", "feasible", "fitness"})


@dataclass(frozen=True)
class Evaluation:
    """The ``index``-th evaluation a strategy asked for (0-based), one line of a search journal."""

    index: int
    candidate: Candidate

    def to_json(self) -> JSONDict:
        c = self.candidate
        return {"i": self.index, "res": c.resolution_index, "choices": list(c.choices),
                "metrics": c.metrics.as_list(), "feasible": c.feasible, "fitness": c.fitness}

    @classmethod
    def from_json(cls, line: Mapping[str, object]) -> Evaluation:
        """A journal line (lines written before these records also carry a ``score``: it is recomputed); a value
        of the wrong type raises ``TypeError`` or ``ValueError`` (from the conversions)."""
        d: Mapping[str, Any] = line  # JSON values, converted (and so checked) one by one below
        return cls(int(d["i"]), Candidate(int(d["res"]), tuple(int(v) for v in d["choices"]),
                                          Metrics.from_list(d["metrics"]), bool(d["feasible"]), float(d["fitness"])))


@dataclass(frozen=True)
class SearchResult:
    """What a strategy returns: its best candidate (``None`` when none met the limits), counts, and for
    confirmation with the full cost model its best ``candidates``, best first."""

    strategy: str
    best: Candidate | None
    evaluated: int
    feasible: int
    seconds: float
    candidates: tuple[Candidate, ...] = ()
    history: tuple[Evaluation, ...] = ()  # every evaluation in order (strategies that evaluate one at a time)
    minima: Metrics | None = None  # smallest latency/Flash/SRAM/MACs of the space, each on its own (exhaustive)

    @property
    def found(self) -> bool:
        return self.best is not None
