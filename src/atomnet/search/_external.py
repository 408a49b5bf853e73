"""Search in the external-memory design space (``atomnet search --memory external``, TinyOps; docs/external.md).

A model that does not fit internal SRAM/Flash may still run with the board's SDRAM and QSPI Flash
(:func:`atomnet.cost.external_cost`): the plan's latency is never below the internal compute, so the tables search
with the latency and MACs limits only (no SRAM or Flash bound), and the candidates are confirmed best first:
the internal plan meets the internal limits → internal; else the external plan must be feasible with its scratch
within the SRAM limit, its external RAM and Flash within ``max_ext_ram_bytes`` / ``max_ext_flash_bytes`` and its
latency (compute + transfers not hidden) within the latency limit. The strategies are the ordinary ones.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from atomnet.boards import Board
from atomnet.cost import ExternalCost, LatencyModel, external_cost
from atomnet.errors import InputError
from atomnet.search._combine import Limits
from atomnet.search._run import SearchOutcome, run_search
from atomnet.search._space import Space
from atomnet.search._strategies import OptionValue
from atomnet.spec import from_stage_config


@dataclass(frozen=True)
class ExternalOutcome:
    """The ordinary outcome (its ``cost``: the winner's report under its plan) and the winner's external cost."""

    outcome: SearchOutcome
    external: ExternalCost | None
    max_ext_ram_bytes: float
    max_ext_flash_bytes: float


def run_external_search(space: Space, board: Board, lm: LatencyModel, limits: Limits, *,
                        max_ext_ram_bytes: float | None = None, max_ext_flash_bytes: float | None = None,
                        runtime: str | None = None, strategy: str = "exhaustive", max_confirm: int = 200,
                        **kw: OptionValue) -> ExternalOutcome:
    """:func:`run_search` without the SRAM/Flash bounds, then the confirmation above (at most ``max_confirm``
    candidates)."""
    ext = board.external
    if ext is None:
        raise InputError(f"--memory external: board {board.name} has no external memory")
    ram = float(ext.sdram_bytes if max_ext_ram_bytes is None else max_ext_ram_bytes)
    fl = float(ext.qspi_bytes if max_ext_flash_bytes is None else max_ext_flash_bytes)
    options: dict[str, Any] = dict(kw)
    if strategy == "exhaustive" and "top_k" not in options:
        options["top_k"] = max_confirm
    relaxed = replace(limits, peak_sram_bytes=np.inf, flash_bytes=np.inf)
    out = run_search(space, board, lm, relaxed, runtime=runtime, strategy=strategy, **options)
    rt = runtime or board.runtime
    cands = out.result.candidates if out.result is not None else []
    for n, cand in enumerate(cands[:max_confirm], start=1):
        cfg = space.stage_config(cand.resolution_index, cand.choices)
        spec = from_stage_config(cfg)
        if not limits.min_macs <= spec_macs_of(spec) <= limits.max_macs:
            continue
        e = external_cost(spec, board, runtime=rt, latency_model=lm, force=False)
        r = e.report
        if e.plan is None:
            ok = r.peak_sram_bytes <= limits.peak_sram_bytes and r.flash_bytes <= limits.flash_bytes
        else:
            p = e.plan
            ok = (p.feasible and r.peak_sram_bytes <= limits.peak_sram_bytes and r.flash_bytes <= limits.flash_bytes
                  and p.ext_ram_bytes <= ram and p.ext_flash_bytes <= fl)
        if ok and r.latency_ms <= limits.latency_ms + 1e-9:
            won = replace(out, limits=limits, spec=spec, stage_config=cfg, cost=r, confirmed_after=n, reason=None)
            return ExternalOutcome(won, e, ram, fl)
    none = replace(out, limits=limits, spec=None, stage_config=None, cost=None, confirmed_after=min(len(cands),
                   max_confirm), reason=f"with --memory external: none of the best {min(len(cands), max_confirm)} "
                   "candidates met the limits internally or with the external plan")
    return ExternalOutcome(none, None, ram, fl)


def spec_macs_of(spec: Any) -> int:
    from atomnet.spec import spec_macs

    return int(spec_macs(spec))
