"""The TinyOps table (FACTS §7) against the external-memory plan: feasibility and same-board latency ratios.

Each published row (``tinyops`` rows of ``../shared/published/measurements.json``) is costed on its board
(``stm32f469-disco``, ``stm32f746g-disco``) with the ``tinyengine`` SRAM planner (in-place depthwise: the MCUNet /
TinyOps memory layout) and compute priced as TFLite Micro + CMSIS-NN (the ``cmsis-nn`` transfer, TinyOps' runtime).
Ratios are taken to the board's anchor row (the internal Proxyless model): the one per-board scale this fixes is
"fitted" on that row only; every other row is held out.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from atomnet.cost._external_cost import ExternalCost, external_cost
from atomnet.spec import ModelSpec

BOARDS = {"F469": "stm32f469-disco", "F746": "stm32f746g-disco"}
#: published names → candidate zoo names (the first one the zoo knows is used)
_MCUNET = {"MCUNetV1 (F469)": "mcunet-in2", "MCUNetV1 (F746)": "mcunet-in3"}
RUNTIME, LATENCY_RUNTIME = "tinyengine", "cmsis-nn"


def resized_zoo(get_spec: Callable[[str], ModelSpec]) -> Callable[[str], ModelSpec]:
    """``get_spec``, and for ``proxyless-w0.3-rN`` not in the zoo the r176 model at resolution N (the same
    network: ProxylessNAS-Mobile scales by input size only)."""

    def get(name: str) -> ModelSpec:
        try:
            return get_spec(name)
        except KeyError:
            m = re.fullmatch(r"proxyless-w0\.3-r(\d+)", name)
            if m is None:
                raise
            n = int(m.group(1))
            return replace(get_spec("proxyless-w0.3-r176"), name=name, resolution=(n, n))

    return get


def zoo_names(model: str) -> list[str]:
    """Zoo names to try for a published TinyOps model name ("MbV3 w0.55-r128" → mbv3-w0.55-r128, …)."""
    if model in _MCUNET:
        return [_MCUNET[model]]
    m = re.match(r"(\w+) \(?w([\d.]+)-r(\d+)\)?$", model)
    if m is None:
        return []
    fam, width, r = m.group(1).lower(), float(m.group(2)), m.group(3)
    forms = [f"{width:g}"] + [f for f in (f"{width:.1f}", f"{width:.2f}") if float(f) == width]
    return list(dict.fromkeys(f"{fam}-w{x}-r{r}" for x in forms))


@dataclass(frozen=True)
class TinyOpsRow:
    platform: str
    model: str
    space: str  # internal | tinyops (published)
    zoo: str
    published_ms: float
    internal_feasible: bool
    external_feasible: bool
    ours_ms: float
    compute_ms: float
    exposed_ms: float
    acts_in: str
    weights_in: str
    ratio_published: float = 0.0
    ratio_ours: float = 0.0

    @property
    def ratio_error(self) -> float:
        return self.ratio_ours / self.ratio_published - 1.0

    @property
    def agrees(self) -> bool:
        """Feasibility as published: internal rows fit internally, TinyOps rows only with external memory."""
        if self.space == "internal":
            return self.internal_feasible
        return self.external_feasible and not self.internal_feasible


def tinyops_rows(rows: Sequence[Mapping[str, object]], get_spec: Callable[[str], ModelSpec]) -> list[TinyOpsRow]:
    """Cost every published row whose model the zoo has (``get_spec`` raises KeyError for unknown names); the
    ratios are to the board's internal Proxyless row."""
    out: list[TinyOpsRow] = []
    for r in rows:
        if "model" not in r:  # the table's note row
            continue
        model, plat = str(r["model"]), str(r["platform"])
        spec = name = None
        for n in zoo_names(model):
            try:
                spec, name = get_spec(n), n
                break
            except KeyError:
                continue
        if spec is None or name is None:
            continue
        e: ExternalCost = external_cost(spec, BOARDS[plat], runtime=RUNTIME, latency_runtime=LATENCY_RUNTIME)
        p = e.plan
        out.append(TinyOpsRow(plat, model, str(r["design_space"]).lower(), name, float(str(r["latency_ms"])),
                              e.internal.feasible, e.feasible, e.report.latency_ms,
                              p.compute_ms if p else e.report.latency_ms, p.exposed_ms if p else 0.0,
                              p.activations_in if p else "sram", p.weights_in if p else "flash"))
    anchors = {x.platform: x for x in out if x.model.startswith("Proxyless")}
    res = []
    for x in out:
        a = anchors.get(x.platform)
        if a is None:
            res.append(x)
            continue
        res.append(replace(x, ratio_published=x.published_ms / a.published_ms, ratio_ours=x.ours_ms / a.ours_ms))
    return res
