"""X-CUBE-AI memory (activation pool, runtime RAM, code Flash) of a row, leave-one-out.

The X-CUBE-AI memory model (:func:`atomnet.cost.fit_xcube_memory`, per version family) is fitted on the public
ST model zoo rows, so the embedded constants saw them. Here it is refitted on the database's own X-CUBE-AI rows
(:func:`atomnet.cost.xcube_rows`) and every row's estimate comes from :func:`atomnet.cost.loo_errors`: a fit of
its version family without the row and without any row of the same architecture at the same resolution. Total
RAM is the left-out activation pool plus the left-out runtime RAM; total Flash the weights (counted, not fitted)
plus the left-out code. A row the embedded model was fitted on but that has no left-out estimate is not priced
for that quantity (never its own fit's value).
"""

from __future__ import annotations

from collections.abc import Sequence

from atomnet.cost import get_xcube_model, loo_errors, xcube_family, xcube_rows
from atomnet.db import ModelMeasurement
from atomnet.validate._estimate import Estimate

#: validate quantity → the memory model's quantity
_QUANTITY = {"activation_ram_bytes": "activation", "runtime_ram_bytes": "runtime_ram",
             "code_flash_bytes": "code_flash"}


class XCubeMemoryLoo:
    """Leave-one-out X-CUBE-AI memory estimates of the X-CUBE-AI rows among ``rows``, fitted per version family
    the first time a row of that family asks (the activation fit is the slow part: ~10 s per family)."""

    def __init__(self, rows: Sequence[ModelMeasurement]) -> None:
        self.rows = xcube_rows(rows)
        self.family = {r.row_id: r.family for r in self.rows}
        self.loo: dict[tuple[str, str], tuple[int, int]] = {}  # (row id, quantity) → (estimate, rows fitted on)
        self.fitted: set[str] = set()

    def _fit(self, family: str) -> None:
        if family in self.fitted:
            return
        for q in _QUANTITY.values():
            for e in loo_errors(self.rows, family, q):
                self.loo[e.row_id, q] = (e.estimated_bytes, len(e.fitted_on))
        self.fitted.add(family)

    def covers(self, m: ModelMeasurement) -> bool:
        return f"{m.family}[{m.row_index}]" in self.family

    def estimates(self, m: ModelMeasurement, weights_flash_bytes: int | None) -> list[Estimate]:
        """The row's activation / runtime / total RAM, code and total Flash estimates (those it measured)."""
        rid = f"{m.family}[{m.row_index}]"
        fam = self.family[rid]
        self._fit(fam)
        measured = m.measured()
        part: dict[str, Estimate] = {}
        for q, mq in _QUANTITY.items():
            hit = self.loo.get((rid, mq))
            if hit is not None:
                part[q] = Estimate(q, float(measured.get(q, 0)), float(hit[0]),
                                   f"X-CUBE-AI {fam} memory model, refitted without this architecture at this "
                                   f"resolution ({hit[1]} rows)", "loo")
        out = [part[q] for q in _QUANTITY if q in measured and q in part]
        out += [Estimate(q, float(measured[q]), None, f"X-CUBE-AI {fam} memory model: no left-out fit of "
                         f"{_QUANTITY[q]} for this row", "loo") for q in _QUANTITY if q in measured and q not in part]
        act, rt, code = (part.get(q) for q in _QUANTITY)
        if "total_ram_bytes" in measured:
            if act is not None and rt is not None and act.estimate is not None and rt.estimate is not None:
                out.append(Estimate("total_ram_bytes", float(measured["total_ram_bytes"]), act.estimate + rt.estimate,
                                    f"X-CUBE-AI {fam}: left-out activation pool + runtime RAM", "loo"))
            else:
                out.append(Estimate("total_ram_bytes", float(measured["total_ram_bytes"]), None,
                                    f"X-CUBE-AI {fam}: no left-out activation pool and runtime RAM", "loo"))
        if "total_flash_bytes" in measured:
            if code is not None and code.estimate is not None and weights_flash_bytes is not None:
                out.append(Estimate("total_flash_bytes", float(measured["total_flash_bytes"]),
                                    weights_flash_bytes + code.estimate,
                                    f"X-CUBE-AI {fam}: counted weights + left-out code", "loo"))
            else:
                out.append(Estimate("total_flash_bytes", float(measured["total_flash_bytes"]), None,
                                    f"X-CUBE-AI {fam}: no left-out code Flash", "loo"))
        return out


def seen_by_embedded(m: ModelMeasurement, quantity: str) -> bool:
    """Whether the shipped X-CUBE-AI constants of the row's version family were fitted on this row's
    ``quantity`` (then the planner's value is not an honest estimate of it)."""
    fam = xcube_family(m.runtime_version or "")
    if fam is None or (quantity not in _QUANTITY and quantity not in ("total_ram_bytes", "total_flash_bytes")):
        return False
    mm = get_xcube_model(fam)
    rid = f"{m.family}[{m.row_index}]"
    seen = {"activation_ram_bytes": mm.fitted_on_activation, "runtime_ram_bytes": mm.fitted_on_runtime_ram,
            "code_flash_bytes": mm.fitted_on_code_flash}
    if quantity == "total_ram_bytes":
        return rid in mm.fitted_on_activation or rid in mm.fitted_on_runtime_ram
    if quantity == "total_flash_bytes":
        return rid in mm.fitted_on_code_flash
    return rid in seen[quantity]
