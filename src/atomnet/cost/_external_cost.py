"""``cost --memory external``: the :class:`CostReport` of a model run with the external-memory plan (TinyOps).

Compute per operator is the AtomDB latency as :func:`cost_model` prices it on the board; with ``latency_runtime``
(e.g. ``cmsis-nn``, TinyOps' TFLite Micro + CMSIS-NN) it is the reference board's AtomDB latency times that runtime's
transfer factors of the board (``docs/transfer.md``). A Cortex-M4F board without such a transfer takes the STM32F746
one times the clock ratio and :data:`M4_PER_CLOCK`. A model whose internal plan fits the board keeps it unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from atomnet.boards import Board, Transfer, get_board
from atomnet.cost._external import ExternalPlan, ExtOp, plan_external
from atomnet.cost._external_tinyops_plan import TinyOpsProfile, plan_tinyops
from atomnet.cost._latency import LatencyModel
from atomnet.cost._report import CostReport, cost_model
from atomnet.db import AtomDB
from atomnet.runtimes import Runtime, get_runtime
from atomnet.spec import ModelSpec

#: cycles-per-MAC ratio of a Cortex-M4F to a Cortex-M7 at the same clock: the shipped X-CUBE-AI single factors of
#: the F412 (6.610, 100 MHz) and F746 (2.278, 216 MHz) transfers (board_transfers.json), 6.610·100 / (2.278·216)
M4_PER_CLOCK = 6.610250283212361 * 100 / (2.2784807662894977 * 216)
_KERNEL = re.compile(r"k(\d+)")


@dataclass(frozen=True)
class ExternalCost:
    """The report (latency = the plan's; peak SRAM = the scratch's working set when activations left the chip;
    Flash = what stays in internal Flash) and the plan."""

    report: CostReport
    internal: CostReport
    plan: ExternalPlan | None  # None: the internal plan fits, it is used as is

    @property
    def feasible(self) -> bool:
        return self.internal.feasible if self.plan is None else self.plan.feasible


def compute_factor(board: Board, runtime: str) -> tuple[float, str] | Transfer:
    """The board's transfer for ``runtime``, else (for a Cortex-M4F) the F746's scaled by clock and
    :data:`M4_PER_CLOCK`, returned as (factor of every kind, its derivation)."""
    t = board.transfer_for(runtime)
    if t is not None:
        return t
    f746 = get_board("stm32f746").transfer_for(runtime)
    if f746 is None:
        raise ValueError(f"no {runtime} transfer for {board.name} or stm32f746")
    return f746.level * 216 / board.clock_mhz * (M4_PER_CLOCK if board.core.startswith("cortex-m4") else 1.0), \
        f"stm32f746 {runtime} level x 216/{board.clock_mhz:g} MHz" + (" x M4_PER_CLOCK" if "m4" in board.core else "")


def external_cost(spec: ModelSpec, board: Board | str, *, runtime: Runtime | str | None = None,
                  latency_runtime: str | None = None, db: AtomDB | None = None,
                  latency_model: LatencyModel | None = None, force: bool = False,
                  tinyops: TinyOpsProfile | None = None) -> ExternalCost:
    """Cost ``spec`` on ``board`` with its external memory. ``force``: plan externally even when the internal plan
    fits (to compare both). ``tinyops``: plan as TinyOps' firmware does with these buffers (implies ``force``)."""
    b = get_board(board) if isinstance(board, str) else board
    rt = get_runtime(runtime or b.runtime)
    rep = cost_model(spec, b, runtime=rt, db=db, latency_model=latency_model)
    lat = [ly.latency_ms for ly in rep.layers]
    if latency_runtime:
        ref = cost_model(spec, b.reference or b.name, runtime=rt, db=db)
        f = compute_factor(b, latency_runtime)
        lat = [ly.latency_ms * (f.kind_factor(ly.kind) if isinstance(f, Transfer) else f[0]) for ly in ref.layers]
        layers = tuple(replace(ly, latency_ms=t, source=f"{ly.source}+{latency_runtime}")
                       for ly, t in zip(rep.layers, lat, strict=True))
        rep = replace(rep, latency_ms=float(sum(lat)), layers=layers, latency_runtime=latency_runtime)
    if rep.feasible and not force and tinyops is None:
        return ExternalCost(rep, rep, None)
    ops = []
    for ly, t in zip(rep.layers, lat, strict=True):
        c_in, h_in, w_in = ly.in_shape
        c_out, h_out, w_out = ly.out_shape
        m = _KERNEL.search(ly.op)
        k = int(m.group(1)) if m else 1
        stride = max(1, round(h_in / h_out)) if h_out else 1
        live = rep.peak_sram_bytes if ly.live_sram_bytes is None else ly.live_sram_bytes
        ops.append(ExtOp(ly.name, c_in * h_in * w_in, c_out * h_out * w_out, ly.flash_bytes, h_out, h_in, k, stride,
                         t, live, w_out, ly.kind))
    act_total = sum(o.out_bytes for o in ops) + (ops[0].in_bytes if ops else 0)
    weights = sum(o.weight_bytes for o in ops)
    if tinyops is not None:
        plan = plan_tinyops(ops, b, tinyops, weights_bytes=weights, arena_bytes=rep.peak_sram_bytes)
    else:
        plan = plan_external(ops, b, peak_sram_bytes=rep.peak_sram_bytes, flash_bytes=rep.flash_bytes,
                             weights_bytes=weights, act_total_bytes=act_total, runtime_ram_bytes=rt.ram_overhead_bytes)
    flash_int = rep.flash_bytes - (rep.weights_bytes if plan.weights_in != "flash" else 0)
    peak = plan.peak_scratch_bytes + rt.ram_overhead_bytes if plan.activations_in == "sdram" else rep.peak_sram_bytes
    layers = tuple(replace(ly, latency_ms=p.compute_ms + p.exposed_ms)
                   for ly, p in zip(rep.layers, plan.layers, strict=True))
    fb = dict(rep.flash_breakdown)
    if plan.weights_in != "flash":  # the weights left the chip: internal Flash keeps bias, quant and code
        fb["weights"] = 0
    out = replace(rep, latency_ms=plan.latency_ms, peak_sram_bytes=peak, flash_bytes=flash_int, layers=layers,
                  flash_breakdown=fb)
    return ExternalCost(out, rep, plan)
