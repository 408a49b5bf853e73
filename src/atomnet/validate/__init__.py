"""``atomnet validate``: every stored whole-model measurement against atomnet's estimate (issue 13).

For each row of the AtomDB's whole-model table (``atomnet db import-models``): which model prices it (a zoo
spec, a public ``.tflite`` file, or none with the reason), atomnet's estimate of each measured quantity
(latency, activation / runtime / total RAM, weights / code / total Flash), the method and basis of that
estimate, and the relative error; per board and runtime the median and max |error| and the share within
±5 % and ±10 %. A component fitted on these rows is evaluated leave-one-model-out (a value fitted on a row is
never reported as that row's error); everything else says what it rests on (``docs/validate.md``).

>>> from atomnet.validate import error_stats
>>> error_stats([0.1, -0.02]).within_10
1.0
"""

from atomnet.validate._estimate import BASES, QUANTITIES, SHORT, Estimate
from atomnet.validate._resolve import CATEGORIES, DEFAULT_TFLITE_DIR, Resolution, resolve_row, row_id
from atomnet.validate._run import GroupStats, RowResult, Unpriced, Validation, validate
from atomnet.validate._stats import ErrorStats, error_stats

__all__ = [
    "BASES",
    "CATEGORIES",
    "DEFAULT_TFLITE_DIR",
    "QUANTITIES",
    "SHORT",
    "ErrorStats",
    "Estimate",
    "GroupStats",
    "Resolution",
    "RowResult",
    "Unpriced",
    "Validation",
    "error_stats",
    "resolve_row",
    "row_id",
    "validate",
]
