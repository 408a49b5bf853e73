"""Whole-model cost: latency (Σ atom operators), Flash and peak SRAM per runtime → :class:`CostReport`.

Latency is priced on the lowering of the runtime the AtomDB was measured with (X-CUBE-AI for the
public data): each operator's exact median when the key was measured, else its predictor (kernel
additivity, AtomNet §3). SRAM comes from the chosen runtime's planner over tensor lifetimes (for ``tflm``:
the head arena plus the persistent tail of the file our exporter writes, ``sram_breakdown["persistent"]``,
with the tail of a 32-bit Cortex-M build derived in ``persistent_32bit_derived_bytes``); Flash is
the weights plus the runtime's per-layer extras plus its code, shown apart.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field

import numpy as np

from atomnet.boards import Board, get_board
from atomnet.cost._latency import LatencyModel, load_latency_model
from atomnet.cost._price import LayerArrays, Pricer
from atomnet.cost._sram import act_bytes, graph_act_bytes, sram_breakdown
from atomnet.db import AtomDB
from atomnet.jsontypes import JSONDict
from atomnet.runtimes import Runtime, get_runtime
from atomnet.spec import ModelSpec, spec_macs, spec_params


@dataclass(frozen=True)
class LayerCost:
    name: str
    kind: str
    op: str
    stage: int
    block: int
    in_shape: tuple[int, int, int]
    out_shape: tuple[int, int, int]
    macs: int
    weights_bytes: int
    flash_bytes: int
    live_sram_bytes: int | None
    latency_ms: float
    source: str  # exact | predicted (| +scaled)


class FitsBoard:
    """Whether a cost fits its board: shared by every cost record that carries these four sizes."""

    peak_sram_bytes: int
    flash_bytes: int
    board_sram_bytes: int
    board_flash_bytes: int

    @property
    def fits_sram(self) -> bool:
        return self.peak_sram_bytes <= self.board_sram_bytes

    @property
    def fits_flash(self) -> bool:
        return self.flash_bytes <= self.board_flash_bytes

    @property
    def feasible(self) -> bool:
        return self.fits_sram and self.fits_flash


@dataclass(frozen=True)
class CostReport(FitsBoard):
    """The cost of one model on one board and runtime. Units are in the field names."""

    model: str
    board: str
    runtime: str
    latency_runtime: str
    macs: int
    params: int
    weights_bytes: int
    flash_bytes: int
    flash_breakdown: dict[str, int]
    peak_sram_bytes: int
    sram_breakdown: dict[str, int]
    act_bytes: int  # MCUNet's "Act": largest input+output activation of a layer (+ pending residual)
    latency_ms: float
    latency_by_kind_ms: dict[str, float]
    ops_exact: int
    ops_predicted: int
    scaled: bool
    board_sram_bytes: int
    board_flash_bytes: int
    predictor: str
    layers: tuple[LayerCost, ...] = field(default=())
    #: tflm: the persistent tail on a 32-bit Cortex-M build (derived from the 64-bit rules, not measured);
    #: ``None`` for runtimes without a persistent part
    persistent_32bit_derived_bytes: int | None = None

    def to_dict(self) -> JSONDict:
        d = asdict(self)
        if d["persistent_32bit_derived_bytes"] is None:  # runtimes without a persistent part: as before
            del d["persistent_32bit_derived_bytes"]
        d["fits_sram"], d["fits_flash"], d["feasible"] = self.fits_sram, self.fits_flash, self.feasible
        return d


def cost_model(spec: ModelSpec, board: Board | str, *, runtime: Runtime | str | None = None,
               db: AtomDB | None = None, latency_model: LatencyModel | None = None) -> CostReport:
    """Cost of ``spec`` on ``board``: latency from AtomDB (exact, else predicted), SRAM and Flash of ``runtime``
    (default: the board's runtime; a registered runtime or alias, see :mod:`atomnet.runtimes`)."""
    b = get_board(board) if isinstance(board, str) else board
    rt = get_runtime(runtime or b.runtime)
    lm = latency_model or load_latency_model(b, db, for_runtime=rt.name)  # e.g. H743 + tinyengine: its transfer
    pricer = Pricer(rt, lm)
    arr = pricer.price_spec(spec)
    return render_report(spec, b, arr, lm.predictor_origin)


def render_report(spec: ModelSpec, board: Board, arr: LayerArrays, predictor: str) -> CostReport:
    """The :class:`CostReport` of one model from its priced layers (all of them: no layer selection)."""
    if not arr.complete:
        raise ValueError(f"render_report: {spec.name} was priced on a layer selection; a report needs every layer")
    g_lat, g_mem, rt, plan = arr.graph_lat, arr.graph_mem, arr.runtime, arr.plan
    lat = arr.latency_ms
    parts = arr.flash_parts.sum(axis=0)
    flash = {"weights": int(parts[0]), "bias": int(parts[1]), "quant": int(parts[2]), "code": arr.code_bytes}
    live: list[int | None] = [int(v) for v in plan.live_bytes] if g_mem is g_lat else [None] * len(g_lat.layers)
    by_kind: dict[str, float] = defaultdict(float)
    layers = []
    for i, layer in enumerate(g_lat.layers):
        op = layer.op
        by_kind[op.kind] += float(lat[i])
        layers.append(LayerCost(layer.name, op.kind, op.describe(), layer.stage, layer.block,
                                g_lat.tensors[layer.inputs[0]].shape, g_lat.tensors[layer.output].shape,
                                op.macs, op.weight_params, op.flash_bytes,
                                live[i], float(lat[i]), arr.source(i)))
    act = graph_act_bytes(g_mem) if g_mem.runtime == "tinyengine" else act_bytes(spec)
    sram = sram_breakdown(plan, rt.name)
    tail_32 = int(plan.persistent_bytes_32) if "persistent" in sram else None  # tflm: the tail beside the head
    return CostReport(
        model=spec.name, board=board.name, runtime=rt.name, latency_runtime=g_lat.runtime,
        macs=spec_macs(spec), params=spec_params(spec), weights_bytes=flash["weights"],
        flash_bytes=int(sum(flash.values())), flash_breakdown=flash,
        peak_sram_bytes=int(plan.peak_bytes) + rt.ram_overhead_bytes,
        sram_breakdown=sram,
        act_bytes=act,
        latency_ms=float(np.sum(lat)), latency_by_kind_ms=dict(by_kind),
        ops_exact=int(arr.exact.sum()), ops_predicted=int((~arr.exact).sum()), scaled=board.is_scaled,
        board_sram_bytes=board.sram_bytes, board_flash_bytes=board.flash_bytes, predictor=predictor,
        layers=tuple(layers), persistent_32bit_derived_bytes=tail_32)
