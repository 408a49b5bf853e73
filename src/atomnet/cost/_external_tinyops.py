"""The TinyOps table (FACTS §7) against the external-memory plan: feasibility and same-board latency ratios.

Each published row (``tinyops`` rows of ``../shared/published/measurements.json``) is costed on its board
(``stm32f469-disco`` at the 256 KB / 1 MB budget TinyOps' README states for it, ``stm32f746g-disco``) with the
``tinyengine`` SRAM planner (in-place depthwise: the MCUNet / TinyOps memory layout) and compute priced as TFLite
Micro + CMSIS-NN (the ``cmsis-nn`` transfer, TinyOps' runtime); the TinyOps rows with TinyOps' own plan
(:mod:`atomnet.cost._external_tinyops_plan`).
Ratios are taken to the board's anchor row (the internal Proxyless model): the one per-board scale this fixes is
"fitted" on that row only; every other row is held out.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from atomnet.boards import Board, get_board
from atomnet.cost._external_cost import ExternalCost, external_cost
from atomnet.cost._external_tinyops_plan import PROFILES
from atomnet.spec import ModelSpec

BOARDS = {"F469": "stm32f469-disco", "F746": "stm32f746g-disco"}
#: internal SRAM / Flash budget of a platform's design spaces where it is not the board's own: TinyOps' README
#: ("Model Deployment") gives the F469 numbers' budget as the STM32F412's 256 KB SRAM / 1 MB Flash (the
#: ``readme_inconsistency`` note of the ``tinyops`` rows in ``../shared/published/measurements.json``), and its
#: F469 internal MCUNet row is MCUNet's 256kB-1MB model (in2, FACTS §2); the F469's external memories and clock stay
BUDGETS = {"F469": (256 * 1024, 1024 * 1024)}
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


def platform_board(platform: str) -> Board:
    """The board a TinyOps platform's rows are costed on: its profile at the platform's design budget
    (:data:`BUDGETS`)."""
    b = get_board(BOARDS[platform])
    if platform in BUDGETS:
        sram, flash = BUDGETS[platform]
        b = replace(b, sram_bytes=sram, flash_bytes=flash)
    return b


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


def tinyops_rows(rows: Sequence[Mapping[str, object]], get_spec: Callable[[str], ModelSpec], *,
                 tinyops_plan: bool = True) -> list[TinyOpsRow]:
    """Cost every published row whose model the zoo has (``get_spec`` raises KeyError for unknown names); the
    ratios are to the board's internal Proxyless row. ``tinyops_plan``: the TinyOps rows with TinyOps' own plan
    (:mod:`atomnet.cost._external_tinyops_plan`), else with atomnet's external plan."""
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
        space = str(r["design_space"]).lower()
        board = platform_board(plat)
        e: ExternalCost = external_cost(spec, board, runtime=RUNTIME, latency_runtime=LATENCY_RUNTIME,
                                        tinyops=PROFILES[BOARDS[plat]] if space == "tinyops" and tinyops_plan else None)
        p = e.plan
        out.append(TinyOpsRow(plat, model, space, name, float(str(r["latency_ms"])),
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
