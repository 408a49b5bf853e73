"""One row's estimates, quantity by quantity, each with how it was made and on what it rests (``basis``).

``basis`` says whether an estimate can honestly be compared with the row (a value fitted on a row is never
reported as that row's error):

* ``rules`` — counted or planned by rules, nothing fitted (the TinyEngine and TFLM planners, weight bytes);
* ``atomdb`` — operator latencies of the reference board's AtomDB (exact medians and predictors fitted on
  operator rows, never on whole-model rows);
* ``elsewhere`` — a constant calibrated on points that are not this row (TinyEngine's ~63 KB of code, FACTS §3;
  a board's single time factor from atomnet-256kb, FACTS §2; shipped constants of rows not in the database);
* ``assumed`` — a stated assumption (a runtime's RAM beyond the arena is 0, TFLM's code size);
* ``loo`` — a component fitted on these rows, evaluated leave-one-out: the fit that produced the estimate saw
  no row of the row's model.
"""

from __future__ import annotations

from dataclasses import dataclass

from atomnet.jsontypes import JSONDict
from atomnet.runtimes import get_runtime
from atomnet.validate._price import Priced

#: the compared quantities (stored field names of :class:`atomnet.db.ModelMeasurement`), in report order
QUANTITIES: tuple[str, ...] = ("latency_ms", "activation_ram_bytes", "runtime_ram_bytes", "total_ram_bytes",
                               "weights_flash_bytes", "code_flash_bytes", "total_flash_bytes")
#: short column names
SHORT: dict[str, str] = {"latency_ms": "latency", "activation_ram_bytes": "act RAM", "runtime_ram_bytes":
                         "rt RAM", "total_ram_bytes": "total RAM", "weights_flash_bytes": "weights",
                         "code_flash_bytes": "code", "total_flash_bytes": "total Flash"}
BASES: tuple[str, ...] = ("rules", "atomdb", "elsewhere", "assumed", "loo")


@dataclass(frozen=True)
class Estimate:
    """atomnet's estimate of one measured quantity of one row: ``estimate`` None when it cannot price it
    (``method`` then says why); ``error`` = estimate / measured − 1."""

    quantity: str
    measured: float
    estimate: float | None
    method: str
    basis: str = "rules"

    @property
    def error(self) -> float | None:
        if self.estimate is None or self.measured == 0:
            return None
        return self.estimate / self.measured - 1

    def to_dict(self) -> JSONDict:
        e = self.error
        return {"quantity": self.quantity, "measured": self.measured, "estimate": self.estimate,
                "error": None if e is None else round(e, 6), "method": self.method, "basis": self.basis}


def _code_basis(runtime: str) -> tuple[str, str]:
    """A code constant fitted or read from points that are not this row (public rows it was not fitted on are
    guarded by the caller: :func:`atomnet.validate._xcube.seen_by_embedded`), or an assumption."""
    src = get_runtime(runtime).flash.code_source
    if any(w in src for w in ("single published point", "FACTS", "fitted on")):
        return "elsewhere", src
    return "assumed", src


def memory_estimates(priced: Priced, runtime: str, latency_runtime: str,
                     measured: dict[str, float | int]) -> list[Estimate]:
    """The memory and Flash quantities of a row from today's models (planner, Flash model, code constant)."""
    rt = get_runtime(runtime)
    as_ = f" (as {runtime})" if latency_runtime != runtime else ""
    planner = f"{rt.planner} planner{as_}"
    xcube = rt.planner.startswith("xcube-ai")
    plan_basis = "elsewhere" if xcube else "rules"
    plan_note = (": X-CUBE-AI memory constants fitted on the public ST model zoo rows "
                 "(atomnet/data/xcube_memory.json), not on this row") if xcube else ""
    code_basis, code_src = _code_basis(runtime)
    table: dict[str, tuple[int | None, str, str]] = {
        "activation_ram_bytes": (priced.activation_bytes, f"{planner}: activation pool{plan_note}" if xcube else
                                 f"{planner}: arena + scratch", plan_basis),
        "runtime_ram_bytes": (priced.runtime_ram_bytes, f"{planner}: runtime RAM{plan_note}" if xcube else
                              f"{rt.name} runtime RAM: {rt.ram_overhead_source}", plan_basis if xcube else "assumed"),
        "total_ram_bytes": (priced.peak_sram_bytes, f"{planner}: peak SRAM = arena + scratch + runtime RAM"
                            f"{plan_note}", plan_basis),
        "weights_flash_bytes": (priced.weights_flash_bytes, f"{rt.name} Flash model: {rt.flash.weights_layout}",
                                "rules"),
        "code_flash_bytes": (priced.code_flash_bytes, f"{rt.name} code: {code_src}", code_basis),
        "total_flash_bytes": (priced.flash_bytes, f"{rt.name} Flash: weights + code ({code_src})", code_basis),
    }
    out = []
    for q, (value, method, basis) in table.items():
        if q not in measured:
            continue
        if value is None:
            out.append(Estimate(q, float(measured[q]), None, priced.error or "not priced", basis))
        else:
            out.append(Estimate(q, float(measured[q]), float(value), method, basis))
    return out
