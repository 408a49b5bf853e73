"""The ``import`` runner: results measured elsewhere, replayed into a campaign.

Two formats (``--from FILE``):

* AtomNet CSV (``atomdb.csv`` layout, either revision; see ``../shared/atomdb/README.md``): every row is one
  repeat of its operator key;
* JSON lines, one object per operator (schema 1), unknown fields are errors::

      {"op": {"kind": "pointwise", "c_in": 16, "h_in": 8, "w_in": 8, "c_out": 32, "h_out": 8, "w_out": 8,
              "kernel": 1, "stride": 1, "groups": 1},
       "latency_ms": [0.120, 0.118, 0.121], "sram_bytes": 4320, "flash_bytes": 640}

  ``latency_ms`` is one number or a list of repeats; ``sram_bytes`` / ``flash_bytes`` are optional.

An op of the campaign that the file does not have fails (reported, the campaign goes on); a campaign
wanting more repeats than the file has reuses them cyclically only if ``cycle=True``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from atomnet.errors import InputError, UnknownNameError
from atomnet.measure._runners import register_runner
from atomnet.measure._singleop import Variant
from atomnet.ops import Op

_JSON_KEYS = {"op", "latency_ms", "sram_bytes", "flash_bytes", "schema"}


def read_results(path: str | Path) -> dict[tuple[int, ...], dict[str, Any]]:
    """op key → {"latency_ms": [..], "sram_bytes", "flash_bytes"} from a CSV or JSON lines file."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such results file")
    out: dict[tuple[int, ...], dict[str, Any]] = {}
    head = p.read_text(errors="replace").lstrip()[:1]
    if head == "{":
        for i, line in enumerate(p.read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
                unknown = set(d) - _JSON_KEYS
                if unknown:
                    raise InputError(f"unknown field(s) {sorted(unknown)}; expected {sorted(_JSON_KEYS)}")
                op = Op.from_dict(d["op"])
                lat = d["latency_ms"]
                lats = [float(v) for v in (lat if isinstance(lat, list) else [lat])]
                if not lats or min(lats) <= 0:
                    raise InputError("latency_ms: expected positive milliseconds")
            except (KeyError, TypeError, ValueError, json.JSONDecodeError) as e:
                raise InputError(f"{p}:{i}: {e}") from None
            ent = out.setdefault(op.key, {"latency_ms": [], "sram_bytes": None, "flash_bytes": None})
            ent["latency_ms"] += lats
            ent["sram_bytes"] = d.get("sram_bytes", ent["sram_bytes"])
            ent["flash_bytes"] = d.get("flash_bytes", ent["flash_bytes"])
        return out
    from atomnet.db import parse_atomnet_csv

    for r in parse_atomnet_csv(p).rows:
        ent = out.setdefault(r.op.key, {"latency_ms": [], "sram_bytes": r.sram_bytes, "flash_bytes": r.flash_bytes})
        ent["latency_ms"].append(r.latency_ms)
    return out


class _ReplaySession:
    def __init__(self, ent: dict[str, Any], cycle: bool) -> None:
        self.lat = list(ent["latency_ms"])
        self.sram_bytes: int | None = ent.get("sram_bytes")
        self.flash_bytes: int | None = ent.get("flash_bytes")
        self.i, self.cycle = 0, cycle

    def warmup(self, n: int) -> None:
        pass

    def repeat(self) -> float:
        if self.i >= len(self.lat) and not self.cycle:
            raise IndexError(f"the results file has only {len(self.lat)} repeat(s) of this op")
        v = self.lat[self.i % len(self.lat)]
        self.i += 1
        return float(v)

    def close(self) -> None:
        pass


class ImportRunner:
    """Replays a results file (module doc); ``runtime`` is what the measurements were taken with."""

    name = "import"

    def __init__(self, path: str | Path | None = None, runtime: str = "tflm", runtime_version: str = "unknown",
                 clock_mhz: float | None = None, cycle: bool = False) -> None:
        if path is None:
            raise InputError("runner import: give the results file (--from FILE: AtomNet CSV or JSON lines)")
        self.results = read_results(path)
        self.runtime, self.runtime_version, self.clock_mhz, self.cycle = runtime, runtime_version, clock_mhz, cycle

    def open(self, model: bytes, op: Op | None = None, variant: Variant | None = None) -> _ReplaySession:
        if op is None or op.key not in self.results:
            raise UnknownNameError(f"no result for {op.describe() if op else 'this model'} in the results file")
        return _ReplaySession(self.results[op.key], self.cycle)


register_runner("import")(ImportRunner)
