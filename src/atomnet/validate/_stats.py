"""Aggregates of relative errors: n, median and max |error|, the share within ±5 % and ±10 % (the metric
nn-Meter reports: the fraction of predictions within ±10 % of the measurement).

>>> s = error_stats([0.02, -0.04, 0.08, -0.30])
>>> s.n, round(s.median_abs, 3), s.max_abs, s.within_5, s.within_10
(4, 0.06, 0.3, 0.5, 0.75)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from atomnet.jsontypes import JSONDict


@dataclass(frozen=True)
class ErrorStats:
    """Relative errors of ``n`` rows: ``median_abs`` / ``max_abs`` of |estimate / measured − 1|, ``median``
    the signed median (bias), ``within_5`` / ``within_10`` the share with |error| ≤ 5 % / 10 %."""

    n: int
    median_abs: float
    max_abs: float
    median: float
    within_5: float
    within_10: float

    def to_dict(self) -> JSONDict:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


#: a tolerance for the ±5 % / ±10 % bands: an error printed as exactly 10 % is within them
_EPS = 1e-9


def error_stats(errors: Sequence[float]) -> ErrorStats | None:
    """The :class:`ErrorStats` of relative errors (None when there are none)."""
    if not errors:
        return None
    e = np.asarray(errors, dtype=float)
    a = np.abs(e)
    return ErrorStats(len(e), float(np.median(a)), float(a.max()), float(np.median(e)),
                      float(np.mean(a <= 0.05 + _EPS)), float(np.mean(a <= 0.10 + _EPS)))
